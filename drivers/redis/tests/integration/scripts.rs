//! Lua scripts (`Script`: EVALSHA, EVAL after NOSCRIPT) and functions (FUNCTION LOAD, FCALL)
//! against a real redis-server, over RESP3 and RESP2, on a client, an exclusive connection,
//! a transaction and in pipelines.

use crate::support;

use crate::support::{block_on, client_with, guard, on_worker, PROTOCOLS};
use corelane_redis::{Client, Pipeline, Script, Value};
use corelane_testkit::RedisServer;

const INCRBY: &str = "return redis.call('INCRBY', KEYS[1], ARGV[1])";

/// True when the server has `FUNCTION` (Redis 7.0+).
fn has_functions(client: &Client) -> bool {
    let info: String = block_on(client.info("server")).unwrap();
    let version = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .expect("redis_version in INFO server")
        .trim()
        .to_owned();
    let major: u32 = version.split('.').next().unwrap().parse().unwrap();
    if major < 7 {
        eprintln!("SKIPPED: FUNCTION/FCALL need Redis 7.0+, the testkit started {version}");
    }
    major >= 7
}

#[test]
fn a_script_loads_itself_after_noscript() {
    let server = RedisServer::start().unwrap();
    for protocol in PROTOCOLS {
        let client = client_with(&server.url(), protocol);
        let script = Script::new(INCRBY);
        let sha = script.hash().to_owned();
        guard("script after flush", move || {
            block_on(client.del::<i64>(&["n"])).unwrap();
            block_on(client.script_flush::<()>()).unwrap();
            // Not cached: EVALSHA alone fails with NOSCRIPT ...
            let e = block_on(client.evalsha::<i64>(&sha, &["n"], &["1"])).unwrap_err();
            assert_eq!(e.code(), Some("NOSCRIPT"), "{e}");
            assert_eq!(
                block_on(client.script_exists::<Vec<bool>>(&[sha.as_str()])).unwrap(),
                [false]
            );
            // ... the script sends itself (EVAL), which also caches it.
            let n: i64 = block_on(script.key("n").arg(5).invoke(&client)).unwrap();
            assert_eq!(n, 5);
            assert_eq!(
                block_on(client.script_exists::<Vec<bool>>(&[sha.as_str()])).unwrap(),
                [true]
            );
            // Cached: EVALSHA succeeds directly.
            assert_eq!(
                block_on(client.evalsha::<i64>(&sha, &["n"], &["1"])).unwrap(),
                6
            );
            let n: i64 = block_on(script.key("n").arg(10).invoke(&client)).unwrap();
            assert_eq!(n, 16);
            // Flushed again, on a worker (the local path).
            block_on(client.script_flush::<()>()).unwrap();
            let c = client.clone();
            let n = on_worker(1, move || async move {
                let script = Script::new(INCRBY);
                script.key("n").arg(-6).invoke::<i64, _>(&c).await
            })
            .unwrap();
            assert_eq!(n, 10);
            assert_eq!(block_on(script.load(&client)).unwrap(), sha);
        });
    }
}

