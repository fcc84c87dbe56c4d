//! A throwaway `redis-server`.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::port::free_port;
use crate::process::{find_on_path, is_executable, kill_and_reap, log_tail, POLL};
use crate::tempdir::TempDir;
use crate::tls::CertFiles;

/// How many fresh ports startup tries before giving up.
const START_ATTEMPTS: usize = 5;
/// Default time allowed for the server to answer PING.
const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Redis' `tls-auth-clients`: whether a TLS client must present a certificate signed by the
/// server's CA (`tls-ca-cert-file`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsAuthClients {
    /// No client certificate is asked for (the builder's default; Redis' own default is
    /// `yes`).
    #[default]
    No,
    /// A client certificate signed by the CA is required (mutual TLS).
    Yes,
    /// A client certificate is checked if presented, but not required.
    Optional,
}

impl TlsAuthClients {
    fn as_str(self) -> &'static str {
        match self {
            TlsAuthClients::No => "no",
            TlsAuthClients::Yes => "yes",
            TlsAuthClients::Optional => "optional",
        }
    }
}

/// The TLS material a server is started with, copied into its directory at start.
#[derive(Clone)]
struct TlsSetup {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
    auth_clients: TlsAuthClients,
    /// Written into the server's directory by [`RedisBuilder::start`].
    files: Option<TlsFiles>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("auth_clients", &self.auth_clients)
            .finish_non_exhaustive()
    }
}

/// Options for a [`RedisServer`]; obtained from [`RedisServer::builder`].
#[derive(Debug, Clone)]
pub struct RedisBuilder {
    extra: Vec<(String, Vec<String>)>,
    acl_file: Option<String>,
    binary: Option<PathBuf>,
    startup_timeout: Duration,
    tls: Option<Box<TlsSetup>>,
}

impl Default for RedisBuilder {
    fn default() -> Self {
        RedisBuilder {
            extra: Vec::new(),
            acl_file: None,
            binary: None,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            tls: None,
        }
    }
}

impl RedisBuilder {
    /// Adds a config directive, passed as `--name value1 value2 ...`.
    ///
    /// Each value is one token of the directive: `config("user", &["alice", "on", ">pw", "~*", "+@all"])`.
    pub fn config(mut self, name: &str, values: &[&str]) -> Self {
        self.extra.push((
            name.to_owned(),
            values.iter().map(|v| (*v).to_owned()).collect(),
        ));
        self
    }

    /// Sets `requirepass` (the password of the `default` user).
    pub fn requirepass(self, password: &str) -> Self {
        self.config("requirepass", &[password])
    }

    /// Adds an ACL user: `user(name, "on >secret ~* &* +@all")` becomes `--user name on >secret ...`.
    ///
    /// Rules are split on whitespace. Cannot be combined with [`RedisBuilder::acl_file`] (redis
    /// refuses both).
    pub fn user(mut self, name: &str, rules: &str) -> Self {
        let mut values = vec![name.to_owned()];
        values.extend(rules.split_whitespace().map(str::to_owned));
        self.extra.push(("user".to_owned(), values));
        self
    }

    /// Writes `contents` to an ACL file in the server's directory and passes `--aclfile`.
    pub fn acl_file(mut self, contents: &str) -> Self {
        self.acl_file = Some(contents.to_owned());
        self
    }

    /// Uses this `redis-server` executable instead of the one on `PATH`.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Also listens with TLS on a second free port ([`RedisServer::tls_port`],
    /// [`RedisServer::tls_url`]), showing `server` (a certificate and key, e.g. from
    /// [`TestCerts`](crate::TestCerts): a good one, or an expired / wrong-host / untrusted one)
    /// and checking client certificates against `ca_pem` (`tls-ca-cert-file`). Clients are
    /// not asked for a certificate unless [`tls_auth_clients`](Self::tls_auth_clients) says
    /// so.
    ///
    /// The plain port stays open: startup waits until it answers PING and the TLS port
    /// accepts connections, and tests can use it to administer the server (`CLIENT KILL`,
    /// `INFO`) whatever certificate the TLS port shows. The PEM files are copied into the
    /// server's directory, so the certificates may be dropped before the server.
    /// Needs a `redis-server` built with TLS (Debian's is).
    pub fn tls(mut self, ca_pem: &str, server: &CertFiles) -> Self {
        let auth_clients = self
            .tls
            .as_ref()
            .map_or_else(TlsAuthClients::default, |t| t.auth_clients);
        self.tls = Some(Box::new(TlsSetup {
            ca_pem: ca_pem.to_owned(),
            cert_pem: server.cert_pem.clone(),
            key_pem: server.key_pem.clone(),
            auth_clients,
            files: None,
        }));
        self
    }

