//! A PostgreSQL primary with a streaming hot standby, for failover and
//! `target_session_attrs` tests.
//!
//! The primary is a [`PgServer`] whose pg_hba.conf also admits replication over its unix
//! socket (`wal_level = replica` and `max_wal_senders` are PostgreSQL's defaults, set here
//! anyway). The standby is made with `pg_basebackup -R -X stream` from it (so it has the same
//! users and the `test` database), gets its own port, socket directory and temp dir, and
//! streams WAL over the primary's socket. [`PgReplicaPair::start`] returns once the standby has
//! replayed everything the primary had written; [`PgReplicaPair::wait_caught_up`] waits again
//! after more writes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::port::free_port;
use crate::postgres::{
    is_bind_failure, PgBuilder, PgServer, COMMAND_TIMEOUT, DATABASE, START_ATTEMPTS, SUPERUSER,
};
use crate::process::{run, wait_deadline, POLL};
use crate::tempdir::TempDir;

/// How long [`PgReplicaPair::start`] waits for the standby to catch up, and
/// [`PgReplicaPair::promote_standby`] for the promotion to finish.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);

/// Where [`PgReplicaPair::wait_caught_up`] writes its markers: the `postgres` database, so the
/// tests' `test` database holds only what they made.
const MARKER_DB: &str = "postgres";
const MARKER_TABLE: &str = "corelane_catch_up";

/// A primary and a streaming hot standby of it, each in its own temp dir on its own free
/// loopback port. Dropping it stops both and removes their directories.
///
/// ```no_run
/// # fn main() -> Result<(), corelane_testkit::Error> {
/// let mut pair = corelane_testkit::PgReplicaPair::start()?;
/// let url = format!(
///     "host=127.0.0.1 port={},{} user=postgres dbname=test target_session_attrs=read-write",
///     pair.primary().port(),
///     pair.standby().port()
/// );
/// # let _ = url;
/// pair.stop_primary()?;
/// pair.promote_standby()?; // the standby now accepts writes
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PgReplicaPair {
    // Dropped in this order: the standby first, so it does not log a lost primary for long.
    standby: PgServer,
    primary: PgServer,
    /// The next catch-up marker.
    markers: AtomicU64,
}

impl PgReplicaPair {
    /// A trust-auth primary and its standby.
    pub fn start() -> Result<Self> {
        Self::start_with(PgServer::builder())
    }

    /// A primary made from `builder` (users, auth method, settings) and its standby, which
    /// gets the same settings. The builder's settings come after the pair's own
    /// (`wal_level = replica`, `max_wal_senders = 10`, `hot_standby = on`), so they win: say,
    /// `hot_standby = off` makes a standby that refuses connections (SQLSTATE 57P03).
    pub fn start_with(mut builder: PgBuilder) -> Result<Self> {
        let own = [
            ("wal_level", "replica"),
            ("max_wal_senders", "10"),
            ("hot_standby", "on"),
        ];
        for (i, (name, value)) in own.into_iter().enumerate() {
            builder
                .settings
                .insert(i, (name.to_owned(), value.to_owned()));
        }
        builder.replication = true;
        let primary = builder.start()?;
        psql_value(
            &primary,
            MARKER_DB,
            &[&format!("CREATE TABLE {MARKER_TABLE} (n bigint)")],
        )?;
        let standby = base_backup(&primary)?;
        let pair = PgReplicaPair {
            standby,
            primary,
            markers: AtomicU64::new(0),
        };
        pair.wait_caught_up()?;
        Ok(pair)
    }

    /// The primary (stopped after [`stop_primary`](Self::stop_primary)).
    pub fn primary(&self) -> &PgServer {
        &self.primary
    }

    /// The standby (a primary itself after [`promote_standby`](Self::promote_standby)).
    pub fn standby(&self) -> &PgServer {
        &self.standby
    }

    /// Waits until the standby has replayed everything the primary had written when this was
    /// called (up to 60 s); for a standby started with `hot_standby = off`, which answers no
    /// query, until it streams.
    pub fn wait_caught_up(&self) -> Result<()> {
        // A marker row committed (and flushed: `synchronous_commit` is off in the settings)
        // on the primary: once the standby sees it, it has replayed everything before it.
        // Comparing WAL positions instead is unreliable: the insert position can sit past a
        // page header no record ends at, until the next background record (up to 15 s).
        let marker = self.markers.fetch_add(1, Ordering::Relaxed);
        psql_value(
            &self.primary,
            MARKER_DB,
            &[
                "SET synchronous_commit = on",
                &format!("INSERT INTO {MARKER_TABLE} VALUES ({marker})"),
            ],
        )?;
        // A standby without hot standby answers no query: then streaming is all to wait for.
        let cold = self
            .standby
            .options
            .settings
            .iter()
            .rev()
            .find(|(name, _)| name == "hot_standby")
            .is_some_and(|(_, value)| value.trim_matches('\'') == "off");
        let (server, probe) = if cold {
            (
                &self.primary,
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'".to_owned(),
            )
        } else {
            (
                &self.standby,
                format!("SELECT count(*) FROM {MARKER_TABLE} WHERE n = {marker}"),
            )
        };
        let deadline = Instant::now() + CATCH_UP_TIMEOUT;
        loop {
            if psql_value(server, MARKER_DB, &[&probe])?.trim() == "1" {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    server: "postgres",
                    port: self.standby.port(),
                    timeout: CATCH_UP_TIMEOUT,
                    log_tail: crate::process::log_tail(&self.standby.log, 20),
                });
            }
            std::thread::sleep(POLL * 5);
        }
    }

    /// Stops the primary at once (`pg_ctl -m immediate stop`, like a crash): its port
    /// refuses connections from then on, and open connections to it are cut.
    pub fn stop_primary(&mut self) -> Result<()> {
        self.primary.kill()
    }

    /// Promotes the standby (`pg_ctl promote`) and waits until `pg_is_in_recovery()` is
    /// false there (up to 60 s): from then on it accepts writes.
    pub fn promote_standby(&self) -> Result<()> {
        let data = self.standby.data.clone();
        let cmd = self.standby.pg_command(
            &self.standby.bins.pg_ctl.clone(),
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-w".as_ref(),
                "promote".as_ref(),
            ],
        );
        run(cmd, &self.standby.commands_log, COMMAND_TIMEOUT)?;
        let deadline = Instant::now() + CATCH_UP_TIMEOUT;
        loop {
            if psql_value(&self.standby, DATABASE, &["SELECT pg_is_in_recovery()"])?.trim() == "f" {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    server: "postgres",
                    port: self.standby.port(),
                    timeout: CATCH_UP_TIMEOUT,
                    log_tail: crate::process::log_tail(&self.standby.log, 20),
                });
            }
            std::thread::sleep(POLL * 5);
        }
    }
}

