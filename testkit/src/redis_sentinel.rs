//! A throwaway Sentinel setup: a master, one replica, and three sentinels watching them.

use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::port::free_port;
use crate::process::{find_on_path, kill_and_reap, log_tail, POLL};
use crate::redis::RedisServer;
use crate::resp::{command, command_auth, Reply};
use crate::tempdir::TempDir;
use crate::tls::TestCerts;

/// The master name the sentinels monitor.
pub const SENTINEL_MASTER: &str = "mymaster";
/// How long startup and a failover may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// One `redis-server … --sentinel` process (sentinels rewrite their config file, so each
/// gets its own in the trio's directory).
#[derive(Debug)]
struct SentinelProcess {
    port: u16,
    /// The TLS port, when the sentinels also listen with TLS.
    tls_port: Option<u16>,
    child: Option<Child>,
    log: PathBuf,
}

impl Drop for SentinelProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
    }
}

/// A master and a replica (`redis-server`s) and three sentinels with quorum 2,
/// `down-after-milliseconds 1000`: a killed master is replaced within seconds. Dropping it
/// kills every process.
///
/// ```no_run
/// # fn main() -> Result<(), corelane_testkit::Error> {
/// let trio = corelane_testkit::SentinelTrio::start()?;
/// let url = trio.url(); // redis+sentinel://127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3/mymaster
/// # let _ = url;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SentinelTrio {
    sentinels: Vec<SentinelProcess>,
    servers: Vec<RedisServer>,
    /// The sentinels' `requirepass` (and `sentinel sentinel-pass`), if any.
    sentinel_password: Option<String>,
    _dir: TempDir,
}

impl SentinelTrio {
    /// Starts the master, the replica (waiting until it is in sync) and the sentinels
    /// (waiting until each sees the replica and the other sentinels).
    pub fn start() -> Result<Self> {
        Self::start_inner(None, None)
    }

    /// [`start`](Self::start), with the sentinels requiring `password` (`requirepass`; they
    /// use it with each other too). The data servers have no password.
    pub fn start_with_sentinel_password(password: &str) -> Result<Self> {
        Self::start_inner(Some(password), None)
    }

    /// [`start`](Self::start), with each sentinel also listening with TLS
    /// ([`tls_sentinel_addrs`](Self::tls_sentinel_addrs)) and showing `certs`'
    /// [`server`](TestCerts::server) certificate (for `127.0.0.1`, signed by `certs`' CA; no
    /// client certificate asked). The sentinels talk to each other and to the data servers
    /// over plain TCP. The certificate files are read at start.
    pub fn start_with_tls_sentinels(certs: &TestCerts) -> Result<Self> {
        Self::start_inner(None, Some(certs))
    }

    fn start_inner(sentinel_password: Option<&str>, tls: Option<&TestCerts>) -> Result<Self> {
        let binary = find_on_path("redis-server").ok_or_else(|| Error::MissingBinary {
            binary: "redis-server".into(),
            searched: "PATH".into(),
            install: "apt-get install redis-server",
        })?;
        let dir = TempDir::new("redis-sentinel")?;
        let master = RedisServer::start()?;
        let replica = RedisServer::builder()
            .config("replicaof", &["127.0.0.1", &master.port().to_string()])
            .start()?;
        let mut trio = SentinelTrio {
            sentinels: Vec::new(),
            servers: vec![master, replica],
            sentinel_password: sentinel_password.map(str::to_owned),
            _dir: dir,
        };
        trio.wait_replica_synced()?;
        let master_port = trio.servers[0].port();
        for i in 0..3 {
            let port = free_port()?;
            let conf = trio._dir.path().join(format!("sentinel-{i}.conf"));
            let mut auth = sentinel_password
                .map(|pw| format!("requirepass {pw}\nsentinel sentinel-pass {pw}\n"))
                .unwrap_or_default();
            let tls_port = match tls {
                Some(certs) => {
                    let tls_port = free_port()?;
                    auth.push_str(&format!(
                        "tls-port {tls_port}\ntls-cert-file {}\ntls-key-file {}\n\
                         tls-ca-cert-file {}\ntls-auth-clients no\n",
                        certs.server().cert.display(),
                        certs.server().key.display(),
                        certs.ca_file().display()
                    ));
                    Some(tls_port)
                }
                None => None,
            };
            let text = auth
                + &format!(
                    "port {port}\nbind 127.0.0.1\ndaemonize no\ndir {dir}\n\
                 sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {master_port} 2\n\
                 sentinel down-after-milliseconds {SENTINEL_MASTER} 1000\n\
                 sentinel failover-timeout {SENTINEL_MASTER} 5000\n\
                 sentinel parallel-syncs {SENTINEL_MASTER} 1\n",
                    dir = trio._dir.path().display()
                );
            std::fs::write(&conf, text)
                .map_err(|e| Error::io(format!("writing {}", conf.display()), e))?;
            let log = trio._dir.path().join(format!("sentinel-{i}.log"));
            let out = File::create(&log)
                .map_err(|e| Error::io(format!("creating {}", log.display()), e))?;
            let err = out
                .try_clone()
                .map_err(|e| Error::io("duplicating a log handle", e))?;
            let child = Command::new(&binary)
                .arg(&conf)
                .arg("--sentinel")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .map_err(|e| Error::io("spawning a sentinel", e))?;
            trio.sentinels.push(SentinelProcess {
                port,
                tls_port,
                child: Some(child),
                log,
            });
        }
        trio.wait_sentinels_ready()?;
        Ok(trio)
    }

