//! A call started on a worker and then moved to another thread (only a hand-rolled executor
//! or a manual `poll` can do that: glommio's tasks never move) ends with a clear error there,
//! is dropped there without aborting the process, and leaves its worker and connection
//! working: the request it left in flight is read and discarded like any other abandoned one.
// Calls are returned unawaited on purpose: to move them to another thread.
#![allow(clippy::async_yields_async)]

use crate::support;

use crate::support::{block_on, guard, on_worker};
use corelane_redis::{Call, Cmd, Value};
use corelane_testkit::RedisServer;
use futures_lite::future::poll_once;

/// A script that keeps the server busy for about `ms` milliseconds, so its call is surely
/// still waiting after one poll.
fn busy(ms: u64) -> Cmd {
    Cmd::new("EVAL")
        .arg(
            "local t0 = redis.call('TIME') \
             repeat local t = redis.call('TIME') \
             until (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > tonumber(ARGV[1]) * 1000 \
             return 1",
        )
        .arg(0)
        .arg(ms)
}

fn assert_moved_error(result: Result<Value, corelane_redis::Error>) {
    let e = result.expect_err("a call polled off its worker must fail");
    assert!(e.to_string().contains("another thread"), "{e}");
}

#[test]
fn a_call_moved_off_its_worker_fails_there_and_the_worker_goes_on() {
    guard("moved call", || {
        let server = RedisServer::start().unwrap();
        let client = support::client(&server.url());

        // Started while the worker's first connection is being opened.
        let c = client.clone();
        let mut connecting: Call<Value> = on_worker(0, move || async move {
            let mut call = c.get::<Value>("k");
            assert!(poll_once(&mut call).await.is_none(), "no connection yet");
            call
        });
        assert_moved_error(block_on(&mut connecting));
        drop(connecting);

        // Started with its request in flight on the (now open) connection.
        let c = client.clone();
        let mut in_flight: Call<Value> = on_worker(0, move || async move {
            let () = c.set("k", "v").await.unwrap();
            let mut call = c.query::<Value>(busy(200));
            assert!(
                poll_once(&mut call).await.is_none(),
                "the script runs 200 ms"
            );
            call
        });
        assert_moved_error(block_on(&mut in_flight));
        drop(in_flight);

        // The worker, its connection and every later reply stay in step.
        let c = client.clone();
        on_worker(0, move || async move {
            for i in 0..100 {
                let () = c.set("k", i).await.unwrap();
                let v: i64 = c.get("k").await.unwrap();
                assert_eq!(v, i);
            }
        });
        for i in 0..100 {
            let v: i64 = block_on(client.incr("n")).unwrap();
            assert_eq!(v, i + 1);
        }
    });
}
