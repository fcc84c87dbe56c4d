//! A panic in user code run on a worker ends that call only: the worker and every other call
//! of every client on the loop go on (issue 9 A8).

use crate::support;

use crate::support::guard;
use corelane_redis::{Client, Pipeline};
use corelane_testkit::RedisServer;

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// 1,000 calls from tokio (off the loop), spread over every worker: all must succeed.
async fn thousand_calls(client: &Client) {
    for i in 0..1_000i64 {
        let v: i64 = client
            .incr("after-panic")
            .await
            .unwrap_or_else(|e| panic!("call {i} after the panic failed: {e}"));
        assert_eq!(v, i + 1);
    }
}

#[test]
fn a_panicking_transaction_closure_is_an_error_and_the_loop_lives_on() {
    guard("panicking transaction", || {
        let server = RedisServer::start().unwrap();
        let client = Client::open(&server.url()).unwrap();
        tokio_runtime().block_on(async move {
            // Off the loop: the closure runs on a worker through its mailbox.
            for _ in 0..4 {
                let e = client
                    .transaction::<((),), _, _>(&["k"], |_conn| async move {
                        if std::hint::black_box(true) {
                            panic!("user code panicked");
                        }
                        Ok(Pipeline::new())
                    })
                    .await
                    .unwrap_err();
                assert!(e.is_panicked(), "{e}");
                assert!(e.to_string().contains("user code panicked"), "{e}");
            }
            thousand_calls(&client).await;
        });
    });
}

#[test]
fn a_panicking_closure_on_a_worker_is_an_error_there_too() {
    guard("panicking closure on a worker", || {
        let server = RedisServer::start().unwrap();
        let client = Client::open(&server.url()).unwrap();
        let c = client.clone();
        for n in 0..support::num_workers() {
            let c = c.clone();
            let e = support::on_worker(n, move || async move {
                c.with_connection::<(), _, _>(|_conn| async move {
                    panic!("on-worker closure panicked");
                })
                .await
                .unwrap_err()
            });
            assert!(e.is_panicked(), "{e}");
        }
        tokio_runtime().block_on(async move { thousand_calls(&client).await });
    });
}

#[test]
fn a_panicking_spawned_task_leaves_the_worker_running() {
    guard("panicking spawned task", || {
        let server = RedisServer::start().unwrap();
        let client = Client::open(&server.url()).unwrap();
        let workers = corelane_runtime::resolve(None).unwrap();
        for n in 0..workers.num_workers() {
            let worker = workers.worker(n).unwrap().clone();
            // A detached task that panics, started from a job on the worker.
            worker
                .submit(|| {
                    corelane_runtime::task::spawn_detached(async {
                        panic!("detached task panicked");
                    })
                    .unwrap();
                })
                .unwrap();
            // A spawned future that panics: its awaiter gets a typed error.
            let out = support::block_on(worker.spawn(|| async {
                if std::hint::black_box(true) {
                    panic!("spawned future panicked");
                }
                1u8
            }));
            match out {
                Err(corelane_runtime::SubmitError::Panicked(p)) => {
                    assert_eq!(p.message(), "spawned future panicked")
                }
                other => panic!("expected Panicked, got {other:?}"),
            }
        }
        tokio_runtime().block_on(async move { thousand_calls(&client).await });
    });
}
