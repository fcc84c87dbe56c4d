//! Connection settings: from a `postgres://` URL, a `key=value` string, or the builder.

use std::time::Duration;

use crate::Error;

/// A password that never shows up in `Debug`, logs or errors.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// The default [`Config::max_result_bytes`].
const DEFAULT_MAX_RESULT_BYTES: usize = 256 * 1024 * 1024;

/// The default [`Config::copy_timeout`].
const DEFAULT_COPY_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings of a client.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    pub(crate) password: Option<Password>,
    pub(crate) dbname: Option<String>,
    pub(crate) application_name: Option<String>,
    pub(crate) options: Option<String>,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) connect_timeout: Duration,
    pub(crate) statement_cache_size: usize,
    pub(crate) connections_per_worker: usize,
    pub(crate) query_timeout: Option<Duration>,
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
            host: "127.0.0.1".into(),
            port: 5432,
            user: "postgres".into(),
            password: None,
            dbname: None,
            application_name: None,
            options: None,
            params: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            statement_cache_size: 256,
            connections_per_worker: 1,
            query_timeout: None,
            copy_timeout: Some(DEFAULT_COPY_TIMEOUT),
            max_result_bytes: Some(DEFAULT_MAX_RESULT_BYTES),
            on_notice: None,
            tls: crate::tls::TlsOptions::default(),
        }
    }
}

impl Config {
    /// Parses `postgres://user:pass@host:port/db?application_name=..&connect_timeout=..&
    /// options=..&sslmode=..&statement_cache_size=..&connections_per_worker=..&
    /// query_timeout_ms=..&copy_timeout_ms=..&max_result_bytes=..` or a
    /// `key=value key=value` string with the same keys (plus host, port, user, password,
    /// dbname), and the TLS keys `sslmode`, `sslrootcert`, `sslcert`, `sslkey`,
    /// `sslnegotiation` and `channel_binding` with libpq's meanings (see
    /// [`ssl_mode`](Self::ssl_mode) and the crate docs).
    pub fn parse(s: &str) -> Result<Config, Error> {
        let s = s.trim();
        if let Some(rest) = s
            .strip_prefix("postgres://")
            .or_else(|| s.strip_prefix("postgresql://"))
        {
            parse_url(rest)
        } else {
            parse_kv(s)
        }
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

    /// Host (name or IP) and port.
    pub fn host(mut self, host: impl Into<String>, port: u16) -> Self {
        self.host = host.into();
        self.port = port;
        self
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
    /// Bound on connect + authentication (default 10 s).
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

    fn set(&mut self, key: &str, value: String) -> Result<(), Error> {
        let number = |v: &str| -> Result<u64, Error> {
            v.parse()
                .map_err(|_| Error::config(format!("bad number {v:?} for {key}")))
        };
        match key {
            "host" | "hostaddr" => self.host = value,
            "port" => {
                self.port = value
                    .parse()
                    .map_err(|_| Error::config(format!("bad port {value:?}")))?
            }
            "user" => self.user = value,
            "password" => self.password = Some(Password(value)),
            "dbname" => self.dbname = Some(value),
            "application_name" => self.application_name = Some(value),
            "options" => self.options = Some(value),
            "connect_timeout" => self.connect_timeout = Duration::from_secs(number(&value)?.max(1)),
            "statement_cache_size" => self.statement_cache_size = number(&value)? as usize,
            "connections_per_worker" => {
                self.connections_per_worker = (number(&value)? as usize).max(1)
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
            "sslmode" | "sslrootcert" | "sslcert" | "sslkey" | "sslnegotiation"
            | "channel_binding" => {
                self.tls.set(key, &value)?;
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

fn parse_url(rest: &str) -> Result<Config, Error> {
    let mut config = Config::default();
    let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = main.split_once('/').unwrap_or((main, ""));
    let host_port = match authority.rsplit_once('@') {
        Some((userinfo, hp)) => {
            let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            if !user.is_empty() {
                config.user = decode(user)?;
            }
            if userinfo.contains(':') {
                config.password = Some(Password(decode(pass)?));
            }
            hp
        }
        None => authority,
    };
    if !host_port.is_empty() {
        let (host, port) = match host_port.strip_prefix('[') {
            Some(v6) => {
                let (h, after) = v6
                    .split_once(']')
                    .ok_or_else(|| Error::config("bad IPv6 host in URL"))?;
                (h, after.strip_prefix(':'))
            }
            None => match host_port.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (host_port, None),
            },
        };
        config.host = decode(host)?;
        if let Some(port) = port {
            config.port = port
                .parse()
                .map_err(|_| Error::config(format!("bad port {port:?} in URL")))?;
        }
    }
    if !path.is_empty() {
        config.dbname = Some(decode(path)?);
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        config.set(k, decode(v)?)?;
    }
    Ok(config)
}

fn parse_kv(s: &str) -> Result<Config, Error> {
    let mut config = Config::default();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(config);
        }
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        let key = key.trim().to_owned();
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(Error::config(format!(
                    "unterminated quoted value for {key}"
                )));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        if key.is_empty() {
            return Err(Error::config("missing key in connection string"));
        }
        config.set(&key, value)?;
    }
}

fn decode(s: &str) -> Result<String, Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let v = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::config("bad percent-escape in URL"))?;
            out.push(v);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::config("URL component is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url() {
        let c = Config::parse(
            "postgres://bob:p%40ss@db.example:6543/app?application_name=x&sslmode=prefer",
        )
        .unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.user.as_str()),
            ("db.example", 6543, "bob")
        );
        assert_eq!(c.password.as_ref().map(Password::expose), Some("p@ss"));
        assert_eq!(c.get_dbname(), "app");
        assert_eq!(c.application_name.as_deref(), Some("x"));
        assert_eq!(c.query_timeout, None);
        let c = Config::parse("postgres://h/d?query_timeout_ms=250").unwrap();
        assert_eq!(c.query_timeout, Some(Duration::from_millis(250)));
        let c = Config::parse("host=h query_timeout_ms=0").unwrap();
        assert_eq!(c.query_timeout, None);
        assert!(Config::parse("postgres://h/d?query_timeout_ms=x").is_err());
        assert_eq!(Config::default().copy_timeout, Some(DEFAULT_COPY_TIMEOUT));
        let c = Config::parse("postgres://h/d?copy_timeout_ms=1500").unwrap();
        assert_eq!(c.get_copy_timeout(), Some(Duration::from_millis(1500)));
        assert_eq!(
            Config::default().max_result_bytes,
            Some(DEFAULT_MAX_RESULT_BYTES)
        );
        let c = Config::parse("postgres://h/d?max_result_bytes=1048576").unwrap();
        assert_eq!(c.get_max_result_bytes(), Some(1 << 20));
        let c = Config::parse("host=h max_result_bytes=0").unwrap();
        assert_eq!(c.max_result_bytes, None);
        assert!(Config::parse("host=h max_result_bytes=-1").is_err());
        let c = Config::parse("host=h copy_timeout_ms=0").unwrap();
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
        let c =
            Config::parse("host=localhost port=5433 user=me password='a b\\'c' dbname=d").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("localhost", 5433));
        assert_eq!(c.password.as_ref().map(Password::expose), Some("a b'c"));
        assert_eq!(c.get_dbname(), "d");
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

    #[test]
    fn unknown_keys_are_clear_errors() {
        assert!(Config::parse("bogus=1").unwrap_err().is_config());
        assert!(Config::parse("postgres://h:99999/d").is_err());
    }
}
