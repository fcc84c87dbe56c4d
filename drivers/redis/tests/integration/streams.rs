//! Streams against a real redis-server, over RESP3 and RESP2: exact entries from XADD, XRANGE
//! and XREAD; the consumer-group flow; XAUTOCLAIM; XINFO; blocking reads woken by XADD and
//! blocking reads dropped mid-wait.

use crate::support;

use std::time::Duration;

use crate::support::{block_on, client_with, guard, on_worker, PROTOCOLS};
use bytes::Bytes;
use corelane_redis::{
    Client, Pipeline, StreamAddOptions, StreamAutoClaimReply, StreamConsumerInfo, StreamGroupInfo,
    StreamId, StreamInfo, StreamPendingEntry, StreamPendingReply, StreamReadOptions,
    StreamReadReply, StreamTrim,
};
use corelane_testkit::RedisServer;
use futures_lite::future::poll_once;

fn entry(id: &str, fields: &[(&str, &str)]) -> StreamId {
    StreamId {
        id: id.into(),
        fields: fields
            .iter()
            .map(|(k, v)| (Bytes::from(k.to_string()), Bytes::from(v.to_string())))
            .collect(),
    }
}

/// How many clients the server has blocked (INFO clients), asked on the shared connection —
/// which a blocked read must not hold.
fn blocked_clients(client: &Client) -> u64 {
    let info: String = block_on(client.info("clients")).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .expect("blocked_clients in INFO clients")
        .trim()
        .parse()
        .unwrap()
}

