//! Creating and filling the benchmark's tables, and filling the cache.

use corelane_postgres::{Client, TransactionOptions};

use crate::rules::{cache_key, WORLD_ROWS};

/// The 12 standard rows of `Fortune` (the benchmark's own set: markup to escape, non-ASCII
/// text, and messages that sort differently from their ids).
pub const FORTUNES: [(i32, &str); 12] = [
    (1, "fortune: No such file or directory"),
    (
        2,
        "A computer scientist is someone who fixes things that aren't broken.",
    ),
    (3, "After enough decimal places, nobody gives a damn."),
    (
        4,
        "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1",
    ),
    (
        5,
        "A computer program does what you tell it to do, not what you want it to do.",
    ),
    (
        6,
        "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen",
    ),
    (7, "Any program that runs right is obsolete."),
    (
        8,
        "A list is only as strong as its weakest link. — Donald Knuth",
    ),
    (9, "Feature: A bug with seniority."),
    (10, "Computers make very fast, very accurate mistakes."),
    (
        11,
        "<script>alert(\"This should not be displayed in a browser alert box.\");</script>",
    ),
    (12, "フレームワークのベンチマーク"),
];

/// Any number the stacks agree on: the advisory lock `create_tables` holds while it creates
/// the tables.
const SETUP_LOCK: i64 = 0x636f_7265_6c61_6e65;

/// Creates `world` (10,000 rows of random numbers in 1..=10000) and `fortune` (the 12
/// standard rows) unless they exist with rows in them. Safe to run from several processes at
/// once on an empty database: `CREATE TABLE IF NOT EXISTS` is not (two of them racing fail one
/// with 23505 on `pg_type`), so the tables are created under an advisory lock; the rows go in
/// with `ON CONFLICT DO NOTHING`.
pub async fn create_tables(pg: &Client) -> Result<(), corelane_postgres::Error> {
    pg.transaction(TransactionOptions::new(), |tx| async move {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SETUP_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS world (id integer PRIMARY KEY, randomnumber integer NOT NULL);
             CREATE TABLE IF NOT EXISTS fortune (id integer PRIMARY KEY, message varchar(2048) NOT NULL);",
        )
        .await
    })
    .await?;
    let worlds: i64 = pg
        .query_one("SELECT count(*) FROM world", &[])
        .await?
        .get(0)?;
    if worlds == 0 {
        pg.execute(
            "INSERT INTO world (id, randomnumber) \
             SELECT g, 1 + floor(random() * $1)::integer FROM generate_series(1, $1) AS g \
             ON CONFLICT DO NOTHING",
            &[&WORLD_ROWS],
        )
        .await?;
    }
    let fortunes: i64 = pg
        .query_one("SELECT count(*) FROM fortune", &[])
        .await?
        .get(0)?;
    if fortunes == 0 {
        let (ids, messages): (Vec<i32>, Vec<String>) = FORTUNES
            .iter()
            .map(|(id, message)| (*id, (*message).to_owned()))
            .unzip();
        pg.execute(
            "INSERT INTO fortune (id, message) SELECT * FROM unnest($1::int4[], $2::text[]) \
             ON CONFLICT DO NOTHING",
            &[&ids, &messages],
        )
        .await?;
    }
    Ok(())
}

/// Copies every `World` row into Redis (`world:<id>` → its number), 1,000 keys per `MSET`.
pub async fn fill_cache(
    pg: &Client,
    redis: &corelane_redis::Client,
) -> Result<(), crate::WebError> {
    let rows = pg.query("SELECT id, randomnumber FROM world", &[]).await?;
    let mut pairs: Vec<(String, i32)> = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: i32 = row.get(0)?;
        pairs.push((cache_key(id), row.get(1)?));
    }
    for chunk in pairs.chunks(1000) {
        redis.mset::<()>(chunk).await?;
    }
    Ok(())
}
