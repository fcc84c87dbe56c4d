//! What a listener receives (a leaf: the session and its shared state name it without
//! depending on the client's `listener` methods).

/// One notification: a `NOTIFY channel, 'payload'` (or `pg_notify`) another session sent
/// to a channel this listener listens to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Notification {
    /// The channel it was sent to.
    pub channel: String,
    /// The payload (empty when none was given).
    pub payload: String,
    /// The process id of the backend that sent it.
    pub process_id: i32,
}
