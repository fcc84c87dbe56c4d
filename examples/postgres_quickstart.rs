//! Connect, query with parameters, rows by name, a one-Sync pipeline.
//!
//! `cargo run --example postgres_quickstart` (uses `DATABASE_URL`, or starts a throwaway
//! server).

use corelane_postgres::Client;
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
        Ok::<(), corelane_postgres::Error>(())
    })?;
    Ok(())
}
