//! Per-worker connection pools (being written).
