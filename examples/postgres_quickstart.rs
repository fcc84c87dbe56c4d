//! Connect, query with parameters, rows by name, a one-Sync pipeline, a transaction, COPY,
//! LISTEN/NOTIFY.
//!
//! `cargo run --example postgres_quickstart` (uses `DATABASE_URL`, or starts a throwaway
//! server).

use corelane_postgres::{Client, TransactionOptions};
use futures_lite::future::block_on;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = corelane_examples::postgres()?;
    let client = Client::connect(&server.url())?;
    block_on(async {
        client
            // Not a TEMP table: calls from this thread go to any worker, each with its own
            // connection (session), so session-local objects would not be seen by the next call.
            .batch_execute("CREATE TABLE IF NOT EXISTS fruit (id int4 PRIMARY KEY, name text)")
            .await?;
        for (id, name) in [(1i32, "apple"), (2, "pear"), (3, "fig")] {
            client
                .execute(
                    "INSERT INTO fruit VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&id, &name],
                )
                .await?;
        }
        let row = client
            .query_one(
                "SELECT name, length(name) AS len FROM fruit WHERE id = $1",
                &[&2i32],
            )
            .await?;
        println!(
            "fruit 2 = {} ({} letters)",
            row.get::<String>("name")?,
            row.get::<i32>("len")?
        );

        // Three queries, one round trip, one Sync; each slot has its own outcome.
        let outcomes = client
            .pipeline(&[
                ("SELECT count(*)::int8 FROM fruit", &[]),
                ("SELECT 1 / $1::int4", &[&0i32]),
                ("SELECT $1::text", &[&"skipped"]),
            ])
            .await?;
        for (i, outcome) in outcomes.iter().enumerate() {
            match outcome {
                Ok(o) => println!("pipeline[{i}]: {} row(s)", o.rows.len()),
                Err(e) => println!("pipeline[{i}]: {e}"),
            }
        }

        // A transaction runs on a connection of its own: committed on Ok, rolled back on Err
        // (or when dropped).
        let renamed = client
            .transaction(TransactionOptions::new(), |tx| async move {
                tx.execute(
                    "UPDATE fruit SET name = $1 WHERE id = $2",
                    &[&"quince", &3i32],
                )
                .await?;
                tx.query_one("SELECT name FROM fruit WHERE id = $1", &[&3i32])
                    .await?
                    .get::<String>(0)
            })
            .await?;
        println!("transaction -> fruit 3 = {renamed}");

        // COPY: rows streamed in (never held whole in memory) and streamed back out.
        let rows = futures_lite::stream::iter((10..1010i32).map(|id| {
            let mut line = bytes::BytesMut::new();
            let id = id.to_string();
            let name = format!("fruit-{id}");
            corelane_postgres::copy_text_row([Some(id.as_str()), Some(name.as_str())], &mut line);
            Ok::<_, std::convert::Infallible>(line.freeze())
        }));
        let copied = client
            .copy_in("COPY fruit (id, name) FROM STDIN", rows)
            .await?;
        let mut out = client.copy_out("COPY fruit TO STDOUT").await?;
        let mut bytes_out = 0;
        while let Some(chunk) = futures_lite::StreamExt::next(&mut out).await {
            bytes_out += chunk?.len();
        }
        println!("COPY -> {copied} rows in, {bytes_out} bytes out");

        // LISTEN/NOTIFY on a dedicated connection (re-LISTENs after reconnects).
        let mut listener = client.listener()?;
        listener.listen("orders").await?;
        client
            .execute("SELECT pg_notify('orders', $1)", &[&"order #1 shipped"])
            .await?;
        if let Some(note) = listener.next().await {
            println!("notification on {:?}: {:?}", note.channel, note.payload);
        }
        client.batch_execute("DROP TABLE fruit").await?;
        Ok::<(), corelane_postgres::Error>(())
    })?;
    Ok(())
}
