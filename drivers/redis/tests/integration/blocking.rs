//! Blocking commands: block-forever pops, huge timeouts, and blocking commands sent raw.

use crate::support;

use std::time::Duration;

use crate::support::{block_on, guard};
use corelane_redis::{Client, Config};
use corelane_testkit::RedisServer;

/// A client whose connect timeout is short, so "longer than connect_timeout" is quick to reach.
fn short_connect_client(server: &RedisServer) -> Client {
    let config = Config::from_url(&server.url())
        .unwrap()
        .connect_timeout(Duration::from_millis(200));
    Client::new(config).unwrap()
}

#[test]
fn blpop_zero_blocks_past_the_connect_timeout_until_a_value_arrives() {
    let server = RedisServer::start().unwrap();
    let client = short_connect_client(&server);
    let pusher = client.clone();
    guard("blpop 0", move || {
        let t = std::thread::spawn(move || {
            // Five times the connect timeout: the pop must still be waiting.
            std::thread::sleep(Duration::from_secs(1));
            block_on(pusher.rpush::<i64>("late", &["v"])).unwrap();
        });
        let got: Option<(String, String)> =
            block_on(client.blpop(&["late"], Duration::ZERO)).unwrap();
        t.join().unwrap();
        assert_eq!(got, Some(("late".into(), "v".into())));
        // Popped on a worker too (the local path).
        let c = client.clone();
        let p = client.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            block_on(p.rpush::<i64>("late2", &["w"])).unwrap();
        });
        let got = support::on_worker(0, move || async move {
            c.brpop::<String>(&["late2"], Duration::ZERO).await
        })
        .unwrap();
        t.join().unwrap();
        assert_eq!(got, Some(("late2".into(), "w".into())));
    });
}

#[test]
fn a_huge_pop_timeout_does_not_panic() {
    let server = RedisServer::start().unwrap();
    let client = short_connect_client(&server);
    guard("huge timeout", move || {
        for secs in [1e15, 1e9, u64::MAX as f64] {
            block_on(client.rpush::<i64>("q", &["x"])).unwrap();
            let timeout = Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
            let got = block_on(client.blpop::<String>(&["q"], timeout));
            // Served at once (or refused by the server as out of range): never a panic.
            match got {
                Ok(v) => assert!(v.is_none() || v == Some(("q".into(), "x".into()))),
                Err(e) => assert!(e.server_error().is_some(), "{secs}: {e}"),
            }
        }
        block_on(client.del::<i64>(&["q"])).unwrap();
        block_on(client.rpush::<i64>("q", &["y"])).unwrap();
        let c = client.clone();
        let got = support::on_worker(0, move || async move {
            c.blpop::<String>(&["q"], Duration::MAX).await
        });
        match got {
            Ok(v) => assert_eq!(v, Some(("q".into(), "y".into()))),
            Err(e) => assert!(e.server_error().is_some(), "{e}"),
        }
        // The workers survived.
        assert_eq!(block_on(client.ping::<String>()).unwrap(), "PONG");
    });
}
