//! A throwaway Redis Cluster: three masters with one replica each, on free loopback ports.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::port::free_port;
use crate::process::{find_on_path, run, POLL};
use crate::redis::RedisServer;
use crate::resp::{command, Reply};
use crate::tempdir::TempDir;

/// Masters of the cluster [`RedisCluster::start`] makes (each with one replica).
const MASTERS: usize = 3;
/// How long `--cluster create` and the wait for `cluster_state:ok` may take.
const FORM_TIMEOUT: Duration = Duration::from_secs(60);
/// `cluster-node-timeout` in ms: short, so a killed master fails over within seconds.
const NODE_TIMEOUT_MS: &str = "1000";

/// A node's role, from `CLUSTER NODES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// Serves slots.
    Master,
    /// Replicates a master.
    Replica,
}

/// One node as the cluster sees it (a line of `CLUSTER NODES`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeInfo {
    /// The node id.
    pub id: String,
    /// Its client address.
    pub addr: SocketAddr,
    /// Master or replica.
    pub role: Role,
    /// For a replica, its master's id.
    pub master_id: Option<String>,
    /// Slot ranges it serves (inclusive), for a master.
    pub slots: Vec<(u16, u16)>,
    /// Whether the cluster marks it failed (`fail` or `fail?`).
    pub failed: bool,
}

impl NodeInfo {
    /// Whether this node serves `slot`.
    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| a <= slot && slot <= b)
    }
}

/// Six `redis-server`s with `cluster-enabled yes` joined by `redis-cli --cluster create
/// … --cluster-replicas 1`, each in its own temp dir, persistence off. Dropping it kills every
/// node.
///
/// ```no_run
/// # fn main() -> Result<(), corelane_testkit::Error> {
/// let cluster = corelane_testkit::RedisCluster::start()?;
/// let url = cluster.url(); // redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
/// # let _ = url;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    /// `redis-cli --cluster create`'s output.
    dir: TempDir,
}

impl RedisCluster {
    /// Starts the nodes, forms the cluster and waits until every node reports
    /// `cluster_state:ok` and every replica is in sync with its master.
    pub fn start() -> Result<Self> {
        let cli = find_on_path("redis-cli").ok_or_else(|| Error::MissingBinary {
            binary: "redis-cli".into(),
            searched: "PATH".into(),
            install: "apt-get install redis-tools",
        })?;
        let dir = TempDir::new("redis-cluster")?;
        let mut nodes = Vec::with_capacity(MASTERS * 2);
        for _ in 0..MASTERS * 2 {
            // The bus port is picked here (the default, port + 10000, may be out of range for
            // an ephemeral port).
            let bus = free_port()?.to_string();
            let node = RedisServer::builder()
                .config("cluster-enabled", &["yes"])
                .config("cluster-config-file", &["nodes.conf"])
                .config("cluster-node-timeout", &[NODE_TIMEOUT_MS])
                .config("cluster-port", &[&bus])
                // A replica fails over however long its link was down.
                .config("cluster-replica-validity-factor", &["0"])
                .start()?;
            nodes.push(node);
        }
        let mut cluster = RedisCluster { nodes, dir };
        let mut create = Command::new(cli);
        create.arg("--cluster").arg("create");
        for node in &cluster.nodes {
            create.arg(node.addr().to_string());
        }
        create.args(["--cluster-replicas", "1", "--cluster-yes"]);
        run(create, &cluster.dir.path().join("create.log"), FORM_TIMEOUT)?;
        cluster.wait_ok(FORM_TIMEOUT)?;
        Ok(cluster)
    }

