//! Explicit pipelines against real redis-servers: 10k commands on both paths (direct index on
//! a worker, mailbox from a plain thread), replies split at every byte boundary by a proxy,
//! MULTI/EXEC, and failing commands inside a pipeline.

use crate::support;

use crate::support::{block_on, client, client_with, guard, on_worker, PROTOCOLS};
use corelane_redis::{Client, Cmd, Pipeline, Value};
use corelane_testkit::{Direction, FaultProxy, Mode, RedisServer};

const BIG: usize = 10_000;

fn value_for(prefix: &str, i: usize) -> String {
    // Values of varying length, each naming its own key.
    format!("value-of:{prefix}:{i}:{}", "x".repeat(i % 37))
}

/// 10k SETs in one pipeline, then 10k GETs in another; every reply in order.
async fn ten_thousand(c: Client, prefix: String) -> Result<(), String> {
    let mut sets = Pipeline::new();
    for i in 0..BIG {
        sets.set(format!("{prefix}:{i}"), value_for(&prefix, i));
    }
    assert_eq!(sets.len(), BIG);
    let acks: Vec<Value> = c.pipeline(&sets).await.map_err(|e| e.to_string())?;
    if acks.len() != BIG {
        return Err(format!("{} SET replies, expected {BIG}", acks.len()));
    }
    if let Some((i, bad)) = acks
        .iter()
        .enumerate()
        .find(|(_, v)| !matches!(v, Value::SimpleString(s) if &s[..] == b"OK"))
    {
        return Err(format!("SET #{i} replied {bad:?}"));
    }
    let mut gets = Pipeline::new();
    for i in 0..BIG {
        gets.get(format!("{prefix}:{i}"));
    }
    let got: Vec<String> = c.pipeline(&gets).await.map_err(|e| e.to_string())?;
    if got.len() != BIG {
        return Err(format!("{} GET replies, expected {BIG}", got.len()));
    }
    for (i, v) in got.iter().enumerate() {
        if *v != value_for(&prefix, i) {
            return Err(format!("GET #{i} returned {v:?}"));
        }
    }
    // Interleaved in one pipeline: SET k_i, GET k_i, … (10k commands).
    let mut mixed = Pipeline::new();
    for i in 0..BIG / 2 {
        let key = format!("{prefix}:mixed:{i}");
        mixed.set(&key, value_for("mixed", i)).get(&key);
    }
    let replies: Vec<Value> = c.pipeline(&mixed).await.map_err(|e| e.to_string())?;
    if replies.len() != BIG {
        return Err(format!("{} mixed replies, expected {BIG}", replies.len()));
    }
    for i in 0..BIG / 2 {
        let want = value_for("mixed", i);
        match &replies[2 * i + 1] {
            Value::BulkString(b) if b[..] == *want.as_bytes() => {}
            other => return Err(format!("mixed GET #{i} returned {other:?}")),
        }
    }
    Ok(())
}

#[test]
fn ten_thousand_command_pipelines_on_a_worker_and_from_a_thread() {
    let server = RedisServer::start().unwrap();
    for protocol in PROTOCOLS {
        let c = client_with(&server.url(), protocol);
        // On a worker: the connection is idle, so the batch reads its own replies.
        let (c1, p1) = (c.clone(), format!("worker:{protocol:?}"));
        guard("10k pipeline on a worker", move || {
            on_worker(0, move || ten_thousand(c1, p1))
        })
        .unwrap();
        // From this thread: through a worker's mailbox.
        let (c2, p2) = (c.clone(), format!("thread:{protocol:?}"));
        guard("10k pipeline from a thread", move || {
            block_on(ten_thousand(c2, p2))
        })
        .unwrap();
        // Both at once, on every worker and from the thread, sharing connections.
        let mut handles = Vec::new();
        for n in 0..support::num_workers() {
            let (c, p) = (c.clone(), format!("concurrent:{protocol:?}:{n}"));
            handles.push(std::thread::spawn(move || {
                guard("concurrent 10k pipeline", move || {
                    on_worker(n, move || ten_thousand(c, p))
                })
            }));
        }
        let (c3, p3) = (c.clone(), format!("concurrent-thread:{protocol:?}"));
        guard("concurrent 10k pipeline from a thread", move || {
            block_on(ten_thousand(c3, p3))
        })
        .unwrap();
        for h in handles {
            h.join().unwrap().unwrap();
        }
    }
}

