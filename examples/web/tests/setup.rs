//! `create_tables` from several stacks at once on an empty database: every one succeeds and
//! the tables end up filled once (`CREATE TABLE IF NOT EXISTS` alone races: 23505).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Barrier};

use corelane_testkit::PgServer;
use corelane_web::setup::{create_tables, FORTUNES};

#[test]
fn stacks_starting_at_once_on_an_empty_database_all_set_it_up() {
    for round in 0..3 {
        // A new server each round: the tables must not exist yet.
        let server = PgServer::start().unwrap();
        let url = server.url();
        let starters = 4;
        let barrier = Arc::new(Barrier::new(starters));
        let threads: Vec<_> = (0..starters)
            .map(|_| {
                let url = url.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    // One client per starter, as separate processes would have.
                    let pg = corelane_postgres::Client::connect(&url).unwrap();
                    futures_lite::future::block_on(pg.check()).unwrap();
                    barrier.wait();
                    futures_lite::future::block_on(create_tables(&pg))
                })
            })
            .collect();
        for t in threads {
            t.join()
                .unwrap()
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
        let pg = corelane_postgres::Client::connect(&url).unwrap();
        let count = |table: &str| -> i64 {
            futures_lite::future::block_on(
                pg.query_one(&format!("SELECT count(*) FROM {table}"), &[]),
            )
            .unwrap()
            .get(0)
            .unwrap()
        };
        assert_eq!(count("world"), 10_000);
        assert_eq!(count("fortune"), FORTUNES.len() as i64);
    }
}
