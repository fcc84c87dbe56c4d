//! Redis Sentinel: the master's address is asked of the sentinels each time a connection
//! opens, and checked with `ROLE` once connected.
//!
//! Set it with a `redis+sentinel://s1:26379,s2:26379/mymaster[/db]` URL or
//! [`Config::sentinel`](crate::Config::sentinel); the [`Client`](crate::Client) is then used as
//! for a single server.
//!
//! **Following failovers.** The client keeps one pub/sub connection to a sentinel (the first
//! that answers; another one when it drops) subscribed to `+switch-master`. When an event
//! names our master, every worker closes its connections to the old master at once — shared
//! ones (calls in flight on them end with [`Error::is_closed`](crate::Error::is_closed)) and
//! idle exclusive ones — so the next call asks the sentinels again and reaches the new
//! master, without waiting for the old one to drop us (after a `SENTINEL FAILOVER` it stays
//! up, and a master, for seconds). Until the sentinels all agree, an answer naming the
//! replaced master is passed over for another sentinel's, and a connection that still
//! reaches it is refused. Without the event (the subscription was down), the old way still
//! works: the old master's connections close when it dies or is demoted (Redis drops its
//! clients then), and the pools reconnect through the sentinels.
//! [`Client::sentinel_switches`](crate::Client::sentinel_switches) counts the events acted on.
//!
//! An exclusive connection checked out when the event comes (a `WATCH` transaction, a
//! blocking pop) is closed when it is returned, not at once: until then it talks to the old
//! master (which drops it when the sentinels demote it).
//!
//! **Sentinel passwords.** [`Config::sentinel_password`](crate::Config::sentinel_password)
//! (and `sentinel_username`; URL `?sentinel_password=…&sentinel_username=…`) authenticate to
//! the sentinels themselves (their `requirepass`); the URL's user and password are the
//! master's.
//!
//! **TLS to the sentinels** is separate from the master's: a `rediss+sentinel://` URL (or
//! [`Config::tls`](crate::Config::tls)) runs TLS to the master;
//! [`Config::sentinel_tls`](crate::Config::sentinel_tls) /
//! [`sentinel_tls_ca_file`](crate::Config::sentinel_tls_ca_file) (URL `sentinel_tls=true`,
//! `sentinel_ca_file=`) to the sentinels (their `tls-port`), for the lookups and the
//! subscription alike. When every sentinel refuses the credentials or the TLS handshake, the
//! error is that typed one ([`Error::is_auth`](crate::Error::is_auth),
//! [`Error::is_tls`](crate::Error::is_tls)); otherwise a connect error lists each sentinel's
//! answer.
//!
//! **Reads from replicas** (opt-in, [`Config::sentinel_read_from`](crate::Config::sentinel_read_from),
//! URL `read_from=replica|prefer-replica`): read-only commands sent one by one (`GET`,
//! `HGETALL`, … — the list of [`ReadFrom`](crate::read_from::ReadFrom)) run on a second set of
//! per-worker pools whose connections go to a replica the sentinels report healthy
//! (`SENTINEL REPLICAS`: not down, link to the master up), picked at random per connection
//! and checked with `ROLE`. Pipelines, transactions and writes go to the master. Those pools
//! are replaced only as their connections break (a replica promoted by a failover keeps
//! serving reads as the new master); their calls are not in [`Client::stats`](crate::Client::stats).
//!
//! Not yet: a client certificate or other TLS options for the sentinels but through
//! [`sentinel_tls_config`](crate::Config::sentinel_tls_config); replica reads inside
//! pipelines.

pub(crate) mod resolve;
pub(crate) mod url;
pub(crate) mod watch;
