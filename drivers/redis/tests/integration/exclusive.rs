//! Exclusive connections: WATCH transactions under contention, blocking pops, reset on return.

use std::time::Duration;

use corelane_redis::{Client, Cmd, Pipeline};
use corelane_testkit::RedisServer;
use futures_lite::future::block_on;

#[test]
fn optimistic_transactions_under_contention_count_exactly() {
    let server = RedisServer::start().unwrap();
    let client = Client::open(&server.url()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let c = client.clone();
    rt.block_on(async move {
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move {
                    for _ in 0..10 {
                        let (_, _): ((), i64) = c
                            .transaction(&["counter"], |conn| async move {
                                let n: Option<i64> =
                                    conn.query(Cmd::new("GET").arg("counter")).await?;
                                let mut pipe = Pipeline::new();
                                pipe.set("counter", n.unwrap_or(0) + 1).get("counter");
                                Ok(pipe)
                            })
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(block_on(client.get::<i64>("counter")).unwrap(), 200);
}

#[test]
fn an_aborted_exec_is_reported_and_the_connection_is_reset() {
    let server = RedisServer::start().unwrap();
    let client = Client::open(&server.url()).unwrap();
    let other = client.clone();
    // Change the watched key from outside inside every attempt: EXEC always aborts.
    let e = block_on(client.transaction::<((),), _, _>(&["k"], move |conn| {
        let other = other.clone();
        async move {
            conn.query::<()>(Cmd::new("GET").arg("k")).await?;
            other.incr::<i64>("k").await?;
            let mut pipe = Pipeline::new();
            pipe.set("k", 0);
            Ok(pipe)
        }
    }))
    .unwrap_err();
    assert!(e.is_exec_aborted(), "{e}");
    // The exclusive connection left with nothing watched: a transaction on it works now.
    let (_, v): ((), i64) = block_on(client.transaction(&["k"], |_conn| async move {
        let mut pipe = Pipeline::new();
        pipe.set("k", 5).get("k");
        Ok(pipe)
    }))
    .unwrap();
    assert_eq!(v, 5);
    // A connection handed back mid-MULTI is reset before its next user.
    block_on(client.with_connection(|conn| async move {
        conn.query::<()>(Cmd::new("MULTI")).await?;
        conn.query::<String>(Cmd::new("SET").arg("x").arg("1"))
            .await?;
        Ok(())
    }))
    .unwrap();
    let got: Option<String> = block_on(
        client.with_connection(|conn| async move { conn.query(Cmd::new("GET").arg("x")).await }),
    )
    .unwrap();
    assert_eq!(got, None, "a half-built MULTI leaked into the next user");
}

#[test]
fn blocking_pops_wait_time_out_and_survive_cancellation() {
    let server = RedisServer::start().unwrap();
    let client = Client::open(&server.url()).unwrap();
    // Times out server-side: None.
    let none: Option<(String, String)> =
        block_on(client.blpop(&["empty"], Duration::from_millis(100))).unwrap();
    assert_eq!(none, None);
    // Another caller pushes while we block.
    let pusher = client.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        block_on(pusher.rpush::<i64>("q", &["job-1"])).unwrap();
    });
    let got: Option<(String, String)> =
        block_on(client.blpop(&["q"], Duration::from_secs(30))).unwrap();
    t.join().unwrap();
    assert_eq!(got, Some(("q".into(), "job-1".into())));
    // Cancel blocked pops; the shared connections and the next pops still work.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for _ in 0..10 {
        let c = client.clone();
        let r = rt.block_on(async move {
            tokio::time::timeout(
                Duration::from_millis(20),
                c.blpop::<String>(&["never"], Duration::from_secs(60)),
            )
            .await
        });
        assert!(r.is_err(), "the pop should still be blocked");
    }
    block_on(client.rpush::<i64>("q2", &["a"])).unwrap();
    let got: Option<(String, String)> =
        block_on(client.brpop(&["q2"], Duration::from_secs(5))).unwrap();
    assert_eq!(got, Some(("q2".into(), "a".into())));
    assert_eq!(block_on(client.ping::<String>()).unwrap(), "PONG");
}
