//! Client-side caching against a real redis-server 7: `CLIENT TRACKING` invalidations keep
//! each worker's cache current; a read that races an invalidation does not fill it; a killed
//! tracking connection flushes it; RESP2 leaves it off.

use std::time::Duration;

use crate::support::{block_on, bulk, guard, num_workers, on_worker, FakeServer};
use corelane_redis::{CacheConfig, CacheStats, Client, Cmd, Config, Pipeline, Protocol, Value};
use corelane_testkit::RedisServer;

fn cached(server: &RedisServer, cache: CacheConfig) -> Client {
    let config = Config::from_url(&server.url())
        .unwrap()
        .client_name("cached")
        .client_side_cache(cache);
    Client::new(config).unwrap()
}

fn plain(server: &RedisServer) -> Client {
    Client::open(&server.url()).unwrap()
}

/// How many times the server ran `command` (`INFO commandstats`).
async fn calls(observer: &Client, command: &str) -> u64 {
    let info: String = observer.info("commandstats").await.unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|rest| rest.split(',').next().unwrap().parse().unwrap())
        .unwrap_or(0)
}

/// Waits (on a worker) until the cache's counters satisfy `ready`. The test's hang guard
/// bounds the wait; the poll interval is not an assertion.
async fn until(c: &Client, ready: impl Fn(&CacheStats) -> bool) -> CacheStats {
    loop {
        let stats = c.cache_stats().await;
        if ready(&stats) {
            return stats;
        }
        corelane_runtime::task::sleep(Duration::from_millis(1)).await;
    }
}

#[test]
fn a_repeated_get_is_answered_once_by_the_server() {
    let server = RedisServer::start().unwrap();
    let (c, observer) = (cached(&server, CacheConfig::default()), plain(&server));
    guard("repeated get", move || {
        on_worker(0, move || async move {
            observer.set::<()>("k", "v1").await.unwrap();
            assert_eq!(c.get::<String>("k").await.unwrap(), "v1");
            assert_eq!(c.get::<String>("k").await.unwrap(), "v1");
            // A missing key is cached too (the server tracks it).
            assert_eq!(c.get::<Option<String>>("none").await.unwrap(), None);
            assert_eq!(c.get::<Option<String>>("none").await.unwrap(), None);
            assert_eq!(calls(&observer, "get").await, 2);
            let stats = c.cache_stats().await;
            assert_eq!((stats.hits, stats.misses, stats.fills), (2, 2, 2));
            assert_eq!(stats.entries, 2);
            assert_eq!(stats.tracking_connections, 1);
            // The cached value converts like a fresh one; the client's call counters count it.
            assert_eq!(c.get::<Vec<u8>>("k").await.unwrap(), b"v1");
            assert!(c.stats().await.total().calls >= 5);
            // Another command of the same key, and the same command with other arguments,
            // are replies of their own.
            assert_eq!(c.strlen::<i64>("k").await.unwrap(), 2);
            assert_eq!(c.getrange::<String>("k", 0, 0).await.unwrap(), "v");
            assert_eq!(c.getrange::<String>("k", 1, 1).await.unwrap(), "1");
            assert_eq!(c.getrange::<String>("k", 0, 0).await.unwrap(), "v");
            assert_eq!(calls(&observer, "getrange").await, 2);
            // Commands outside the list always go to the server.
            assert_eq!(c.ttl::<i64>("k").await.unwrap(), -1);
            assert_eq!(c.ttl::<i64>("k").await.unwrap(), -1);
            assert_eq!(calls(&observer, "ttl").await, 2);
        })
    });
}

