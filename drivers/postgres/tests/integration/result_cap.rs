//! The cap on a collected result (issue 9 B8): a result past `max_result_bytes` fails its
//! call with a typed error, its rows are read and dropped, and the same connection serves the
//! next query; results under the cap, and the other slots of a pipeline, are untouched.

use std::sync::Arc;

use crate::support::{block_on, guard, on_worker, shared_server, two_workers};
use corelane_postgres::{Client, Config, Error};

/// The cap these tests set: 1 MiB.
const CAP: usize = 1 << 20;

/// About 5 MB of rows: past the cap.
const BIG: &str = "SELECT repeat('x', 1000) FROM generate_series(1, 5000)";

/// About 0.5 MB: under it.
const SMALL: &str = "SELECT repeat('x', 1000) FROM generate_series(1, 500)";

fn client() -> (Arc<corelane_testkit::PgServer>, Client) {
    two_workers();
    let server = shared_server();
    // Set through the URL (the documented `max_result_bytes` parameter).
    let config = Config::parse(&format!("{}?max_result_bytes={CAP}", server.url())).unwrap();
    (server, Client::new(config).unwrap())
}

/// The checks, from wherever the caller runs; `one_connection` when every call takes the same
/// connection (on a worker; off the loop calls are spread over the workers). Returns a
/// description of what went wrong.
async fn checks(client: &Client, one_connection: bool) -> Result<(), String> {
    let pid = |c: &Client| {
        let c = c.clone();
        async move {
            c.query_one("SELECT pg_backend_pid()", &[])
                .await
                .and_then(|r| r.get::<i32>(0))
                .map_err(|e| e.to_string())
        }
    };
    let before = pid(client).await?;
    for round in 0..3 {
        match client.query(BIG, &[]).await {
            Err(e) if e.is_result_too_large() => {}
            Err(e) => return Err(format!("round {round}: not the cap's error: {e}")),
            Ok(rows) => return Err(format!("round {round}: {} rows past the cap", rows.len())),
        }
        // The same connection, in step: the next replies are the right ones.
        let after = pid(client).await?;
        if one_connection && after != before {
            return Err(format!(
                "round {round}: a new backend ({before} -> {after})"
            ));
        }
        let n: i64 = client
            .query_one("SELECT $1::int8 + 1", &[&(round as i64)])
            .await
            .and_then(|r| r.get(0))
            .map_err(|e| e.to_string())?;
        if n != round as i64 + 1 {
            return Err(format!("round {round}: got {n}"));
        }
        let rows = client.query(SMALL, &[]).await.map_err(|e| e.to_string())?;
        if rows.len() != 500 {
            return Err(format!("round {round}: {} rows under the cap", rows.len()));
        }
    }
    // In a pipeline only the big slot fails.
    let slots = client
        .pipeline(&[(SMALL, &[]), (BIG, &[]), ("SELECT 7", &[])])
        .await
        .map_err(|e| e.to_string())?;
    let verdict: Vec<Result<usize, bool>> = slots
        .iter()
        .map(|s| {
            s.as_ref()
                .map(|o| o.rows.len())
                .map_err(Error::is_result_too_large)
        })
        .collect();
    if verdict != vec![Ok(500), Err(true), Ok(1)] {
        return Err(format!("pipeline slots: {verdict:?}"));
    }
    // And in a transaction, which carries on.
    let kept = client
        .transaction(Default::default(), |tx| async move {
            let big = tx.query(BIG, &[]).await;
            let one: i32 = tx.query_one("SELECT 1", &[]).await?.get(0)?;
            Ok((big.err().map(|e| e.is_result_too_large()), one))
        })
        .await
        .map_err(|e| e.to_string())?;
    if kept != (Some(true), 1) {
        return Err(format!("transaction: {kept:?}"));
    }
    Ok(())
}

#[test]
fn a_result_past_the_cap_fails_alone_on_a_worker() {
    let (_server, client) = client();
    guard("result cap on a worker", move || {
        on_worker(0, move || async move { checks(&client, true).await })
    })
    .unwrap();
}

#[test]
fn a_result_past_the_cap_fails_alone_off_the_loop() {
    let (_server, client) = client();
    guard("result cap off the loop", move || {
        block_on(checks(&client, false))
    })
    .unwrap();
}