    /// The sentinels' addresses.
    pub fn sentinel_addrs(&self) -> Vec<SocketAddr> {
        self.sentinels
            .iter()
            .map(|s| SocketAddr::from(([127, 0, 0, 1], s.port)))
            .collect()
    }

    /// The sentinels' TLS addresses (empty unless started with
    /// [`start_with_tls_sentinels`](Self::start_with_tls_sentinels)).
    pub fn tls_sentinel_addrs(&self) -> Vec<SocketAddr> {
        self.sentinels
            .iter()
            .filter_map(|s| s.tls_port)
            .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
            .collect()
    }

    /// `redis+sentinel://127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3/mymaster`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinel_addrs()
            .iter()
            .map(ToString::to_string)
            .collect();
        format!("redis+sentinel://{}/{SENTINEL_MASTER}", hosts.join(","))
    }

    /// The addresses of the two data servers (the first started as master).
    pub fn server_addrs(&self) -> Vec<SocketAddr> {
        self.servers.iter().map(RedisServer::addr).collect()
    }

    /// The master's address as the sentinels report it (the first sentinel that answers).
    pub fn master_addr(&self) -> Result<SocketAddr> {
        let mut last = None;
        for sentinel in self.sentinel_addrs() {
            let reply = self.sentinel_command(
                sentinel,
                &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER],
            );
            match reply {
                Ok(Reply::Array(parts)) if parts.len() == 2 => {
                    let text = format!("{}:{}", parts[0].text(), parts[1].text());
                    return text
                        .parse()
                        .map_err(|_| Error::Config(format!("bad master address {text}")));
                }
                Ok(other) => last = Some(Error::Config(format!("sentinel said {other:?}"))),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Config("no sentinel".into())))
    }

    /// One command to the sentinel at `addr` (authenticated when the sentinels have a
    /// password).
    pub fn sentinel_command(&self, addr: SocketAddr, args: &[&str]) -> Result<Reply> {
        command_auth(addr, self.sentinel_password.as_deref(), args)
    }

    /// `SENTINEL FAILOVER mymaster` on the first sentinel that accepts it (a graceful
    /// failover: the old master stays up and is demoted a few seconds later). Wait for it
    /// with [`wait_failover`](Self::wait_failover).
    pub fn failover(&self) -> Result<()> {
        let mut last = None;
        for sentinel in self.sentinel_addrs() {
            match self.sentinel_command(sentinel, &["SENTINEL", "FAILOVER", SENTINEL_MASTER]) {
                Ok(Reply::Status(_)) => return Ok(()),
                Ok(other) => last = Some(Error::Config(format!("sentinel said {other:?}"))),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Config("no sentinel".into())))
    }

    /// Kills the data server at `addr` with SIGKILL.
    pub fn kill(&mut self, addr: SocketAddr) -> Result<()> {
        let server = self
            .servers
            .iter_mut()
            .find(|s| s.addr() == addr)
            .ok_or_else(|| Error::Config(format!("{addr} is not a data server here")))?;
        server.kill();
        Ok(())
    }

    /// Waits until the sentinels report a master other than `old` and it says `role:master`.
    pub fn wait_failover(&self, old: SocketAddr) -> Result<SocketAddr> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Ok(addr) = self.master_addr() {
                if addr != old {
                    let role = command(addr, &["ROLE"])
                        .map(|r| r.text())
                        .unwrap_or_default();
                    if role.starts_with("master") {
                        return Ok(addr);
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::Config(format!(
                    "no failover within {TIMEOUT:?}; sentinel log tail:\n{}",
                    self.sentinels
                        .first()
                        .map(|s| log_tail(&s.log, 20))
                        .unwrap_or_default()
                )));
            }
            std::thread::sleep(POLL * 5);
        }
    }

    fn wait_replica_synced(&self) -> Result<()> {
        let deadline = Instant::now() + TIMEOUT;
        let replica = self.servers[1].addr();
        loop {
            let info = command(replica, &["INFO", "replication"]).map(|r| r.text());
            if info.is_ok_and(|i| i.contains("master_link_status:up")) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Config("the replica never synced".into()));
            }
            std::thread::sleep(POLL * 5);
        }
    }

    fn wait_sentinels_ready(&self) -> Result<()> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let ready = self.sentinel_addrs().into_iter().all(|s| {
                let master = self
                    .sentinel_command(s, &["SENTINEL", "MASTER", SENTINEL_MASTER])
                    .map(|r| r.text())
                    .unwrap_or_default();
                // `num-other-sentinels 2` and `num-slaves 1`, in the flat field list.
                master.contains("num-slaves 1") && master.contains("num-other-sentinels 2")
            });
            if ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Config(format!(
                    "the sentinels did not see each other within {TIMEOUT:?}"
                )));
            }
            std::thread::sleep(POLL * 5);
        }
    }
}
