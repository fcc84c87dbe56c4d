//! A throwaway PostgreSQL server.

pub(crate) mod bins;
pub(crate) mod config;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub use config::{PgAuth, PgHbaTls, PgUser};

use crate::error::{Error, Result};
use crate::port::free_port;
use crate::process::{file_len, log_tail, output_since, run, RunAs};
use crate::tempdir::TempDir;
use bins::PgBins;

/// The bootstrap superuser created by initdb.
pub(crate) const SUPERUSER: &str = "postgres";
/// The database created for tests.
pub(crate) const DATABASE: &str = "test";
/// How many fresh ports startup tries before giving up.
pub(crate) const START_ATTEMPTS: usize = 5;
/// Default time allowed for `pg_ctl -w start`.
const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed for initdb, psql and `pg_ctl stop`.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// Names of the TLS files in the data dir.
const TLS_CERT: &str = "corelane_server.crt";
const TLS_KEY: &str = "corelane_server.key";
const TLS_CA: &str = "corelane_ca.crt";
/// Name of the settings file included from postgresql.conf.
const SETTINGS_FILE: &str = "corelane_testkit.conf";
/// libpq variables that would redirect or alter the testkit's own psql calls.
const PG_ENV: &[&str] = &[
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD",
    "PGOPTIONS",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGDATA",
];

/// Options for a [`PgServer`]; obtained from [`PgServer::builder`].
#[derive(Debug, Clone)]
pub struct PgBuilder {
    auth: PgAuth,
    users: Vec<PgUser>,
    superuser_password: String,
    pub(crate) settings: Vec<(String, String)>,
    bin_dir: Option<PathBuf>,
    startup_timeout: Duration,
    tls: Option<TlsFiles>,
    hba_tls: PgHbaTls,
    /// pg_hba.conf admits replication connections over the unix socket (for a standby's
    /// `pg_basebackup` and WAL streaming; see [`crate::PgReplicaPair`]).
    pub(crate) replication: bool,
}

/// The server's TLS files, as given (copied into the data dir at startup).
#[derive(Debug, Clone)]
struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
    ca: Option<PathBuf>,
}

impl Default for PgBuilder {
    fn default() -> Self {
        PgBuilder {
            auth: PgAuth::Trust,
            users: Vec::new(),
            superuser_password: SUPERUSER.to_owned(),
            settings: Vec::new(),
            bin_dir: None,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            tls: None,
            hba_tls: PgHbaTls::Any,
            replication: false,
        }
    }
}

impl PgBuilder {
    /// How TCP connections authenticate (default [`PgAuth::Trust`]).
    pub fn auth(mut self, auth: PgAuth) -> Self {
        self.auth = auth;
        self
    }

