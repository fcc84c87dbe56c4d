//! Every command group against a real redis-server, over RESP3 and RESP2, called from a plain
//! thread, from tokio and from the loop's own workers.

use std::collections::{HashMap, HashSet};

use corelane_redis::{Client, Cmd, Config, Pipeline, Protocol, SetOptions, Value};
use corelane_testkit::RedisServer;

fn client(server: &RedisServer, protocol: Protocol) -> Client {
    Client::new(Config::from_url(&server.url()).unwrap().protocol(protocol)).unwrap()
}

/// Runs every command group; `p` prefixes the keys.
async fn exercise(c: &Client, p: &str) {
    let k = |s: &str| format!("{p}:{s}");
    // strings
    c.set::<()>(k("s"), "v1").await.unwrap();
    assert_eq!(c.get::<String>(k("s")).await.unwrap(), "v1");
    assert_eq!(c.get::<Option<String>>(k("missing")).await.unwrap(), None);
    assert!(!c.set_nx::<bool>(k("s"), "x").await.unwrap());
    let old: Option<String> = c
        .set_options(k("s"), "v2", SetOptions::default().get().expire_ms(60_000))
        .await
        .unwrap();
    assert_eq!(old.as_deref(), Some("v1"));
    assert!(c.pttl::<i64>(k("s")).await.unwrap() > 0);
    let nx: Option<String> = c
        .set_options(k("s"), "v3", SetOptions::default().nx())
        .await
        .unwrap();
    assert_eq!(nx, None);
    c.mset::<()>(&[(k("a"), "1"), (k("b"), "2")]).await.unwrap();
    let got: Vec<Option<i64>> = c.mget(&[k("a"), k("b"), k("zz")]).await.unwrap();
    assert_eq!(got, vec![Some(1), Some(2), None]);
    assert_eq!(c.incr::<i64>(k("n")).await.unwrap(), 1);
    assert_eq!(c.incr_by::<i64>(k("n"), 41).await.unwrap(), 42);
    assert_eq!(c.decr_by::<i64>(k("n"), 2).await.unwrap(), 40);
    assert_eq!(c.incr_by_float::<f64>(k("f"), 1.5).await.unwrap(), 1.5);
    assert_eq!(c.append::<i64>(k("s"), "!").await.unwrap(), 3);
    assert_eq!(c.strlen::<i64>(k("s")).await.unwrap(), 3);
    assert_eq!(c.getrange::<String>(k("s"), 0, 1).await.unwrap(), "v2");
    assert_eq!(c.get_del::<String>(k("s")).await.unwrap(), "v2!");
    c.set::<()>(k("ex"), "e").await.unwrap();
    assert_eq!(
        c.get_ex::<String>(k("ex"), Some(50_000)).await.unwrap(),
        "e"
    );
    assert!(c.ttl::<i64>(k("ex")).await.unwrap() > 0);
    let binary = vec![0u8, 255, 13, 10, 7];
    c.set::<()>(k("bin"), binary.as_slice()).await.unwrap();
    assert_eq!(c.get::<Vec<u8>>(k("bin")).await.unwrap(), binary);
    // keys
    assert_eq!(
        c.exists::<i64>(&[k("a"), k("b"), k("nope")]).await.unwrap(),
        2
    );
    assert!(c.expire::<bool>(k("a"), 100).await.unwrap());
    assert!(c.persist::<bool>(k("a")).await.unwrap());
    assert_eq!(c.ttl::<i64>(k("a")).await.unwrap(), -1);
    assert_eq!(c.key_type::<String>(k("a")).await.unwrap(), "string");
    c.rename::<()>(k("a"), k("a2")).await.unwrap();
    assert_eq!(c.del::<i64>(&[k("a2"), k("b")]).await.unwrap(), 2);
    // hashes
    c.hset::<i64>(k("h"), "f1", "1").await.unwrap();
    c.hset_multiple::<i64>(k("h"), &[("f2", "2"), ("f3", "3")])
        .await
        .unwrap();
    assert_eq!(c.hget::<i64>(k("h"), "f2").await.unwrap(), 2);
    let all: HashMap<String, i64> = c.hgetall(k("h")).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all["f3"], 3);
    assert_eq!(c.hincr_by::<i64>(k("h"), "f1", 9).await.unwrap(), 10);
    assert!(c.hexists::<bool>(k("h"), "f1").await.unwrap());
    assert_eq!(c.hdel::<i64>(k("h"), &["f1"]).await.unwrap(), 1);
    assert_eq!(c.hlen::<i64>(k("h")).await.unwrap(), 2);
    let fields: HashSet<String> = c.hkeys(k("h")).await.unwrap();
    assert!(fields.contains("f2"));
    let vals: Vec<Option<i64>> = c.hmget(k("h"), &["f2", "none"]).await.unwrap();
    assert_eq!(vals, vec![Some(2), None]);
    // lists
    assert_eq!(c.rpush::<i64>(k("l"), &["a", "b", "c"]).await.unwrap(), 3);
    c.lpush::<i64>(k("l"), &["z"]).await.unwrap();
    assert_eq!(
        c.lrange::<Vec<String>>(k("l"), 0, -1).await.unwrap(),
        ["z", "a", "b", "c"]
    );
    assert_eq!(c.lpop::<String>(k("l")).await.unwrap(), "z");
    assert_eq!(
        c.rpop_count::<Vec<String>>(k("l"), 2).await.unwrap(),
        ["c", "b"]
    );
    assert_eq!(c.llen::<i64>(k("l")).await.unwrap(), 1);
    assert_eq!(c.lpop::<Option<String>>(k("empty")).await.unwrap(), None);
    // sets
    assert_eq!(c.sadd::<i64>(k("set"), &["x", "y", "x"]).await.unwrap(), 2);
    assert!(c.sismember::<bool>(k("set"), "x").await.unwrap());
    let members: HashSet<String> = c.smembers(k("set")).await.unwrap();
    assert_eq!(members, HashSet::from(["x".to_owned(), "y".to_owned()]));
    assert_eq!(c.scard::<i64>(k("set")).await.unwrap(), 2);
    // sorted sets
    c.zadd_multiple::<i64>(k("z"), &[(1.0, "one"), (2.5, "two")])
        .await
        .unwrap();
    assert_eq!(c.zscore::<f64>(k("z"), "two").await.unwrap(), 2.5);
    assert_eq!(c.zrank::<i64>(k("z"), "two").await.unwrap(), 1);
    let ranged: Vec<(String, f64)> = c.zrange_withscores(k("z"), 0, -1).await.unwrap();
    assert_eq!(
        ranged,
        vec![("one".to_owned(), 1.0), ("two".to_owned(), 2.5)]
    );
    assert_eq!(c.zincr_by::<f64>(k("z"), 1.0, "one").await.unwrap(), 2.0);
    assert_eq!(c.zcount::<i64>(k("z"), 2.0, 3.0).await.unwrap(), 2);
    // scripting
    let script = "return {KEYS[1], ARGV[1], tonumber(ARGV[2]) * 2}";
    let (key, arg, n): (String, String, i64) =
        c.eval(script, &[k("key")], &["arg", "21"]).await.unwrap();
    assert_eq!(
        (key.as_str(), arg.as_str(), n),
        (k("key").as_str(), "arg", 42)
    );
    let sha: String = c.script_load("return 7").await.unwrap();
    assert_eq!(
        c.evalsha::<i64>(&sha, &[] as &[&str], &[] as &[&str])
            .await
            .unwrap(),
        7
    );
    // server and errors
    assert_eq!(c.ping::<String>().await.unwrap(), "PONG");
    assert_eq!(c.publish::<i64>(k("chan"), "hi").await.unwrap(), 0);
    assert!(c.dbsize::<i64>().await.unwrap() > 0);
    assert!(c
        .info::<String>("server")
        .await
        .unwrap()
        .contains("redis_version"));
    let e = c.incr::<i64>(k("h")).await.unwrap_err();
    assert_eq!(e.code(), Some("WRONGTYPE"), "{e}");
    let e = c
        .query::<Value>(Cmd::new("NOSUCHCOMMAND"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ERR"), "{e}");
    // the connection is still fine after server errors
    assert_eq!(c.echo::<String>("still here").await.unwrap(), "still here");
    // pipelines
    let mut pipe = Pipeline::new();
    pipe.set(k("p"), 1).incr(k("p")).get(k("p"));
    let (_, two, got): ((), i64, String) = c.pipeline(&pipe).await.unwrap();
    assert_eq!((two, got.as_str()), (2, "2"));
    let mut tx = Pipeline::new();
    tx.atomic().incr(k("p")).incr(k("p"));
    let (a, b): (i64, i64) = c.pipeline(&tx).await.unwrap();
    assert_eq!((a, b), (3, 4));
    let mut bad = Pipeline::new();
    bad.incr(k("p")).cmd(Cmd::new("NOSUCH")).incr(k("p"));
    let raw: Vec<Value> = match c.pipeline::<Value>(&bad).await.unwrap() {
        Value::Array(v) => v,
        other => panic!("{other:?}"),
    };
    assert_eq!(raw.len(), 3);
    assert!(raw[1].as_server_error().is_some(), "{:?}", raw[1]);
    assert_eq!(raw[2], Value::Integer(6));
}

#[test]
fn every_group_resp3_and_resp2_from_a_plain_thread() {
    let server = RedisServer::start().unwrap();
    for (protocol, prefix) in [(Protocol::Resp3, "r3"), (Protocol::Resp2, "r2")] {
        let c = client(&server, protocol);
        futures_lite::future::block_on(exercise(&c, prefix));
    }
}

#[test]
fn the_same_client_from_tokio_and_on_its_workers() {
    let server = RedisServer::start().unwrap();
    let c = client(&server, Protocol::Resp3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let c2 = c.clone();
    rt.block_on(async move {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let c = c2.clone();
                tokio::spawn(async move { exercise(&c, &format!("tokio{i}")).await })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    // On the loop's own workers: the same client value takes the local path.
    let workers = corelane_runtime::resolve(None).unwrap();
    for n in 0..workers.num_workers() {
        let c = c.clone();
        let done =
            futures_lite::future::block_on(workers.worker(n).unwrap().spawn(move || async move {
                exercise(&c, &format!("worker{n}")).await;
                true
            }))
            .unwrap();
        assert!(done);
    }
}
