//! `Client::query_stream` (issue 9 B8): rows in order with their columns and count, on and off
//! the loop; an error the server raises mid-result ends the stream after the rows before it;
//! a dropped stream leaves the client serving. (Bounded memory: `bounded_memory.rs`.)

use std::sync::Arc;

use crate::support::{block_on, client_for, guard, on_worker, shared_server, two_workers};
use corelane_postgres::Client;
use futures_lite::StreamExt;

fn client() -> (Arc<corelane_testkit::PgServer>, Client) {
    two_workers();
    let server = shared_server();
    // A small result cap: the streams below are far past it, and must not care.
    let client = client_for(&server, |c| c.max_result_bytes(Some(64 * 1024)));
    (server, client)
}

/// The checks, from wherever the caller runs. Returns what went wrong.
async fn checks(client: &Client) -> Result<(), String> {
    let e = |e: corelane_postgres::Error| e.to_string();
    // 100k rows in order, with their columns and count.
    let mut rows = client
        .query_stream(
            "SELECT g, 'row ' || g AS label FROM generate_series(1, $1::int8) g",
            &[&100_000i64],
        )
        .await
        .map_err(e)?;
    let names: Vec<&str> = rows.columns().iter().map(|c| c.name()).collect();
    if names != ["g", "label"] {
        return Err(format!("columns {names:?}"));
    }
    let mut expect = 1i64;
    while let Some(row) = rows.next().await {
        let row = row.map_err(e)?;
        let (g, label): (i64, String) = (row.get(0).map_err(e)?, row.get("label").map_err(e)?);
        if g != expect || label != format!("row {g}") {
            return Err(format!("row {expect}: got {g} {label:?}"));
        }
        expect += 1;
    }
    if expect != 100_001 || rows.affected() != Some(100_000) {
        return Err(format!(
            "{} rows, affected {:?}",
            expect - 1,
            rows.affected()
        ));
    }

    // An error mid-result: the rows before it, then the error.
    let mut rows = client
        .query_stream(
            "SELECT 1000 / (50000 - g) FROM generate_series(1, 60000) g",
            &[],
        )
        .await
        .map_err(e)?;
    let mut got = 0;
    let failure = loop {
        match rows.next().await {
            Some(Ok(_)) => got += 1,
            Some(Err(err)) => break err,
            None => return Err("the division by zero did not end the stream".into()),
        }
    };
    if failure.code().map(|c| c.code()) != Some("22012") || got > 49_999 {
        return Err(format!("after {got} rows: {failure}"));
    }
    if rows.next().await.is_some() {
        return Err("the stream went on after its error".into());
    }

    // A statement that fails to prepare fails the call itself.
    if client.query_stream("SELEC 1", &[]).await.is_ok() {
        return Err("a syntax error streamed".into());
    }

    // Dropped half way, a few times: the client serves on, streams included.
    for _ in 0..3 {
        let mut rows = client
            .query_stream("SELECT g FROM generate_series(1, 1000000) g", &[])
            .await
            .map_err(e)?;
        for _ in 0..1000 {
            rows.next().await.ok_or("ended early")?.map_err(e)?;
        }
        drop(rows);
        let one: i32 = client
            .query_one("SELECT 1", &[])
            .await
            .and_then(|r| r.get(0))
            .map_err(e)?;
        if one != 1 {
            return Err(format!("SELECT 1 gave {one}"));
        }
    }
    let n = client
        .query_stream("SELECT g FROM generate_series(1, 5000) g", &[])
        .await
        .map_err(e)?
        .count()
        .await;
    if n != 5000 {
        return Err(format!("{n} rows after the drops"));
    }
    Ok(())
}

#[test]
fn rows_stream_off_the_loop() {
    let (_server, client) = client();
    guard("query_stream off the loop", move || {
        block_on(checks(&client))
    })
    .unwrap();
}

#[test]
fn rows_stream_on_a_worker() {
    let (_server, client) = client();
    guard("query_stream on a worker", move || {
        on_worker(0, move || async move { checks(&client).await })
    })
    .unwrap();
}