    /// Sets `tls-auth-clients` (default [`TlsAuthClients::No`]); only meaningful with
    /// [`tls`](Self::tls), which must be called first.
    pub fn tls_auth_clients(mut self, mode: TlsAuthClients) -> Self {
        if let Some(tls) = &mut self.tls {
            tls.auth_clients = mode;
        }
        self
    }

    /// How long to wait for the server to answer PING (default 10 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Starts the server on a free loopback port.
    pub fn start(self) -> Result<RedisServer> {
        let binary = match self.binary.clone() {
            Some(path) if is_executable(&path) => path,
            Some(path) => {
                return Err(Error::MissingBinary {
                    binary: "redis-server".into(),
                    searched: path.display().to_string(),
                    install: "apt-get install redis-server",
                })
            }
            None => find_on_path("redis-server").ok_or_else(|| Error::MissingBinary {
                binary: "redis-server".into(),
                searched: "PATH".into(),
                install: "apt-get install redis-server",
            })?,
        };
        let dir = TempDir::new("redis")?;
        let acl_path = match &self.acl_file {
            Some(contents) => {
                let path = dir.path().join("users.acl");
                std::fs::write(&path, contents)
                    .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
                Some(path)
            }
            None => None,
        };
        let mut options = self;
        if let Some(tls) = &mut options.tls {
            let write = |name: &str, contents: &str| -> Result<PathBuf> {
                let path = dir.path().join(name);
                std::fs::write(&path, contents)
                    .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
                Ok(path)
            };
            let key = write("tls-server.key", &tls.key_pem)?;
            set_private(&key)?;
            tls.files = Some(TlsFiles {
                port: 0,
                ca: write("tls-ca.pem", &tls.ca_pem)?,
                cert: write("tls-server.crt", &tls.cert_pem)?,
                key,
                auth_clients: tls.auth_clients,
            });
        }
        let mut server = RedisServer {
            log: dir.path().join("redis.log"),
            dir,
            binary,
            options,
            acl_path,
            port: 0,
            child: None,
        };
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            server.port = free_port()?;
            if let Some(tls) = server.options.tls.as_mut().and_then(|t| t.files.as_mut()) {
                tls.port = free_port()?;
            }
            match server.spawn_and_wait() {
                Ok(()) => return Ok(server),
                // Most likely the port was taken between picking and binding: try another one.
                Err(e @ Error::Exited { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Config("redis-server never started".into())))
    }
}

/// A `redis-server` child process on `127.0.0.1` in its own temp dir, with persistence off.
///
/// Dropping it kills the process and removes the directory.
#[derive(Debug)]
pub struct RedisServer {
    dir: TempDir,
    log: PathBuf,
    binary: PathBuf,
    options: RedisBuilder,
    acl_path: Option<PathBuf>,
    port: u16,
    child: Option<Child>,
}

/// The TLS files in the server's directory, and the TLS port.
#[derive(Debug, Clone)]
struct TlsFiles {
    port: u16,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    auth_clients: TlsAuthClients,
}

fn set_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io(format!("restricting {}", path.display()), e))
}

impl RedisServer {
    /// Starts a server with default options.
    pub fn start() -> Result<Self> {
        RedisBuilder::default().start()
    }

