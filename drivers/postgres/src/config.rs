//! Connection settings: from a `postgres://` URL, a `key=value` string, or the builder.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::conninfo;
use crate::hosts::{
    is_socket_dir, socket_path, Host, HostLists, LoadBalanceHosts, DEFAULT_HOST, DEFAULT_PORT,
};
pub use crate::password::Password;
use crate::pgpass;
use crate::Error;

/// [`Config::exclusive_per_worker`]'s default: the most exclusive connections one worker
/// opens when the budget leaves room for them.
const DEFAULT_EXCLUSIVE_PER_WORKER: usize = 10;

/// [`Config::acquire_timeout`]'s default.
pub(crate) const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The default [`Config::max_result_bytes`].
const DEFAULT_MAX_RESULT_BYTES: usize = 256 * 1024 * 1024;

/// The default [`Config::copy_timeout`].
const DEFAULT_COPY_TIMEOUT: Duration = Duration::from_secs(60);

/// The user used when none is given.
const DEFAULT_USER: &str = "postgres";

/// The default [`Config::connect_timeout`].
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the server of a connection must be (libpq's `target_session_attrs`), checked right
/// after authentication, with libpq 16's tests: from the `default_transaction_read_only` and
/// `in_hot_standby` parameters the server reports at startup (PostgreSQL 14 and later), else
/// with `SHOW transaction_read_only` or `SELECT pg_is_in_recovery()`. A server that does not
/// fit is closed and the next host is tried; when none fits, the connect fails with
/// [`Error::is_no_suitable_host`] (and [`Error::is_connect`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TargetSessionAttrs {
    /// Any server (the default).
    #[default]
    Any,
    /// A session that accepts writes: neither `default_transaction_read_only` nor
    /// `in_hot_standby` is on (`transaction_read_only` is `off`).
    ReadWrite,
    /// A read-only session: `default_transaction_read_only` or `in_hot_standby` is on.
    ReadOnly,
    /// A server that is not in recovery (`in_hot_standby` off, `pg_is_in_recovery()` false).
    Primary,
    /// A server in recovery (a hot standby).
    Standby,
    /// A standby if any host is one (a first pass over the hosts accepts only standbys),
    /// else any server (a second pass accepts the first that connects).
    PreferStandby,
}

impl TargetSessionAttrs {
    fn parse(value: &str) -> Result<Self, Error> {
        Ok(match value {
            "any" => TargetSessionAttrs::Any,
            "read-write" => TargetSessionAttrs::ReadWrite,
            "read-only" => TargetSessionAttrs::ReadOnly,
            "primary" => TargetSessionAttrs::Primary,
            "standby" => TargetSessionAttrs::Standby,
            "prefer-standby" => TargetSessionAttrs::PreferStandby,
            other => {
                return Err(Error::config(format!(
                    "invalid target_session_attrs {other:?} (any, read-write, read-only, primary, standby, prefer-standby)"
                )))
            }
        })
    }

    /// The libpq spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetSessionAttrs::Any => "any",
            TargetSessionAttrs::ReadWrite => "read-write",
            TargetSessionAttrs::ReadOnly => "read-only",
            TargetSessionAttrs::Primary => "primary",
            TargetSessionAttrs::Standby => "standby",
            TargetSessionAttrs::PreferStandby => "prefer-standby",
        }
    }
}

/// Settings of a client.
#[derive(Debug, Clone)]
pub struct Config {
    /// The servers a connection may go to, in the order given; never empty. A connection
    /// being opened works on a copy holding only the host it tries (see
    /// [`Config::for_host`]).
    pub(crate) hosts: Vec<Host>,
    /// Whether the hosts are set by the builder or the string (`false`: the default host,
    /// which [`Config::add_host`] replaces rather than extends).
    hosts_given: bool,
    pub(crate) load_balance_hosts: LoadBalanceHosts,
    pub(crate) user: String,
    pub(crate) password: Option<Password>,
    pub(crate) passfile: Option<PathBuf>,
    pub(crate) dbname: Option<String>,
    pub(crate) application_name: Option<String>,
    pub(crate) fallback_application_name: Option<String>,
    pub(crate) target_session_attrs: TargetSessionAttrs,
    /// TCP keepalive on (libpq's default) or off (`keepalives=0`).
    keepalives: bool,
    /// `keepalives_idle`, `keepalives_interval`, `keepalives_count` (unset: system defaults).
    keepalive: corelane_runtime::TcpKeepalive,
    /// libpq keywords that were given and are not acted on.
    ignored: Vec<String>,
    /// What parsing noticed and did not act on (see [`Config::notes`]).
    notes: Vec<String>,
    pub(crate) options: Option<String>,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) connect_timeout: Duration,
    pub(crate) statement_cache_size: usize,
    pub(crate) connections_per_worker: usize,
    /// The client's connection budget (see `budget.rs`); `None`: the default for the workers.
    pub(crate) max_connections: Option<usize>,
    pub(crate) exclusive_per_worker: usize,
    pub(crate) acquire_timeout: Option<Duration>,
    pub(crate) query_timeout: Option<Duration>,
    /// Put each statement's SQL text on its span (feature `tracing`).
    pub(crate) trace_query_text: bool,
    pub(crate) copy_timeout: Option<Duration>,
    pub(crate) max_result_bytes: Option<usize>,
    pub(crate) on_notice: Option<NoticeCallback>,
    pub(crate) tls: crate::tls::TlsOptions,
}

/// Receives the notices (`NoticeResponse`: `RAISE NOTICE`, warnings, …) the server sends on
/// the client's connections. Called on the worker that read the notice, in the middle of
/// reading replies: keep it short and non-blocking.
#[derive(Clone)]
pub struct NoticeCallback(pub(crate) std::sync::Arc<dyn Fn(&crate::DbError) + Send + Sync>);

impl std::fmt::Debug for NoticeCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NoticeCallback")
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hosts: vec![Host::named(DEFAULT_HOST.into(), DEFAULT_PORT)],
            hosts_given: false,
            load_balance_hosts: LoadBalanceHosts::Disable,
            user: DEFAULT_USER.into(),
            password: None,
            passfile: None,
            dbname: None,
            application_name: None,
            fallback_application_name: None,
            target_session_attrs: TargetSessionAttrs::Any,
            keepalives: true,
            keepalive: corelane_runtime::TcpKeepalive::default(),
            ignored: Vec::new(),
            notes: Vec::new(),
            options: None,
            params: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            statement_cache_size: 256,
            connections_per_worker: 1,
            max_connections: None,
            exclusive_per_worker: DEFAULT_EXCLUSIVE_PER_WORKER,
            acquire_timeout: Some(DEFAULT_ACQUIRE_TIMEOUT),
            query_timeout: None,
            trace_query_text: false,
            copy_timeout: Some(DEFAULT_COPY_TIMEOUT),
            max_result_bytes: Some(DEFAULT_MAX_RESULT_BYTES),
            on_notice: None,
            tls: crate::tls::TlsOptions::default(),
        }
    }
}

