//! Transactions on a real Redis Cluster (three masters, a replica each): WATCH conflicts
//! retried an exact number of times, keys of different slots refused before sending, and a
//! transaction that follows its slot to another master (moved before it, and moved between
//! its WATCH and its EXEC).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::support::{guard, on_worker};
use corelane_redis::cluster::{key_slot, ClusterClient, ClusterPipeline};
use corelane_redis::Config;
use corelane_testkit::resp::Reply;
use corelane_testkit::{RedisCluster, Role};

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    futures_lite::future::block_on(f)
}

/// A master other than the one serving `slot`.
fn other_master(cluster: &mut RedisCluster, slot: u16) -> std::net::SocketAddr {
    let owner = cluster.master_of(slot).unwrap().addr;
    cluster
        .nodes()
        .unwrap()
        .into_iter()
        .find(|n| n.role == Role::Master && n.addr != owner && !n.failed)
        .unwrap()
        .addr
}

#[test]
fn watch_conflicts_are_retried_and_counted_exactly() {
    guard("tx-conflict", || {
        let mut cluster = RedisCluster::start().unwrap();
        let client = ClusterClient::open(&cluster.url()).unwrap();
        let meddler = ClusterClient::open(&cluster.url()).unwrap();
        let key = "{tx}counter";
        block_on(client.set::<()>(key, 0)).unwrap();

        fn is_send<T: Send>(_: &T) {}
        is_send(
            &client
                .transaction::<(), _, _>(&[key], |_conn| async move { Ok(ClusterPipeline::new()) }),
        );

        // The first build changes the watched key behind the transaction's back: EXEC
        // aborts, the build runs once more, and only its write lands.
        let builds = Arc::new(AtomicUsize::new(0));
        let seen = builds.clone();
        let (set, value): ((), i64) = block_on(client.transaction(&[key], move |conn| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let meddler = meddler.clone();
            async move {
                let current: i64 = conn.get(key).await?;
                if n == 0 {
                    meddler.incr_by::<i64>(key, 100).await?;
                }
                let mut pipe = ClusterPipeline::new();
                pipe.set(key, current + 1).get(key);
                Ok(pipe)
            }
        }))
        .unwrap();
        let _: () = set;
        assert_eq!(builds.load(Ordering::SeqCst), 2, "one abort, one commit");
        // Second build read 100 (the meddler's value), wrote 101.
        assert_eq!(value, 101);
        let owner = cluster.master_of(key_slot(key.as_bytes())).unwrap().addr;
        assert_eq!(
            cluster.command(owner, &["GET", key]).unwrap(),
            Reply::Bulk(Some(b"101".to_vec()))
        );

        // Contending increments from 8 tasks on 2 runtimes' threads: no lost update, and
        // every task committed exactly its own 25.
        block_on(client.set::<()>(key, 0)).unwrap();
        const TASKS: usize = 8;
        const EACH: usize = 25;
        let runs = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..TASKS)
            .map(|_| {
                let client = client.clone();
                let runs = runs.clone();
                std::thread::spawn(move || {
                    for _ in 0..EACH {
                        let runs = runs.clone();
                        let _: ((), i64) = block_on(client.transaction(&[key], move |conn| {
                            runs.fetch_add(1, Ordering::SeqCst);
                            async move {
                                let v: i64 = conn.get(key).await?;
                                let mut pipe = ClusterPipeline::new();
                                pipe.set(key, v + 1).get(key);
                                Ok(pipe)
                            }
                        }))
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let total: i64 = block_on(client.get(key)).unwrap();
        assert_eq!(total, (TASKS * EACH) as i64);
        assert!(runs.load(Ordering::SeqCst) >= TASKS * EACH);
    });
}

#[test]
fn keys_in_different_slots_are_refused_before_sending() {
    guard("tx-crossslot", || {
        let cluster = RedisCluster::start().unwrap();
        let client = ClusterClient::open(&cluster.url()).unwrap();
        assert_ne!(key_slot(b"a"), key_slot(b"b"));
        let builds = Arc::new(AtomicUsize::new(0));
        let seen = builds.clone();
        let e = block_on(client.transaction::<(), _, _>(&["a", "b"], move |_conn| {
            seen.fetch_add(1, Ordering::SeqCst);
            async move { Ok(ClusterPipeline::new()) }
        }))
        .unwrap_err();
        assert!(e.is_cross_slot(), "{e}");
        assert_eq!(
            builds.load(Ordering::SeqCst),
            0,
            "build ran for a refused call"
        );

        // No key: refused too (no slot to run on).
        let none: [&str; 0] = [];
        let e = block_on(
            client
                .transaction::<(), _, _>(&none, |_conn| async move { Ok(ClusterPipeline::new()) }),
        )
        .unwrap_err();
        assert!(e.is_refused(), "{e}");

        // A returned command on another slot: refused before MULTI, nothing applied.
        let e = block_on(
            client.transaction::<Vec<i64>, _, _>(&["{t}1"], |_conn| async move {
                let mut pipe = ClusterPipeline::new();
                pipe.incr("{t}1").incr("{other}1");
                Ok(pipe)
            }),
        )
        .unwrap_err();
        assert!(e.is_cross_slot(), "{e}");
        let left: (Option<i64>, Option<i64>) = block_on(async {
            (
                client.get("{t}1").await.unwrap(),
                client.get("{other}1").await.unwrap(),
            )
        });
        assert_eq!(left, (None, None), "a refused transaction wrote something");

        // One slot, several keys (a hash tag): fine, from a worker of the loop too.
        let on_loop = client.clone();
        let out: Vec<i64> = on_worker(0, move || async move {
            on_loop
                .transaction(&["{t}1", "{t}2"], |_conn| async move {
                    let mut pipe = ClusterPipeline::new();
                    pipe.incr("{t}1").incr_by("{t}2", 5);
                    Ok(pipe)
                })
                .await
                .unwrap()
        });
        assert_eq!(out, [1, 5]);
    });
}

#[test]
fn a_transaction_follows_its_slot_to_another_master() {
    guard("tx-moved", || {
        let mut cluster = RedisCluster::start().unwrap();
        // No periodic refresh: only redirects teach the client where the slot went.
        let client = ClusterClient::builder(Config::default())
            .seed("127.0.0.1", cluster.addrs()[0].port())
            .refresh_interval(None)
            .build()
            .unwrap();
        let key = "{txmove}k";
        let slot = key_slot(key.as_bytes());
        block_on(client.set::<()>(key, 1)).unwrap();
        let first = cluster.master_of(slot).unwrap().addr;
        let second = other_master(&mut cluster, slot);

        // Moved before the transaction: its WATCH gets MOVED, it starts over there.
        cluster.move_slot(slot, second).unwrap();
        let builds = Arc::new(AtomicUsize::new(0));
        let seen = builds.clone();
        let (_, v): ((), i64) = block_on(client.transaction(&[key], move |conn| {
            seen.fetch_add(1, Ordering::SeqCst);
            async move {
                let v: i64 = conn.get(key).await?;
                let mut pipe = ClusterPipeline::new();
                pipe.set(key, v * 10).get(key);
                Ok(pipe)
            }
        }))
        .unwrap();
        assert_eq!(v, 10);
        assert_eq!(
            builds.load(Ordering::SeqCst),
            1,
            "WATCH was redirected, build ran once"
        );
        assert_eq!(
            cluster.command(second, &["GET", key]).unwrap(),
            Reply::Bulk(Some(b"10".to_vec()))
        );

        // Moved between WATCH and EXEC (inside the first build): the queued SET is refused
        // with MOVED, EXEC discards everything, and the whole transaction runs again on the
        // new master.
        let cluster = Arc::new(Mutex::new(cluster));
        let mover = cluster.clone();
        let builds = Arc::new(AtomicUsize::new(0));
        let seen = builds.clone();
        let (_, v): ((), i64) = block_on(client.transaction(&[key], move |conn| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let mover = mover.clone();
            async move {
                let v: i64 = conn.get(key).await?;
                if n == 0 {
                    mover.lock().unwrap().move_slot(slot, first).unwrap();
                }
                let mut pipe = ClusterPipeline::new();
                pipe.set(key, v + 1).get(key);
                Ok(pipe)
            }
        }))
        .unwrap();
        assert_eq!(
            builds.load(Ordering::SeqCst),
            2,
            "one discarded, one committed"
        );
        assert_eq!(v, 11, "applied exactly once");
        let cluster = cluster.lock().unwrap();
        assert_eq!(
            cluster.command(first, &["GET", key]).unwrap(),
            Reply::Bulk(Some(b"11".to_vec()))
        );
        assert!(
            matches!(cluster.command(second, &["GET", key]).unwrap(), Reply::Error(e) if e.starts_with("MOVED")),
            "the old master still serves the slot"
        );
    });
}
