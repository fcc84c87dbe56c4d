//! `connections_per_worker`: a worker under concurrent load opens that many shared
//! connections and spreads its callers over all of them.

use crate::support;

use crate::support::{block_on, client_for, guard, on_worker, shared_server};

const PER_WORKER: usize = 4;
const CONCURRENT: usize = 64;
const ROUNDS: usize = 30;

#[test]
fn a_worker_under_load_uses_all_its_connections() {
    support::two_workers();
    let server = shared_server();
    let client = client_for(&server, |c| {
        c.application_name("per-worker-pool")
            .connections_per_worker(PER_WORKER)
    });
    let c = client.clone();
    guard("concurrent load on one worker", move || {
        on_worker(0, move || async move {
            for _ in 0..ROUNDS {
                let tasks: Vec<_> = (0..CONCURRENT)
                    .map(|i| {
                        let c = c.clone();
                        corelane_runtime::task::spawn(async move {
                            let row = c
                                .query_one("SELECT $1::int4 AS per_worker_pool", &[&(i as i32)])
                                .await
                                .unwrap();
                            row.get::<i32>(0).unwrap()
                        })
                        .unwrap()
                    })
                    .collect();
                for (i, task) in tasks.into_iter().enumerate() {
                    assert_eq!(task.await, i as i32);
                }
            }
        })
    });
    // Seen from the server: PER_WORKER backends of this client, each of which ran the query.
    let observer = client_for(&server, |c| c);
    let rows = block_on(observer.query(
        "SELECT query FROM pg_stat_activity WHERE application_name = 'per-worker-pool'",
        &[],
    ))
    .unwrap();
    let queries: Vec<String> = rows.iter().map(|r| r.get::<String>(0).unwrap()).collect();
    let served = queries
        .iter()
        .filter(|q| q.contains("AS per_worker_pool"))
        .count();
    assert_eq!(served, PER_WORKER, "backends of the client: {queries:?}");
    drop(client);
}