#[test]
fn another_clients_write_invalidates_and_the_next_read_sees_it() {
    let server = RedisServer::start().unwrap();
    let (c, observer) = (cached(&server, CacheConfig::default()), plain(&server));
    guard("invalidation", move || {
        on_worker(0, move || async move {
            observer.set::<()>("k", "v1").await.unwrap();
            observer
                .hset_multiple::<()>("h", &[("a", "1"), ("b", "2")])
                .await
                .unwrap();
            observer.sadd::<()>("s", &["x"]).await.unwrap();
            for _ in 0..2 {
                assert_eq!(c.get::<String>("k").await.unwrap(), "v1");
                assert_eq!(c.hget::<String>("h", "a").await.unwrap(), "1");
                let all: std::collections::BTreeMap<String, String> = c.hgetall("h").await.unwrap();
                assert_eq!(all.len(), 2);
                let members: Vec<String> = c.smembers("s").await.unwrap();
                assert_eq!(members, ["x"]);
            }
            let before = c.cache_stats().await;
            assert_eq!((before.hits, before.entries), (4, 4));

            observer.set::<()>("k", "v2").await.unwrap();
            observer.hset::<()>("h", "a", "10").await.unwrap();
            observer.sadd::<()>("s", &["y"]).await.unwrap();
            let after = until(&c, |s| s.invalidations >= before.invalidations + 3).await;
            assert_eq!(after.entries, 0);
            assert_eq!(c.get::<String>("k").await.unwrap(), "v2");
            assert_eq!(c.hget::<String>("h", "a").await.unwrap(), "10");
            let all: std::collections::BTreeMap<String, String> = c.hgetall("h").await.unwrap();
            assert_eq!(all["a"], "10");
            let mut members: Vec<String> = c.smembers("s").await.unwrap();
            members.sort();
            assert_eq!(members, ["x", "y"]);
            // Cached again, and current.
            assert_eq!(c.get::<String>("k").await.unwrap(), "v2");
            assert_eq!(c.cache_stats().await.hits, after.hits + 1);
        })
    });
}

#[test]
fn this_clients_own_write_is_seen_by_its_next_read() {
    let server = RedisServer::start().unwrap();
    let c = cached(&server, CacheConfig::default());
    guard("read your writes", move || {
        on_worker(0, move || async move {
            for i in 0..200 {
                c.set::<()>("k", i).await.unwrap();
                assert_eq!(c.get::<i64>("k").await.unwrap(), i);
                assert_eq!(c.get::<i64>("k").await.unwrap(), i);
            }
            let stats = c.cache_stats().await;
            assert_eq!(stats.hits, 200);
        })
    });
}

/// `>2 invalidate [key]` (RESP3 push).
fn invalidate(key: &[u8]) -> Vec<u8> {
    let mut push = b">2\r\n$10\r\ninvalidate\r\n*1\r\n".to_vec();
    push.extend_from_slice(&bulk(key));
    push
}

#[test]
fn a_read_whose_key_is_invalidated_before_its_reply_is_taken_does_not_fill() {
    // The race: the server answers our GET, then another client changes the key and the
    // server pushes the invalidation; both reach us in one read, so the invalidation is
    // handled before the caller takes the reply. A fill then would keep the old value for
    // good (the invalidation is spent). A scripted server makes the timing exact: the old
    // value and the push leave in one write.
    let server = FakeServer::start(|mut s| {
        let mut gets = 0;
        while let Some(command) = s.read_command() {
            let name = String::from_utf8_lossy(&command[0]).to_ascii_uppercase();
            match name.as_str() {
                "HELLO" => s.write(b"%1\r\n+server\r\n+fake\r\n"),
                "CLIENT" => s.write(b"+OK\r\n"),
                "GET" => {
                    gets += 1;
                    let mut out = bulk(if gets == 1 { b"old" } else { b"new" });
                    if gets == 1 {
                        out.extend_from_slice(&invalidate(&command[1]));
                    }
                    s.write(&out);
                }
                _ => s.write(b"-ERR unexpected\r\n"),
            }
        }
    });
    let url = server.url();
    guard("invalidated in flight", move || {
        on_worker(0, move || async move {
            let c = Client::new(
                Config::from_url(&url)
                    .unwrap()
                    .client_side_cache(CacheConfig::default()),
            )
            .unwrap();
            // The caller gets the reply it asked for…
            assert_eq!(c.get::<String>("k").await.unwrap(), "old");
            let stats = c.cache_stats().await;
            assert_eq!((stats.tracking_connections, stats.invalidations), (1, 1));
            assert_eq!((stats.fills, stats.fills_dropped, stats.entries), (0, 1, 0));
            // …but the cache does not keep it: the next read asks the server.
            assert_eq!(c.get::<String>("k").await.unwrap(), "new");
            assert_eq!(c.get::<String>("k").await.unwrap(), "new");
            let stats = c.cache_stats().await;
            assert_eq!((stats.fills, stats.hits), (1, 1));
        })
    });
}