/// A standby of `primary`: `pg_basebackup -R` into a fresh temp dir, its own settings file
/// (port, socket directory), started on a free port.
fn base_backup(primary: &PgServer) -> Result<PgServer> {
    let dir = TempDir::new("pg-standby")?;
    primary.run_as.chown(dir.path())?;
    let data = dir.path().join("data");
    let mut standby = PgServer {
        log: dir.path().join("postgres.log"),
        commands_log: dir.path().join("commands.log"),
        data,
        dir,
        bins: primary.bins.clone(),
        run_as: primary.run_as.clone(),
        options: primary.options.clone(),
        port: 0,
        running: false,
    };
    let pg_basebackup = sibling(&primary.bins.pg_ctl, "pg_basebackup")?;
    let port = primary.port().to_string();
    let data = standby.data.clone();
    let cmd = standby.pg_command(
        &pg_basebackup,
        &[
            "-D".as_ref(),
            data.as_os_str(),
            "-h".as_ref(),
            primary.socket_dir().as_os_str(),
            "-p".as_ref(),
            port.as_ref(),
            "-U".as_ref(),
            SUPERUSER.as_ref(),
            // Writes standby.signal and primary_conninfo (the primary's socket and port).
            "-R".as_ref(),
            "-X".as_ref(),
            "stream".as_ref(),
            "-c".as_ref(),
            "fast".as_ref(),
            "--no-sync".as_ref(),
        ],
    );
    run(cmd, &standby.commands_log, COMMAND_TIMEOUT)?;
    let mut last = None;
    for _ in 0..START_ATTEMPTS {
        standby.port = free_port()?;
        // The copied settings file names the primary's port and socket directory.
        standby.write_settings()?;
        match standby.pg_ctl_start() {
            Ok(()) => return Ok(standby),
            Err(e) if is_bind_failure(&e) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::Config("standby did not start".into())))
}

/// The executable `name` from the installation `beside` belongs to: next to it, next to
/// what it links to (`/usr/local/bin/pg_ctl` may be a link into `/usr/lib/postgresql/*/bin`),
/// else on `PATH`.
fn sibling(beside: &Path, name: &str) -> Result<std::path::PathBuf> {
    let real = std::fs::canonicalize(beside).unwrap_or_else(|_| beside.to_path_buf());
    [beside.with_file_name(name), real.with_file_name(name)]
        .into_iter()
        .find(|p| crate::process::is_executable(p))
        .or_else(|| crate::process::find_on_path(name))
        .ok_or_else(|| Error::MissingBinary {
            binary: name.into(),
            searched: format!("next to {} and PATH", real.display()),
            install: "apt-get install postgresql",
        })
}

/// The unaligned, tuples-only output of `statements` (each its own `-c`, in one session) run
/// as `postgres` in `database` over `server`'s unix socket.
fn psql_value(server: &PgServer, database: &str, statements: &[&str]) -> Result<String> {
    let mut cmd = Command::new(server.psql_path());
    cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
        .arg(server.socket_dir())
        .arg("-p")
        .arg(server.port().to_string())
        .args(["-U", SUPERUSER, "-d", database]);
    for sql in statements {
        cmd.arg("-c").arg(sql);
    }
    let sql = statements.join("; ");
    server.prepare(&mut cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = format!("psql {sql:?}");
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io(format!("spawning {what}"), e))?;
    // The output is a line or two: it fits the pipe, so waiting before reading cannot block.
    let status = wait_deadline(&mut child, COMMAND_TIMEOUT)
        .map_err(|e| Error::io(format!("waiting for {what}"), e))?;
    let read = |pipe: Option<&mut dyn std::io::Read>| {
        let mut text = String::new();
        if let Some(pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    };
    let out = read(child.stdout.as_mut().map(|p| p as &mut dyn std::io::Read));
    let err = read(child.stderr.as_mut().map(|p| p as &mut dyn std::io::Read));
    match status {
        Some(s) if s.success() => Ok(out),
        other => Err(Error::Command {
            command: what,
            status: other.map_or_else(|| "timed out".to_owned(), |s| s.to_string()),
            output: format!("{out}{err}"),
        }),
    }
}
