//! The cluster client against a real Redis Cluster (three masters, a replica each): routing
//! and hash tags, CROSSSLOT refused, MOVED after a slot move, ASK during a migration under
//! load, pipelines across nodes, and a master's failover under load.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{guard, on_worker, FakeServer};
use corelane_redis::cluster::{key_slot, ClusterClient, ClusterPipeline};
use corelane_redis::{Cmd, Error, Value};
use corelane_testkit::resp::Reply;
use corelane_testkit::{RedisCluster, Role};

/// Bound of one call in the load tests: a call that takes longer counts as hung.
const CALL_LIMIT: Duration = Duration::from_secs(20);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// What the server holds for `key`, asked at the master that serves its slot (proving the
/// client wrote it there).
fn stored_at_owner(cluster: &mut RedisCluster, key: &str) -> Reply {
    let owner = cluster.master_of(key_slot(key.as_bytes())).unwrap();
    cluster.command(owner.addr, &["GET", key]).unwrap()
}

#[test]
fn routes_by_slot_with_hash_tags_and_refuses_cross_slot() {
    guard("routing", || {
        let mut cluster = RedisCluster::start().unwrap();
        let client = ClusterClient::open(&cluster.url()).unwrap();
        // The slot function agrees with the server.
        for key in [
            "foo",
            "bar",
            "{user1000}.following",
            "foo{}{bar}",
            "foo{{bar}}zap",
            "é",
        ] {
            assert_eq!(
                key_slot(key.as_bytes()),
                cluster.key_slot(key).unwrap(),
                "{key}"
            );
        }
        // 300 keys from a plain thread: each lands on its slot's master.
        futures_lite::future::block_on(async {
            for i in 0..300 {
                client.set::<()>(format!("k{i}"), i).await.unwrap();
            }
            // DBSIZE and KEYS go to every master, their replies merged.
            assert_eq!(client.query::<i64>(Cmd::new("DBSIZE")).await.unwrap(), 300);
            let keys: HashSet<String> = client.query(Cmd::new("KEYS").arg("k*")).await.unwrap();
            assert_eq!(
                keys,
                (0..300).map(|i| format!("k{i}")).collect::<HashSet<_>>()
            );
        });
        let mut masters = HashSet::new();
        for i in (0..300).step_by(7) {
            let key = format!("k{i}");
            assert_eq!(
                stored_at_owner(&mut cluster, &key),
                Reply::Bulk(Some(i.to_string().into_bytes()))
            );
            masters.insert(cluster.master_of(key_slot(key.as_bytes())).unwrap().addr);
        }
        assert_eq!(masters.len(), 3, "the keys should spread over every master");
        // The same from a worker of the loop (the on-worker path of every node client).
        let on_loop = client.clone();
        let read: Vec<i64> = on_worker(1, move || async move {
            let mut out = Vec::new();
            for i in 0..300 {
                out.push(on_loop.get::<i64>(format!("k{i}")).await.unwrap());
            }
            out
        });
        assert_eq!(read, (0..300).collect::<Vec<_>>());

        futures_lite::future::block_on(async {
            // Hash tags keep multi-key commands in one slot.
            client
                .mset::<()>(&[("{u1}.name", "ada"), ("{u1}.lang", "en")])
                .await
                .unwrap();
            let both: Vec<String> = client.mget(&["{u1}.name", "{u1}.lang"]).await.unwrap();
            assert_eq!(both, ["ada", "en"]);
            // Different slots: refused before sending.
            assert_ne!(key_slot(b"xa"), key_slot(b"xb"));
            let e = client
                .mset::<()>(&[("xa", "1"), ("xb", "2")])
                .await
                .unwrap_err();
            assert!(e.is_cross_slot(), "{e}");
            let e = client
                .query::<Value>(Cmd::new("DEL").arg("k1").arg("k2"))
                .await
                .unwrap_err();
            assert!(e.is_cross_slot(), "{e}");
            assert_eq!(
                client.get::<Option<String>>("xa").await.unwrap(),
                None,
                "MSET was sent"
            );
            assert_eq!(client.get::<i64>("k1").await.unwrap(), 1, "DEL was sent");
            // Key-less commands: PING goes anywhere, cluster-wide ones are refused.
            assert_eq!(
                client.query::<String>(Cmd::new("PING")).await.unwrap(),
                "PONG"
            );
            let e = client
                .query::<Value>(Cmd::new("FLUSHALL"))
                .await
                .unwrap_err();
            assert!(e.is_unroutable(), "{e}");
            let e = client
                .query::<Value>(Cmd::new("CONFIG").arg("GET").arg("maxmemory"))
                .await
                .unwrap_err();
            assert!(e.is_unroutable(), "{e}");
            // A fan-out command inside a pipeline is refused (send it alone).
            let mut pipe = ClusterPipeline::new();
            pipe.cmd(Cmd::new("DBSIZE"));
            let e = client.pipeline::<Vec<Value>>(&pipe).await.unwrap_err();
            assert!(e.is_unroutable(), "{e}");
            let e = client.query::<Value>(Cmd::new("MULTI")).await.unwrap_err();
            assert!(e.is_refused(), "{e}");
            // A server error is a value of its own call.
            client.set::<()>("{u1}.name", "x").await.unwrap();
            let e = client.incr::<i64>("{u1}.name").await.unwrap_err();
            assert_eq!(e.code(), Some("ERR"), "{e}");
        });
    });
}