    /// Creates a login role without superuser rights.
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.push(PgUser {
            name: name.to_owned(),
            password: password.to_owned(),
            superuser: false,
        });
        self
    }

    /// Creates a login role with superuser rights.
    pub fn superuser(mut self, name: &str, password: &str) -> Self {
        self.users.push(PgUser {
            name: name.to_owned(),
            password: password.to_owned(),
            superuser: true,
        });
        self
    }

    /// The password of the bootstrap superuser `postgres` (default `postgres`).
    pub fn superuser_password(mut self, password: &str) -> Self {
        self.superuser_password = password.to_owned();
        self
    }

    /// Adds a postgresql.conf line `name = value` (the value is written verbatim, so quote
    /// strings: `setting("shared_buffers", "'16MB'")`).
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Uses the executables in this directory instead of searching for them.
    pub fn bin_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.bin_dir = Some(dir.into());
        self
    }

    /// Turns TLS on (`ssl = on`) with this certificate (PEM chain) and key (PEM). The files are
    /// copied into the data dir, owned by the server's OS user with mode 0600 (the server
    /// refuses a key others can read), and named by `ssl_cert_file` / `ssl_key_file`.
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        let ca = self.tls.take().and_then(|t| t.ca);
        self.tls = Some(TlsFiles {
            cert: cert.into(),
            key: key.into(),
            ca,
        });
        self
    }

    /// With [`tls`](Self::tls): the CA file (`ssl_ca_file`) the server trusts for client
    /// certificates, copied like the others.
    pub fn tls_ca_file(mut self, ca: impl Into<PathBuf>) -> Self {
        if let Some(tls) = &mut self.tls {
            tls.ca = Some(ca.into());
        }
        self
    }

    /// Which transports pg_hba.conf admits over TCP (default [`PgHbaTls::Any`]: `host`
    /// lines; [`PgHbaTls::TlsOnly`]: `hostssl`; [`PgHbaTls::PlainOnly`]: `hostnossl`).
    pub fn hba_tls(mut self, hba: PgHbaTls) -> Self {
        self.hba_tls = hba;
        self
    }

    /// How long `pg_ctl` waits for the server to accept connections (default 30 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Runs initdb in a fresh temp dir, starts the server on a free port, creates the users and
    /// the `test` database.
    pub fn start(self) -> Result<PgServer> {
        let bins = PgBins::find(self.bin_dir.as_deref())?;
        let run_as = RunAs::unprivileged(SUPERUSER)?;
        let dir = TempDir::new("pg")?;
        run_as.chown(dir.path())?;
        let data = dir.path().join("data");
        let mut server = PgServer {
            log: dir.path().join("postgres.log"),
            commands_log: dir.path().join("commands.log"),
            data,
            dir,
            bins,
            run_as,
            options: self,
            port: 0,
            running: false,
        };
        server.initdb()?;
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            server.port = free_port()?;
            server.write_settings()?;
            match server.pg_ctl_start() {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(e) if is_bind_failure(&e) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        if let Some(e) = last {
            return Err(e);
        }
        server.create_objects()?;
        Ok(server)
    }
}

/// Whether a startup error came from the port being taken.
pub(crate) fn is_bind_failure(e: &Error) -> bool {
    match e {
        Error::Exited { log_tail, .. } => {
            log_tail.contains("could not bind")
                || log_tail.contains("Address already in use")
                || log_tail.contains("could not create any TCP/IP sockets")
        }
        _ => false,
    }
}

/// A PostgreSQL server on `127.0.0.1` with its data, unix socket and log in one temp dir.
///
/// When running as root, initdb, pg_ctl and the server run as the `postgres` OS user.
/// Unix-socket connections are always trusted; TCP connections use the configured [`PgAuth`].
/// Dropping it stops the server (`pg_ctl -m immediate stop`) and removes the directory.
#[derive(Debug)]
pub struct PgServer {
    pub(crate) dir: TempDir,
    pub(crate) data: PathBuf,
    pub(crate) log: PathBuf,
    pub(crate) commands_log: PathBuf,
    pub(crate) bins: PgBins,
    pub(crate) run_as: RunAs,
    pub(crate) options: PgBuilder,
    pub(crate) port: u16,
    pub(crate) running: bool,
}

impl PgServer {
    /// Starts a server with trust authentication.
    pub fn start() -> Result<Self> {
        PgBuilder::default().start()
    }

    /// Options for a server with users, an auth method or extra settings.
    pub fn builder() -> PgBuilder {
        PgBuilder::default()
    }

    /// The port the server listens on (kept across [`PgServer::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TCP address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `postgres://USER:PASSWORD@127.0.0.1:PORT/test`, with user and password percent-encoded.
    pub fn url_for(&self, user: &str, password: &str) -> String {
        format!(
            "postgres://{}:{}@127.0.0.1:{}/{DATABASE}",
            config::encode_userinfo(user),
            config::encode_userinfo(password),
            self.port
        )
    }

    /// The URL of the bootstrap superuser `postgres`.
    pub fn url(&self) -> String {
        self.url_for(SUPERUSER, &self.options.superuser_password)
    }