#[test]
fn keys_and_args_reach_the_script_in_order() {
    let server = RedisServer::start().unwrap();
    for protocol in PROTOCOLS {
        let client = client_with(&server.url(), protocol);
        guard("keys and args", move || {
            let echo =
                Script::new("return {KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], #KEYS, #ARGV}");
            let got: Vec<String> = block_on(
                echo.key("k1")
                    .key(["k2", "k3"])
                    .arg(42)
                    .arg(b"bin\x00ary".as_slice())
                    .invoke(&client),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            // The counts come back as integers, read as text here.
            assert_eq!(got, ["k1", "k2", "k3", "42", "bin\0ary", "3", "2"]);
            // No keys, no args.
            let none = Script::new("return #KEYS + #ARGV");
            assert_eq!(block_on(none.invoke::<i64, _>(&client)).unwrap(), 0);
            // A script returning nil and a table of mixed types.
            let nil = Script::new("return nil");
            assert_eq!(
                block_on(nil.invoke::<Option<String>, _>(&client)).unwrap(),
                None
            );
        });
    }
}

#[test]
fn a_script_error_is_a_typed_server_error() {
    let server = RedisServer::start().unwrap();
    for protocol in PROTOCOLS {
        let client = client_with(&server.url(), protocol);
        guard("script errors", move || {
            block_on(client.script_flush::<()>()).unwrap();
            let custom = Script::new("return redis.error_reply('MYERR the input was odd')");
            let e = block_on(custom.invoke::<Value, _>(&client)).unwrap_err();
            assert_eq!(e.code(), Some("MYERR"), "{e}");
            assert!(e.to_string().contains("the input was odd"), "{e}");
            // An error raised by a command the script runs keeps that command's code.
            block_on(client.set::<()>("str", "text")).unwrap();
            let wrong = Script::new("return redis.call('LPUSH', KEYS[1], 'x')");
            let e = block_on(wrong.key("str").invoke::<i64, _>(&client)).unwrap_err();
            assert_eq!(e.code(), Some("WRONGTYPE"), "{e}");
            // A Lua syntax error (found when EVAL compiles it after NOSCRIPT).
            let broken = Script::new("return (");
            let e = block_on(broken.invoke::<i64, _>(&client)).unwrap_err();
            assert_eq!(e.code(), Some("ERR"), "{e}");
            assert!(e.server_error().is_some());
            // A reply of the wrong type for `T`: a type error, not a server one.
            let text = Script::new("return 'abc'");
            let e = block_on(text.invoke::<i64, _>(&client)).unwrap_err();
            assert!(e.is_type_mismatch() && e.code().is_none(), "{e}");
            // The connection is fine after all of it.
            assert_eq!(block_on(client.get::<String>("str")).unwrap(), "text");
        });
    }
}

#[test]
fn scripts_on_an_exclusive_connection_a_transaction_and_pipelines() {
    let server = RedisServer::start().unwrap();
    let client = support::client(&server.url());
    guard("scripts elsewhere", move || {
        block_on(client.script_flush::<()>()).unwrap();
        let n: i64 = block_on(client.with_connection(|conn| async move {
            let script = Script::new(INCRBY);
            let first: i64 = script.key("x").arg(2).invoke(&conn).await?;
            let second: i64 = script.key("x").arg(3).invoke(&conn).await?;
            Ok(first * 100 + second)
        }))
        .unwrap();
        assert_eq!(n, 205);
        // In a transaction: read with the script, then write atomically.
        block_on(client.script_flush::<()>()).unwrap();
        let (_, x): ((), i64) = block_on(client.transaction(&["x"], |conn| async move {
            let double = Script::new("return redis.call('GET', KEYS[1]) * 2");
            let doubled: i64 = double.key("x").invoke(&conn).await?;
            let mut tx = Pipeline::new();
            tx.set("x", doubled).get("x");
            Ok(tx)
        }))
        .unwrap();
        assert_eq!(x, 10);

        // A pipeline: not retried, so an uncached script's EVALSHA answers NOSCRIPT ...
        block_on(client.script_flush::<()>()).unwrap();
        let script = Script::new(INCRBY);
        let mut pipe = Pipeline::new();
        pipe.invoke_script(&script.key("p").arg(1)).get("x");
        let replies: Vec<Value> = block_on(client.pipeline(&pipe)).unwrap();
        match &replies[0] {
            Value::Error(e) | Value::BlobError(e) => assert_eq!(e.code(), Some("NOSCRIPT")),
            other => panic!("expected NOSCRIPT, got {other:?}"),
        }
        assert_eq!(replies[1], Value::BulkString("10".into()));
        // ... and loading it first in the same pipeline works, atomic or not.
        let mut pipe = Pipeline::new();
        pipe.load_script(&script)
            .invoke_script(&script.key("p").arg(1))
            .invoke_script(&script.key("p").arg(2));
        let (sha, a, b): (String, i64, i64) = block_on(client.pipeline(&pipe)).unwrap();
        assert_eq!((sha.as_str(), a, b), (script.hash(), 1, 3));
        block_on(client.script_flush::<()>()).unwrap();
        pipe.atomic();
        let (sha, a, b): (String, i64, i64) = block_on(client.pipeline(&pipe)).unwrap();
        assert_eq!((sha.as_str(), a, b), (script.hash(), 4, 6));
    });
}

const LIBRARY: &str = "#!lua name=counters
redis.register_function('add', function(keys, args)
  return redis.call('INCRBY', keys[1], args[1])
end)
redis.register_function{
  function_name = 'peek',
  callback = function(keys, args) return redis.call('GET', keys[1]) end,
  flags = { 'no-writes' },
}";

#[test]
fn fcall_after_function_load() {
    let server = RedisServer::start().unwrap();
    for protocol in PROTOCOLS {
        let client = client_with(&server.url(), protocol);
        if !has_functions(&client) {
            return;
        }
        guard("functions", move || {
            block_on(client.function_flush::<()>()).unwrap();
            block_on(client.del::<i64>(&["f"])).unwrap();
            let name: String = block_on(client.function_load(LIBRARY)).unwrap();
            assert_eq!(name, "counters");
            // Loading it again is the server's error; REPLACE is not.
            let e = block_on(client.function_load::<String>(LIBRARY)).unwrap_err();
            assert_eq!(e.code(), Some("ERR"), "{e}");
            assert!(e.to_string().contains("already exists"), "{e}");
            let name: String = block_on(client.function_load_replace(LIBRARY)).unwrap();
            assert_eq!(name, "counters");

            assert_eq!(
                block_on(client.fcall::<i64>("add", &["f"], &[7])).unwrap(),
                7
            );
            assert_eq!(
                block_on(client.fcall::<i64>("add", &["f"], &[3])).unwrap(),
                10
            );
            let peek: String = block_on(client.fcall_ro("peek", &["f"], &[] as &[&str])).unwrap();
            assert_eq!(peek, "10");
            // FCALL_RO refuses a function that may write.
            let e = block_on(client.fcall_ro::<i64>("add", &["f"], &[1])).unwrap_err();
            assert!(e.server_error().is_some(), "{e}");
            assert_eq!(block_on(client.get::<i64>("f")).unwrap(), 10);

            // On an exclusive connection and in a pipeline, from one definition.
            let n = block_on(client.with_connection(|conn| async move {
                conn.fcall::<i64>("add", &["f"], &[5]).await
            }))
            .unwrap();
            assert_eq!(n, 15);
            let mut pipe = Pipeline::new();
            pipe.fcall("add", &["f"], &[1])
                .fcall_ro("peek", &["f"], &[] as &[&str]);
            let (n, peek): (i64, String) = block_on(client.pipeline(&pipe)).unwrap();
            assert_eq!((n, peek.as_str()), (16, "16"));

            assert!(block_on(client.function_delete::<bool>("counters")).unwrap());
            let e = block_on(client.fcall::<i64>("add", &["f"], &[1])).unwrap_err();
            assert_eq!(e.code(), Some("ERR"), "{e}");
        });
    }
}

/// A server that answers NOSCRIPT to EVAL too: the script is retried once (EVALSHA, EVAL),
/// not in a loop, and the NOSCRIPT error is returned.
#[test]
fn noscript_is_retried_once_only() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use support::FakeServer;

    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let fake = FakeServer::start(move |mut s| {
        while let Some(command) = s.next_command() {
            let name = String::from_utf8_lossy(&command[0]).to_ascii_uppercase();
            if name == "EVALSHA" || name == "EVAL" {
                counter.fetch_add(1, Ordering::SeqCst);
                s.write(b"-NOSCRIPT No matching script.\r\n");
            } else {
                s.write(b"+PONG\r\n");
            }
        }
    });
    let client = support::client(&fake.url());
    guard("noscript twice", move || {
        let script = Script::new("return 1");
        let e = block_on(script.key("k").invoke::<i64, _>(&client)).unwrap_err();
        assert_eq!(e.code(), Some("NOSCRIPT"), "{e}");
        assert_eq!(sent.load(Ordering::SeqCst), 2);
        assert_eq!(block_on(client.ping::<String>()).unwrap(), "PONG");
    });
}

/// An invocation's future is `Send`: tokio can spawn it.
#[test]
fn scripts_run_from_tokio_tasks() {
    let server = RedisServer::start().unwrap();
    let client = support::client(&server.url());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let got = guard("tokio", move || {
        rt.block_on(async move {
            let tasks: Vec<_> = (0..8)
                .map(|i| {
                    let client = client.clone();
                    tokio::spawn(async move {
                        let script = Script::new(INCRBY);
                        script.key("t").arg(i).invoke::<i64, _>(&client).await
                    })
                })
                .collect();
            let mut last = Vec::new();
            for t in tasks {
                last.push(t.await.unwrap().unwrap());
            }
            last.sort();
            last
        })
    });
    // 0 + 1 + … + 7, reached by exactly one of them.
    assert_eq!(got.last(), Some(&28));
}