#[test]
fn follows_moved_after_a_slot_moves() {
    guard("moved", || {
        let mut cluster = RedisCluster::start().unwrap();
        let client = ClusterClient::builder(corelane_redis::Config::default())
            .seed("127.0.0.1", cluster.addrs()[0].port())
            .refresh_interval(None)
            .build()
            .unwrap();
        let key = "moving-key";
        let slot = key_slot(key.as_bytes());
        futures_lite::future::block_on(client.set::<()>(key, "before")).unwrap();
        let owner = cluster.master_of(slot).unwrap().addr;
        let nodes = cluster.nodes().unwrap();
        let other = nodes
            .iter()
            .find(|n| n.role == Role::Master && n.addr != owner)
            .unwrap()
            .addr;
        cluster.move_slot(slot, other).unwrap();
        // The client's map still says `owner`: MOVED sends it on, and the map learns.
        futures_lite::future::block_on(async {
            assert_eq!(client.get::<String>(key).await.unwrap(), "before");
            client.set::<()>(key, "after").await.unwrap();
        });
        let direct = cluster.command(other, &["GET", key]).unwrap();
        assert_eq!(direct, Reply::Bulk(Some(b"after".to_vec())));
        // Moved back, twice over: still followed.
        cluster.move_slot(slot, owner).unwrap();
        let value = on_worker(0, move || async move { client.get::<String>(key).await });
        assert_eq!(value.unwrap(), "after");
    });
}

/// On a worker a call's first attempt goes straight to the node's connection, and a
/// redirect hands the command (taken back from that attempt) to the routing loop. Concurrent
/// `INCR`s sent to a slot's old master after a move (`MOVED`), then to the source of a
/// migration after their key left it (`ASK`), each run exactly once: every caller gets its
/// own count and the key ends at the number of calls.
#[test]
fn redirected_calls_on_a_worker_run_exactly_once() {
    guard("worker redirects", || {
        let mut cluster = RedisCluster::start().unwrap();
        let client = ClusterClient::builder(corelane_redis::Config::default())
            .seed("127.0.0.1", cluster.addrs()[0].port())
            .refresh_interval(None)
            .build()
            .unwrap();
        const CALLS: i64 = 32;
        // `CALLS` INCRs of `key` at once on worker 0: their replies, sorted.
        let burst = |client: &ClusterClient, key: &'static str| {
            let c = client.clone();
            on_worker(0, move || async move {
                let tasks: Vec<_> = (0..CALLS)
                    .map(|_| corelane_runtime::task::spawn(c.incr::<i64>(key)).unwrap())
                    .collect();
                let mut replies = Vec::new();
                for t in tasks {
                    replies.push(t.await.unwrap());
                }
                replies.sort_unstable();
                replies
            })
        };
        let other_master = |cluster: &mut RedisCluster, slot: u16| {
            let owner = cluster.master_of(slot).unwrap().addr;
            let to = cluster
                .nodes()
                .unwrap()
                .into_iter()
                .find(|n| n.role == Role::Master && n.addr != owner)
                .unwrap()
                .addr;
            (owner, to)
        };

        // MOVED: the worker's map still names the old master (no refresh runs by itself).
        let moved = "worker-moved";
        let slot = key_slot(moved.as_bytes());
        assert_eq!(burst(&client, moved), (1..=CALLS).collect::<Vec<_>>());
        let (owner, to) = other_master(&mut cluster, slot);
        cluster.move_slot(slot, to).unwrap();
        assert_eq!(
            burst(&client, moved),
            (CALLS + 1..=2 * CALLS).collect::<Vec<_>>()
        );
        let there = cluster.command(to, &["GET", moved]).unwrap();
        assert_eq!(
            there,
            Reply::Bulk(Some((2 * CALLS).to_string().into_bytes()))
        );
        assert!(cluster
            .command(owner, &["GET", moved])
            .unwrap()
            .text()
            .starts_with("MOVED"));

        // ASK: the slot is migrating and the key already left the source the map names.
        let asked = "worker-asked";
        let slot = key_slot(asked.as_bytes());
        assert_eq!(burst(&client, asked), (1..=CALLS).collect::<Vec<_>>());
        let (_, to) = other_master(&mut cluster, slot);
        let from = cluster.begin_migration(slot, to).unwrap();
        cluster.migrate_key(from, to, asked).unwrap();
        let answer = cluster.command(from, &["GET", asked]).unwrap();
        assert!(
            answer.text().starts_with(&format!("ASK {slot} ")),
            "{answer:?}"
        );
        assert_eq!(
            burst(&client, asked),
            (CALLS + 1..=2 * CALLS).collect::<Vec<_>>()
        );
        cluster.finish_migration(slot, from, to).unwrap();
        let there = cluster.command(to, &["GET", asked]).unwrap();
        assert_eq!(
            there,
            Reply::Bulk(Some((2 * CALLS).to_string().into_bytes()))
        );
    });
}

