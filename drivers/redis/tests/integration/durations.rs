//! No panic from a `Duration` (issue 9 A4): every duration knob at `Duration::MAX`, and huge
//! URL values, behave as "no timeout" — on a worker and off the loop.

use crate::support;

use std::time::Duration;

use crate::support::{block_on, guard, on_worker};
use corelane_redis::{Client, Config};
use corelane_testkit::RedisServer;

fn exercise(client: &Client) {
    // Off the loop, through every worker.
    for i in 0..8i64 {
        block_on(client.set::<()>("k", i)).unwrap();
        assert_eq!(block_on(client.get::<i64>("k")).unwrap(), i);
    }
    // On every worker.
    for n in 0..support::num_workers() {
        let c = client.clone();
        let v: i64 = on_worker(n, move || async move { c.incr::<i64>("n").await.unwrap() });
        assert_eq!(v, n as i64 + 1);
    }
    let workers = corelane_runtime::resolve(None).unwrap();
    for n in 0..workers.num_workers() {
        assert_eq!(workers.worker(n).unwrap().restarts(), 0);
    }
}

#[test]
fn duration_max_timeouts_are_no_timeouts() {
    guard("Duration::MAX knobs", || {
        let server = RedisServer::start().unwrap();
        let config = Config::from_url(&server.url())
            .unwrap()
            .connect_timeout(Duration::MAX)
            .command_timeout(Some(Duration::MAX));
        exercise(&Client::new(config).unwrap());
    });
}

#[test]
fn huge_url_timeouts_are_no_timeouts() {
    guard("huge URL timeouts", || {
        let server = RedisServer::start().unwrap();
        let url = format!(
            "{}?connect_timeout_ms={max}&command_timeout_ms={max}",
            server.url(),
            max = u64::MAX
        );
        exercise(&Client::open(&url).unwrap());
        // Past u64: a typed configuration error, not a panic.
        let url = format!(
            "{}?command_timeout_ms=99999999999999999999999",
            server.url()
        );
        assert!(Client::open(&url).unwrap_err().is_config());
    });
}
