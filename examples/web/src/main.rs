//! The TechEmpower-style HTTP service on corelane's workers (not yet: endpoints).

fn main() {}
