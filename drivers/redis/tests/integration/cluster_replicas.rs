//! Reads from replicas on a real Redis Cluster (three masters, a replica each): with
//! `read_from=replica` a GET is served by the slot's replica (its `cmdstat_get` counts it,
//! the master's does not) and reads the value once `WAIT 1 0` saw it replicated; with the
//! default, replicas serve no GET; with `prefer-replica`, a dead replica's reads go to the
//! master; writes always go to the master.

use std::net::SocketAddr;

use crate::support::guard;
use corelane_redis::cluster::{key_slot, ClusterClient, ReadFrom};
use corelane_redis::{Client, Cmd, Config};
use corelane_testkit::resp::Reply;
use corelane_testkit::{RedisCluster, Role};

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    futures_lite::future::block_on(f)
}

/// `calls` of `cmdstat_<name>` in the node's `INFO commandstats` (0 when never called).
fn calls(cluster: &RedisCluster, addr: SocketAddr, name: &str) -> u64 {
    let info = cluster.command(addr, &["INFO", "commandstats"]).unwrap();
    let prefix = format!("cmdstat_{name}:calls=");
    info.text()
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

/// The master serving `key` and its replica.
fn shard_of(cluster: &mut RedisCluster, key: &str) -> (SocketAddr, SocketAddr) {
    let master = cluster.master_of(key_slot(key.as_bytes())).unwrap();
    let replica = cluster
        .nodes()
        .unwrap()
        .into_iter()
        .find(|n| n.role == Role::Replica && n.master_id.as_deref() == Some(&master.id))
        .unwrap();
    (master.addr, replica.addr)
}

/// SET then `WAIT 1 0` on one connection of the master: returns once the replica has it.
fn set_replicated(master: SocketAddr, key: &'static str, value: &'static str) {
    let client = Client::open(&format!("redis://{master}")).unwrap();
    let acked: i64 = block_on(client.with_connection(move |conn| async move {
        conn.query::<()>(Cmd::new("SET").arg(key).arg(value))
            .await?;
        conn.query::<i64>(Cmd::new("WAIT").arg(1).arg(0)).await
    }))
    .unwrap();
    assert_eq!(acked, 1, "WAIT: the replica did not acknowledge");
}

#[test]
fn replica_reads_go_to_replicas_only_when_asked() {
    guard("replica-reads", || {
        let mut cluster = RedisCluster::start().unwrap();
        let key = "{ro}k";
        let (master, replica) = shard_of(&mut cluster, key);
        set_replicated(master, key, "v1");

        // Default: masters only. The replica sees no GET.
        let plain = ClusterClient::open(&cluster.url()).unwrap();
        let (m0, r0) = (
            calls(&cluster, master, "get"),
            calls(&cluster, replica, "get"),
        );
        for _ in 0..10 {
            assert_eq!(block_on(plain.get::<String>(key)).unwrap(), "v1");
        }
        assert_eq!(calls(&cluster, master, "get") - m0, 10);
        assert_eq!(
            calls(&cluster, replica, "get") - r0,
            0,
            "a replica served a GET"
        );

        // read_from=replica (from the URL): every GET on the replica, none on the master.
        let url = format!("{}?read_from=replica", cluster.url());
        let reads = ClusterClient::open(&url).unwrap();
        let (m0, r0) = (
            calls(&cluster, master, "get"),
            calls(&cluster, replica, "get"),
        );
        for _ in 0..10 {
            assert_eq!(block_on(reads.get::<String>(key)).unwrap(), "v1");
        }
        assert_eq!(calls(&cluster, replica, "get") - r0, 10);
        assert_eq!(
            calls(&cluster, master, "get") - m0,
            0,
            "the master served a GET"
        );
        assert!(
            calls(&cluster, replica, "readonly") >= 1,
            "READONLY was not sent"
        );

        // Writes still go to the master (checked where the SET ran: a replica would have
        // answered MOVED and the client followed it, so success alone proves nothing).
        let ms0 = calls(&cluster, master, "set");
        block_on(reads.set::<()>(key, "v2")).unwrap();
        assert_eq!(calls(&cluster, master, "set") - ms0, 1);
        assert_eq!(
            cluster.command(master, &["GET", key]).unwrap(),
            Reply::Bulk(Some(b"v2".to_vec()))
        );
        // After WAIT the replica has the new value, and a replica read returns it.
        set_replicated(master, key, "v3");
        assert_eq!(block_on(reads.get::<String>(key)).unwrap(), "v3");
    });
}

#[test]
fn a_dead_replica_falls_back_to_the_master() {
    guard("replica-down", || {
        let mut cluster = RedisCluster::start().unwrap();
        let key = "{rodown}k";
        let (master, replica) = shard_of(&mut cluster, key);
        set_replicated(master, key, "here");
        let prefer = ClusterClient::builder(Config::default())
            .seed("127.0.0.1", cluster.addrs()[0].port())
            .read_from(ReadFrom::PreferReplica)
            .refresh_interval(None)
            .build()
            .unwrap();
        let only = ClusterClient::builder(Config::default())
            .seed("127.0.0.1", cluster.addrs()[0].port())
            .read_from(ReadFrom::Replica)
            .refresh_interval(None)
            .max_attempts(3)
            .build()
            .unwrap();
        let r0 = calls(&cluster, replica, "get");
        assert_eq!(block_on(prefer.get::<String>(key)).unwrap(), "here");
        assert_eq!(
            calls(&cluster, replica, "get") - r0,
            1,
            "prefer-replica read"
        );
        assert_eq!(block_on(only.get::<String>(key)).unwrap(), "here");
        assert_eq!(calls(&cluster, replica, "get") - r0, 2, "replica-only read");

        cluster.kill(replica).unwrap();
        let m0 = calls(&cluster, master, "get");
        for _ in 0..5 {
            assert_eq!(block_on(prefer.get::<String>(key)).unwrap(), "here");
        }
        assert_eq!(
            calls(&cluster, master, "get") - m0,
            5,
            "the master did not answer"
        );
        // Replicas only: the read fails (typed), it is not served by the master.
        let e = block_on(only.get::<String>(key)).unwrap_err();
        assert!(e.is_connect() || e.is_cluster(), "{e}");
        assert_eq!(calls(&cluster, master, "get") - m0, 5);
    });
}
