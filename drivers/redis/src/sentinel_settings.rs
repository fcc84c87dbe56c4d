//! What a [`Config`](crate::Config) in Sentinel mode holds about the sentinels. A leaf: the
//! config names it without depending on the sentinel module that acts on it.

use crate::read_from::ReadFrom;
use crate::switch_hint::SwitchHint;

/// Which master to ask the sentinels for, and where they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentinelSettings {
    pub(crate) master: String,
    pub(crate) sentinels: Vec<(String, u16)>,
    /// What the `+switch-master` events taught this client (fresh per client).
    pub(crate) switch: SwitchHint,
    /// Where read-only commands go.
    pub(crate) read_from: ReadFrom,
    /// This config's connections go to a replica (the replica client's, made by the client
    /// when `read_from` is not the master).
    pub(crate) to_replica: bool,
}
