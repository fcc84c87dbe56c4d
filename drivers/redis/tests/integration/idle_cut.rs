//! Connections the server (or a proxy) closed while they sat idle: the next call finds its
//! connection closed before anything of it was sent, and goes to a new connection instead of
//! failing. A call whose request did go out is never sent twice.
//!
//! The cuts happen on the worker that owns the connections, with no `await` between the cut
//! and the next call: the worker's reader has not run since, so the call itself is what finds
//! the connection closed (the case a user meets as "the first call after the server dropped
//! an idle connection fails").

use std::sync::Arc;
use std::time::Duration;

use crate::support::{self, block_on, guard, on_worker};
use corelane_redis::{Client, Cmd, Pipeline, Value};
use corelane_testkit::{FaultProxy, RedisServer};

/// A script that counts its run in `KEYS[1]` and then keeps the server busy for `ARGV[1]`
/// milliseconds, so the cut lands while its reply is outstanding.
fn counted_busy(key: &str, ms: u64) -> Cmd {
    Cmd::new("EVAL")
        .arg(
            "redis.call('INCR', KEYS[1]) \
             local t0 = redis.call('TIME') \
             repeat local t = redis.call('TIME') \
             until (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > tonumber(ARGV[1]) * 1000 \
             return 1",
        )
        .arg(1)
        .arg(key)
        .arg(ms)
}

/// A throwaway server (kept running while the test holds it), a fault proxy in front of it,
/// and a client whose connections go through the proxy.
fn proxied() -> (RedisServer, Arc<FaultProxy>, Client) {
    let server = RedisServer::start().unwrap();
    let proxy = Arc::new(FaultProxy::start(server.addr()).unwrap());
    let client = support::client(&format!("redis://{}", proxy.addr()));
    (server, proxy, client)
}

#[test]
fn calls_on_a_connection_cut_while_idle_go_to_a_new_one() {
    guard("idle cut", || {
        let (_server, proxy, client) = proxied();
        let c = client.clone();
        let p = proxy.clone();
        on_worker(0, move || async move {
            for i in 0..20i64 {
                // A single command.
                let () = c.set("k", i).await.unwrap();
                p.cut_all();
                let v: i64 = c.get("k").await.unwrap();
                assert_eq!(v, i, "round {i}");
                // A pipeline: sent as a whole on the new connection, in order.
                p.cut_all();
                let mut pipe = Pipeline::new();
                pipe.incr("n").get("k").incr("n");
                let (a, k, b): (i64, i64, i64) = c.pipeline(&pipe).await.unwrap();
                assert_eq!((a, k, b), (2 * i + 1, i, 2 * i + 2), "round {i}");
            }
        });
        // Off the loop the worker's reader may or may not have seen the cut first: either
        // way the call succeeds.
        for i in 0..20i64 {
            let () = block_on(client.set("k", i)).unwrap();
            proxy.cut_all();
            let v: i64 = block_on(client.get("k")).unwrap();
            assert_eq!(v, i);
        }
    });
}

#[test]
fn exclusive_connections_cut_while_idle_are_not_handed_out() {
    guard("idle cut of an exclusive connection", || {
        let (_server, proxy, client) = proxied();
        on_worker(0, move || async move {
            for i in 0..10i64 {
                // Leaves an idle exclusive connection in the pool.
                client
                    .with_connection(move |conn| async move {
                        conn.query::<()>(Cmd::new("SET").arg("x").arg(i)).await
                    })
                    .await
                    .unwrap();
                proxy.cut_all();
                // Its checkout resets it (every exclusive connection is reset before its next
                // user), which finds it closed before anything was sent: a new one runs the
                // closure.
                let v: i64 = client
                    .with_connection(
                        |conn| async move { conn.query(Cmd::new("GET").arg("x")).await },
                    )
                    .await
                    .unwrap();
                assert_eq!(v, i, "round {i}");
                // A WATCH transaction too.
                proxy.cut_all();
                let (n,): (i64,) = client
                    .transaction(&["x"], |_conn| async move {
                        let mut pipe = Pipeline::new();
                        pipe.incr("tx");
                        Ok(pipe)
                    })
                    .await
                    .unwrap();
                assert_eq!(n, i + 1, "round {i}");
            }
        });
    });
}

#[test]
fn a_call_whose_request_went_out_is_not_sent_again() {
    guard("no resend", || {
        let (server, proxy, client) = proxied();
        let direct = support::client(&server.url());
        let c = client.clone();
        let p = proxy.clone();
        let result = on_worker(0, move || async move {
            let () = c.set("warm", 1).await.unwrap();
            let cutter = corelane_runtime::task::spawn(async move {
                corelane_runtime::task::sleep(Duration::from_millis(100)).await;
                p.cut_all();
            })
            .unwrap();
            let result = c.query::<Value>(counted_busy("runs", 400)).await;
            cutter.await;
            result
        });
        let e = result.expect_err("the cut came while the script ran");
        assert!(e.is_closed(), "{e}");
        // The script ran once (it was sent once); let it finish, then look.
        std::thread::sleep(Duration::from_millis(600));
        let runs: i64 = block_on(direct.get("runs")).unwrap();
        assert_eq!(runs, 1, "the script was sent more than once");
        // And the client serves on.
        let v: i64 = block_on(client.incr("after")).unwrap();
        assert_eq!(v, 1);
    });
}
