//! Connection settings: from a URL or a builder.

use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;
use crate::Error;

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Addr {
    /// TCP; the host may be a name (resolved off the worker) or an IP literal.
    Tcp {
        /// Host name or IP.
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix domain socket.
    Unix(PathBuf),
}

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
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Option<Duration>,
    pub(crate) on_push: Option<PushCallback>,
    pub(crate) max_aggregate_len: usize,
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
            connect_timeout: Duration::from_secs(5),
            command_timeout: None,
            on_push: None,
            max_aggregate_len: corelane_redis_proto::Limits::DEFAULT_MAX_AGGREGATE_LEN,
        }
    }
}

impl Config {
    /// Parses `redis://[user:pass@]host[:port][/db][?protocol=resp2|resp3&client_name=..&
    /// connections_per_worker=N&connect_timeout_ms=N&command_timeout_ms=N]` or
    /// `redis+unix:///path/to/socket[?db=N&...]`. `rediss://` (TLS) is refused with a clear
    /// error until TLS lands.
    pub fn from_url(url: &str) -> Result<Config, Error> {
        crate::url::parse(url)
    }

    /// Server address.
    pub fn addr(mut self, addr: Addr) -> Self {
        self.addr = addr;
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