/// A pipeline of `n` mixed commands whose expected replies are known: GET of a preset key,
/// INCR of a counter, HGETALL of a preset hash, GET of a missing key, ECHO.
fn mixed_pipeline(prefix: &str, n: usize) -> Pipeline {
    let mut p = Pipeline::new();
    for i in 0..n {
        match i % 5 {
            0 => p.get(format!("{prefix}:k:{}", i % 100)),
            1 => p.incr(format!("{prefix}:counter")),
            2 => p.hgetall(format!("{prefix}:h")),
            3 => p.get(format!("{prefix}:missing")),
            _ => p.echo(format!("echo-{i}")),
        };
    }
    p
}

fn check_mixed(prefix: &str, replies: &[Value]) -> Result<(), String> {
    let mut counter = 0;
    for (i, v) in replies.iter().enumerate() {
        let ok = match i % 5 {
            0 => v.as_bytes().map(|b| &b[..]) == Some(value_for(prefix, i % 100).as_bytes()),
            1 => {
                counter += 1;
                v.as_integer() == Some(counter)
            }
            2 => match v {
                // RESP3: a map; RESP2: a flat array.
                Value::Map(pairs) => pairs.len() == 2,
                Value::Array(items) => items.len() == 4,
                _ => false,
            },
            3 => v.is_null(),
            _ => v.as_bytes().map(|b| &b[..]) == Some(format!("echo-{i}").as_bytes()),
        };
        if !ok {
            return Err(format!("reply #{i} is wrong: {v:?}"));
        }
    }
    Ok(())
}

