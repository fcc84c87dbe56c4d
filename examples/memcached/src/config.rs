//! Where the server is and how patient to be with it.

use std::net::SocketAddr;
use std::time::Duration;

use crate::proto::DEFAULT_MAX_VALUE;

/// A client's settings. Built with [`Config::new`] and the `with_*` setters.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) connections_per_worker: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Option<Duration>,
    pub(crate) max_value: usize,
}

impl Config {
    /// A server at `host:port` (a name is resolved at each connect). Defaults: one pipelined
    /// connection per worker, 5 s to connect, no command timeout, values up to 1 MiB.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Config {
            host: host.into(),
            port,
            connections_per_worker: 1,
            connect_timeout: Duration::from_secs(5),
            command_timeout: None,
            max_value: DEFAULT_MAX_VALUE,
        }
    }

    /// A server at `addr`.
    pub fn from_addr(addr: SocketAddr) -> Self {
        Config::new(addr.ip().to_string(), addr.port())
    }

    /// Connections each worker opens to the server; concurrent callers spread over them.
    pub fn with_connections_per_worker(mut self, n: usize) -> Self {
        self.connections_per_worker = n;
        self
    }

    /// How long one connect may take.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a request may wait for its reply once it has a connection. A reply overdue
    /// closes that connection (every later request on it would wait behind it); the pool opens
    /// a new one for the next call.
    pub fn with_command_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// The largest value sent or accepted. Keep it within the server's item size (`-I`): a
    /// value the server refuses makes it answer even a `noreply` request.
    pub fn with_max_value(mut self, bytes: usize) -> Self {
        self.max_value = bytes;
        self
    }
}
