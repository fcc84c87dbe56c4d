//! A panic in user code run on a worker ends that call only: the worker and every other call
//! of every client on the loop go on (issue 9 A8).

use crate::support;

use crate::support::{client_for, guard, shared_server};
use corelane_postgres::{Client, TransactionOptions};

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
        let row = client
            .query_one("SELECT $1::int8 + 1", &[&i])
            .await
            .unwrap_or_else(|e| panic!("call {i} after the panic failed: {e}"));
        assert_eq!(row.get::<i64>(0).unwrap(), i + 1);
    }
}

#[test]
fn a_panicking_transaction_closure_is_an_error_and_the_loop_lives_on() {
    support::two_workers();
    let server = shared_server();
    guard("panicking transaction", move || {
        let client = client_for(&server, |c| c);
        tokio_runtime().block_on(async move {
            // Off the loop: the closure runs on a worker through its mailbox; two per worker.
            for _ in 0..4 {
                let e = client
                    .transaction(TransactionOptions::new(), |tx| async move {
                        tx.execute("SELECT 1", &[]).await?;
                        if std::hint::black_box(true) {
                            panic!("user code panicked");
                        }
                        Ok(())
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
fn a_panicking_transaction_closure_on_a_worker_is_an_error_there_too() {
    support::two_workers();
    let server = shared_server();
    guard("panicking transaction on a worker", move || {
        let client = client_for(&server, |c| c);
        for n in 0..support::num_workers() {
            let c = client.clone();
            let e = support::on_worker(n, move || async move {
                c.transaction::<(), _, _>(TransactionOptions::new(), |_tx| async move {
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
