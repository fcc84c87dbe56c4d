//! A call dropped off the loop (from tokio, here by `tokio::time::timeout`) is cancelled on
//! the server exactly as one dropped on a worker: its statement stops, and the next call on
//! the same connection does not wait behind it.
//!
//! One worker and one shared connection per worker, so the next call surely takes the
//! connection the dropped one used. The bounds below are hang guards far under the sleep's
//! length (a correctness bound: the sleep stopped), not performance assertions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use corelane_runtime::{configure_standalone, Loop, Placement};
use support::{client_for, guard, shared_server};

/// The dropped statement; marked so `pg_stat_activity` finds it.
const SLEEP: &str = "SELECT pg_sleep(30) /* dropped-off-loop */";
/// Half the sleep: a next call that answers within it did not wait for the sleep to end.
const BOUND: Duration = Duration::from_secs(15);

#[test]
fn a_call_dropped_from_tokio_is_cancelled_on_the_server() {
    let _ = configure_standalone(
        Loop::builder()
            .workers(1)
            .placement(Placement::Unbound)
            .name("pg-dropped"),
    );
    let server = shared_server();
    // No query timeout: only the drop can stop the sleep.
    let client = client_for(&server, |c| c.connections_per_worker(1).query_timeout(None));
    guard("a call dropped from tokio", move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            // Connection open and the statement described: the drop below hits the statement
            // itself, not its preparation.
            let pid: i32 = client
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            client.prepare(SLEEP).await.unwrap();

            let dropped =
                tokio::time::timeout(Duration::from_millis(100), client.query(SLEEP, &[])).await;
            assert!(dropped.is_err(), "the sleep answered: {dropped:?}");

            let start = Instant::now();
            let v: i32 = client
                .query_one("SELECT $1::int4", &[&7i32])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            assert_eq!(v, 7);
            let took = start.elapsed();
            assert!(
                took < BOUND,
                "the next call waited {took:?} behind the dropped sleep"
            );

            // The sleep is not running anywhere any more (cancelled, not finished: it had
            // 30 s to go).
            let active: i64 = client
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE query LIKE '%dropped-off-loop%' AND state = 'active' \
                     AND pid <> pg_backend_pid()",
                    &[],
                )
                .await
                .unwrap()
                .get(0)
                .unwrap();
            assert_eq!(active, 0, "the dropped sleep still runs");
            // Cancelled with a CancelRequest, the backend serves on.
            let after: i32 = client
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            assert_eq!(after, pid);
        });
    });
}
