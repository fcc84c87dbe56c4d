//! Transaction and savepoint closures that fail with the application's own error type
//! (`try_transaction`, `try_savepoint`, `Session::try_transaction`), against a real server:
//! the application's error rolls back and comes back unchanged; a driver error passed on with
//! `?` rolls back too and arrives converted; `Ok` commits.

use crate::support::{block_on, client_for, guard, shared_server};
use corelane_postgres::{Client, Error, TransactionOptions};

/// An application's error: its own reasons to roll back, plus the driver's.
#[derive(Debug)]
enum AppError {
    /// A business rule refused the work.
    Rejected { reason: String, code: u32 },
    /// The database failed.
    Db(Error),
}

impl From<Error> for AppError {
    fn from(e: Error) -> AppError {
        AppError::Db(e)
    }
}

fn setup(table: &str) -> (std::sync::Arc<corelane_testkit::PgServer>, Client) {
    let server = shared_server();
    let client = client_for(&server, |c| c);
    block_on(client.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int4 PRIMARY KEY)"
    )))
    .unwrap();
    (server, client)
}

async fn ids(client: &Client, table: &str) -> Vec<i32> {
    client
        .query(&format!("SELECT id FROM {table} ORDER BY id"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect()
}

#[test]
fn an_application_error_rolls_back_and_comes_back_unchanged() {
    let (_server, client) = setup("app_err_tx");
    guard("try_transaction", move || {
        block_on(async {
            let refused = client
                .try_transaction(TransactionOptions::new(), |tx| async move {
                    tx.execute("INSERT INTO app_err_tx VALUES (1)", &[]).await?;
                    let seen: i64 = tx
                        .query_one("SELECT count(*) FROM app_err_tx", &[])
                        .await?
                        .get(0)?;
                    Err::<(), _>(AppError::Rejected {
                        reason: format!("saw {seen}"),
                        code: 7,
                    })
                })
                .await;
            match refused {
                Err(AppError::Rejected { reason, code }) => {
                    // The insert had happened inside, and is gone now.
                    assert_eq!((reason.as_str(), code), ("saw 1", 7));
                }
                other => panic!("expected the application's own error, got {other:?}"),
            }
            assert_eq!(ids(&client, "app_err_tx").await, Vec::<i32>::new());

            // A statement's error passed on with `?` arrives as `AppError::Db`, rolled back.
            let failed = client
                .try_transaction(TransactionOptions::new(), |tx| async move {
                    tx.execute("INSERT INTO app_err_tx VALUES (2)", &[]).await?;
                    tx.execute("INSERT INTO app_err_tx VALUES (2)", &[]).await?;
                    Ok::<_, AppError>(())
                })
                .await;
            match failed {
                Err(AppError::Db(e)) => assert_eq!(e.code().map(|c| c.code()), Some("23505")),
                other => panic!("expected a unique violation, got {other:?}"),
            }
            assert_eq!(ids(&client, "app_err_tx").await, Vec::<i32>::new());

            // `Ok` commits and returns the value.
            let n = client
                .try_transaction(TransactionOptions::new(), |tx| async move {
                    Ok::<_, AppError>(tx.execute("INSERT INTO app_err_tx VALUES (3)", &[]).await?)
                })
                .await
                .unwrap();
            assert_eq!(n, 1);
            assert_eq!(ids(&client, "app_err_tx").await, [3]);
        })
    });
}

#[test]
fn an_application_error_rolls_back_only_its_savepoint() {
    let (_server, client) = setup("app_err_sp");
    guard("try_savepoint", move || {
        block_on(async {
            let inner = client
                .try_transaction(TransactionOptions::new(), |mut tx| async move {
                    tx.execute("INSERT INTO app_err_sp VALUES (1)", &[]).await?;
                    let inner = tx
                        .try_savepoint(|sp| async move {
                            sp.execute("INSERT INTO app_err_sp VALUES (2)", &[]).await?;
                            Err::<(), _>(AppError::Rejected {
                                reason: "no 2".into(),
                                code: 2,
                            })
                        })
                        .await;
                    tx.execute("INSERT INTO app_err_sp VALUES (3)", &[]).await?;
                    // The savepoint's outcome, for the asserts on the test thread.
                    Ok::<_, AppError>(format!("{inner:?}"))
                })
                .await
                .unwrap();
            assert_eq!(inner, "Err(Rejected { reason: \"no 2\", code: 2 })");
            assert_eq!(ids(&client, "app_err_sp").await, [1, 3]);
        })
    });
}

#[test]
fn a_session_transaction_rolls_back_on_an_application_error_and_the_session_serves_on() {
    let (_server, client) = setup("app_err_sess");
    guard("Session::try_transaction", move || {
        block_on(async {
            let mut s = client.session().await.unwrap();
            s.execute("CREATE TEMP TABLE staged (n int4)", &[])
                .await
                .unwrap();
            let refused = s
                .try_transaction(TransactionOptions::new(), |tx| async move {
                    tx.execute("INSERT INTO staged VALUES (1)", &[]).await?;
                    tx.execute("INSERT INTO app_err_sess VALUES (1)", &[])
                        .await?;
                    Err::<(), _>(AppError::Rejected {
                        reason: "staged only".into(),
                        code: 1,
                    })
                })
                .await;
            assert!(
                matches!(&refused, Err(AppError::Rejected { code: 1, .. })),
                "{refused:?}"
            );
            let staged: i64 = s
                .query_one("SELECT count(*) FROM staged", &[])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            assert_eq!(
                staged, 0,
                "the temp table outlives the rolled-back transaction"
            );
            assert_eq!(ids(&client, "app_err_sess").await, Vec::<i32>::new());
        })
    });
}