#[test]
fn replies_split_at_every_byte_boundary() {
    let server = RedisServer::start().unwrap();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    for protocol in PROTOCOLS {
        let prefix = format!("frag:{protocol:?}");
        // Preset the data directly (not through the proxy).
        let direct = client_with(&server.url(), protocol);
        block_on(async {
            let mut setup = Pipeline::new();
            for i in 0..100 {
                setup.set(format!("{prefix}:k:{i}"), value_for(&prefix, i));
            }
            setup.hset_multiple(format!("{prefix}:h"), &[("a", "1"), ("b", "2")]);
            direct.pipeline::<Value>(&setup).await.unwrap();
        });
        proxy.set_mode_on(Direction::ServerToClient, Mode::Fragment(1));
        let c = client_with(&format!("redis://{}", proxy.addr()), protocol);

        // From a worker (direct index: the batch decodes byte by byte as reads arrive).
        let (c1, p1) = (c.clone(), prefix.clone());
        let replies = guard("fragmented pipeline on a worker", move || {
            on_worker(0, move || async move {
                c1.pipeline::<Vec<Value>>(&mixed_pipeline(&p1, 2000))
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .unwrap();
        assert_eq!(replies.len(), 2000);
        check_mixed(&prefix, &replies).unwrap();

        // From this thread (mailbox; the worker's bridge reader decodes).
        block_on(direct.del::<i64>(&[format!("{prefix}:counter")])).unwrap();
        let (c2, p2) = (c.clone(), prefix.clone());
        let replies = guard("fragmented pipeline from a thread", move || {
            block_on(c2.pipeline::<Vec<Value>>(&mixed_pipeline(&p2, 2000)))
        })
        .unwrap();
        assert_eq!(replies.len(), 2000);
        check_mixed(&prefix, &replies).unwrap();

        // Single calls through the fragmenting proxy too.
        let (c3, p3) = (c.clone(), prefix.clone());
        let got = guard("fragmented single calls", move || {
            block_on(async move {
                let mut out = Vec::new();
                for i in 0..50 {
                    out.push(c3.get::<String>(format!("{p3}:k:{i}")).await.unwrap());
                }
                out
            })
        });
        for (i, v) in got.iter().enumerate() {
            assert_eq!(*v, value_for(&prefix, i));
        }
        proxy.set_mode_on(Direction::ServerToClient, Mode::PassThrough);
    }
}

async fn transactions(c: Client, other: Client, p: String) -> Result<(), String> {
    let k = |s: &str| format!("{p}:{s}");
    // Typed results of MULTI/EXEC.
    let mut tx = Pipeline::new();
    tx.atomic()
        .set(k("a"), 10)
        .incr_by(k("a"), 5)
        .get(k("a"))
        .rpush(k("l"), &["x", "y"]);
    let ((), incr, got, pushed): ((), i64, String, i64) =
        c.pipeline(&tx).await.map_err(|e| e.to_string())?;
    assert_eq!((incr, got.as_str(), pushed), (15, "15", 2));

    // A command failing at run time inside EXEC: the EXEC array holds its error, the others
    // ran.
    let mut tx = Pipeline::new();
    tx.atomic()
        .incr(k("a"))
        .lpop(k("a")) // WRONGTYPE at run time
        .incr(k("a"));
    // As one `Value` (an array): `Vec<Value>` turns error elements into `Err` (see
    // `vec_of_value_keeps_server_errors`).
    let replies = array(c.pipeline(&tx).await.map_err(|e| e.to_string())?);
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert_eq!(replies[0], Value::Integer(16));
    assert_eq!(
        replies[1].as_server_error().and_then(|e| e.code()),
        Some("WRONGTYPE"),
        "{replies:?}"
    );
    assert_eq!(replies[2], Value::Integer(17));

    // A command refused at queue time: EXEC is aborted with EXECABORT, nothing ran.
    let mut tx = Pipeline::new();
    tx.atomic()
        .incr(k("a"))
        .cmd(Cmd::new("NOSUCHCOMMAND"))
        .incr(k("a"));
    let e = c.pipeline::<Value>(&tx).await.unwrap_err();
    assert_eq!(e.code(), Some("EXECABORT"), "{e}");
    assert_eq!(c.get::<i64>(k("a")).await.map_err(|e| e.to_string())?, 17);

    // An empty transaction.
    let mut tx = Pipeline::new();
    tx.atomic();
    let empty: Vec<Value> = c.pipeline(&tx).await.map_err(|e| e.to_string())?;
    assert!(empty.is_empty(), "{empty:?}");

    // WATCH belongs on a connection of its own (`Client::transaction`): on the shared one it
    // would watch for every caller, so it is refused.
    let e = c
        .query::<()>(Cmd::new("WATCH").arg(k("w")))
        .await
        .unwrap_err();
    assert!(e.is_refused(), "{e:?}");
    // `other` is then unused on this path; the exclusive-connection tests cover WATCH aborts.
    drop(other);

    // The connection is in step afterwards.
    assert_eq!(
        c.echo::<String>("after").await.map_err(|e| e.to_string())?,
        "after"
    );
    Ok(())
}

#[test]
fn atomic_pipelines() {
    let server = RedisServer::start().unwrap();
    for protocol in PROTOCOLS {
        let c = client_with(&server.url(), protocol);
        let other = client_with(&server.url(), protocol);
        let p = format!("tx:{protocol:?}");
        let (c1, o1, p1) = (c.clone(), other.clone(), format!("{p}:worker"));
        guard("transactions on a worker", move || {
            on_worker(0, move || transactions(c1, o1, p1))
        })
        .unwrap();
        // From a thread: each call may land on a different worker's connection, so skip the
        // WATCH part; the rest must hold.
        block_on(async {
            let mut tx = Pipeline::new();
            tx.atomic().incr(format!("{p}:t")).incr(format!("{p}:t"));
            let (a, b): (i64, i64) = c.pipeline(&tx).await.unwrap();
            assert_eq!((a, b), (1, 2));
            let mut tx = Pipeline::new();
            tx.atomic()
                .incr(format!("{p}:t"))
                .cmd(Cmd::new("NOSUCHCOMMAND"));
            let e = c.pipeline::<Value>(&tx).await.unwrap_err();
            assert_eq!(e.code(), Some("EXECABORT"), "{e}");
            assert_eq!(c.get::<i64>(format!("{p}:t")).await.unwrap(), 2);
        });
    }
}

/// The elements of an array reply.
fn array(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        other => panic!("expected an array, got {other:?}"),
    }
}

async fn failing_inside(c: Client, p: String) -> Result<(), String> {
    let k = |s: &str| format!("{p}:{s}");
    c.set::<()>(k("s"), "text")
        .await
        .map_err(|e| e.to_string())?;
    let mut pipe = Pipeline::new();
    pipe.set(k("n"), 1)
        .incr(k("s")) // ERR not an integer
        .incr(k("n"))
        .cmd(Cmd::new("NOSUCHCOMMAND").arg("x"))
        .lpush(k("s"), &["v"]) // WRONGTYPE
        .get(k("n"));
    let replies = array(c.pipeline(&pipe).await.map_err(|e| e.to_string())?);
    assert_eq!(replies.len(), 6, "{replies:?}");
    assert!(matches!(&replies[0], Value::SimpleString(s) if &s[..] == b"OK"));
    assert_eq!(
        replies[1].as_server_error().and_then(|e| e.code()),
        Some("ERR")
    );
    assert_eq!(replies[2], Value::Integer(2));
    assert_eq!(
        replies[3].as_server_error().and_then(|e| e.code()),
        Some("ERR")
    );
    assert_eq!(
        replies[4].as_server_error().and_then(|e| e.code()),
        Some("WRONGTYPE")
    );
    assert_eq!(replies[5].as_bytes().map(|b| &b[..]), Some(&b"2"[..]));

    // The same pipeline converted to a typed tuple: the server error is the call's error,
    // and the connection stays in step.
    let typed = c.pipeline::<((), i64, i64, Value, i64, i64)>(&pipe).await;
    let e = typed.expect_err("a typed conversion of an error reply must fail");
    assert!(e.code().is_some() || e.is_type_mismatch(), "{e:?}");
    assert!(!e.is_closed(), "{e:?}");

    // Still usable: a following pipeline and single calls get their own replies.
    let mut after = Pipeline::new();
    for i in 0..100 {
        after.echo(format!("after-{i}"));
    }
    let echoed: Vec<String> = c.pipeline(&after).await.map_err(|e| e.to_string())?;
    for (i, e) in echoed.iter().enumerate() {
        assert_eq!(*e, format!("after-{i}"));
    }
    assert_eq!(c.get::<i64>(k("n")).await.map_err(|e| e.to_string())?, 2);
    Ok(())
}

#[test]
fn a_failing_command_keeps_the_other_replies() {
    let server = RedisServer::start().unwrap();
    for protocol in PROTOCOLS {
        let c = client_with(&server.url(), protocol);
        let (c1, p1) = (c.clone(), format!("fail:{protocol:?}:worker"));
        guard("failing pipeline on a worker", move || {
            on_worker(1, move || failing_inside(c1, p1))
        })
        .unwrap();
        let (c2, p2) = (c.clone(), format!("fail:{protocol:?}:thread"));
        guard("failing pipeline from a thread", move || {
            block_on(failing_inside(c2, p2))
        })
        .unwrap();
    }
}

/// The documented way to see every reply of a pipeline, server errors included, is
/// `Vec<Value>` (pipeline.rs docs: "`Vec<Value>` to see each reply (server errors included) as
/// it came"), but `Vec<T>` converts each element with `T::from_value`, and `Value::from_value`
/// turns an error reply into `Err`: one failing command fails the whole conversion.
#[test]

fn vec_of_value_keeps_server_errors() {
    let server = RedisServer::start().unwrap();
    for protocol in PROTOCOLS {
        let c = client_with(&server.url(), protocol);
        let mut pipe = Pipeline::new();
        pipe.set("k", "text").incr("k").get("k");
        let replies: Vec<Value> = block_on(c.pipeline(&pipe)).unwrap();
        assert_eq!(replies.len(), 3);
        assert!(replies[1].as_server_error().is_some(), "{replies:?}");
        assert_eq!(replies[2].as_bytes().map(|b| &b[..]), Some(&b"text"[..]));
        // Inside EXEC too.
        let mut tx = Pipeline::new();
        tx.atomic().incr("k").get("k");
        let replies: Vec<Value> = block_on(c.pipeline(&tx)).unwrap();
        assert!(replies[0].as_server_error().is_some(), "{replies:?}");
    }
}

/// An empty pipeline: `Request::fill` (request.rs) pushes one entry for the (empty) bytes even
/// when `replies == 0`, so the batch waits for a reply to a command that was never sent.
#[test]

fn an_empty_pipeline_is_an_empty_array() {
    let server = RedisServer::start().unwrap();
    let c = client(&server.url());
    let c1 = c.clone();
    let empty: Vec<Value> = guard("empty pipeline from a thread", move || {
        block_on(c1.pipeline(&Pipeline::new()))
    })
    .unwrap();
    assert!(empty.is_empty());
    let empty: Vec<Value> = guard("empty pipeline on a worker", move || {
        on_worker(0, move || async move { c.pipeline(&Pipeline::new()).await })
    })
    .unwrap();
    assert!(empty.is_empty());
}