    /// Every node's address (masters and replicas, dead ones included).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(RedisServer::addr).collect()
    }

    /// `redis://127.0.0.1:PORT` of every node.
    pub fn seed_urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,…` naming every node as a seed.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self.addrs().iter().map(ToString::to_string).collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// The addresses of the nodes still running.
    pub fn live_addrs(&mut self) -> Vec<SocketAddr> {
        self.nodes
            .iter_mut()
            .filter_map(|n| n.is_running().then(|| n.addr()))
            .collect()
    }

    /// Sends a command to `addr` (any node, or any server) and returns its reply.
    pub fn command(&self, addr: SocketAddr, args: &[&str]) -> Result<Reply> {
        command(addr, args)
    }

    /// The cluster as a live node sees it (`CLUSTER NODES`).
    pub fn nodes(&mut self) -> Result<Vec<NodeInfo>> {
        let mut last = None;
        for addr in self.live_addrs() {
            match command(addr, &["CLUSTER", "NODES"]) {
                Ok(Reply::Bulk(Some(text))) => return parse_nodes(&String::from_utf8_lossy(&text)),
                Ok(other) => last = Some(Error::Config(format!("CLUSTER NODES: {other:?}"))),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Config("no node is running".into())))
    }

    /// The master serving `slot`.
    pub fn master_of(&mut self, slot: u16) -> Result<NodeInfo> {
        self.nodes()?
            .into_iter()
            .find(|n| n.role == Role::Master && !n.failed && n.serves(slot))
            .ok_or_else(|| Error::Config(format!("no master serves slot {slot}")))
    }

    /// The slot of `key`, as the server computes it (`CLUSTER KEYSLOT`).
    pub fn key_slot(&mut self, key: &str) -> Result<u16> {
        let addr = self.any_live()?;
        match command(addr, &["CLUSTER", "KEYSLOT", key])? {
            Reply::Int(n) => u16::try_from(n).map_err(|_| Error::Config("bad slot".into())),
            other => Err(Error::Config(format!("CLUSTER KEYSLOT: {other:?}"))),
        }
    }

    fn any_live(&mut self) -> Result<SocketAddr> {
        self.live_addrs()
            .into_iter()
            .next()
            .ok_or_else(|| Error::Config("no node is running".into()))
    }

    /// Kills the node at `addr` with SIGKILL, as a crash would.
    pub fn kill(&mut self, addr: SocketAddr) -> Result<()> {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.addr() == addr)
            .ok_or_else(|| Error::Config(format!("{addr} is not a node of this cluster")))?;
        node.kill();
        Ok(())
    }

    /// Waits until every running node reports `cluster_state:ok` with all 16384 slots served,
    /// and every running replica's link to its master is up.
    pub fn wait_ok(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let why = self.not_ok();
            let Some(why) = why else { return Ok(()) };
            if Instant::now() >= deadline {
                return Err(Error::Config(format!(
                    "the cluster was not ok within {timeout:?}: {why}"
                )));
            }
            std::thread::sleep(POLL * 5);
        }
    }

    /// Why the cluster is not ok yet, or `None` when it is.
    fn not_ok(&mut self) -> Option<String> {
        for addr in self.live_addrs() {
            let info = match command(addr, &["CLUSTER", "INFO"]) {
                Ok(reply) => reply.text(),
                Err(e) => return Some(e.to_string()),
            };
            if !info.contains("cluster_state:ok") || !info.contains("cluster_slots_ok:16384") {
                return Some(format!(
                    "{addr}: {}",
                    info.lines().take(3).collect::<Vec<_>>().join(", ")
                ));
            }
            let replication = match command(addr, &["INFO", "replication"]) {
                Ok(reply) => reply.text(),
                Err(e) => return Some(e.to_string()),
            };
            if replication.contains("role:slave") && !replication.contains("master_link_status:up")
            {
                return Some(format!("{addr}: replica link down"));
            }
        }
        None
    }

    /// Starts moving `slot` to the master at `to`: `IMPORTING` on the target, `MIGRATING` on
    /// the source. Keys stay where they are until [`migrate_key`](Self::migrate_key).
    pub fn begin_migration(&mut self, slot: u16, to: SocketAddr) -> Result<SocketAddr> {
        let nodes = self.nodes()?;
        let (source, target) = endpoints(&nodes, slot, to)?;
        let slot = slot.to_string();
        ok(command(
            target.addr,
            &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &source.id],
        )?)?;
        ok(command(
            source.addr,
            &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &target.id],
        )?)?;
        Ok(source.addr)
    }

    /// `MIGRATE`s one key from `from` to `to` (`NOKEY` is fine: the key is not there).
    pub fn migrate_key(&self, from: SocketAddr, to: SocketAddr, key: &str) -> Result<()> {
        let host = to.ip().to_string();
        let port = to.port().to_string();
        match command(from, &["MIGRATE", &host, &port, key, "0", "5000"])? {
            Reply::Error(e) => Err(Error::Config(format!("MIGRATE {key}: {e}"))),
            _ => Ok(()),
        }
    }

    /// Ends a migration of `slot` to `to`: moves the keys still at the source, then
    /// `SETSLOT … NODE` on the target, the source and every other master.
    pub fn finish_migration(&mut self, slot: u16, from: SocketAddr, to: SocketAddr) -> Result<()> {
        let slot_text = slot.to_string();
        loop {
            let keys = command(from, &["CLUSTER", "GETKEYSINSLOT", &slot_text, "100"])?;
            let Reply::Array(keys) = keys else { break };
            if keys.is_empty() {
                break;
            }
            for key in keys {
                self.migrate_key(from, to, &key.text())?;
            }
        }
        let nodes = self.nodes()?;
        let target = nodes
            .iter()
            .find(|n| n.addr == to)
            .ok_or_else(|| Error::Config(format!("{to} is not a node")))?;
        let mut order: Vec<SocketAddr> = vec![to, from];
        order.extend(
            nodes
                .iter()
                .filter(|n| n.role == Role::Master && !n.failed && n.addr != to && n.addr != from)
                .map(|n| n.addr),
        );
        for addr in order {
            ok(command(
                addr,
                &["CLUSTER", "SETSLOT", &slot_text, "NODE", &target.id],
            )?)?;
        }
        Ok(())
    }

    /// Moves `slot` (and its keys) to the master at `to`, as a resharding would.
    pub fn move_slot(&mut self, slot: u16, to: SocketAddr) -> Result<()> {
        let from = self.begin_migration(slot, to)?;
        self.finish_migration(slot, from, to)
    }
}

fn ok(reply: Reply) -> Result<()> {
    match reply {
        Reply::Error(e) => Err(Error::Config(e)),
        _ => Ok(()),
    }
}

fn endpoints(nodes: &[NodeInfo], slot: u16, to: SocketAddr) -> Result<(&NodeInfo, &NodeInfo)> {
    let source = nodes
        .iter()
        .find(|n| n.role == Role::Master && n.serves(slot))
        .ok_or_else(|| Error::Config(format!("no master serves slot {slot}")))?;
    let target = nodes
        .iter()
        .find(|n| n.addr == to && n.role == Role::Master)
        .ok_or_else(|| Error::Config(format!("{to} is not a master")))?;
    if source.id == target.id {
        return Err(Error::Config(format!("slot {slot} is already at {to}")));
    }
    Ok((source, target))
}

/// Parses `CLUSTER NODES`.
fn parse_nodes(text: &str) -> Result<Vec<NodeInfo>> {
    let mut nodes = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let bad = || Error::Config(format!("bad CLUSTER NODES line: {line}"));
        if fields.len() < 8 {
            return Err(bad());
        }
        // `ip:port@cport[,hostname]`
        let addr_text = fields[1].split(['@', ',']).next().ok_or_else(bad)?;
        let addr: SocketAddr = addr_text.parse().map_err(|_| bad())?;
        let flags = fields[2];
        let role = if flags.split(',').any(|f| f == "master") {
            Role::Master
        } else {
            Role::Replica
        };
        let failed = flags.split(',').any(|f| f == "fail" || f == "fail?");
        let master_id = (fields[3] != "-").then(|| fields[3].to_owned());
        let mut slots = Vec::new();
        for range in &fields[8..] {
            if range.starts_with('[') {
                continue; // a migration in progress, not a served slot
            }
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let a = a.parse().map_err(|_| bad())?;
            let b = b.parse().map_err(|_| bad())?;
            slots.push((a, b));
        }
        nodes.push(NodeInfo {
            id: fields[0].to_owned(),
            addr,
            role,
            master_id,
            slots,
            failed,
        });
    }
    Ok(nodes)
}
