//! Connection settings: from a URL or a builder.

use std::path::PathBuf;
use std::time::Duration;

use corelane_runtime::conn::TlsConfig;

use crate::addr::Addr;
use crate::secret::Secret;
use crate::tls::{ClientCert, TlsSettings};
use crate::Error;

/// The RESP version to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Protocol {
    /// RESP3 via `HELLO 3`, falling back to RESP2 when the server refuses HELLO. The default.
    #[default]
    Resp3,
    /// RESP2 only (`AUTH`, `SELECT`, `CLIENT SETNAME` as separate commands).
    Resp2,
}

/// [`Config::exclusive_per_worker`]'s default.
const DEFAULT_EXCLUSIVE_PER_WORKER: usize = 8;

/// [`Config::acquire_timeout`]'s default.
const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything needed to connect, authenticate and size the pools.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) addr: Addr,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Secret>,
    pub(crate) db: i64,
    pub(crate) protocol: Protocol,
    pub(crate) client_name: Option<String>,
    pub(crate) connections_per_worker: usize,
    /// The client's connection budget (see `budget.rs`); `None`: no budget.
    pub(crate) max_connections: Option<usize>,
    pub(crate) exclusive_per_worker: usize,
    pub(crate) acquire_timeout: Option<Duration>,
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Option<Duration>,
    pub(crate) on_push: Option<PushCallback>,
    pub(crate) max_aggregate_len: usize,
    /// `None`: plain TCP (or a Unix socket).
    pub(crate) tls: Option<TlsSettings>,
    /// The pools' reconnect backoff (first wait, cap), when not the pool's default: a
    /// cluster's node clients keep it short, since the cluster client does its own
    /// retrying and must not wait seconds on a dead node it is about to route away from.
    pub(crate) reconnect_backoff: Option<(Duration, Duration)>,
    /// Ask these sentinels for the master's address at each connect (`addr` is unused).
    pub(crate) sentinel: Option<crate::sentinel_settings::SentinelSettings>,
    /// ACL user for the sentinels themselves (not the master's).
    pub(crate) sentinel_username: Option<String>,
    /// The sentinels' own password (their `requirepass`), not the master's.
    pub(crate) sentinel_password: Option<Secret>,
    /// TLS to the sentinels (`None`: plain TCP), independent of the master's `tls`.
    pub(crate) sentinel_tls: Option<TlsSettings>,
    /// Send `READONLY` after the handshake: a cluster client reading from replicas sets it
    /// on its node clients (a replica then serves reads of its master's slots).
    pub(crate) readonly: bool,
    /// Client-side caching (`None`: off, the default).
    pub(crate) cache: Option<crate::cache::CacheConfig>,
}

/// Receives RESP3 push frames that arrive on command connections (client-side caching
/// invalidations with `CLIENT TRACKING`, …). Called on the worker that read the frame: keep
/// it short and non-blocking.
#[derive(Clone)]
pub struct PushCallback(
    pub(crate) std::sync::Arc<dyn Fn(Vec<corelane_redis_proto::Value>) + Send + Sync>,
);

impl std::fmt::Debug for PushCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PushCallback")
    }
}

/// The default port.
pub const DEFAULT_PORT: u16 = 6379;

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: Addr::Tcp {
                host: "127.0.0.1".into(),
                port: DEFAULT_PORT,
            },
            username: None,
            password: None,
            db: 0,
            protocol: Protocol::Resp3,
            client_name: None,
            connections_per_worker: 1,
            max_connections: None,
            exclusive_per_worker: DEFAULT_EXCLUSIVE_PER_WORKER,
            acquire_timeout: Some(DEFAULT_ACQUIRE_TIMEOUT),
            connect_timeout: Duration::from_secs(5),
            command_timeout: None,
            on_push: None,
            max_aggregate_len: corelane_redis_proto::Limits::DEFAULT_MAX_AGGREGATE_LEN,
            tls: None,
            reconnect_backoff: None,
            sentinel: None,
            sentinel_username: None,
            sentinel_password: None,
            sentinel_tls: None,
            readonly: false,
            cache: None,
        }
    }
}