    /// Options for a server with extra config.
    pub fn builder() -> RedisBuilder {
        RedisBuilder::default()
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The port the server listens on (kept across [`RedisServer::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn tls_files(&self) -> Option<&TlsFiles> {
        self.options.tls.as_ref().and_then(|t| t.files.as_ref())
    }

    /// The TLS address (`127.0.0.1:TLS_PORT`), for a server started with
    /// [`RedisBuilder::tls`].
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_files()
            .map(|tls| SocketAddr::from(([127, 0, 0, 1], tls.port)))
    }

    /// The TLS port (kept across [`RedisServer::restart`]), for a server started with
    /// [`RedisBuilder::tls`].
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_files().map(|tls| tls.port)
    }

    /// `rediss://127.0.0.1:TLS_PORT?ca_file=CA` (the CA given to [`RedisBuilder::tls`],
    /// percent-encoded), for a server started with TLS. The good test server certificate
    /// names `127.0.0.1`, so this URL verifies fully.
    pub fn tls_url(&self) -> Option<String> {
        self.tls_files().map(|tls| {
            format!(
                "rediss://127.0.0.1:{}?ca_file={}",
                tls.port,
                percent_encode(&tls.ca.display().to_string())
            )
        })
    }

    /// The CA file the server checks client certificates against (a copy of the PEM given
    /// to [`RedisBuilder::tls`]).
    pub fn tls_ca_file(&self) -> Option<&Path> {
        self.tls_files().map(|tls| tls.ca.as_path())
    }

    /// The server's working directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log file (stdout and stderr of every run).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Whether the process is alive (it was started and has not exited).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the server now with SIGKILL, as a crash would. A no-op if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
    }

    /// Starts the server again on the same port with the same config (killing it first if it
    /// still runs). Data is not kept: persistence is off.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        let deadline = Instant::now() + self.options.startup_timeout;
        loop {
            match self.spawn_and_wait() {
                // The old socket can linger for a moment after SIGKILL; retry until the deadline.
                Err(Error::Exited { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                other => return other,
            }
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path());
        if let Some(path) = &self.acl_path {
            cmd.arg("--aclfile").arg(path);
        }
        if let Some(tls) = self.tls_files() {
            cmd.arg("--tls-port")
                .arg(tls.port.to_string())
                .arg("--tls-cert-file")
                .arg(&tls.cert)
                .arg("--tls-key-file")
                .arg(&tls.key)
                .arg("--tls-ca-cert-file")
                .arg(&tls.ca)
                .args(["--tls-auth-clients", tls.auth_clients.as_str()]);
        }
        for (name, values) in &self.options.extra {
            cmd.arg(format!("--{name}")).args(values);
        }
        cmd.current_dir(self.dir.path());
        cmd
    }

    fn spawn_and_wait(&mut self) -> Result<()> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| Error::io(format!("opening {}", self.log.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| Error::io("duplicating the log handle", e))?;
        let mut cmd = self.command();
        cmd.stdin(Stdio::null()).stdout(log).stderr(log_err);
        let child = cmd
            .spawn()
            .map_err(|e| Error::io(format!("spawning {}", self.binary.display()), e))?;
        self.child = Some(child);
        let result = self.wait_ready();
        if result.is_err() {
            self.kill();
        }
        result
    }

    fn wait_ready(&mut self) -> Result<()> {
        let timeout = self.options.startup_timeout;
        let deadline = Instant::now() + timeout;
        let addr = self.addr();
        loop {
            self.check_alive()?;
            let tls_up = match self.tls_addr() {
                Some(tls) => TcpStream::connect_timeout(&tls, Duration::from_millis(250)).is_ok(),
                None => true,
            };
            if tls_up && ping(addr).is_ok() {
                // The reply could come from a stranger who grabbed the port first; ours would
                // then have exited on its bind failure.
                std::thread::sleep(Duration::from_millis(10));
                self.check_alive()?;
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    server: "redis-server",
                    port: self.port,
                    timeout,
                    log_tail: log_tail(&self.log, 20),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    fn check_alive(&mut self) -> Result<()> {
        crate::process::check_running(&mut self.child, "redis-server", self.port, &self.log)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Percent-encodes what a URL query value cannot hold as is.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sends a RESP `PING` and waits for a reply line. Any reply but `-LOADING` counts: a server
/// with `requirepass` answers `-NOAUTH`, and that still proves it is up.
fn ping(addr: SocketAddr) -> std::io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(250))?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    stream.write_all(b"*1\r\n$4\r\nPING\r\n")?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 128];
    while !reply.ends_with(b"\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        reply.extend_from_slice(&buf[..n]);
    }
    if reply.starts_with(b"-LOADING") {
        return Err(std::io::ErrorKind::WouldBlock.into());
    }
    Ok(())
}

/// A Redis to test against: the one named by `REDIS_URL`, or a throwaway one this value owns.
///
/// Keep it alive for as long as the URL is used: dropping an `Owned` target stops the server.
#[derive(Debug)]
#[non_exhaustive]
pub enum RedisTarget {
    /// `REDIS_URL` was set; no process was started.
    External(String),
    /// A server started for the caller.
    Owned(RedisServer),
}

impl RedisTarget {
    /// The URL to connect to.
    pub fn url(&self) -> String {
        match self {
            RedisTarget::External(url) => url.clone(),
            RedisTarget::Owned(server) => server.url(),
        }
    }
}

/// `REDIS_URL` if set and non-empty, else a freshly started [`RedisServer`].
pub fn redis_url() -> Result<RedisTarget> {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => Ok(RedisTarget::External(url)),
        _ => RedisServer::start().map(RedisTarget::Owned),
    }
}
