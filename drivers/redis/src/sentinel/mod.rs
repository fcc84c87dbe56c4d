//! Redis Sentinel: the master's address is asked of the sentinels each time a connection
//! opens, and checked with `ROLE` once connected.
//!
//! Set it with a `redis+sentinel://s1:26379,s2:26379/mymaster[/db]` URL or
//! [`Config::sentinel`](crate::Config::sentinel); the [`Client`](crate::Client) is then used as
//! for a single server. After a failover the old master's connections close (Redis drops
//! its clients when it becomes a replica, or it is dead), the pools open new ones, and those
//! ask the sentinels again.
//!
//! Not yet: passwords for the sentinels themselves, TLS to the sentinels (a
//! `rediss+sentinel://` URL uses TLS to the master only), reads from replicas, and
//! subscribing to the sentinels' `+switch-master` events.

pub(crate) mod resolve;
pub(crate) mod url;

/// Which master to ask the sentinels for, and where they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentinelSettings {
    pub(crate) master: String,
    pub(crate) sentinels: Vec<(String, u16)>,
}