impl Config {
    fn tls_settings(&mut self) -> &mut TlsSettings {
        self.tls.get_or_insert_with(TlsSettings::default)
    }

    /// Turns TLS on or off (`rediss://` turns it on). With TLS on and nothing else set, the
    /// server's certificate must chain to one of the operating system's roots and name the
    /// host connected to; SNI sends that host. TLS runs over TCP only: a client with TLS on
    /// and a Unix socket address is refused when it is made.
    pub fn tls(mut self, enabled: bool) -> Self {
        if enabled {
            self.tls_settings();
        } else {
            self.tls = None;
        }
        self
    }

    /// Turns TLS on and also trusts the CA certificate(s) in this PEM file (Redis'
    /// `tls-ca-cert-file`, or whatever signed the server's certificate). The file is read when
    /// the client is made. URL: `ca_file=`.
    pub fn tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_settings().ca_files.push(path.into());
        self
    }

    /// Turns TLS on and also trusts the CA certificate(s) in this PEM data.
    pub fn tls_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_settings().ca_pems.push(pem.into());
        self
    }

    /// Whether to trust the operating system's roots besides the CA files (default true).
    /// Turns TLS on. URL: `system_roots=false`.
    pub fn tls_system_roots(mut self, trust: bool) -> Self {
        self.tls_settings().system_roots = trust;
        self
    }

    /// Turns TLS on and presents this client certificate (a PEM chain, leaf first) and key
    /// (PEM: PKCS#8, PKCS#1 or SEC1) in the handshake: mutual TLS, which Redis'
    /// `tls-auth-clients yes` requires. The files are read when the client is made; the key
    /// never shows in `Debug` or errors. URL: `cert_file=` and `key_file=`.
    pub fn tls_client_cert_files(
        mut self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.tls_settings().client_cert = Some(ClientCert::Files {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// [`tls_client_cert_files`](Self::tls_client_cert_files) from PEM data.
    pub fn tls_client_cert_pem(
        mut self,
        cert: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls_settings().client_cert = Some(ClientCert::Pem {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// **Dangerous.** With `true`, turns TLS on and accepts *any* server certificate: expired,
    /// self-signed, from an unknown issuer, for another host. The connection is encrypted but
    /// the server is not authenticated, so anyone on the network path can impersonate it, read
    /// the password and every command, and change the replies. For tests and throwaway
    /// setups only; trust the server's CA with [`tls_ca_file`](Self::tls_ca_file) instead.
    /// URL: `insecure=true`.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        if accept {
            self.tls_settings().insecure = true;
        } else if let Some(tls) = &mut self.tls {
            tls.insecure = false;
        }
        self
    }

    /// Turns TLS on with a configuration built by hand (for instance from a
    /// [`TlsConfig::builder`] with options this builder does not offer, or
    /// [`TlsConfig::from_rustls`]); the other TLS settings are then ignored.
    pub fn tls_config(mut self, config: TlsConfig) -> Self {
        self.tls_settings().custom = Some(config);
        self
    }

    /// True when connections run TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Checks the settings and builds what every connection shares (the TLS configuration),
    /// once, when a client is made.
    pub(crate) fn prepare(&mut self) -> Result<(), Error> {
        if let Some(tls) = &mut self.tls {
            if matches!(self.addr, Addr::Unix(_)) {
                return Err(Error::config(
                    "TLS runs over TCP only: a Unix socket address cannot use TLS",
                ));
            }
            tls.prepare()?;
        }
        if let Some(tls) = &mut self.sentinel_tls {
            tls.prepare()?;
        }
        if let Some(sentinel) = &mut self.sentinel {
            // Each client learns from its own `+switch-master` subscription.
            sentinel.switch = Default::default();
        }
        Ok(())
    }

    /// Server address.
    pub fn addr(mut self, addr: Addr) -> Self {
        self.addr = addr;
        self
    }

    /// Finds the server through Redis Sentinel: each new connection asks `sentinels` (host,
    /// port; the first that answers) for the address of the master named `master`, connects
    /// there and checks with `ROLE` that it is the master. The address set with
    /// [`addr`](Self::addr) / [`host`](Self::host) is then unused. The URL form is
    /// `redis+sentinel://host:26379,host:26379/mymaster[/db][?options]`, where the options
    /// are those of [`from_url`](Self::from_url) plus `sentinel_username=`,
    /// `sentinel_password=`, `sentinel_tls=true` and `sentinel_ca_file=` (the sentinels' own;
    /// the rest are the master's). The client also subscribes to the sentinels'
    /// `+switch-master` events and leaves the old master as soon as one comes: see
    /// [the `sentinel` module](crate::sentinel).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), corelane_redis::Error> {
    /// use corelane_redis::{Client, Config};
    ///
    /// let config = Config::default().sentinel("mymaster", [("10.0.0.1", 26379), ("10.0.0.2", 26379)]);
    /// let client = Client::new(config)?; // same as Client::open("redis+sentinel://10.0.0.1,10.0.0.2/mymaster")
    /// # let _ = client;
    /// # Ok(())
    /// # }
    /// ```
    pub fn sentinel<H: Into<String>>(
        mut self,
        master: impl Into<String>,
        sentinels: impl IntoIterator<Item = (H, u16)>,
    ) -> Self {
        self.sentinel = Some(crate::sentinel_settings::SentinelSettings {
            master: master.into(),
            sentinels: sentinels.into_iter().map(|(h, p)| (h.into(), p)).collect(),
            switch: Default::default(),
            read_from: crate::read_from::ReadFrom::Master,
            to_replica: false,
        });
        // A failover leaves the pools failing to reach the old master for a few seconds:
        // the usual 5 s backoff cap would keep them waiting well after the new one is up.
        self.reconnect_backoff = Some((Duration::from_millis(50), Duration::from_secs(1)));
        self
    }

    /// The sentinels' own password (their `requirepass`; with
    /// [`sentinel_username`](Self::sentinel_username), an ACL user's): sent with `AUTH` to each
    /// sentinel asked, and on the client's `+switch-master` subscription. The master's
    /// password is [`password`](Self::password). Never shown in `Debug` or errors. URL:
    /// `sentinel_password=`. A sentinel that refuses it is passed over; when all do, the call
    /// fails with [`Error::is_auth`](crate::Error::is_auth).
    pub fn sentinel_password(mut self, password: impl Into<Secret>) -> Self {
        self.sentinel_password = Some(password.into());
        self
    }

    /// The ACL user to authenticate as to the sentinels (with
    /// [`sentinel_password`](Self::sentinel_password)). URL: `sentinel_username=`.
    pub fn sentinel_username(mut self, user: impl Into<String>) -> Self {
        self.sentinel_username = Some(user.into());
        self
    }

    /// With [`sentinel`](Self::sentinel) (call that first; ignored otherwise): where
    /// read-only commands go (see [`ReadFrom`](crate::read_from::ReadFrom) for which commands
    /// count). With `Replica` or `PreferReplica`, they run on connections to one of the
    /// master's replicas that the sentinels (`SENTINEL REPLICAS`) report healthy, picked at
    /// random per connection and checked with `ROLE`; `PreferReplica` falls back to the master
    /// when none is, `Replica` fails the read then. Writes, pipelines, transactions and
    /// unknown commands go to the master. A replica is asynchronous: a read may not see a
    /// write just acknowledged. URL: `read_from=replica|prefer-replica|master`.
    pub fn sentinel_read_from(mut self, read_from: crate::read_from::ReadFrom) -> Self {
        if let Some(sentinel) = &mut self.sentinel {
            sentinel.read_from = read_from;
        }
        self
    }

    /// Reaches the sentinels over TLS (`true`) or plain TCP (`false`, the default),
    /// independently of the master's [`tls`](Self::tls): with TLS on and nothing else set, a
    /// sentinel's certificate must chain to the operating system's roots and name the host
    /// connected to. URL: `sentinel_tls=true`.
    pub fn sentinel_tls(mut self, enabled: bool) -> Self {
        self.sentinel_tls = enabled.then(TlsSettings::default);
        self
    }

    /// Turns TLS to the sentinels on and also trusts the CA certificate(s) in this PEM file
    /// (read when the client is made). URL: `sentinel_ca_file=` (percent-encoded).
    pub fn sentinel_tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.sentinel_tls
            .get_or_insert_with(TlsSettings::default)
            .ca_files
            .push(path.into());
        self
    }

    /// Turns TLS to the sentinels on with a configuration built by hand (a client
    /// certificate, only a private CA, …); the other sentinel TLS settings are then ignored.
    pub fn sentinel_tls_config(mut self, config: TlsConfig) -> Self {
        self.sentinel_tls
            .get_or_insert_with(TlsSettings::default)
            .custom = Some(config);
        self
    }

    /// TCP host and port.
    pub fn host(self, host: impl Into<String>, port: u16) -> Self {
        self.addr(Addr::Tcp {
            host: host.into(),
            port,
        })
    }

    /// ACL user name (with [`password`](Self::password)); without it, `password` is the
    /// legacy `requirepass` password.
    pub fn username(mut self, user: impl Into<String>) -> Self {
        self.username = Some(user.into());
        self
    }

    /// Password.
    pub fn password(mut self, password: impl Into<Secret>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Database index (`SELECT`).
    pub fn db(mut self, db: i64) -> Self {
        self.db = db;
        self
    }

    /// Protocol version.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// `CLIENT SETNAME` for every connection.
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = Some(name.into());
        self
    }

    /// Pipelined connections each worker keeps (default 1: concurrent calls share it). With
    /// N > 1, a worker opens another connection (up to N) whenever every open one has a
    /// request in flight, and sends each call to the connection with the fewest in flight.
    pub fn connections_per_worker(mut self, n: usize) -> Self {
        self.connections_per_worker = n.max(1);
        self
    }

    /// Bound on connecting plus the handshake (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Bound on each command once it has a connection (default: none). A command that times
    /// out ends with a timeout error, and its connection is closed (the server stopped
    /// answering on it; commands queued behind it fail as closed) and replaced by the pool.
    /// A timeout too large for the clock (e.g. `Duration::MAX`) means none.
    pub fn command_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// The most elements an array, set or push reply (or pairs a map reply) may claim
    /// (default 16 Mi, [`Limits::DEFAULT_MAX_AGGREGATE_LEN`](corelane_redis_proto::Limits)).
    /// A reply claiming more is a protocol error that closes its connection. Raise it for
    /// replies of more elements (e.g. `KEYS` on a huge database).
    pub fn max_aggregate_len(mut self, n: usize) -> Self {
        self.max_aggregate_len = n;
        self
    }

    /// Where RESP3 push frames on command connections go (default: dropped). Pub/sub
    /// messages do not come here: they go to a [`Subscriber`](crate::Subscriber).
    pub fn on_push(
        mut self,
        callback: impl Fn(Vec<corelane_redis_proto::Value>) + Send + Sync + 'static,
    ) -> Self {
        self.on_push = Some(PushCallback(std::sync::Arc::new(callback)));
        self
    }

    /// Turns client-side caching on: replies of read commands kept on each worker, kept
    /// current by the server's invalidations (`CLIENT TRACKING`, RESP3 only). Off by default;
    /// off costs nothing on the call path. See [the `cache` module](crate::cache) for what is
    /// cached, the consistency it gives, and [`Client::cache_stats`](crate::Client::cache_stats).
    /// URL: `client_cache=true` (with `client_cache_max_entries=`, `client_cache_max_bytes=`,
    /// `client_cache_ttl_ms=`, `client_cache_bcast=`). A cluster client ignores it.
    pub fn client_side_cache(mut self, cache: crate::cache::CacheConfig) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Turns client-side caching off.
    pub fn no_client_side_cache(mut self) -> Self {
        self.cache = None;
        self
    }

    /// The client-side cache's settings, when caching is on.
    pub fn get_client_side_cache(&self) -> Option<&crate::cache::CacheConfig> {
        self.cache.as_ref()
    }

    /// The server address.
    pub fn get_addr(&self) -> &Addr {
        &self.addr
    }

    /// The database index.
    pub fn get_db(&self) -> i64 {
        self.db
    }

    /// The ACL user, if any.
    pub fn get_username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// True when a password is set (the password itself is not readable).
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// The protocol version.
    pub fn get_protocol(&self) -> Protocol {
        self.protocol
    }
}
