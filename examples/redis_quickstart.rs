//! Connect, get/set, a pipeline, a transaction, pub/sub — from a plain `main`, and on the
//! loop's own workers (the thread-per-core way).
//!
//! `cargo run --example redis_quickstart` (uses `REDIS_URL`, or starts a throwaway server).

use corelane_redis::{Client, Pipeline};
use futures_lite::future::block_on;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = corelane_examples::redis()?;
    let client = Client::open(&server.url())?;

    block_on(async {
        // Strings. Off the loop (here: the main thread) calls go through a worker's mailbox.
        client.set::<()>("greeting", "hello").await?;
        let greeting: String = client.get("greeting").await?;
        println!("GET greeting -> {greeting}");

        // A pipeline: three commands, one write, replies converted together.
        let mut pipe = Pipeline::new();
        pipe.set("visits", 0).incr("visits").incr_by("visits", 41);
        let (_, _, visits): ((), i64, i64) = client.pipeline(&pipe).await?;
        println!("pipeline -> visits = {visits}");

        // An optimistic transaction: WATCH, read, MULTI/EXEC, retried if `visits` changes.
        let (_, doubled): ((), i64) = client
            .transaction(&["visits"], |conn| async move {
                // The typed commands work on the transaction's own connection too.
                let n: i64 = conn.get("visits").await?;
                let mut tx = Pipeline::new();
                tx.set("visits", n * 2).get("visits");
                Ok(tx)
            })
            .await?;
        println!("transaction -> visits = {doubled}");

        // Pub/sub: a subscriber owns a dedicated connection (resubscribed after reconnects).
        let mut subscriber = client.subscriber()?;
        subscriber.subscribe(["news"]).await?;
        let receivers: i64 = client.publish("news", "corelane is up").await?;
        if let Some(message) = subscriber.next().await {
            println!(
                "pub/sub -> {} receiver(s); got {:?} on {:?}",
                receivers,
                message.payload_str().unwrap_or("<binary>"),
                message.channel_str().unwrap_or("<binary>")
            );
        }
        Ok::<(), corelane_redis::Error>(())
    })?;

    // On the loop's workers: the same client uses each worker's own connection, no hop.
    let workers = corelane_runtime::resolve(None)?;
    for n in 0..workers.num_workers() {
        let Some(worker) = workers.worker(n) else {
            continue;
        };
        let c = client.clone();
        let echoed = block_on(worker.spawn(move || async move {
            c.echo::<String>(format!("hello from worker {n}")).await
        }))??;
        println!("worker {n}: {echoed}");
    }
    Ok(())
}
