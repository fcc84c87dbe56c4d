//! No panic from a `Duration` (issue 9 A4): every duration knob at `Duration::MAX`, and huge
//! URL values, behave as "no timeout" — on a worker and off the loop.

use crate::support;

use std::time::Duration;

use crate::support::{block_on, guard, on_worker, shared_server};
use corelane_postgres::{Client, Config};

fn exercise(client: &Client) {
    // A statement that takes a while: a huge timeout must not fire (nor panic).
    for i in 0..4i32 {
        let row =
            block_on(client.query_one("SELECT $1::int4, pg_sleep(0.02)::text", &[&i])).unwrap();
        assert_eq!(row.get::<i32>(0).unwrap(), i);
    }
    for n in 0..support::num_workers() {
        let c = client.clone();
        let v: i32 = on_worker(n, move || async move {
            c.query_one("SELECT 7", &[]).await.unwrap().get(0).unwrap()
        });
        assert_eq!(v, 7);
    }
    let workers = corelane_runtime::resolve(None).unwrap();
    for n in 0..workers.num_workers() {
        assert_eq!(workers.worker(n).unwrap().restarts(), 0);
    }
}

#[test]
fn duration_max_timeouts_are_no_timeouts() {
    support::two_workers();
    let server = shared_server();
    guard("Duration::MAX knobs", move || {
        let config = Config::parse(&server.url())
            .unwrap()
            .connect_timeout(Duration::MAX)
            .query_timeout(Some(Duration::MAX));
        let client = Client::new(config).unwrap();
        exercise(&client);
        exercise(&client.with_query_timeout(Some(Duration::MAX)));
    });
}

#[test]
fn huge_url_timeouts_are_no_timeouts() {
    support::two_workers();
    let server = shared_server();
    guard("huge URL timeouts", move || {
        let sep = if server.url().contains('?') { '&' } else { '?' };
        let url = format!(
            "{}{sep}connect_timeout=10000000000000000000&query_timeout_ms={}",
            server.url(),
            u64::MAX
        );
        exercise(&Client::new(Config::parse(&url).unwrap()).unwrap());
    });
}