impl Config {
    /// Parses a libpq connection string — `postgres://user:pass@host:port/db?key=value&...`
    /// (or `postgresql://`) or `key=value key='quoted value' ...` — with libpq's defaults:
    /// the `PG*` environment variables fill in what the string does not say, and a password
    /// not given is looked up in the password file (`passfile`, `PGPASSFILE` or
    /// `~/.pgpass`). See the crate docs' "Connection strings" section for the keywords.
    ///
    /// Besides libpq's keywords, these driver settings are accepted: `statement_cache_size`,
    /// `connections_per_worker`, `max_connections`, `exclusive_per_worker`, `acquire_timeout_ms`,
    /// `query_timeout_ms`, `copy_timeout_ms`, `max_result_bytes`. A keyword that is neither fails with [`Error::is_config`], as in libpq. The TLS keys
    /// (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `sslnegotiation`, `channel_binding`)
    /// have libpq's meanings (see [`ssl_mode`](Self::ssl_mode) and the crate docs).
    pub fn parse(s: &str) -> Result<Config, Error> {
        Config::parse_with_env(s, |name| std::env::var(name).ok())
    }

    /// [`parse`](Self::parse) with the environment read through `env` (a variable's value, or
    /// `None` when it is not set) instead of the process environment: for tests, and for
    /// callers that want no defaults from the environment (`|_| None`). `HOME` is read
    /// through it too, for `~/.pgpass`.
    ///
    /// Precedence, per keyword: the string's value, else the environment variable's, else the
    /// built-in default. The environment's values go through the same checks as the string's
    /// (a bad `PGPORT` is an error naming `PGPORT`).
    ///
    /// ```
    /// let config = corelane_postgres::Config::parse_with_env("dbname=app", |name| {
    ///     (name == "PGHOST").then(|| "/var/run/postgresql".to_owned())
    /// })?;
    /// assert_eq!(config.get_host(), "/var/run/postgresql");
    /// # Ok::<(), corelane_postgres::Error>(())
    /// ```
    pub fn parse_with_env(s: &str, env: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let pairs = conninfo::parse(s)?;
        let mut config = Config::default();
        let mut lists = HostLists::default();
        for (var, key) in conninfo::ENV_VARS {
            if pairs.iter().any(|(k, _)| k == key) {
                continue;
            }
            if let Some(value) = env(var) {
                config
                    .set(&mut lists, key, value)
                    .map_err(|e| e.with_context(&format!("environment variable {var}")))?;
            }
        }
        for (key, value) in pairs {
            config.set(&mut lists, &key, value)?;
        }
        config.hosts = lists.resolve()?;
        config.hosts_given = true;
        if config.password.is_none() {
            config.password_from_file(env("HOME").map(PathBuf::from));
        }
        Ok(config)
    }

    /// Looks each host's password up in the password file (`passfile`, else
    /// `home/.pgpass`): the file may hold a different password per host and port, as libpq
    /// allows.
    fn password_from_file(&mut self, home: Option<PathBuf>) {
        let Some(path) = self
            .passfile
            .clone()
            .or_else(|| home.map(|h| h.join(".pgpass")))
        else {
            return;
        };
        let mut hosts = std::mem::take(&mut self.hosts);
        for host in &mut hosts {
            let hostaddr = host.hostaddr.map(|ip| ip.to_string());
            // libpq looks a host given only by its address up by that address.
            let mut names = match (&hostaddr, host.host.is_empty()) {
                (Some(ip), true) => vec![ip.as_str()],
                _ => vec![host.host.as_str()],
            };
            if is_socket_dir(&host.host) || host.host == DEFAULT_HOST {
                names.push("localhost");
            }
            if let (Some(ip), true) = (&hostaddr, host.host == DEFAULT_HOST) {
                names.push(ip);
            }
            let target = pgpass::Target {
                hosts: &names,
                port: host.port,
                database: self.get_dbname(),
                user: &self.user,
            };
            match pgpass::lookup(&path, &target) {
                pgpass::Lookup::Found(password) => host.pgpass = Some(Password(password)),
                pgpass::Lookup::NoMatch => {}
                pgpass::Lookup::Skipped(note) => {
                    if !self.notes.contains(&note) {
                        self.notes.push(note);
                    }
                }
            }
        }
        self.hosts = hosts;
    }

    /// The configuration of one attempt on `host`: only that host, and its password (the
    /// one given, else the password file's for that host).
    pub(crate) fn for_host(&self, host: &Host) -> Config {
        let mut one = self.clone();
        one.hosts = vec![host.clone()];
        if one.password.is_none() {
            one.password = host.pgpass.clone();
        }
        one
    }

    /// The first host: the one a configuration made by [`for_host`](Self::for_host)
    /// connects to.
    pub(crate) fn target(&self) -> &Host {
        static DEFAULT: std::sync::LazyLock<Host> =
            std::sync::LazyLock::new(|| Host::named(DEFAULT_HOST.to_owned(), DEFAULT_PORT));
        // Never empty (every setter keeps a host); the default is only a fallback.
        self.hosts.first().unwrap_or(&DEFAULT)
    }

    /// The libpq keywords given (in the string or the environment) that this driver accepts
    /// but does not act on — e.g. `krbsrvname`, `gssencmode`, `sslcrl`, `require_auth` —
    /// each once, in the order first seen. The crate docs list them.
    pub fn ignored_keys(&self) -> &[String] {
        &self.ignored
    }

    /// What parsing noticed without failing: an ignored keyword, a password file skipped
    /// because of its permissions, a setting not applied. For logs at debug level.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Sends the server's notices (`NoticeResponse`, e.g. `RAISE NOTICE`, warnings) to
    /// `callback`, with all their fields (severity, code, message, …). Without one, notices
    /// are dropped. It runs on a worker thread while replies are read: keep it short, never
    /// block, never panic. Connections opened before the change keep the old setting.
    ///
    /// ```
    /// let config = corelane_postgres::Config::default()
    ///     .on_notice(|n| eprintln!("postgres {}: {}", n.severity, n.message));
    /// # let _ = config;
    /// ```
    pub fn on_notice(mut self, callback: impl Fn(&crate::DbError) + Send + Sync + 'static) -> Self {
        self.on_notice = Some(NoticeCallback(std::sync::Arc::new(callback)));
        self
    }