    /// The directory holding the unix socket `.s.PGSQL.PORT` (connect with `-h` this dir).
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The unix socket file itself, `<socket_dir>/.s.PGSQL.<port>` (connections over it are
    /// trusted, whatever [`PgAuth`] says for TCP).
    pub fn socket_path(&self) -> PathBuf {
        self.dir.path().join(format!(".s.PGSQL.{}", self.port))
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The server log.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The `psql` this server was set up with, for tests that want to run SQL by hand.
    pub fn psql_path(&self) -> &Path {
        &self.bins.psql
    }

    /// Whether the server was set up with TLS ([`PgBuilder::tls`]).
    pub fn has_tls(&self) -> bool {
        self.options.tls.is_some()
    }

    /// The authentication method of TCP connections.
    pub fn auth(&self) -> PgAuth {
        self.options.auth
    }

    /// Whether the server was started and not stopped since.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Stops the server now with `pg_ctl -m immediate stop` (no checkpoint, like a crash).
    /// A no-op if it is not running.
    pub fn kill(&mut self) -> Result<()> {
        if !self.running {
            return Ok(());
        }
        let data = self.data.clone();
        let cmd = self.pg_command(
            &self.bins.pg_ctl.clone(),
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        );
        run(cmd, &self.commands_log, COMMAND_TIMEOUT)?;
        self.running = false;
        Ok(())
    }

    /// Starts the server again on the same port with the same data dir (killing it first if
    /// it still runs). It replays its WAL like after a crash; with `synchronous_commit = off`
    /// the last few hundred milliseconds of commits before a [`PgServer::kill`] may be lost.
    pub fn restart(&mut self) -> Result<()> {
        self.kill()?;
        let deadline = Instant::now() + self.options.startup_timeout;
        loop {
            match self.pg_ctl_start() {
                Err(e) if is_bind_failure(&e) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                other => return other,
            }
        }
    }

    /// A command for a PostgreSQL executable run as the server's OS user, in the temp dir,
    /// with libpq variables cleared.
    pub(crate) fn pg_command(&self, program: &Path, args: &[&std::ffi::OsStr]) -> Command {
        let mut cmd = self.run_as.command(program, args);
        self.prepare(&mut cmd);
        cmd
    }

    pub(crate) fn prepare(&self, cmd: &mut Command) {
        cmd.current_dir(self.dir.path());
        for var in PG_ENV {
            cmd.env_remove(var);
        }
    }

    fn initdb(&self) -> Result<()> {
        let cmd = self.pg_command(
            &self.bins.initdb,
            &[
                "-D".as_ref(),
                self.data.as_os_str(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-U".as_ref(),
                SUPERUSER.as_ref(),
                "--no-sync".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
            ],
        );
        run(cmd, &self.commands_log, COMMAND_TIMEOUT)?;
        let conf = self.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf)
            .map_err(|e| Error::io(format!("reading {}", conf.display()), e))?;
        text.push_str(&format!("\ninclude '{SETTINGS_FILE}'\n"));
        self.write_owned(&conf, &text)?;
        self.write_owned(
            &self.data.join("pg_hba.conf"),
            &config::hba_conf(
                self.options.auth,
                self.options.hba_tls,
                self.options.replication,
            ),
        )?;
        if let Some(tls) = &self.options.tls {
            self.copy_owned(&tls.cert, TLS_CERT)?;
            self.copy_owned(&tls.key, TLS_KEY)?;
            if let Some(ca) = &tls.ca {
                self.copy_owned(ca, TLS_CA)?;
            }
        }
        Ok(())
    }

    /// Copies `from` into the data dir as `name`, mode 0600, owned by the server's OS user.
    fn copy_owned(&self, from: &Path, name: &str) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let to = self.data.join(name);
        std::fs::copy(from, &to)
            .map_err(|e| Error::io(format!("copying {} to {}", from.display(), to.display()), e))?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io(format!("chmod {}", to.display()), e))?;
        self.run_as.chown(&to)
    }

    /// The postgresql.conf lines for TLS.
    fn tls_settings(&self) -> Vec<(String, String)> {
        let Some(tls) = &self.options.tls else {
            return Vec::new();
        };
        let file = |name: &str| config::quote_literal(&self.data.join(name).to_string_lossy());
        let mut lines = vec![
            ("ssl".to_owned(), "on".to_owned()),
            ("ssl_cert_file".to_owned(), file(TLS_CERT)),
            ("ssl_key_file".to_owned(), file(TLS_KEY)),
        ];
        if tls.ca.is_some() {
            lines.push(("ssl_ca_file".to_owned(), file(TLS_CA)));
        }
        lines
    }