#[test]
fn reads_racing_another_clients_writes_leave_no_stale_entry() {
    let server = RedisServer::start().unwrap();
    for connections in [1, 3] {
        let config = Config::from_url(&server.url())
            .unwrap()
            .connections_per_worker(connections)
            .client_side_cache(CacheConfig::default());
        let (c, observer) = (Client::new(config).unwrap(), plain(&server));
        guard("racing writes", move || {
            on_worker(0, move || async move {
                for round in 0..150 {
                    let key = format!("race:{connections}:{round}");
                    observer.set::<()>(&key, "old").await.unwrap();
                    let seen = c.cache_stats().await;
                    // Reads and the write leave in the same tick, the reads spread over the
                    // worker's connections: any of them may run first.
                    let reads = futures_lite::future::zip(
                        futures_lite::future::zip(
                            c.get::<String>(key.clone()),
                            c.get::<String>(key.clone()),
                        ),
                        c.get::<String>(key.clone()),
                    );
                    let (((a, b), d), write) =
                        futures_lite::future::zip(reads, observer.set::<()>(&key, "new")).await;
                    write.unwrap();
                    let read_old = [a, b, d].into_iter().any(|r| r.unwrap() == "old");
                    if read_old {
                        // A read ran first and tracked the key: an invalidation must come.
                        until(&c, |s| s.invalidations > seen.invalidations).await;
                    }
                    for _ in 0..2 {
                        let got = c.get::<String>(key.clone()).await.unwrap();
                        assert_eq!(got, "new", "{connections} connections, round {round}");
                    }
                }
            })
        });
    }
}

#[test]
fn a_write_pipelined_behind_the_read_on_the_same_connection_leaves_no_stale_entry() {
    let server = RedisServer::start().unwrap();
    let (c, observer) = (cached(&server, CacheConfig::default()), plain(&server));
    guard("pipelined write", move || {
        on_worker(0, move || async move {
            for round in 0..50 {
                let key = format!("p:{round}");
                observer.set::<()>(&key, "old").await.unwrap();
                // One write carries the GET and, behind it, a transaction that changes the
                // key: the invalidation comes on this connection with the EXEC reply.
                let mut tx = Pipeline::new();
                tx.atomic().set(&key, "new");
                let (read, write) = futures_lite::future::zip(
                    c.get::<String>(key.clone()),
                    c.pipeline::<Vec<String>>(&tx),
                )
                .await;
                assert_eq!(read.unwrap(), "old");
                assert_eq!(write.unwrap(), ["OK"]);
                assert_eq!(
                    c.get::<String>(key.clone()).await.unwrap(),
                    "new",
                    "round {round}"
                );
                assert_eq!(c.get::<String>(key).await.unwrap(), "new", "round {round}");
            }
        })
    });
}

#[test]
fn flushall_flushes_the_cache() {
    let server = RedisServer::start().unwrap();
    let (c, observer) = (cached(&server, CacheConfig::default()), plain(&server));
    guard("flushall", move || {
        on_worker(0, move || async move {
            for k in ["a", "b", "c"] {
                observer.set::<()>(k, "v").await.unwrap();
                assert_eq!(c.get::<String>(k).await.unwrap(), "v");
            }
            assert_eq!(c.cache_stats().await.entries, 3);
            observer.query::<()>(Cmd::new("FLUSHALL")).await.unwrap();
            let stats = until(&c, |s| s.flushes >= 1).await;
            assert_eq!(stats.entries, 0);
            for k in ["a", "b", "c"] {
                assert_eq!(c.get::<Option<String>>(k).await.unwrap(), None);
            }
        })
    });
}