    /// The one host (name or IP address, or a Unix-socket directory when it starts with `/`:
    /// the socket is `<dir>/.s.PGSQL.<port>`) and port, replacing any others (and any
    /// `hostaddr`). [`add_host`](Self::add_host) gives more.
    pub fn host(mut self, host: impl Into<String>, port: u16) -> Self {
        self.hosts = vec![Host::named(host.into(), port)];
        self.hosts_given = true;
        self
    }
    /// Adds a host after those already set (the first call replaces the default host): a
    /// new connection tries them in order (or shuffled, see
    /// [`load_balance_hosts`](Self::load_balance_hosts)) until one accepts it and is what
    /// [`target_session_attrs`](Self::target_session_attrs) asks for — libpq's
    /// `host=a,b port=5432,5433`.
    ///
    /// ```
    /// use corelane_postgres::{Config, TargetSessionAttrs};
    ///
    /// let config = Config::default()
    ///     .add_host("db1.example", 5432)
    ///     .add_host("db2.example", 5432)
    ///     .target_session_attrs(TargetSessionAttrs::ReadWrite);
    /// assert_eq!(config.get_hosts().len(), 2);
    /// // The same as a connection string:
    /// let parsed = Config::parse_with_env(
    ///     "host=db1.example,db2.example target_session_attrs=read-write",
    ///     |_| None,
    /// )?;
    /// assert_eq!(parsed.get_hosts(), config.get_hosts());
    /// # Ok::<(), corelane_postgres::Error>(())
    /// ```
    pub fn add_host(mut self, host: impl Into<String>, port: u16) -> Self {
        if !self.hosts_given {
            self.hosts.clear();
        }
        self.hosts.push(Host::named(host.into(), port));
        self.hosts_given = true;
        self
    }
    /// Sets the hosts, in order, as `(host, port)` pairs (see [`add_host`](Self::add_host));
    /// none at all restores the default host.
    pub fn hosts<H: Into<String>>(mut self, hosts: impl IntoIterator<Item = (H, u16)>) -> Self {
        self.hosts = hosts
            .into_iter()
            .map(|(host, port)| Host::named(host.into(), port))
            .collect();
        self.hosts_given = !self.hosts.is_empty();
        if self.hosts.is_empty() {
            self.hosts = Config::default().hosts;
        }
        self
    }
    /// The order in which new connections try the hosts (`load_balance_hosts`; default
    /// [`LoadBalanceHosts::Disable`]: as given). [`LoadBalanceHosts::Random`] shuffles them
    /// for every new connection, as libpq 16 does, spreading connections over the hosts.
    pub fn load_balance_hosts(mut self, balance: LoadBalanceHosts) -> Self {
        self.load_balance_hosts = balance;
        self
    }
    /// The host order setting (see [`load_balance_hosts`](Self::load_balance_hosts)).
    pub fn get_load_balance_hosts(&self) -> LoadBalanceHosts {
        self.load_balance_hosts
    }
    /// Every host, in the order given.
    pub fn get_hosts(&self) -> &[Host] {
        &self.hosts
    }
    /// The (first) host: a name, an IP address or a Unix-socket directory.
    pub fn get_host(&self) -> &str {
        &self.target().host
    }
    /// The numeric address the (first) host is connected to at instead of looking its name
    /// up (`hostaddr`).
    pub fn get_hostaddr(&self) -> Option<IpAddr> {
        self.target().hostaddr
    }
    /// The (first) host's port.
    pub fn get_port(&self) -> u16 {
        self.target().port
    }
    /// The Unix-domain socket a connection to the (first) host goes to, when it is a
    /// socket directory (and no `hostaddr` is set): `<dir>/.s.PGSQL.<port>`.
    pub fn get_socket_path(&self) -> Option<PathBuf> {
        let host = self.target();
        (host.hostaddr.is_none() && is_socket_dir(&host.host))
            .then(|| socket_path(&host.host, host.port))
    }
    /// True when a password is set (given, or found in the password file for a host).
    pub fn has_password(&self) -> bool {
        self.password.is_some() || self.hosts.iter().any(|h| h.pgpass.is_some())
    }
    /// What each connection's server must be (default [`TargetSessionAttrs::Any`]), checked
    /// after authentication on every new connection of the client (queries, transactions,
    /// COPY, a [`Listener`](crate::Listener)'s): a host that is not is skipped, and when no
    /// host is, the connect fails with [`Error::is_no_suitable_host`].
    /// `target_session_attrs` in a connection string.
    pub fn target_session_attrs(mut self, attrs: TargetSessionAttrs) -> Self {
        self.target_session_attrs = attrs;
        self
    }
    /// TCP keepalive of the client's TCP connections: on by default (as in libpq) with the
    /// system's timings; `Some` with fields set to tune it (`keepalives_idle`,
    /// `keepalives_interval`, `keepalives_count` in a connection string), `None` to turn it
    /// off (`keepalives=0`). Unix-socket connections have none.
    pub fn keepalives(mut self, keepalive: Option<corelane_runtime::TcpKeepalive>) -> Self {
        self.keepalives = keepalive.is_some();
        self.keepalive = keepalive.unwrap_or_default();
        self
    }
    /// The TCP keepalive set on connections (see [`keepalives`](Self::keepalives)).
    pub fn get_keepalives(&self) -> Option<corelane_runtime::TcpKeepalive> {
        self.keepalives.then_some(self.keepalive)
    }
    /// The required kind of server (see [`target_session_attrs`](Self::target_session_attrs)).
    pub fn get_target_session_attrs(&self) -> TargetSessionAttrs {
        self.target_session_attrs
    }
    /// The `application_name` sent: the one set, else `fallback_application_name`.
    pub(crate) fn effective_application_name(&self) -> Option<&str> {
        self.application_name
            .as_deref()
            .or(self.fallback_application_name.as_deref())
    }
    /// User name.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }
    /// Password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(Password(password.into()));
        self
    }
    /// Database name (default: the user name).
    pub fn dbname(mut self, db: impl Into<String>) -> Self {
        self.dbname = Some(db.into());
        self
    }
    /// `application_name`.
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }
    /// Any other startup parameter (e.g. `search_path`).
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }
    /// Bound on connect + authentication (+ the `target_session_attrs` test) on each host
    /// tried (default 10 s): as in libpq, with several hosts a connect may take up to this
    /// times their number.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
    /// Prepared statements kept per connection (default 256). 0 names no statement at all:
    /// each query is parsed into the unnamed statement in its own round trip, and nothing is
    /// left on the server (the setting for pgbouncer in transaction mode).
    pub fn statement_cache_size(mut self, n: usize) -> Self {
        self.statement_cache_size = n;
        self
    }
    /// Pipelined connections each worker keeps (default 1). With N > 1, a worker opens
    /// another connection (up to N) whenever every open one has a query in flight, and sends
    /// each query to the connection with the fewest in flight.
    pub fn connections_per_worker(mut self, n: usize) -> Self {
        self.connections_per_worker = n.max(1);
        self
    }
    /// Default bound on each call of the client (`query`, `execute`, `pipeline`,
    /// `batch_execute`, `prepare`; not the statements of a transaction), from the moment it is
    /// issued: past it the call fails with [`Error::is_timeout`] and its statement is
    /// cancelled on the server when that is safe (see [`Client::with_query_timeout`], which
    /// also overrides this per handle). `None` (the default) waits as long as the server
    /// takes. In a URL or key=value string: `query_timeout_ms` (0 = none).
    ///
    /// [`Client::with_query_timeout`]: crate::Client::with_query_timeout
    pub fn query_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.query_timeout = timeout.filter(|d| !d.is_zero());
        self
    }
    /// The default query timeout.
    pub fn get_query_timeout(&self) -> Option<Duration> {
        self.query_timeout
    }
    /// With the `tracing` feature: put each statement's SQL text on its span
    /// (`db.query.text`). Off by default: SQL may hold literals the operator should not
    /// collect. Parameters are never recorded.
    pub fn trace_query_text(mut self, on: bool) -> Self {
        self.trace_query_text = on;
        self
    }
    /// Bound on each wait for the server during a COPY ([`Client::copy_in`],
    /// [`Client::copy_out`]): for the reply that starts it, for the server to take the next
    /// `CopyData` (COPY IN), for the next piece of data (COPY OUT), and for the reply that
    /// ends it. A server that makes no progress for this long fails the copy with
    /// [`Error::is_timeout`](crate::Error::is_timeout) and its connection is closed (the server
    /// rolls the copy back). The copy as a whole is not bounded (it may stream for hours), nor
    /// is the time the source or the consumer takes. Default 60 s; a copy whose end takes the server longer (say, a huge
    /// COPY IN with many foreign-key checks, which run when the data is all in) needs more.
    /// `None` waits as long as the server takes. In a URL or key=value string:
    /// `copy_timeout_ms` (0 = none).
    ///
    /// [`Client::copy_in`]: crate::Client::copy_in
    /// [`Client::copy_out`]: crate::Client::copy_out
    pub fn copy_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.copy_timeout = timeout.filter(|d| !d.is_zero());
        self
    }
    /// The most one statement's result may take in memory (its rows' bytes, plus a few
    /// dozen bytes per row), for the calls that collect rows (`query`, `query_one`,
    /// `query_opt`, `pipeline` slots, a transaction's `query`). A result past it fails that
    /// call with [`Error::is_result_too_large`](crate::Error::is_result_too_large): the
    /// statement ran, its rows are read and dropped as they arrive (memory stays at the cap),
    /// and the connection serves on. [`Client::query_stream`](crate::Client::query_stream)
    /// takes results of any size in bounded memory. Default 256 MiB: far above what a
    /// collected result should hold, far below what takes a machine down. `None`: no cap. In
    /// a URL or key=value string: `max_result_bytes` (0 = no cap).
    pub fn max_result_bytes(mut self, max: Option<usize>) -> Self {
        self.max_result_bytes = max.filter(|&n| n > 0);
        self
    }
    /// The result cap (see [`max_result_bytes`](Self::max_result_bytes)).
    pub fn get_max_result_bytes(&self) -> Option<usize> {
        self.max_result_bytes
    }
    /// The COPY timeout (see [`copy_timeout`](Self::copy_timeout)).
    pub fn get_copy_timeout(&self) -> Option<Duration> {
        self.copy_timeout
    }
    /// The user name.
    pub fn get_user(&self) -> &str {
        &self.user
    }
    /// The database name.
    pub fn get_dbname(&self) -> &str {
        self.dbname.as_deref().unwrap_or(&self.user)
    }

    /// Whether and how TLS is used (`sslmode`; default [`SslMode::Prefer`], as libpq). See
    /// [`SslMode`] for each mode's meaning, and the crate docs for an example.
    ///
    /// [`SslMode`]: crate::SslMode
    /// [`SslMode::Prefer`]: crate::SslMode::Prefer
    pub fn ssl_mode(mut self, mode: crate::SslMode) -> Self {
        self.tls.mode = Some(mode);
        self.tls.changed();
        self
    }
    /// The effective `sslmode`: the one set, else `verify-full` when the system's roots are
    /// trusted ([`ssl_root_cert_system`](Self::ssl_root_cert_system)), else `prefer`.
    pub fn get_ssl_mode(&self) -> crate::SslMode {
        self.tls.effective_mode()
    }
    /// Trusts the root certificates in this PEM file (`sslrootcert`). With it, `require`
    /// (and `prefer`/`allow` when they use TLS) verify the server's chain as `verify-ca`.
    /// Without it libpq's default, `~/.postgresql/root.crt`, is used when it exists.
    pub fn ssl_root_cert(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls.root_cert = Some(crate::tls::RootCert::File(path.into()));
        self.tls.changed();
        self
    }
    /// Trusts the operating system's roots (`sslrootcert=system`). As in libpq, this makes
    /// the default `sslmode` `verify-full`, and a weaker mode an error at connect time.
    pub fn ssl_root_cert_system(mut self) -> Self {
        self.tls.root_cert = Some(crate::tls::RootCert::System);
        self.tls.changed();
        self
    }
    /// Presents this client certificate (PEM chain, leaf first; `sslcert`) with the key of
    /// [`ssl_key`](Self::ssl_key): both or neither.
    pub fn ssl_cert(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls.cert = Some(path.into());
        self.tls.changed();
        self
    }
    /// The client certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1; `sslkey`).
    pub fn ssl_key(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls.key = Some(path.into());
        self.tls.changed();
        self
    }
    /// How TLS starts (`sslnegotiation`; default [`SslNegotiation::Postgres`]).
    ///
    /// [`SslNegotiation::Postgres`]: crate::SslNegotiation::Postgres
    pub fn ssl_negotiation(mut self, negotiation: crate::SslNegotiation) -> Self {
        self.tls.negotiation = negotiation;
        self.tls.changed();
        self
    }
    /// SCRAM channel binding (`channel_binding`; default [`ChannelBinding::Prefer`]).
    ///
    /// [`ChannelBinding::Prefer`]: crate::ChannelBinding::Prefer
    pub fn channel_binding(mut self, binding: crate::ChannelBinding) -> Self {
        self.tls.channel_binding = binding;
        self.tls.changed();
        self
    }
    /// The channel binding setting.
    pub fn get_channel_binding(&self) -> crate::ChannelBinding {
        self.tls.channel_binding
    }

    /// Records `key` as given but not acted on.
    fn ignore(&mut self, key: &str, why: &str) {
        if !self.ignored.iter().any(|k| k == key) {
            self.ignored.push(key.to_owned());
            self.notes.push(format!("{key}: ignored ({why})"));
        }
    }

    /// Applies one keyword (from the connection string or, for a keyword the string does not
    /// give, from its environment variable).
    fn set(&mut self, lists: &mut HostLists, key: &str, value: String) -> Result<(), Error> {
        if lists.set(key, &value)? {
            return Ok(());
        }
        let number = |v: &str| -> Result<u64, Error> {
            v.parse()
                .map_err(|_| Error::config(format!("bad number {v:?} for {key}")))
        };
        let integer = |v: &str| -> Result<i64, Error> {
            v.trim()
                .parse()
                .map_err(|_| Error::config(format!("bad integer {v:?} for {key}")))
        };
        match key {
            "user" => {
                self.user = if value.is_empty() {
                    DEFAULT_USER.to_owned()
                } else {
                    value
                }
            }
            // An empty password is none: the password file is consulted (libpq).
            "password" => self.password = (!value.is_empty()).then_some(Password(value)),
            "passfile" => self.passfile = (!value.is_empty()).then(|| PathBuf::from(value)),
            "dbname" => self.dbname = (!value.is_empty()).then_some(value),
            "application_name" => self.application_name = Some(value),
            "fallback_application_name" => self.fallback_application_name = Some(value),
            "options" => self.options = (!value.is_empty()).then_some(value),
            "connect_timeout" => {
                // libpq: zero, negative or empty waits indefinitely; 1 means 2 seconds.
                let secs = if value.trim().is_empty() {
                    0
                } else if value.trim().starts_with('-') {
                    integer(&value)?.min(0)
                } else {
                    i64::try_from(number(value.trim())?).unwrap_or(i64::MAX)
                };
                self.connect_timeout = match secs {
                    ..=0 => Duration::MAX,
                    1 => Duration::from_secs(2),
                    n => Duration::from_secs(n.unsigned_abs()),
                };
            }
            "target_session_attrs" => {
                self.target_session_attrs = TargetSessionAttrs::parse(&value)?
            }
            // As libpq, an empty value is invalid too.
            "load_balance_hosts" => self.load_balance_hosts = LoadBalanceHosts::parse(&value)?,
            "client_encoding" => {
                // Rows are decoded as UTF-8, so the session must be UTF8 (always sent).
                let v = value.to_ascii_lowercase();
                if !matches!(v.as_str(), "utf8" | "utf-8" | "unicode" | "auto" | "") {
                    return Err(Error::config(format!(
                        "client_encoding={value:?}: only UTF8 is supported"
                    )));
                }
            }
            "replication" => match value.to_ascii_lowercase().as_str() {
                "" | "0" | "false" | "off" | "no" | "f" | "n" => {
                    self.ignore(key, "not a replication connection")
                }
                _ => {
                    return Err(Error::config(format!(
                        "replication={value:?}: replication connections are not supported"
                    )))
                }
            },
            "gssencmode" => match value.as_str() {
                "disable" | "allow" | "prefer" | "" => {
                    self.ignore(key, "GSSAPI encryption is not supported, connecting without it")
                }
                "require" => {
                    return Err(Error::config(
                        "gssencmode=require: GSSAPI encryption is not supported",
                    ))
                }
                other => return Err(Error::config(format!("invalid gssencmode {other:?}"))),
            },
            "service" => {
                return Err(Error::config(format!(
                    "service={value:?}: connection service files (pg_service.conf) are not supported yet"
                )))
            }
            // libpq: an integer; empty or 0 for the interval settings means the system default.
            "keepalives" => self.keepalives = value.trim().is_empty() || integer(&value)? != 0,
            "keepalives_idle" | "keepalives_interval" | "keepalives_count" => {
                let n = if value.trim().is_empty() {
                    0
                } else {
                    integer(&value)?
                };
                let n = u32::try_from(n).map_err(|_| {
                    Error::config(format!("bad value {value:?} for {key}: negative"))
                })?;
                let secs = (n > 0).then(|| Duration::from_secs(u64::from(n)));
                match key {
                    "keepalives_idle" => self.keepalive.idle = secs,
                    "keepalives_interval" => self.keepalive.interval = secs,
                    _ => self.keepalive.count = (n > 0).then_some(n),
                }
            }
            "statement_cache_size" => self.statement_cache_size = number(&value)? as usize,
            "connections_per_worker" => {
                self.connections_per_worker = (number(&value)? as usize).max(1)
            }
            "max_connections" => self.max_connections = Some(number(&value)? as usize),
            "exclusive_per_worker" => {
                self.exclusive_per_worker = (number(&value)? as usize).max(1)
            }
            "acquire_timeout_ms" => {
                let ms = number(&value)?;
                self.acquire_timeout = (ms > 0).then(|| Duration::from_millis(ms));
            }
            "query_timeout_ms" => {
                let ms = number(&value)?;
                self.query_timeout = (ms > 0).then(|| Duration::from_millis(ms));
            }
            "max_result_bytes" => {
                let n = usize::try_from(number(&value)?).unwrap_or(usize::MAX);
                self.max_result_bytes = (n > 0).then_some(n);
            }
            "copy_timeout_ms" => {
                let ms = number(&value)?;
                self.copy_timeout = (ms > 0).then(|| Duration::from_millis(ms));
            }
            "sslpassword" => self.ignore(
                key,
                "encrypted client keys are not supported: sslkey must be an unencrypted PEM key",
            ),
            "sslmode" | "sslrootcert" | "sslcert" | "sslkey" | "sslcertmode" | "sslnegotiation"
            | "channel_binding" => {
                self.tls.set(key, &value)?;
            }
            other if conninfo::IGNORED.contains(&other) => {
                self.ignore(other, "not implemented by corelane-postgres")
            }
            other => {
                return Err(Error::config(format!(
                    "unknown connection parameter {other:?}"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::collections::HashMap;

    /// Parses with an empty environment: tests never read or change the process's.
    fn parse(s: &str) -> Result<Config, Error> {
        Config::parse_with_env(s, |_| None)
    }

    fn with_env(s: &str, vars: &[(&str, &str)]) -> Result<Config, Error> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::parse_with_env(s, |name| vars.get(name).cloned())
    }

    #[test]
    fn url() {
        let c =
            parse("postgres://bob:p%40ss@db.example:6543/app?application_name=x&sslmode=prefer")
                .unwrap();
        assert_eq!(
            (c.get_host(), c.get_port(), c.user.as_str()),
            ("db.example", 6543, "bob")
        );
        assert_eq!(c.password.as_ref().map(Password::expose), Some("p@ss"));
        assert_eq!(c.get_dbname(), "app");
        assert_eq!(c.application_name.as_deref(), Some("x"));
        assert_eq!(c.query_timeout, None);
        let c = parse("postgres://h/d?query_timeout_ms=250").unwrap();
        assert_eq!(c.query_timeout, Some(Duration::from_millis(250)));
        let c = parse("host=h query_timeout_ms=0").unwrap();
        assert_eq!(c.query_timeout, None);
        assert!(parse("postgres://h/d?query_timeout_ms=x").is_err());
        assert_eq!(Config::default().copy_timeout, Some(DEFAULT_COPY_TIMEOUT));
        let c = parse("postgres://h/d?copy_timeout_ms=1500").unwrap();
        assert_eq!(c.get_copy_timeout(), Some(Duration::from_millis(1500)));
        assert_eq!(
            Config::default().max_result_bytes,
            Some(DEFAULT_MAX_RESULT_BYTES)
        );
        let c = parse("postgres://h/d?max_result_bytes=1048576").unwrap();
        assert_eq!(c.get_max_result_bytes(), Some(1 << 20));
        let c = parse("host=h max_result_bytes=0").unwrap();
        assert_eq!(c.max_result_bytes, None);
        assert!(parse("host=h max_result_bytes=-1").is_err());
        let c = parse("host=h copy_timeout_ms=0").unwrap();
        assert_eq!(c.copy_timeout, None);
        assert_eq!(
            Config::default()
                .copy_timeout(Some(Duration::ZERO))
                .get_copy_timeout(),
            None
        );
        assert!(!format!("{c:?}").contains("p@ss"));
    }

    #[test]
    fn key_value() {
        let c = parse("host=localhost port=5433 user=me password='a b\\'c' dbname=d").unwrap();
        assert_eq!((c.get_host(), c.get_port()), ("localhost", 5433));
        assert_eq!(c.password.as_ref().map(Password::expose), Some("a b'c"));
        assert_eq!(c.get_dbname(), "d");
    }

    #[test]
    fn tls_and_unknown_keys_are_clear_errors() {
        let e = parse("postgres://h/d?sslmode=bogus")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sslmode"), "{e}");
        assert!(parse("bogus=1").unwrap_err().is_config());
        assert!(parse("postgres://h:99999/d").is_err());
    }

    #[test]
    fn environment_fills_what_the_string_does_not_say() {
        let env = [
            ("PGHOST", "envhost"),
            ("PGPORT", "6000"),
            ("PGUSER", "envuser"),
            ("PGPASSWORD", "envpass"),
            ("PGDATABASE", "envdb"),
            ("PGAPPNAME", "envapp"),
            ("PGCONNECT_TIMEOUT", "7"),
            ("PGOPTIONS", "-c search_path=x"),
            ("PGTARGETSESSIONATTRS", "read-write"),
        ];
        let c = with_env("", &env).unwrap();
        assert_eq!(
            (c.get_host(), c.get_port(), c.get_user()),
            ("envhost", 6000, "envuser")
        );
        assert_eq!(c.password.as_ref().map(Password::expose), Some("envpass"));
        assert_eq!(c.get_dbname(), "envdb");
        assert_eq!(c.application_name.as_deref(), Some("envapp"));
        assert_eq!(c.connect_timeout, Duration::from_secs(7));
        assert_eq!(c.options.as_deref(), Some("-c search_path=x"));
        assert_eq!(c.get_target_session_attrs(), TargetSessionAttrs::ReadWrite);
        // The string wins, key by key, in both forms.
        let c = with_env(
            "host=h port=5 user=u password=p dbname=d application_name=a",
            &env,
        )
        .unwrap();
        assert_eq!((c.get_host(), c.get_port(), c.get_user()), ("h", 5, "u"));
        assert_eq!(c.password.as_ref().map(Password::expose), Some("p"));
        assert_eq!(
            (c.get_dbname(), c.application_name.as_deref()),
            ("d", Some("a"))
        );
        assert_eq!(c.connect_timeout, Duration::from_secs(7));
        let c = with_env("postgres://u@h/d", &env).unwrap();
        assert_eq!((c.get_host(), c.get_port(), c.get_user()), ("h", 6000, "u"));
        assert_eq!(c.get_dbname(), "d");
        // Built-in defaults without environment.
        let c = with_env("", &[]).unwrap();
        assert_eq!(
            (c.get_host(), c.get_port(), c.get_user()),
            (DEFAULT_HOST, DEFAULT_PORT, DEFAULT_USER)
        );
        assert!(c.password.is_none());
        assert_eq!(c.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    }

    #[test]
    fn environment_errors_name_the_variable() {
        let e = with_env("", &[("PGPORT", "nope")]).unwrap_err();
        assert!(e.is_config());
        assert!(e.to_string().contains("PGPORT"), "{e}");
        // Not consulted when the string gives the key.
        assert!(with_env("port=1", &[("PGPORT", "nope")]).is_ok());
        // TLS variables go through the same keyword handling as the string's.
        let e = with_env("", &[("PGSSLMODE", "bogus")]).unwrap_err();
        assert!(e.to_string().contains("PGSSLMODE"), "{e}");
        assert!(with_env("", &[("PGSSLMODE", "disable")]).is_ok());
        let e = with_env("", &[("PGSERVICE", "svc")]).unwrap_err();
        assert!(e.to_string().contains("not supported yet"), "{e}");
    }

    #[test]
    fn unix_sockets() {
        let c = parse("host=/var/run/postgresql port=5433").unwrap();
        assert_eq!(
            c.get_socket_path(),
            Some(PathBuf::from("/var/run/postgresql/.s.PGSQL.5433"))
        );
        for s in [
            "postgres://%2Fvar%2Frun%2Fpostgresql/db",
            "postgres:///db?host=/var/run/postgresql",
            "postgresql://user@%2Fvar%2Frun%2Fpostgresql:5432/db",
        ] {
            let c = parse(s).unwrap();
            assert_eq!(
                c.get_socket_path(),
                Some(PathBuf::from("/var/run/postgresql/.s.PGSQL.5432")),
                "{s}"
            );
            assert_eq!(c.get_dbname(), "db");
        }
        assert_eq!(parse("host=localhost").unwrap().get_socket_path(), None);
        // hostaddr wins over a socket directory for where to connect.
        let c = parse("host=/tmp hostaddr=10.0.0.1").unwrap();
        assert_eq!(c.get_socket_path(), None);
        assert_eq!(c.get_hostaddr(), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(crate::endpoint::describe(&c), "10.0.0.1:5432");
        assert!(parse("hostaddr=db.example").unwrap_err().is_config());
        assert!(parse("host=@abstract").unwrap_err().is_config());
        // The builder clears hostaddr.
        let c = c.host("/sock", 1);
        assert_eq!(c.get_socket_path(), Some(PathBuf::from("/sock/.s.PGSQL.1")));
    }

    #[test]
    fn ignored_unknown_and_refused_keys() {
        let c = parse(
            "krbsrvname=x gsslib=gssapi requirepeer=pg tcp_user_timeout=5 sslcompression=0 \
             sslcrl=a sslcrldir=b sslsni=1 ssl_min_protocol_version=TLSv1.2 \
             ssl_max_protocol_version=TLSv1.3 require_auth=md5 \
             gssencmode=prefer replication=false krbsrvname=y client_encoding=UTF8",
        )
        .unwrap();
        let ignored = c.ignored_keys();
        assert_eq!(ignored.len(), 13, "{ignored:?}");
        assert_eq!(ignored.first().map(String::as_str), Some("krbsrvname"));
        assert!(ignored.iter().any(|k| k == "require_auth"));
        assert_eq!(c.notes().len(), 13);
        assert!(parse("host=h").unwrap().ignored_keys().is_empty());
        for bad in [
            "bogus=1",
            "postgres://h/d?bogus=1",
            "keepalives_idle=soon",
            "keepalives_count=-1",
            "keepalives=yes",
            "gssencmode=require",
            "replication=database",
            "client_encoding=LATIN1",
            "service=mine",
            "target_session_attrs=whatever",
            "load_balance_hosts=sometimes",
            "load_balance_hosts=''",
            "host=a,b port=1,2,3",
            "host=a,b hostaddr=10.0.0.1",
            "postgres://a:1,b:2/d?port=7,8,9",
            "port=1,2",
            "port=0",
            "port=70000",
        ] {
            assert!(parse(bad).unwrap_err().is_config(), "{bad}");
        }
        let e = parse("host=a,b,c port=1,2").unwrap_err().to_string();
        assert!(
            e.contains("could not match 2 port numbers to 3 hosts"),
            "{e}"
        );
        let e = parse("bogus=1").unwrap_err().to_string();
        assert!(e.contains("unknown connection parameter \"bogus\""), "{e}");
        assert_eq!(
            parse("sslpassword=x").unwrap().ignored_keys(),
            ["sslpassword"]
        );
        assert!(parse("sslcertmode=disable").is_ok());
        let e = parse("sslcertmode=require").unwrap_err().to_string();
        assert!(e.contains("not supported yet"), "{e}");
    }

    #[test]
    fn honoured_keys() {
        let c = parse(
            "fallback_application_name=fb connect_timeout=1 target_session_attrs=primary \
             options='-c geqo=off'",
        )
        .unwrap();
        assert_eq!(c.effective_application_name(), Some("fb"));
        assert_eq!(c.connect_timeout, Duration::from_secs(2));
        assert_eq!(c.get_target_session_attrs(), TargetSessionAttrs::Primary);
        assert_eq!(c.options.as_deref(), Some("-c geqo=off"));
        let c = parse("application_name=a fallback_application_name=fb").unwrap();
        assert_eq!(c.effective_application_name(), Some("a"));
        for (value, expected) in [
            ("0", Duration::MAX),
            ("-3", Duration::MAX),
            ("''", Duration::MAX),
            ("30", Duration::from_secs(30)),
        ] {
            let c = parse(&format!("connect_timeout={value}")).unwrap();
            assert_eq!(c.connect_timeout, expected, "{value}");
        }
        for attrs in [
            "any",
            "read-write",
            "read-only",
            "primary",
            "standby",
            "prefer-standby",
        ] {
            let c = parse(&format!("target_session_attrs={attrs}")).unwrap();
            assert_eq!(c.get_target_session_attrs().as_str(), attrs);
        }
        // Keepalive: on by default with the system's timings, tunable, or off.
        let k = parse("").unwrap().get_keepalives().unwrap();
        assert_eq!(k, corelane_runtime::TcpKeepalive::default());
        let k = parse("keepalives_idle=30 keepalives_interval=5 keepalives_count=3")
            .unwrap()
            .get_keepalives()
            .unwrap();
        assert_eq!(k.idle, Some(Duration::from_secs(30)));
        assert_eq!(k.interval, Some(Duration::from_secs(5)));
        assert_eq!(k.count, Some(3));
        let k = parse("keepalives_idle=0")
            .unwrap()
            .get_keepalives()
            .unwrap();
        assert_eq!(k.idle, None);
        assert_eq!(
            parse("keepalives=0 keepalives_idle=30")
                .unwrap()
                .get_keepalives(),
            None
        );
        assert!(parse("keepalives=1").unwrap().get_keepalives().is_some());
        // Empty values fall back to the defaults.
        let c = parse("host='' port='' user='' dbname='' password=''").unwrap();
        assert_eq!(
            (c.get_host(), c.get_port(), c.get_user()),
            (DEFAULT_HOST, DEFAULT_PORT, DEFAULT_USER)
        );
        assert!(!c.has_password());
    }

    fn hosts_of(c: &Config) -> Vec<(String, Option<IpAddr>, u16)> {
        c.get_hosts()
            .iter()
            .map(|h| (h.host().to_owned(), h.hostaddr(), h.port()))
            .collect()
    }

    fn named(list: &[(&str, u16)]) -> Vec<(String, Option<IpAddr>, u16)> {
        list.iter()
            .map(|(h, p)| ((*h).to_owned(), None, *p))
            .collect()
    }

    #[test]
    fn multi_host_strings() {
        let expected = named(&[("a", 5432), ("b", 5433), ("c", 5434)]);
        for s in [
            "host=a,b,c port=5432,5433,5434",
            "postgres://a:5432,b:5433,c:5434/db",
            "postgresql://u@a,b:5433,c:5434/db",
            "postgres:///db?host=a,b,c&port=5432,5433,5434",
        ] {
            assert_eq!(hosts_of(&parse(s).unwrap()), expected, "{s}");
        }
        // One port for all.
        assert_eq!(
            hosts_of(&parse("host=a,b port=6000").unwrap()),
            named(&[("a", 6000), ("b", 6000)])
        );
        assert_eq!(
            hosts_of(&parse("postgres://a,b/db").unwrap()),
            named(&[("a", 5432), ("b", 5432)])
        );
        assert_eq!(
            hosts_of(&parse("postgres://:1,:2/db").unwrap()),
            named(&[(DEFAULT_HOST, 1), (DEFAULT_HOST, 2)])
        );
        assert_eq!(
            hosts_of(&parse("postgres://a,b:5/db").unwrap()),
            named(&[("a", DEFAULT_PORT), ("b", 5)])
        );
        // IPv6 in a URL, and hostaddr lists.
        assert_eq!(
            hosts_of(&parse("postgres://[::1]:1,[::2]:2/db").unwrap()),
            named(&[("::1", 1), ("::2", 2)])
        );
        let c = parse("hostaddr=127.0.0.1,127.0.0.2 port=1,2").unwrap();
        assert_eq!(c.get_hostaddr(), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(
            c.get_hosts()[1].hostaddr(),
            Some("127.0.0.2".parse().unwrap())
        );
        assert_eq!(crate::endpoint::describe(&c), "127.0.0.1:1,127.0.0.2:2");
        // The environment's list, replaced by the string's.
        let c = with_env("", &[("PGHOST", "x,y"), ("PGPORT", "1,2")]).unwrap();
        assert_eq!(hosts_of(&c), named(&[("x", 1), ("y", 2)]));
        let e = with_env("host=a,b,c", &[("PGPORT", "1,2")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("could not match 2 port numbers to 3 hosts"),
            "{e}"
        );
        // load_balance_hosts.
        assert_eq!(
            parse("load_balance_hosts=random")
                .unwrap()
                .get_load_balance_hosts(),
            LoadBalanceHosts::Random
        );
        assert_eq!(
            with_env("", &[("PGLOADBALANCEHOSTS", "random")])
                .unwrap()
                .get_load_balance_hosts(),
            LoadBalanceHosts::Random
        );
        assert_eq!(
            Config::default().get_load_balance_hosts(),
            LoadBalanceHosts::Disable
        );
    }

    #[test]
    fn multi_host_builder() {
        let c = Config::default().add_host("a", 1).add_host("b", 2);
        assert_eq!(hosts_of(&c), named(&[("a", 1), ("b", 2)]));
        let c = c.host("only", 3);
        assert_eq!(hosts_of(&c), named(&[("only", 3)]));
        let c = c.add_host("more", 4);
        assert_eq!(hosts_of(&c), named(&[("only", 3), ("more", 4)]));
        let c = Config::default().hosts([("x", 1), ("y", 2)]);
        assert_eq!(hosts_of(&c), named(&[("x", 1), ("y", 2)]));
        let c = c.hosts(Vec::<(String, u16)>::new());
        assert_eq!(hosts_of(&c), named(&[(DEFAULT_HOST, DEFAULT_PORT)]));
        // One attempt's configuration holds only its host.
        let c = Config::default().add_host("a", 1).add_host("b", 2);
        let one = c.for_host(&c.get_hosts()[1]);
        assert_eq!(hosts_of(&one), named(&[("b", 2)]));
    }

    #[test]
    fn password_file_per_host() {
        let dir = Dir::new("perhost");
        let file = dir.file("pass", "a:1:*:*:pw-a\nb:2:*:*:pw-b\n", 0o600);
        let c = parse(&format!(
            "host=a,b,c port=1,2,3 passfile={}",
            file.display()
        ))
        .unwrap();
        let pw: Vec<Option<String>> = c
            .get_hosts()
            .iter()
            .map(|h| c.for_host(h).password.map(|p| p.expose().to_owned()))
            .collect();
        assert_eq!(pw, [Some("pw-a".to_owned()), Some("pw-b".to_owned()), None]);
        // A password given applies to every host.
        let c = parse(&format!(
            "host=a,b port=1,2 password=given passfile={}",
            file.display()
        ))
        .unwrap();
        for h in c.get_hosts() {
            assert_eq!(
                c.for_host(h).password.as_ref().map(Password::expose),
                Some("given")
            );
        }
        assert!(!format!("{c:?}").contains("pw-a"));
    }

    /// A directory of its own under the system temp dir, removed on drop.
    struct Dir(PathBuf);
    impl Dir {
        fn new(tag: &str) -> Dir {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = std::env::temp_dir()
                .join(format!("corelane-config-{tag}-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }
        fn file(&self, name: &str, text: &str, mode: u32) -> PathBuf {
            use std::os::unix::fs::PermissionsExt;
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            path
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn password_file() {
        let home = Dir::new("home");
        let home_str = home.0.to_str().unwrap().to_owned();
        home.file(
            ".pgpass",
            "db:5432:app:bob:from-home\nlocalhost:*:*:bob:local\n",
            0o600,
        );
        let other = Dir::new("other");
        let passfile = other.file("pass", "*:*:*:*:from-passfile\n", 0o600);
        let passfile_str = passfile.to_str().unwrap().to_owned();
        let env = [("HOME", home_str.as_str())];
        let pw = |c: &Config| {
            c.for_host(c.target())
                .password
                .as_ref()
                .map(|p| p.expose().to_owned())
        };

        let c = with_env("host=db user=bob dbname=app", &env).unwrap();
        assert_eq!(pw(&c).as_deref(), Some("from-home"));
        // No match: no password.
        let c = with_env("host=db user=bob dbname=other", &env).unwrap();
        assert_eq!(pw(&c), None);
        // A socket directory matches `localhost`; so does the default host.
        let c = with_env("host=/run/pg user=bob dbname=x", &env).unwrap();
        assert_eq!(pw(&c).as_deref(), Some("local"));
        let c = with_env("user=bob", &env).unwrap();
        assert_eq!(pw(&c).as_deref(), Some("local"));
        // A given password wins over the file.
        let c = with_env("host=db user=bob dbname=app password=given", &env).unwrap();
        assert_eq!(pw(&c).as_deref(), Some("given"));
        let c = with_env(
            "host=db user=bob dbname=app",
            &[("HOME", &home_str), ("PGPASSWORD", "envpw")],
        )
        .unwrap();
        assert_eq!(pw(&c).as_deref(), Some("envpw"));
        // passfile and PGPASSFILE replace ~/.pgpass.
        let c = with_env(
            &format!("host=db user=bob dbname=app passfile={passfile_str}"),
            &env,
        )
        .unwrap();
        assert_eq!(pw(&c).as_deref(), Some("from-passfile"));
        let c = with_env(
            "host=db user=bob dbname=app",
            &[("HOME", &home_str), ("PGPASSFILE", &passfile_str)],
        )
        .unwrap();
        assert_eq!(pw(&c).as_deref(), Some("from-passfile"));
        // A group-readable file is skipped with a note.
        let loose = other.file("loose", "*:*:*:*:leaked\n", 0o644);
        let c = with_env(&format!("passfile={}", loose.display()), &[]).unwrap();
        assert_eq!(pw(&c), None);
        assert!(
            c.notes().iter().any(|n| n.contains("group or world")),
            "{:?}",
            c.notes()
        );
        // The password never shows in Debug.
        let c = with_env("host=db user=bob dbname=app", &env).unwrap();
        assert!(!format!("{c:?}").contains("from-home"));
    }

    #[test]
    fn tls_keys() {
        use crate::{ChannelBinding, SslMode};
        let c = Config::parse(
            "postgres://u:p@h/d?sslmode=verify-full&sslrootcert=ca.pem&channel_binding=require",
        )
        .unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::VerifyFull);
        assert_eq!(c.get_channel_binding(), ChannelBinding::Require);
        assert_eq!(
            c.tls.root_cert,
            Some(crate::tls::RootCert::File("ca.pem".into()))
        );
        let c = Config::parse("host=h sslrootcert=system sslcert=c.pem sslkey=k.pem").unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::VerifyFull);
        assert_eq!(Config::default().get_ssl_mode(), SslMode::Prefer);
        for mode in [
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ] {
            let c = Config::parse(&format!("host=h sslmode={mode}")).unwrap();
            assert_eq!(c.get_ssl_mode().as_str(), mode);
        }
        assert!(Config::parse("host=h sslmode=bogus")
            .unwrap_err()
            .is_config());
        assert!(Config::parse("host=h sslnegotiation=bogus")
            .unwrap_err()
            .is_config());
        assert!(Config::parse("host=h sslnegotiation=direct").is_ok());
    }
}
