//! `connections_per_worker`: a worker under concurrent load opens that many shared
//! connections and spreads its callers over all of them.

use crate::support;

use crate::support::{block_on, guard, on_worker};
use corelane_redis::{Client, Config};
use corelane_testkit::RedisServer;

const PER_WORKER: usize = 4;
const CONCURRENT: usize = 64;
const ROUNDS: usize = 30;

#[test]
fn a_worker_under_load_uses_all_its_connections() {
    let server = RedisServer::start().unwrap();
    let config = Config::from_url(&server.url())
        .unwrap()
        .client_name("per-worker-pool")
        .connections_per_worker(PER_WORKER);
    let client = Client::new(config).unwrap();
    block_on(client.set::<()>("k", "v")).unwrap();
    let c = client.clone();
    guard("concurrent load on one worker", move || {
        on_worker(0, move || async move {
            for _ in 0..ROUNDS {
                let tasks: Vec<_> = (0..CONCURRENT)
                    .map(|_| {
                        let c = c.clone();
                        corelane_runtime::task::spawn(async move { c.get::<String>("k").await })
                            .unwrap()
                    })
                    .collect();
                for task in tasks {
                    assert_eq!(task.await.unwrap(), "v");
                }
            }
        })
    });
    // Seen from the server: exactly PER_WORKER connections of this client (the one SET above
    // went through the mailbox, possibly to another worker: count worker 0's by their last
    // command), each of which carried the GET traffic.
    let observer = Client::open(&server.url()).unwrap();
    let list: String =
        block_on(observer.query(corelane_redis::Cmd::new("CLIENT").arg("LIST"))).unwrap();
    let ours: Vec<&str> = list
        .lines()
        .filter(|l| l.contains("name=per-worker-pool "))
        .collect();
    let getters = ours.iter().filter(|l| l.contains(" cmd=get ")).count();
    assert_eq!(
        getters,
        PER_WORKER,
        "connections that served GETs:\n{}",
        ours.join("\n")
    );
    assert!(
        ours.len() <= PER_WORKER * support::num_workers(),
        "{}",
        ours.join("\n")
    );
}
