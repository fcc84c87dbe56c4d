//! Benchmarks of corelane against peer clients (programs, not timed tests).