    pub(crate) fn write_settings(&self) -> Result<()> {
        let mut settings = self.tls_settings();
        settings.extend(self.options.settings.iter().cloned());
        let text = config::settings_conf(
            self.port,
            &self.dir.path().to_string_lossy(),
            self.options.auth,
            &settings,
        );
        self.write_owned(&self.data.join(SETTINGS_FILE), &text)
    }

    /// Writes a file in the data dir and gives it to the server's OS user.
    fn write_owned(&self, path: &Path, text: &str) -> Result<()> {
        std::fs::write(path, text)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        self.run_as.chown(path)
    }

    pub(crate) fn pg_ctl_start(&mut self) -> Result<()> {
        let timeout = self.options.startup_timeout;
        let offset = file_len(&self.log);
        let secs = timeout.as_secs().max(1).to_string();
        let data = self.data.clone();
        let log = self.log.clone();
        let cmd = self.pg_command(
            &self.bins.pg_ctl.clone(),
            &[
                "-w".as_ref(),
                "-t".as_ref(),
                secs.as_ref(),
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "start".as_ref(),
            ],
        );
        match run(cmd, &self.commands_log, timeout + Duration::from_secs(10)) {
            Ok(()) => {
                self.running = true;
                Ok(())
            }
            Err(Error::Command { status, output, .. }) => {
                // pg_ctl may leave a half-started postmaster behind on timeout; stop it.
                self.running = true;
                let _ = self.kill();
                self.running = false;
                let tail = output_since(&self.log, offset);
                Err(Error::Exited {
                    server: "postgres",
                    port: self.port,
                    status: format!("pg_ctl start: {status}; {output}"),
                    log_tail: if tail.is_empty() {
                        log_tail(&self.log, 20)
                    } else {
                        tail
                    },
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Creates roles and the `test` database over the (trusted) unix socket.
    fn create_objects(&self) -> Result<()> {
        let mut statements = vec![config::set_password(
            SUPERUSER,
            &self.options.superuser_password,
        )];
        for user in &self.options.users {
            if user.name == SUPERUSER {
                statements.push(config::set_password(SUPERUSER, &user.password));
            } else {
                statements.push(config::create_role(user));
            }
        }
        statements.push(format!("CREATE DATABASE {}", config::quote_ident(DATABASE)));
        self.psql_socket("postgres", &statements)?;
        // PostgreSQL 15 no longer lets every role create tables in `public`; tests expect to.
        self.psql_socket(
            DATABASE,
            &["GRANT ALL ON SCHEMA public TO PUBLIC".to_owned()],
        )
    }

    /// Runs each statement (in its own transaction) as `postgres` over the unix socket.
    fn psql_socket(&self, database: &str, statements: &[String]) -> Result<()> {
        let mut cmd = Command::new(&self.bins.psql);
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.dir.path())
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", SUPERUSER, "-d", database]);
        for statement in statements {
            cmd.arg("-c").arg(statement);
        }
        self.prepare(&mut cmd);
        run(cmd, &self.commands_log, COMMAND_TIMEOUT)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // Best effort: nothing useful can be done with a failure while dropping.
        let _ = self.kill();
    }
}

/// A PostgreSQL to test against: the one named by `DATABASE_URL`, or a throwaway one this
/// value owns.
///
/// Keep it alive for as long as the URL is used: dropping an `Owned` target stops the server.
#[derive(Debug)]
#[non_exhaustive]
pub enum PgTarget {
    /// `DATABASE_URL` was set; no process was started.
    External(String),
    /// A trust-auth server started for the caller (boxed: it is much larger than a URL).
    Owned(Box<PgServer>),
}

impl PgTarget {
    /// The URL to connect to.
    pub fn url(&self) -> String {
        match self {
            PgTarget::External(url) => url.clone(),
            PgTarget::Owned(server) => server.url(),
        }
    }
}

/// `DATABASE_URL` if set and non-empty, else a freshly started trust-auth [`PgServer`].
pub fn database_url() -> Result<PgTarget> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Ok(PgTarget::External(url)),
        _ => PgServer::start().map(|server| PgTarget::Owned(Box::new(server))),
    }
}
