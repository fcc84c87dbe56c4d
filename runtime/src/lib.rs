//! corelane-runtime.
pub mod pool;