#[test]
fn ask_during_a_migration_under_load() {
    guard("ask", || {
        let mut cluster = RedisCluster::start().unwrap();
        let client = ClusterClient::open(&cluster.url()).unwrap();
        const TASKS: usize = 64;
        let key = |i: usize| format!("{{mig}}:{i}");
        let slot = key_slot(b"mig");
        let rt = runtime();
        rt.block_on(async {
            for i in 0..TASKS {
                client.set::<()>(key(i), 0).await.unwrap();
            }
        });
        let owner = cluster.master_of(slot).unwrap().addr;
        let to = cluster
            .nodes()
            .unwrap()
            .into_iter()
            .find(|n| n.role == Role::Master && n.addr != owner)
            .unwrap()
            .addr;
        let stop = Arc::new(AtomicBool::new(false));
        let ops = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let client = client.clone();
                let stop = stop.clone();
                let ops = ops.clone();
                let k = key(i);
                rt.spawn(async move {
                    let mut n: i64 = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let set = tokio::time::timeout(CALL_LIMIT, client.set::<()>(k.clone(), n));
                        set.await
                            .expect("SET hung")
                            .unwrap_or_else(|e| panic!("SET {k}: {e}"));
                        let get = tokio::time::timeout(CALL_LIMIT, client.get::<i64>(k.clone()));
                        let got = get
                            .await
                            .expect("GET hung")
                            .unwrap_or_else(|e| panic!("GET {k}: {e}"));
                        assert_eq!(got, n, "{k} read back another value");
                        ops.fetch_add(2, Ordering::Relaxed);
                        tokio::task::yield_now().await;
                    }
                    n
                })
            })
            .collect();
        // Let the load run, then migrate key by key while it goes on.
        std::thread::sleep(Duration::from_millis(200));
        let from = cluster.begin_migration(slot, to).unwrap();
        assert_eq!(from, owner);
        for i in 0..TASKS {
            cluster.migrate_key(from, to, &key(i)).unwrap();
            if i == 0 {
                // The situation under test: the source now answers ASK for a moved key.
                let asked = cluster.command(from, &["GET", &key(0)]).unwrap();
                assert!(
                    asked.text().starts_with(&format!("ASK {slot} ")),
                    "{asked:?}"
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(200));
        let during = ops.load(Ordering::Relaxed);
        cluster.finish_migration(slot, from, to).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        let last: Vec<i64> = rt.block_on(async {
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        assert!(
            during > TASKS * 2,
            "too little load ran during the migration: {during}"
        );
        // Every key now lives at the target with its task's last value.
        for (i, n) in last.iter().enumerate() {
            let direct = cluster.command(to, &["GET", &key(i)]).unwrap();
            assert_eq!(
                direct,
                Reply::Bulk(Some(n.to_string().into_bytes())),
                "{}",
                key(i)
            );
        }
        assert_eq!(cluster.master_of(slot).unwrap().addr, to);
    });
}

#[test]
fn pipelines_across_nodes_keep_order_and_retry_redirects() {
    guard("pipelines", || {
        let mut cluster = RedisCluster::start().unwrap();
        let client = ClusterClient::open(&cluster.url()).unwrap();
        let mut pipe = ClusterPipeline::new();
        for i in 0..100 {
            pipe.set(format!("p{i}"), i).get(format!("p{i}"));
        }
        let replies: Vec<Value> = futures_lite::future::block_on(client.pipeline(&pipe)).unwrap();
        assert_eq!(replies.len(), 200);
        for i in 0..100 {
            assert!(
                matches!(&replies[2 * i], Value::SimpleString(s) if &s[..] == b"OK"),
                "{:?}",
                replies[2 * i]
            );
            assert_eq!(replies[2 * i + 1], Value::BulkString(i.to_string().into()));
        }
        // Typed, mixed with a server error kept in its place.
        let mut pipe = ClusterPipeline::new();
        pipe.incr("pa").set("pb", "text").incr("pb").get("pa");
        let out: Vec<Value> = futures_lite::future::block_on(client.pipeline(&pipe)).unwrap();
        assert_eq!(out[0], Value::Integer(1));
        assert!(
            matches!(&out[2], Value::Error(e) if e.code() == Some("ERR")),
            "{:?}",
            out[2]
        );
        assert_eq!(out[3], Value::BulkString("1".into()));

        // Move one slot behind the client's back: that command is redirected and retried
        // alone, the others answer from their nodes.
        let slot = key_slot(b"p7");
        let owner = cluster.master_of(slot).unwrap().addr;
        let other = cluster
            .nodes()
            .unwrap()
            .into_iter()
            .find(|n| n.role == Role::Master && n.addr != owner)
            .unwrap()
            .addr;
        cluster.move_slot(slot, other).unwrap();
        let mut pipe = ClusterPipeline::new();
        for i in 0..20 {
            pipe.get(format!("p{i}"));
        }
        let values: Vec<i64> = on_worker(0, {
            let client = client.clone();
            move || async move { client.pipeline(&pipe).await }
        })
        .unwrap();
        assert_eq!(values, (0..20).collect::<Vec<i64>>());
        // A cross-slot command inside a pipeline fails the pipeline before anything is sent.
        let mut pipe = ClusterPipeline::new();
        pipe.set("fresh", 1).mget(&["p1", "p2"]);
        let e = futures_lite::future::block_on(client.pipeline::<Vec<Value>>(&pipe)).unwrap_err();
        assert!(e.is_cross_slot(), "{e}");
        assert_eq!(
            futures_lite::future::block_on(client.get::<Option<i64>>("fresh")).unwrap(),
            None
        );
    });
}

/// An error a call may end with while a master dies and its replica takes over.
fn typed_failover_error(e: &Error) -> bool {
    e.is_closed()
        || e.is_connect()
        || e.is_cluster()
        || e.is_timeout()
        || matches!(
            e.code(),
            Some("CLUSTERDOWN" | "TRYAGAIN" | "MASTERDOWN" | "LOADING")
        )
}

#[test]
fn a_killed_master_fails_over_under_load() {
    guard("failover", || {
        let mut cluster = RedisCluster::start().unwrap();
        let client = ClusterClient::open(&cluster.url()).unwrap();
        const TASKS: usize = 64;
        let rt = runtime();
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let (client, stop, ok, failed) =
                    (client.clone(), stop.clone(), ok.clone(), failed.clone());
                rt.spawn(async move {
                    let k = format!("f{i}");
                    let mut n: i64 = 0;
                    let mut errors = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let set = tokio::time::timeout(CALL_LIMIT, client.set::<()>(k.clone(), n))
                            .await
                            .expect("SET hung");
                        match set {
                            Ok(()) => {
                                let got =
                                    tokio::time::timeout(CALL_LIMIT, client.get::<i64>(k.clone()))
                                        .await
                                        .expect("GET hung");
                                match got {
                                    Ok(v) => {
                                        assert_eq!(v, n, "{k}");
                                        ok.fetch_add(1, Ordering::Relaxed);
                                    }
                                    Err(e) => errors.push(e),
                                }
                            }
                            Err(e) => errors.push(e),
                        }
                        if errors.len() > failed.load(Ordering::Relaxed) {
                            failed.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                    errors
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        assert!(ok.load(Ordering::Relaxed) > 0);
        // Kill the master of the first task's key.
        let victim = cluster.master_of(key_slot(b"f0")).unwrap();
        cluster.kill(victim.addr).unwrap();
        let killed_at = Instant::now();
        cluster.wait_ok(Duration::from_secs(60)).unwrap();
        let new_owner = cluster.master_of(key_slot(b"f0")).unwrap();
        assert_ne!(new_owner.addr, victim.addr);
        eprintln!("failover took {:?}", killed_at.elapsed());
        // Calls succeed again after the failover, for every task.
        let before = ok.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(30);
        while ok.load(Ordering::Relaxed) < before + TASKS * 4 {
            assert!(
                Instant::now() < deadline,
                "calls did not succeed again after the failover"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        let mut all_errors = Vec::new();
        rt.block_on(async {
            for t in tasks {
                all_errors.extend(t.await.unwrap());
            }
        });
        for e in &all_errors {
            assert!(
                typed_failover_error(e),
                "untyped error during failover: {e:?}"
            );
        }
        eprintln!(
            "{} calls ok, {} typed errors",
            ok.load(Ordering::Relaxed),
            all_errors.len()
        );
        // Reads of the failed-over keys work from the promoted replica.
        let v = rt.block_on(client.get::<Option<i64>>("f0")).unwrap();
        assert!(v.is_some());
    });
}

/// A node that redirects forever (to itself) cannot be produced by a real cluster: a
/// scripted one. It also answers `CLUSTER SHARDS` as Redis 6 would (unknown subcommand), so
/// the client's fallback to `CLUSTER SLOTS` runs.
#[test]
fn a_redirect_loop_ends_with_a_typed_error() {
    guard("redirect loop", || {
        let port = Arc::new(std::sync::OnceLock::<u16>::new());
        let gets = Arc::new(AtomicUsize::new(0));
        let (me, counted) = (port.clone(), gets.clone());
        let fake = FakeServer::start(move |mut session| {
            // Set right after start, before the client (the only peer) exists.
            let me = loop {
                if let Some(port) = me.get() {
                    break *port;
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            while let Some(cmd) = session.next_command() {
                let word = |i: usize| {
                    String::from_utf8_lossy(cmd.get(i).map_or(&b""[..], |a| a)).to_ascii_uppercase()
                };
                let reply = match (word(0).as_str(), word(1).as_str()) {
                    ("CLUSTER", "SHARDS") => "-ERR unknown subcommand 'SHARDS'\r\n".to_owned(),
                    ("CLUSTER", "SLOTS") => {
                        format!("*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:{me}\r\n")
                    }
                    ("ASKING", _) => "+OK\r\n".to_owned(),
                    ("GET", "ASK-ME") => {
                        counted.fetch_add(1, Ordering::Relaxed);
                        format!("-ASK 9 127.0.0.1:{me}\r\n")
                    }
                    ("GET", _) => {
                        counted.fetch_add(1, Ordering::Relaxed);
                        format!("-MOVED 9 127.0.0.1:{me}\r\n")
                    }
                    _ => "-ERR unexpected\r\n".to_owned(),
                };
                session.write(reply.as_bytes());
            }
        });
        port.set(fake.addr.port()).unwrap();
        let client = ClusterClient::builder(corelane_redis::Config::default())
            .seed("127.0.0.1", fake.addr.port())
            .max_attempts(5)
            .retry_backoff(Duration::from_millis(1), Duration::from_millis(5))
            .build()
            .unwrap();
        let e = futures_lite::future::block_on(client.get::<Option<String>>("x")).unwrap_err();
        assert!(
            e.is_cluster() && e.to_string().contains("redirected 5 times"),
            "{e}"
        );
        assert_eq!(gets.swap(0, Ordering::Relaxed), 5);
        let e = futures_lite::future::block_on(client.get::<Option<String>>("ask-me")).unwrap_err();
        assert!(
            e.is_cluster() && e.to_string().contains("redirected"),
            "{e}"
        );
        assert_eq!(gets.swap(0, Ordering::Relaxed), 5);
        // On a worker the first attempt goes out before the routing loop runs: it counts
        // among the five.
        let c = client.clone();
        let e =
            on_worker(0, move || async move { c.get::<Option<String>>("x").await }).unwrap_err();
        assert!(
            e.is_cluster() && e.to_string().contains("redirected 5 times"),
            "{e}"
        );
        assert_eq!(gets.swap(0, Ordering::Relaxed), 5);
        let c = client.clone();
        let e = on_worker(
            0,
            move || async move { c.get::<Option<String>>("ask-me").await },
        )
        .unwrap_err();
        assert!(
            e.is_cluster() && e.to_string().contains("redirected 5 times"),
            "{e}"
        );
        assert_eq!(gets.load(Ordering::Relaxed), 5);
    });
}

/// Calls and pipelines dropped after 0–4 polls (mid-redirect, mid-read) leave every node
/// connection in step: later calls get their own replies.
#[test]
fn dropped_calls_leave_node_connections_in_step() {
    guard("cancellation", || {
        let mut cluster = RedisCluster::start().unwrap();
        let client = ClusterClient::open(&cluster.url()).unwrap();
        futures_lite::future::block_on(async {
            for i in 0..100 {
                client
                    .set::<()>(format!("c{i}"), format!("v{i}"))
                    .await
                    .unwrap();
            }
        });
        // One slot moves behind the client's back, so some dropped calls are mid-redirect.
        let slot = key_slot(b"c3");
        let owner = cluster.master_of(slot).unwrap().addr;
        let other = cluster
            .nodes()
            .unwrap()
            .into_iter()
            .find(|n| n.role == Role::Master && n.addr != owner)
            .unwrap()
            .addr;
        cluster.move_slot(slot, other).unwrap();
        let c = client.clone();
        let completed = on_worker(0, move || async move {
            let mut completed = 0;
            for n in 0..400usize {
                let i = n % 100;
                let polls = n % 5;
                if n % 3 == 0 {
                    let mut pipe = ClusterPipeline::new();
                    pipe.get(format!("c{i}")).get(format!("c{}", (i + 1) % 100));
                    let mut fut = Box::pin(c.pipeline::<(String, String)>(&pipe));
                    for _ in 0..polls {
                        if let Some(out) = futures_lite::future::poll_once(&mut fut).await {
                            let (a, b) = out.unwrap();
                            assert_eq!((a, b), (format!("v{i}"), format!("v{}", (i + 1) % 100)));
                            completed += 1;
                            break;
                        }
                        corelane_runtime::task::yield_now().await;
                    }
                } else {
                    let mut fut = Box::pin(c.get::<String>(format!("c{i}")));
                    for _ in 0..polls {
                        if let Some(out) = futures_lite::future::poll_once(&mut fut).await {
                            assert_eq!(out.unwrap(), format!("v{i}"));
                            completed += 1;
                            break;
                        }
                        corelane_runtime::task::yield_now().await;
                    }
                }
            }
            // Every key reads back its own value afterwards.
            for i in 0..100 {
                assert_eq!(
                    c.get::<String>(format!("c{i}")).await.unwrap(),
                    format!("v{i}")
                );
            }
            completed
        });
        eprintln!("{completed} of 400 calls completed before their drop");
    });
}

/// 64 calls of every kind on a fresh client at once: one discovery runs, the others wait
/// for its map instead of failing.
#[test]
fn concurrent_first_calls_share_one_discovery() {
    guard("first use", || {
        let cluster = RedisCluster::start().unwrap();
        let client = ClusterClient::open(&cluster.url()).unwrap();
        let rt = runtime();
        let results: Vec<Result<(), Error>> = rt.block_on(async {
            let tasks: Vec<_> = (0..64)
                .map(|i| {
                    let client = client.clone();
                    tokio::spawn(async move {
                        match i % 4 {
                            0 => client.set::<()>(format!("fresh{i}"), i).await,
                            1 => client.query::<i64>(Cmd::new("DBSIZE")).await.map(|_| ()),
                            2 => {
                                let mut pipe = ClusterPipeline::new();
                                pipe.set(format!("a{i}"), 1).incr(format!("b{i}"));
                                client.pipeline::<((), i64)>(&pipe).await.map(|_| ())
                            }
                            _ => client
                                .get::<Option<String>>(format!("g{i}"))
                                .await
                                .map(|_| ()),
                        }
                    })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        for (i, r) in results.iter().enumerate() {
            assert!(r.is_ok(), "call {i}: {r:?}");
        }
    });
}
