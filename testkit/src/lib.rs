//! Throwaway servers and a fault proxy for tests.