/// Waits (polling, no timed assertion: the test's hang guard bounds it) until the server
/// reports `n` blocked clients.
fn wait_blocked(client: &Client, n: u64) {
    while blocked_clients(client) != n {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn xadd_xrange_xread_give_exact_entries() {
    let server = RedisServer::start().unwrap();
    for protocol in PROTOCOLS {
        let c = client_with(&server.url(), protocol);
        guard("xadd/xrange/xread", move || {
            block_on(c.del::<i64>(&["s", "s2", "t"])).unwrap();
            let id: String =
                block_on(c.xadd("s", "1-1", &[("name", "ann"), ("age", "31")])).unwrap();
            assert_eq!(id, "1-1");
            let id: String = block_on(c.xadd("s", "2-0", &[("name", "bob")])).unwrap();
            assert_eq!(id, "2-0");
            // `*`: the server picks a later id.
            let auto: String = block_on(c.xadd("s", "*", &[("name", "cy")])).unwrap();
            let (ms, seq) = auto.split_once('-').unwrap();
            assert!(
                ms.parse::<u64>().unwrap() > 2 && seq.parse::<u64>().is_ok(),
                "{auto}"
            );
            assert_eq!(block_on(c.xlen::<u64>("s")).unwrap(), 3);

            let all: Vec<StreamId> = block_on(c.xrange("s", "-", "+")).unwrap();
            assert_eq!(
                all,
                [
                    entry("1-1", &[("name", "ann"), ("age", "31")]),
                    entry("2-0", &[("name", "bob")]),
                    entry(&auto, &[("name", "cy")]),
                ]
            );
            assert_eq!(all[0].field::<u32>("age").unwrap(), Some(31));
            let first: Vec<StreamId> = block_on(c.xrange_count("s", "-", "+", 1)).unwrap();
            assert_eq!(first, [entry("1-1", &[("name", "ann"), ("age", "31")])]);
            let rev: Vec<StreamId> = block_on(c.xrevrange_count("s", "+", "-", 2)).unwrap();
            let ids: Vec<&str> = rev.iter().map(|e| e.id.as_str()).collect();
            assert_eq!(ids, [auto.as_str(), "2-0"]);
            let rev_all: Vec<StreamId> = block_on(c.xrevrange("s", "2-0", "-")).unwrap();
            assert_eq!(rev_all.len(), 2);
            assert_eq!(rev_all[1].id, "1-1");

            block_on(c.xadd::<String>("t", "5-0", &[("k", "v")])).unwrap();
            let read: StreamReadReply = block_on(c.xread(&["s", "t"], &["1-1", "0"])).unwrap();
            assert_eq!(read.keys.len(), 2);
            assert_eq!(read.keys[0].key, "s");
            assert_eq!(
                read.entries("s"),
                [
                    entry("2-0", &[("name", "bob")]),
                    entry(&auto, &[("name", "cy")])
                ]
            );
            assert_eq!(read.entries("t"), [entry("5-0", &[("k", "v")])]);
            let counted: StreamReadReply =
                block_on(c.xread_options(&["s"], &["0"], StreamReadOptions::default().count(1)))
                    .unwrap();
            assert_eq!(counted.entries("s").len(), 1);
            // Nothing newer: an empty reply (nil on the wire).
            let none: StreamReadReply = block_on(c.xread(&["s"], &[auto.as_str()])).unwrap();
            assert!(none.is_empty() && none.keys.is_empty());

            // Trimming, NOMKSTREAM, XDEL.
            let id: String = block_on(c.xadd_options(
                "s",
                "*",
                &[("name", "dee")],
                StreamAddOptions::default().trim(StreamTrim::maxlen(2)),
            ))
            .unwrap();
            assert_eq!(block_on(c.xlen::<u64>("s")).unwrap(), 2);
            let missing: Option<String> = block_on(c.xadd_options(
                "nope",
                "*",
                &[("a", "b")],
                StreamAddOptions::default().nomkstream(),
            ))
            .unwrap();
            assert_eq!(missing, None);
            assert_eq!(
                block_on(c.xdel::<u64>("s", &[id.as_str(), "9-9"])).unwrap(),
                1
            );
            assert_eq!(
                block_on(c.xtrim::<u64>("s", StreamTrim::maxlen(0))).unwrap(),
                1
            );
            assert_eq!(block_on(c.xlen::<u64>("s")).unwrap(), 0);
            for id in ["10-0", "11-0", "12-0"] {
                block_on(c.xadd::<String>("s2", id, &[("n", id)])).unwrap();
            }
            assert_eq!(
                block_on(c.xtrim::<u64>("s2", StreamTrim::minid("11-0"))).unwrap(),
                1
            );
            // Approximate, with LIMIT: accepted (how much it trims is the server's choice).
            let approx = StreamTrim::maxlen(0).approx().limit(10);
            assert!(block_on(c.xtrim::<u64>("s2", approx)).unwrap() <= 2);
            // LIMIT without `~` is the server's error.
            let e = block_on(c.xtrim::<u64>("s2", StreamTrim::maxlen(0).limit(1))).unwrap_err();
            assert!(e.server_error().is_some(), "{e}");
            // A server error keeps its code: XADD with an id not above the last one.
            let e = block_on(c.xadd::<String>("t", "1-0", &[("k", "v")])).unwrap_err();
            assert_eq!(e.code(), Some("ERR"), "{e}");
        });
    }
}

#[test]
fn consumer_group_read_pending_ack() {
    let server = RedisServer::start().unwrap();
    for protocol in PROTOCOLS {
        let c = client_with(&server.url(), protocol);
        guard("consumer groups", move || {
            block_on(c.del::<i64>(&["jobs"])).unwrap();
            block_on(c.xgroup_create_mkstream::<()>("jobs", "workers", "$")).unwrap();
            // Creating it again is BUSYGROUP.
            let e = block_on(c.xgroup_create::<()>("jobs", "workers", "$")).unwrap_err();
            assert_eq!(e.code(), Some("BUSYGROUP"), "{e}");
            for (id, job) in [("1-0", "a"), ("2-0", "b"), ("3-0", "c")] {
                block_on(c.xadd::<String>("jobs", id, &[("job", job)])).unwrap();
            }
            let got: StreamReadReply = block_on(c.xreadgroup(
                "workers",
                "alice",
                &["jobs"],
                &[">"],
                StreamReadOptions::default().count(2),
            ))
            .unwrap();
            assert_eq!(
                got.entries("jobs"),
                [entry("1-0", &[("job", "a")]), entry("2-0", &[("job", "b")])]
            );
            let pending: StreamPendingReply = block_on(c.xpending("jobs", "workers")).unwrap();
            assert_eq!(pending.count, 2);
            assert_eq!(pending.smallest_id.as_deref(), Some("1-0"));
            assert_eq!(pending.greatest_id.as_deref(), Some("2-0"));
            assert_eq!(pending.consumers, [("alice".to_string(), 2)]);
            let entries: Vec<StreamPendingEntry> =
                block_on(c.xpending_range("jobs", "workers", "-", "+", 10)).unwrap();
            let summary: Vec<(&str, &str, u64)> = entries
                .iter()
                .map(|e| (e.id.as_str(), e.consumer.as_str(), e.times_delivered))
                .collect();
            assert_eq!(summary, [("1-0", "alice", 1), ("2-0", "alice", 1)]);
            // Re-reading alice's history ("0") delivers them again.
            let again: StreamReadReply = block_on(c.xreadgroup(
                "workers",
                "alice",
                &["jobs"],
                &["0"],
                StreamReadOptions::default(),
            ))
            .unwrap();
            assert_eq!(again.entries("jobs").len(), 2);

            assert_eq!(
                block_on(c.xack::<u64>("jobs", "workers", &["1-0", "2-0"])).unwrap(),
                2
            );
            let pending: StreamPendingReply = block_on(c.xpending("jobs", "workers")).unwrap();
            assert_eq!(pending.count, 0);
            assert_eq!((pending.smallest_id, pending.greatest_id), (None, None));
            assert!(pending.consumers.is_empty());
            let entries: Vec<StreamPendingEntry> =
                block_on(c.xpending_range("jobs", "workers", "-", "+", 10)).unwrap();
            assert!(entries.is_empty());

            // NOACK: read, nothing pending.
            let got: StreamReadReply = block_on(c.xreadgroup(
                "workers",
                "bob",
                &["jobs"],
                &[">"],
                StreamReadOptions::default().noack(),
            ))
            .unwrap();
            assert_eq!(got.entries("jobs"), [entry("3-0", &[("job", "c")])]);
            let pending: StreamPendingReply = block_on(c.xpending("jobs", "workers")).unwrap();
            assert_eq!(pending.count, 0);

            // A missing group: NOGROUP.
            let e = block_on(c.xreadgroup::<StreamReadReply>(
                "nobody",
                "x",
                &["jobs"],
                &[">"],
                StreamReadOptions::default(),
            ))
            .unwrap_err();
            assert_eq!(e.code(), Some("NOGROUP"), "{e}");
            assert!(block_on(c.xgroup_destroy::<bool>("jobs", "workers")).unwrap());
            assert!(!block_on(c.xgroup_destroy::<bool>("jobs", "workers")).unwrap());
        });
    }
}

#[test]
fn xautoclaim_and_xclaim_move_pending_entries() {
    let server = RedisServer::start().unwrap();
    for protocol in PROTOCOLS {
        let c = client_with(&server.url(), protocol);
        guard("xautoclaim", move || {
            block_on(c.del::<i64>(&["q"])).unwrap();
            block_on(c.xgroup_create_mkstream::<()>("q", "g", "0")).unwrap();
            for id in ["1-0", "2-0", "3-0"] {
                block_on(c.xadd::<String>("q", id, &[("n", id)])).unwrap();
            }
            let _: StreamReadReply =
                block_on(c.xreadgroup("g", "alice", &["q"], &[">"], StreamReadOptions::default()))
                    .unwrap();
            // 3-0 is deleted while pending: XAUTOCLAIM reports it as deleted (Redis 7+).
            block_on(c.xdel::<u64>("q", &["3-0"])).unwrap();
            let claim: StreamAutoClaimReply =
                block_on(c.xautoclaim("q", "g", "bob", 0, "0-0", 10)).unwrap();
            assert_eq!(claim.next, "0-0");
            assert_eq!(
                claim.claimed,
                [entry("1-0", &[("n", "1-0")]), entry("2-0", &[("n", "2-0")])]
            );
            assert_eq!(claim.deleted, ["3-0"]);
            let bobs: Vec<StreamPendingEntry> =
                block_on(c.xpending_consumer("q", "g", "-", "+", 10, "bob")).unwrap();
            let ids: Vec<&str> = bobs.iter().map(|e| e.id.as_str()).collect();
            assert_eq!(ids, ["1-0", "2-0"]);
            assert!(bobs.iter().all(|e| e.times_delivered == 2));
            // COUNT 1: one at a time, with a cursor.
            let step: StreamAutoClaimReply =
                block_on(c.xautoclaim("q", "g", "alice", 0, "0-0", 1)).unwrap();
            assert_eq!(step.claimed, [entry("1-0", &[("n", "1-0")])]);
            assert_eq!(step.next, "2-0");
            // XCLAIM back and forth.
            let moved: Vec<StreamId> =
                block_on(c.xclaim("q", "g", "carol", 0, &["1-0", "2-0"])).unwrap();
            assert_eq!(
                moved,
                [entry("1-0", &[("n", "1-0")]), entry("2-0", &[("n", "2-0")])]
            );
            let ids: Vec<String> = block_on(c.xclaim_justid("q", "g", "dan", 0, &["2-0"])).unwrap();
            assert_eq!(ids, ["2-0"]);
            let consumers: Vec<StreamConsumerInfo> = block_on(c.xinfo_consumers("q", "g")).unwrap();
            let mut pending: Vec<(String, u64)> =
                consumers.into_iter().map(|c| (c.name, c.pending)).collect();
            pending.sort();
            assert_eq!(
                pending,
                [
                    ("alice".to_string(), 0),
                    ("bob".to_string(), 0),
                    ("carol".to_string(), 1),
                    ("dan".to_string(), 1)
                ]
            );
        });
    }
}

#[test]
fn xinfo_stream_and_groups_decode() {
    let server = RedisServer::start().unwrap();
    for protocol in PROTOCOLS {
        let c = client_with(&server.url(), protocol);
        guard("xinfo", move || {
            block_on(c.del::<i64>(&["i"])).unwrap();
            block_on(c.xadd::<String>("i", "1-0", &[("a", "1")])).unwrap();
            block_on(c.xadd::<String>("i", "2-0", &[("b", "2")])).unwrap();
            block_on(c.xgroup_create::<()>("i", "g1", "0")).unwrap();
            block_on(c.xgroup_create::<()>("i", "g2", "$")).unwrap();
            let _: StreamReadReply = block_on(c.xreadgroup(
                "g1",
                "c1",
                &["i"],
                &[">"],
                StreamReadOptions::default().count(1),
            ))
            .unwrap();

            let info: StreamInfo = block_on(c.xinfo_stream("i")).unwrap();
            assert_eq!(info.length, 2);
            assert_eq!(info.last_generated_id, "2-0");
            assert_eq!(info.groups, 2);
            assert_eq!(info.first_entry, Some(entry("1-0", &[("a", "1")])));
            assert_eq!(info.last_entry, Some(entry("2-0", &[("b", "2")])));
            assert!(info.radix_tree_keys >= 1 && info.radix_tree_nodes >= 1);
            assert_eq!(info.entries_added, Some(2));

            let groups: Vec<StreamGroupInfo> = block_on(c.xinfo_groups("i")).unwrap();
            let g: Vec<(&str, u64, u64, &str)> = groups
                .iter()
                .map(|g| {
                    (
                        g.name.as_str(),
                        g.consumers,
                        g.pending,
                        g.last_delivered_id.as_str(),
                    )
                })
                .collect();
            assert_eq!(g, [("g1", 1, 1, "1-0"), ("g2", 0, 0, "2-0")]);
            assert_eq!(groups[0].lag, Some(1));
            assert_eq!(groups[1].lag, Some(0));
            // The wrong reply type for XINFO: a type error.
            let e = block_on(c.xlen::<StreamInfo>("i")).unwrap_err();
            assert!(e.is_type_mismatch(), "{e}");
            // An empty stream has no first entry.
            block_on(c.xtrim::<u64>("i", StreamTrim::maxlen(0))).unwrap();
            let info: StreamInfo = block_on(c.xinfo_stream("i")).unwrap();
            assert_eq!((info.length, info.first_entry), (0, None));
        });
    }
}

#[test]
fn stream_commands_on_exclusive_connections_transactions_and_pipelines() {
    let server = RedisServer::start().unwrap();
    let c = support::client(&server.url());
    guard("one definition everywhere", move || {
        block_on(c.del::<i64>(&["e"])).unwrap();
        let got = block_on(c.with_connection(|conn| async move {
            conn.xadd::<String>("e", "1-0", &[("x", "1")]).await?;
            conn.xrange::<Vec<StreamId>>("e", "-", "+").await
        }))
        .unwrap();
        assert_eq!(got, [entry("1-0", &[("x", "1")])]);
        // A transaction built with typed commands only: read the length, append atomically.
        let (id, len): (String, u64) = block_on(c.transaction(&["e"], |conn| async move {
            let len: u64 = conn.xlen("e").await?;
            let mut tx = Pipeline::new();
            tx.xadd("e", format!("{}-0", len + 1), &[("x", "2")])
                .xlen("e");
            Ok(tx)
        }))
        .unwrap();
        assert_eq!((id.as_str(), len), ("2-0", 2));
        let mut pipe = Pipeline::new();
        pipe.xadd("e", "3-0", &[("x", "3")])
            .xrange_count("e", "-", "+", 1)
            .xread(&["e"], &["2-0"]);
        let (id, first, read): (String, Vec<StreamId>, StreamReadReply) =
            block_on(c.pipeline(&pipe)).unwrap();
        assert_eq!(id, "3-0");
        assert_eq!(first, [entry("1-0", &[("x", "1")])]);
        assert_eq!(read.entries("e"), [entry("3-0", &[("x", "3")])]);
        // A blocking read on the exclusive connection itself.
        let read = block_on(c.with_connection(|conn| async move {
            conn.xread_block::<StreamReadReply>(
                &["e"],
                &["0"],
                StreamReadOptions::default().count(1),
                Duration::from_secs(5),
            )
            .await
        }))
        .unwrap();
        assert_eq!(read.entries("e"), [entry("1-0", &[("x", "1")])]);
    });
}

#[test]
fn a_blocking_xread_is_woken_by_an_xadd_from_another_call() {
    let server = RedisServer::start().unwrap();
    for protocol in PROTOCOLS {
        let c = client_with(&server.url(), protocol);
        guard("blocking xread", move || {
            block_on(c.del::<i64>(&["b", "bg"])).unwrap();
            block_on(c.xadd::<String>("b", "1-0", &[("seed", "0")])).unwrap();
            // Off the loop: the reader waits for entries after 1-0, however late they come.
            let pusher = c.clone();
            let t = std::thread::spawn(move || {
                // The shared connection answers while the read blocks its own connection.
                wait_blocked(&pusher, 1);
                block_on(pusher.xadd::<String>("b", "2-0", &[("wake", "up")])).unwrap();
            });
            let read: StreamReadReply = block_on(c.xread_block(
                &["b"],
                &["1-0"],
                StreamReadOptions::default(),
                Duration::ZERO,
            ))
            .unwrap();
            t.join().unwrap();
            assert_eq!(read.entries("b"), [entry("2-0", &[("wake", "up")])]);

            // On a worker (the local path), a group read.
            block_on(c.xgroup_create::<()>("b", "g", "$")).unwrap();
            let pusher = c.clone();
            let t = std::thread::spawn(move || {
                wait_blocked(&pusher, 1);
                block_on(pusher.xadd::<String>("b", "3-0", &[("for", "group")])).unwrap();
            });
            let reader = c.clone();
            let read = on_worker(0, move || async move {
                reader
                    .xreadgroup_block::<StreamReadReply>(
                        "g",
                        "w",
                        &["b"],
                        &[">"],
                        StreamReadOptions::default(),
                        Duration::ZERO,
                    )
                    .await
            })
            .unwrap();
            t.join().unwrap();
            assert_eq!(read.entries("b"), [entry("3-0", &[("for", "group")])]);
            // A timeout with nothing new: empty.
            let none: StreamReadReply = block_on(c.xread_block(
                &["b"],
                &["$"],
                StreamReadOptions::default(),
                Duration::from_millis(50),
            ))
            .unwrap();
            assert!(none.is_empty());
            assert_eq!(blocked_clients(&c), 0);
        });
    }
}

#[test]
fn a_blocking_xread_dropped_mid_wait_leaves_the_next_calls_their_own_replies() {
    let server = RedisServer::start().unwrap();
    for protocol in PROTOCOLS {
        let c = client_with(&server.url(), protocol);
        guard("dropped xread", move || {
            block_on(c.del::<i64>(&["d"])).unwrap();
            block_on(c.xadd::<String>("d", "1-0", &[("n", "1")])).unwrap();
            for round in 0..3 {
                if round == 1 {
                    // On a worker (the local path): polled there until the server has it
                    // blocked, then dropped there.
                    let reader = c.clone();
                    let watcher = c.clone();
                    on_worker(0, move || async move {
                        let mut read = reader.xread_block::<StreamReadReply>(
                            &["d"],
                            &["$"],
                            StreamReadOptions::default(),
                            Duration::ZERO,
                        );
                        loop {
                            assert!(poll_once(&mut read).await.is_none());
                            let info: String = watcher.info("clients").await.unwrap();
                            if info.contains("blocked_clients:1\r") {
                                break;
                            }
                            corelane_runtime::task::sleep(Duration::from_millis(5)).await;
                        }
                        drop(read);
                    });
                } else {
                    // Off the loop: a worker runs it for us.
                    let mut read = c.xread_block::<StreamReadReply>(
                        &["d"],
                        &["$"],
                        StreamReadOptions::default(),
                        Duration::ZERO,
                    );
                    while blocked_clients(&c) == 0 {
                        assert!(block_on(poll_once(&mut read)).is_none());
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    drop(read);
                }
                // Its connection is closed, not reused: the server unblocks it.
                wait_blocked(&c, 0);
                // The next calls, concurrent, each get their own reply.
                let calls: Vec<_> = (0..20)
                    .map(|i| c.echo::<String>(format!("r{round}-{i}")))
                    .collect();
                for (i, call) in calls.into_iter().enumerate() {
                    assert_eq!(block_on(call).unwrap(), format!("r{round}-{i}"));
                }
                let id = format!("{}-0", round + 2);
                block_on(c.xadd::<String>("d", id.as_str(), &[("n", "x")])).unwrap();
                let read: StreamReadReply = block_on(c.xread_block(
                    &["d"],
                    &[format!("{}-0", round + 1)],
                    StreamReadOptions::default(),
                    Duration::from_secs(5),
                ))
                .unwrap();
                assert_eq!(read.entries("d"), [entry(&id, &[("n", "x")])]);
            }
        });
    }
}

#[test]
fn blocking_reads_are_not_pipeline_commands() {
    let server = RedisServer::start().unwrap();
    let c = support::client(&server.url());
    // Sent raw in a pipeline, a blocking read is refused before anything is sent.
    let mut pipe = Pipeline::new();
    pipe.cmd(
        corelane_redis::Cmd::new("XREAD")
            .arg("BLOCK")
            .arg(0)
            .arg("STREAMS")
            .arg("s")
            .arg("$"),
    );
    let e = block_on(c.pipeline::<Vec<corelane_redis::Value>>(&pipe)).unwrap_err();
    assert!(e.is_refused(), "{e}");
}

/// A server whose stream replies have the wrong shape (valid RESP): each is a type error,
/// never a panic, and the connection stays in step for the next call.
#[test]
fn malformed_stream_replies_are_type_errors() {
    use support::FakeServer;
    let fake = FakeServer::start(|mut s| {
        while let Some(command) = s.next_command() {
            let name = String::from_utf8_lossy(&command[0]).to_ascii_uppercase();
            let reply: &[u8] = match name.as_str() {
                // A stream without its entries.
                "XREAD" => b"*1\r\n*1\r\n$1\r\ns\r\n",
                // An entry whose fields are a string.
                "XRANGE" => b"*1\r\n*2\r\n$3\r\n1-0\r\n$3\r\nbad\r\n",
                // A summary of two elements.
                "XPENDING" => b"*2\r\n:1\r\n:2\r\n",
                // A length that is not a number, and no other field.
                "XINFO" => b"*2\r\n$6\r\nlength\r\n$4\r\nmany\r\n",
                "XAUTOCLAIM" => b"$3\r\nabc\r\n",
                // An array where an id should be.
                "XADD" => b"*3\r\n$3\r\n1-0\r\n*-1\r\n*-1\r\n",
                _ => b"+PONG\r\n",
            };
            s.write(reply);
        }
    });
    let c = support::client(&fake.url());
    guard("malformed stream replies", move || {
        let e = block_on(c.xread::<StreamReadReply>(&["s"], &["0"])).unwrap_err();
        assert!(e.is_type_mismatch(), "{e}");
        let e = block_on(c.xrange::<Vec<StreamId>>("s", "-", "+")).unwrap_err();
        assert!(e.is_type_mismatch(), "{e}");
        let e = block_on(c.xpending::<StreamPendingReply>("s", "g")).unwrap_err();
        assert!(e.is_type_mismatch(), "{e}");
        let e = block_on(c.xinfo_stream::<StreamInfo>("s")).unwrap_err();
        assert!(e.is_type_mismatch(), "{e}");
        let e =
            block_on(c.xautoclaim::<StreamAutoClaimReply>("s", "g", "c", 0, "0", 1)).unwrap_err();
        assert!(e.is_type_mismatch(), "{e}");
        // An XADD reply that is an array: not an id.
        let e = block_on(c.xadd::<String>("s", "*", &[("a", "b")])).unwrap_err();
        assert!(e.is_type_mismatch(), "{e}");
        // Still in step: the next call gets its own reply.
        assert_eq!(block_on(c.ping::<String>()).unwrap(), "PONG");
    });
}

/// On an exclusive connection, a blocking read dropped while blocked closes that connection:
/// it is not handed, still blocked, to the pool's next user.
#[test]
fn an_exclusive_xread_dropped_mid_wait_closes_its_connection() {
    let server = RedisServer::start().unwrap();
    let c = support::client(&server.url());
    guard("exclusive dropped xread", move || {
        for _ in 0..3 {
            let watcher = c.clone();
            block_on(c.with_connection(move |conn| async move {
                let mut read = Box::pin(conn.xread_block::<StreamReadReply>(
                    &["x"],
                    &["$"],
                    StreamReadOptions::default(),
                    Duration::ZERO,
                ));
                loop {
                    assert!(poll_once(&mut read).await.is_none());
                    let info: String = watcher.info("clients").await?;
                    if info.contains("blocked_clients:1\r") {
                        break;
                    }
                    corelane_runtime::task::sleep(Duration::from_millis(5)).await;
                }
                drop(read);
                let e = conn.ping::<String>().await.unwrap_err();
                assert!(e.is_closed(), "{e}");
                Ok(())
            }))
            .unwrap();
            wait_blocked(&c, 0);
            // The next exclusive user gets a connection in step.
            let echoed = block_on(
                c.with_connection(|conn| async move { conn.echo::<String>("mine").await }),
            )
            .unwrap();
            assert_eq!(echoed, "mine");
        }
    });
}