#[test]
fn the_cache_evicts_at_its_bounds() {
    let server = RedisServer::start().unwrap();
    let cache = CacheConfig {
        max_entries: 3,
        ..CacheConfig::default()
    };
    let (c, observer) = (cached(&server, cache), plain(&server));
    guard("eviction", move || {
        on_worker(0, move || async move {
            for i in 0..5 {
                observer.set::<()>(format!("e{i}"), i).await.unwrap();
                assert_eq!(c.get::<i64>(format!("e{i}")).await.unwrap(), i);
            }
            let stats = c.cache_stats().await;
            assert_eq!((stats.entries, stats.evictions, stats.fills), (3, 2, 5));
            // The oldest went; the newest are served from the cache.
            let gets = calls(&observer, "get").await;
            assert_eq!(c.get::<i64>("e4").await.unwrap(), 4);
            assert_eq!(calls(&observer, "get").await, gets);
            assert_eq!(c.get::<i64>("e0").await.unwrap(), 0);
            assert_eq!(calls(&observer, "get").await, gets + 1);
            assert_eq!(c.cache_stats().await.entries, 3);
        })
    });
    // A byte bound: replies larger than it are never cached.
    let server = RedisServer::start().unwrap();
    let cache = CacheConfig {
        max_bytes: 1000,
        ..CacheConfig::default()
    };
    let (c, observer) = (cached(&server, cache), plain(&server));
    guard("byte bound", move || {
        on_worker(0, move || async move {
            observer.set::<()>("big", "x".repeat(2000)).await.unwrap();
            for _ in 0..2 {
                assert_eq!(c.get::<String>("big").await.unwrap().len(), 2000);
            }
            let stats = c.cache_stats().await;
            assert_eq!((stats.hits, stats.entries, stats.bytes), (0, 0, 0));
            assert_eq!(calls(&observer, "get").await, 2);
        })
    });
}

#[test]
fn a_killed_tracking_connection_flushes_the_cache() {
    let server = RedisServer::start().unwrap();
    let (c, observer) = (cached(&server, CacheConfig::default()), plain(&server));
    guard("client kill", move || {
        on_worker(0, move || async move {
            observer.set::<()>("k", "v1").await.unwrap();
            for _ in 0..2 {
                assert_eq!(c.get::<String>("k").await.unwrap(), "v1");
            }
            let killed: i64 = observer
                .query(
                    Cmd::new("CLIENT")
                        .arg("KILL")
                        .arg("SKIPME")
                        .arg("yes")
                        .arg("TYPE")
                        .arg("normal"),
                )
                .await
                .unwrap();
            assert!(killed >= 1);
            // The server no longer tracks for us: this write sends no invalidation.
            observer.set::<()>("k", "v2").await.unwrap();
            // Once the worker has seen the connection close, nothing stale is served.
            let stats = until(&c, |s| s.flushes >= 1).await;
            assert_eq!((stats.entries, stats.tracking_connections), (0, 0));
            // Reconnects (tracking again), reads the new value, caches it.
            assert_eq!(c.get::<String>("k").await.unwrap(), "v2");
            assert_eq!(c.get::<String>("k").await.unwrap(), "v2");
            let stats = c.cache_stats().await;
            assert_eq!((stats.tracking_connections, stats.entries), (1, 1));
            assert_eq!(stats.hits, 2);
            // And the new connection's tracking works.
            observer.set::<()>("k", "v3").await.unwrap();
            until(&c, |s| s.entries == 0).await;
            assert_eq!(c.get::<String>("k").await.unwrap(), "v3");
        })
    });
}

