//! corelane-runtime.
