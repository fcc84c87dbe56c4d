//! The SQLSTATE type itself, a leaf: the generated constants (`codes.rs`) and the lookups
//! (`mod.rs`) both build on it.

/// A five-character SQLSTATE code, such as `23505` (`unique_violation`).
///
/// Stored inline (no allocation). Every code known to PostgreSQL has a constant,
/// e.g. [`SqlState::UNIQUE_VIOLATION`]; unknown codes received from a server are kept as is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SqlState(pub(super) [u8; 5]);