#[test]
fn off_loop_callers_get_current_values_from_every_worker() {
    let server = RedisServer::start().unwrap();
    let (c, observer) = (cached(&server, CacheConfig::default()), plain(&server));
    let workers = num_workers() as u64;
    guard("off loop", move || {
        block_on(observer.set::<()>("k", "v1")).unwrap();
        // Round-robin over the workers: each misses once, then hits.
        for _ in 0..2 * workers {
            assert_eq!(block_on(c.get::<String>("k")).unwrap(), "v1");
        }
        let stats = block_on(c.cache_stats());
        assert_eq!((stats.misses, stats.hits), (workers, workers));
        assert_eq!(block_on(calls(&observer, "get")), workers);
        let per_worker = block_on(c.cache_stats_per_worker());
        assert_eq!(per_worker.len() as u64, workers);
        assert!(per_worker.iter().all(|w| w.is_some_and(|w| w.entries == 1)));

        block_on(observer.set::<()>("k", "v2")).unwrap();
        // Every worker tracked the key: each gets its invalidation.
        loop {
            if block_on(c.cache_stats()).invalidations >= workers {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        for _ in 0..2 * workers {
            assert_eq!(block_on(c.get::<String>("k")).unwrap(), "v2");
        }
        let stats = block_on(c.cache_stats());
        assert_eq!((stats.misses, stats.hits), (2 * workers, 2 * workers));
    });
}

#[test]
fn under_resp2_the_cache_stays_off() {
    let server = RedisServer::start().unwrap();
    let config = Config::from_url(&server.url())
        .unwrap()
        .protocol(Protocol::Resp2)
        .client_side_cache(CacheConfig::default());
    let c = Client::new(config).unwrap();
    let observer = plain(&server);
    guard("resp2", move || {
        on_worker(0, move || async move {
            observer.set::<()>("k", "v1").await.unwrap();
            for _ in 0..3 {
                assert_eq!(c.get::<String>("k").await.unwrap(), "v1");
            }
            assert_eq!(calls(&observer, "get").await, 3);
            let stats = c.cache_stats().await;
            assert_eq!(
                (stats.hits, stats.fills, stats.tracking_connections),
                (0, 0, 0)
            );
            assert_eq!(stats.tracking_refused, 0);
            // Nothing was turned on at the server either.
            assert_eq!(calls(&observer, "client|tracking").await, 0);
        })
    });
}

#[test]
fn broadcast_mode_caches_keys_under_its_prefixes_only() {
    let server = RedisServer::start().unwrap();
    let cache = CacheConfig {
        broadcast: Some(vec!["bc:".to_owned()]),
        ..CacheConfig::default()
    };
    let (c, observer) = (cached(&server, cache), plain(&server));
    guard("bcast", move || {
        on_worker(0, move || async move {
            observer.set::<()>("bc:a", "1").await.unwrap();
            observer.set::<()>("other", "1").await.unwrap();
            for _ in 0..2 {
                assert_eq!(c.get::<String>("bc:a").await.unwrap(), "1");
                assert_eq!(c.get::<String>("other").await.unwrap(), "1");
            }
            let stats = c.cache_stats().await;
            assert_eq!((stats.hits, stats.entries), (1, 1));
            observer.set::<()>("bc:a", "2").await.unwrap();
            until(&c, |s| s.entries == 0).await;
            assert_eq!(c.get::<String>("bc:a").await.unwrap(), "2");
        })
    });
}

#[test]
fn off_by_default_and_from_the_url() {
    let server = RedisServer::start().unwrap();
    let c = plain(&server);
    assert!(c.config().get_client_side_cache().is_none());
    let url = format!(
        "{}?client_cache=true&client_cache_max_entries=7",
        server.url()
    );
    let cached = Client::open(&url).unwrap();
    assert_eq!(
        cached
            .config()
            .get_client_side_cache()
            .map(|c| c.max_entries),
        Some(7)
    );
    guard("off by default", move || {
        on_worker(0, move || async move {
            c.set::<()>("k", "v").await.unwrap();
            for _ in 0..2 {
                assert_eq!(c.get::<String>("k").await.unwrap(), "v");
                assert_eq!(cached.get::<String>("k").await.unwrap(), "v");
            }
            assert_eq!(c.cache_stats().await, CacheStats::default());
            assert_eq!(cached.cache_stats().await.hits, 1);
            assert_eq!(calls(&c, "get").await, 3);
        })
    });
}

#[test]
fn a_server_that_refuses_tracking_leaves_the_cache_off() {
    // An ACL user without the CLIENT command: HELLO 3 works, CLIENT TRACKING does not.
    let server = RedisServer::builder()
        .user("reader", "on >pw ~* &* +@all -client")
        .start()
        .unwrap();
    let url = format!("redis://reader:pw@127.0.0.1:{}", server.port());
    let c = Client::new(
        Config::from_url(&url)
            .unwrap()
            .client_side_cache(CacheConfig::default()),
    )
    .unwrap();
    let observer = Client::open(&url).unwrap();
    guard("tracking refused", move || {
        on_worker(0, move || async move {
            observer.set::<()>("k", "v1").await.unwrap();
            for _ in 0..2 {
                assert_eq!(c.get::<String>("k").await.unwrap(), "v1");
            }
            let stats = c.cache_stats().await;
            assert_eq!((stats.tracking_refused, stats.tracking_connections), (1, 0));
            assert_eq!((stats.hits, stats.fills), (0, 0));
            observer.set::<()>("k", "v2").await.unwrap();
            assert_eq!(c.get::<String>("k").await.unwrap(), "v2");
        })
    });
}

#[test]
fn a_server_restart_flushes_the_cache() {
    let mut server = RedisServer::start().unwrap();
    let (c, observer) = (cached(&server, CacheConfig::default()), plain(&server));
    let (c2, o2) = (c.clone(), observer.clone());
    guard("before restart", move || {
        on_worker(0, move || async move {
            o2.set::<()>("k", "v1").await.unwrap();
            for _ in 0..2 {
                assert_eq!(c2.get::<String>("k").await.unwrap(), "v1");
            }
            assert_eq!(c2.cache_stats().await.entries, 1);
        })
    });
    // The new server is empty (no persistence): a cached "v1" would now be a lie.
    server.restart().unwrap();
    guard("after restart", move || {
        on_worker(0, move || async move {
            let stats = until(&c, |s| s.flushes >= 1).await;
            assert_eq!(stats.entries, 0);
            // The first calls may meet the old connection's end before the pool reconnects.
            let got = loop {
                match c.get::<Option<String>>("k").await {
                    Ok(got) => break got,
                    Err(e) if e.is_closed() || e.is_connect() => {
                        corelane_runtime::task::sleep(Duration::from_millis(5)).await
                    }
                    Err(e) => panic!("{e}"),
                }
            };
            assert_eq!(got, None);
            // Tracking again on the new connection: a write there invalidates.
            assert_eq!(c.get::<Option<String>>("k").await.unwrap(), None);
            let before = c.cache_stats().await;
            assert_eq!(before.entries, 1);
            loop {
                match observer.set::<()>("k", "v2").await {
                    Ok(()) => break,
                    Err(e) if e.is_closed() || e.is_connect() => {
                        corelane_runtime::task::sleep(Duration::from_millis(5)).await
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            until(&c, |s| s.invalidations > before.invalidations).await;
            assert_eq!(c.get::<String>("k").await.unwrap(), "v2");
        })
    });
}

#[test]
fn with_caching_on_tracking_commands_are_refused() {
    let server = RedisServer::start().unwrap();
    let (c, observer) = (cached(&server, CacheConfig::default()), plain(&server));
    guard("tracking refused to callers", move || {
        on_worker(0, move || async move {
            let off = c
                .query::<()>(Cmd::new("CLIENT").arg("TRACKING").arg("off"))
                .await
                .unwrap_err();
            assert!(off.is_refused(), "{off}");
            let mut pipe = Pipeline::new();
            pipe.get("k")
                .cmd(Cmd::new("client").arg("caching").arg("no"));
            let piped = c.pipeline::<Vec<Value>>(&pipe).await.unwrap_err();
            assert!(piped.is_refused(), "{piped}");
            // The cache still works.
            for _ in 0..2 {
                assert_eq!(c.get::<Option<String>>("k").await.unwrap(), None);
            }
            assert_eq!(c.cache_stats().await.hits, 1);
            // Without caching it is the caller's business (their pushes go to on_push).
            observer
                .query::<()>(Cmd::new("CLIENT").arg("TRACKING").arg("off"))
                .await
                .unwrap();
        })
    });
}

#[test]
fn entries_older_than_the_ttl_are_fetched_again() {
    let server = RedisServer::start().unwrap();
    let cache = CacheConfig {
        ttl: Some(Duration::from_millis(2)),
        ..CacheConfig::default()
    };
    let (c, observer) = (cached(&server, cache), plain(&server));
    guard("ttl", move || {
        on_worker(0, move || async move {
            observer.set::<()>("k", "v").await.unwrap();
            // Read until one read found its entry too old (the cap, not the timing, is checked).
            loop {
                assert_eq!(c.get::<String>("k").await.unwrap(), "v");
                if c.cache_stats().await.expired >= 1 {
                    break;
                }
                corelane_runtime::task::sleep(Duration::from_millis(1)).await;
            }
            let stats = c.cache_stats().await;
            // Each expiry sent one read back to the server.
            assert_eq!(calls(&observer, "get").await, 1 + stats.expired);
            assert_eq!(stats.misses, 1 + stats.expired);
        })
    });
}
