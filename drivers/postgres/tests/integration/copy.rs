//! COPY FROM STDIN / TO STDOUT and notices against a real throwaway PostgreSQL server: 1M rows
//! in and out (lazily generated, streamed back in bounded memory), binary COPY IN, a failing
//! source (CopyFail), rows the server rejects, a dropped COPY OUT, callers on a worker, and
//! `RAISE NOTICE` reaching the notice callback.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use crate::support::{block_on, client_for, guard, on_worker, rss_kib, shared_server, two_workers};
use bytes::{Bytes, BytesMut};
use corelane_postgres::{copy_text_row, oid, Client, CopyBinary};
use futures_lite::StreamExt;

const MILLION: i64 = 1_000_000;

fn client() -> (Arc<corelane_testkit::PgServer>, Client) {
    two_workers();
    let server = shared_server();
    let client = client_for(&server, |c| c);
    (server, client)
}

/// Rows `from..to` as `id<TAB>name-id` text, generated lazily, 1000 rows per piece.
fn rows(from: i64, to: i64) -> impl futures_lite::Stream<Item = Result<Bytes, Infallible>> {
    futures_lite::stream::iter((from..to).step_by(1000)).map(move |start| {
        let mut out = BytesMut::with_capacity(16 * 1024);
        for id in start..(start + 1000).min(to) {
            let id_text = id.to_string();
            let name = format!("name-{id}");
            copy_text_row([Some(id_text.as_str()), Some(name.as_str())], &mut out);
        }
        Ok(out.freeze())
    })
}

async fn count_sum(client: &Client, table: &str) -> (i64, i64) {
    let row = client
        .query_one(
            &format!("SELECT count(*), coalesce(sum(id), 0)::int8 FROM {table}"),
            &[],
        )
        .await
        .unwrap();
    (row.get(0).unwrap(), row.get(1).unwrap())
}

/// Counts the lines of text-format COPY OUT data and sums their first field.
#[derive(Default)]
struct Tally {
    rows: i64,
    sum: i64,
    partial: Vec<u8>,
}

impl Tally {
    fn feed(&mut self, piece: &[u8]) {
        self.partial.extend_from_slice(piece);
        let mut start = 0;
        while let Some(n) = self.partial[start..].iter().position(|&b| b == b'\n') {
            let line = &self.partial[start..start + n];
            let id = line.split(|&b| b == b'\t').next().unwrap();
            self.sum += std::str::from_utf8(id).unwrap().parse::<i64>().unwrap();
            self.rows += 1;
            start += n + 1;
        }
        self.partial.drain(..start);
    }
}

#[test]
fn copy_in_and_out_a_million_rows() {
    let (_server, client) = client();
    guard("copy 1M rows", move || {
        block_on(async {
            client
                .batch_execute(
                    "DROP TABLE IF EXISTS copy_big; CREATE TABLE copy_big (id int8, name text)",
                )
                .await
                .unwrap();
            let n = client
                .copy_in("COPY copy_big (id, name) FROM STDIN", rows(0, MILLION))
                .await
                .unwrap();
            assert_eq!(n, MILLION as u64);
            assert_eq!(
                count_sum(&client, "copy_big").await,
                (MILLION, MILLION * (MILLION - 1) / 2)
            );

            let before = rss_kib();
            let mut peak = before;
            let mut out = client
                .copy_out("COPY copy_big (id, name) TO STDOUT")
                .await
                .unwrap();
            let mut tally = Tally::default();
            let mut pieces = 0u64;
            while let Some(piece) = out.next().await {
                let piece = piece.unwrap();
                assert!(!piece.is_empty());
                tally.feed(&piece);
                pieces += 1;
                if pieces % 64 == 0 {
                    peak = peak.max(rss_kib());
                }
            }
            assert!(tally.partial.is_empty(), "output ends with a whole row");
            assert_eq!(out.rows(), Some(MILLION as u64));
            assert_eq!(
                (tally.rows, tally.sum),
                (MILLION, MILLION * (MILLION - 1) / 2)
            );
            assert!(
                peak.saturating_sub(before) < 200 * 1024,
                "RSS grew from {before} KiB to {peak} KiB during COPY OUT"
            );
            // The client serves on.
            assert_eq!(count_sum(&client, "copy_big").await.0, MILLION);
        })
    });
}

#[test]
fn slow_consumer_copy_out_is_bounded_and_a_dropped_stream_is_harmless() {
    let (_server, client) = client();
    guard("slow copy out", move || {
        block_on(async {
            client
                .batch_execute(
                    "DROP TABLE IF EXISTS copy_slow; CREATE TABLE copy_slow (id int8, name text)",
                )
                .await
                .unwrap();
            client
                .copy_in("COPY copy_slow FROM STDIN", rows(0, 300_000))
                .await
                .unwrap();
            let mut out = client.copy_out("COPY copy_slow TO STDOUT").await.unwrap();
            let mut tally = Tally::default();
            // Read a little, stall (the server must be held back), read on.
            for _ in 0..4 {
                let piece = out.next().await.unwrap().unwrap();
                tally.feed(&piece);
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
            while let Some(piece) = out.next().await {
                tally.feed(&piece.unwrap());
            }
            assert_eq!(tally.rows, 300_000);
            assert_eq!(out.rows(), Some(300_000));

            // Dropped half way: its connection is closed, the client serves on.
            let mut out = client.copy_out("COPY copy_slow TO STDOUT").await.unwrap();
            let _ = out.next().await.unwrap().unwrap();
            drop(out);
            assert_eq!(count_sum(&client, "copy_slow").await.0, 300_000);
            let again = client.copy_out("COPY copy_slow TO STDOUT").await.unwrap();
            let pieces: Vec<_> = again.collect().await;
            let mut tally = Tally::default();
            for piece in pieces {
                tally.feed(&piece.unwrap());
            }
            assert_eq!(tally.rows, 300_000);
        })
    });
}

#[test]
fn copy_on_a_worker() {
    let (_server, client) = client();
    block_on(client.batch_execute(
        "DROP TABLE IF EXISTS copy_local; CREATE TABLE copy_local (id int8, name text)",
    ))
    .unwrap();
    let (copied, tally_rows, tally_sum, rows_reported) = guard("copy on a worker", move || {
        on_worker(0, move || async move {
            let copied = client
                .copy_in("COPY copy_local FROM STDIN", rows(0, 100_000))
                .await
                .unwrap_or(0);
            let mut tally = Tally::default();
            let mut reported = None;
            if let Ok(mut out) = client.copy_out("COPY copy_local TO STDOUT").await {
                while let Some(Ok(piece)) = out.next().await {
                    tally.feed(&piece);
                }
                reported = out.rows();
            }
            (copied, tally.rows, tally.sum, reported)
        })
    });
    assert_eq!(copied, 100_000);
    assert_eq!(rows_reported, Some(100_000));
    assert_eq!((tally_rows, tally_sum), (100_000, 100_000 * 99_999 / 2));
}

#[test]
fn binary_copy_in() {
    let (_server, client) = client();
    guard("binary copy", move || {
        block_on(async {
            client
                .batch_execute(
                    "DROP TABLE IF EXISTS copy_bin; \
                     CREATE TABLE copy_bin (id int4, note text, score float8)",
                )
                .await
                .unwrap();
            let copy = CopyBinary::new(vec![oid::INT4, oid::TEXT, oid::FLOAT8]);
            let mut data = BytesMut::new();
            copy.header(&mut data);
            copy.row(&[&1i32, &"one", &1.5f64], &mut data).unwrap();
            copy.row(&[&2i32, &None::<&str>, &2.5f64], &mut data)
                .unwrap();
            copy.row(&[&3i32, &"tab\there", &-0.25f64], &mut data)
                .unwrap();
            copy.trailer(&mut data);
            // Split at odd offsets: pieces need not end at rows.
            let data = data.freeze();
            let pieces: Vec<Result<Bytes, Infallible>> = data
                .chunks(7)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            let n = client
                .copy_in(
                    "COPY copy_bin FROM STDIN (FORMAT binary)",
                    futures_lite::stream::iter(pieces),
                )
                .await
                .unwrap();
            assert_eq!(n, 3);
            let rows = client
                .query("SELECT id, note, score FROM copy_bin ORDER BY id", &[])
                .await
                .unwrap();
            let got: Vec<(i32, Option<String>, f64)> = rows
                .iter()
                .map(|r| (r.get(0).unwrap(), r.get(1).unwrap(), r.get(2).unwrap()))
                .collect();
            assert_eq!(
                got,
                vec![
                    (1, Some("one".to_owned()), 1.5),
                    (2, None, 2.5),
                    (3, Some("tab\there".to_owned()), -0.25),
                ]
            );
        })
    });
}

#[test]
fn a_failing_source_aborts_the_copy_and_the_client_serves_on() {
    let (_server, client) = client();
    guard("failing source", move || {
        block_on(async {
            client
                .batch_execute(
                    "DROP TABLE IF EXISTS copy_fail; CREATE TABLE copy_fail (id int8, name text)",
                )
                .await
                .unwrap();
            client
                .copy_in("COPY copy_fail FROM STDIN", rows(0, 10))
                .await
                .unwrap();
            // 200k good rows (several CopyData messages already sent), then an error.
            let source = rows(1000, 201_000)
                .map(|piece| piece.map_err(|e| match e {}))
                .chain(futures_lite::stream::once(Err("disk on fire".to_owned())))
                .chain(futures_lite::stream::iter(vec![Ok(Bytes::from_static(
                    b"999999\tnever\n",
                ))]));
            let err = client
                .copy_in("COPY copy_fail FROM STDIN", source)
                .await
                .unwrap_err();
            assert!(err.is_copy_aborted(), "{err}");
            assert!(err.to_string().contains("disk on fire"), "{err}");
            // Nothing of the failed copy was kept.
            assert_eq!(count_sum(&client, "copy_fail").await, (10, 45));

            // Rows the server rejects: its error, and the client serves on.
            let bad = futures_lite::stream::iter(vec![Ok::<_, Infallible>(Bytes::from_static(
                b"1\tok\nnot-a-number\tbad\n",
            ))]);
            let err = client
                .copy_in("COPY copy_fail FROM STDIN", bad)
                .await
                .unwrap_err();
            assert_eq!(err.code().map(|c| c.code()), Some("22P02"), "{err}");
            assert!(!err.is_copy_aborted());

            // A statement that is not a COPY, and a failing one.
            let err = client.copy_in("SELECT 1", rows(0, 1)).await.unwrap_err();
            assert!(err.to_string().contains("COPY"), "{err}");
            let err = client
                .copy_out("COPY no_such_table TO STDOUT")
                .await
                .unwrap_err();
            assert_eq!(err.code().map(|c| c.code()), Some("42P01"), "{err}");

            // Same client, same table: works.
            let n = client
                .copy_in("COPY copy_fail FROM STDIN", rows(10, 20))
                .await
                .unwrap();
            assert_eq!(n, 10);
            assert_eq!(count_sum(&client, "copy_fail").await, (20, 190));
            let one: i32 = client
                .query_one("SELECT 1", &[])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            assert_eq!(one, 1);
        })
    });
}

#[test]
fn notices_reach_the_callback() {
    two_workers();
    let server = shared_server();
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let sink = seen.clone();
    let client = client_for(&server, move |c| {
        c.on_notice(move |n| {
            sink.lock()
                .unwrap()
                .push((n.severity.to_string(), n.message.to_string()))
        })
    });
    guard("notice", move || {
        block_on(async {
            client
                .batch_execute("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$")
                .await
                .unwrap();
            client
                .execute("DO $$ BEGIN RAISE WARNING 'careful'; END $$", &[])
                .await
                .unwrap();
        })
    });
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|(severity, message)| severity == "NOTICE" && message == "hello 42"),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(severity, message)| severity == "WARNING" && message == "careful"),
        "{seen:?}"
    );
}

/// A statement that is not the COPY the call needs: a typed error naming both, and the client
/// serves on (a statement that started the other copy had its connection closed, not reused).
#[test]
fn a_statement_that_is_not_the_right_copy_is_refused_and_the_client_serves_on() {
    let (_server, client) = client();
    guard("wrong copy statements", move || {
        block_on(async {
            let none = futures_lite::stream::iter(Vec::<Result<Bytes, Infallible>>::new());
            let e = client.copy_in("SELECT 1", none).await.unwrap_err();
            assert!(
                e.to_string().contains(
                    "copy_in needs a COPY ... FROM STDIN statement; the statement ran but did \
                     not start one"
                ),
                "{e}"
            );
            let none = futures_lite::stream::iter(Vec::<Result<Bytes, Infallible>>::new());
            let e = client
                .copy_in("COPY (SELECT 1) TO STDOUT", none)
                .await
                .unwrap_err();
            assert!(
                e.to_string().contains(
                    "copy_in needs a COPY ... FROM STDIN statement, not COPY ... TO STDOUT"
                ),
                "{e}"
            );
            let e = client.copy_out("SELECT 1").await.unwrap_err();
            assert!(
                e.to_string().contains(
                    "copy_out needs a COPY ... TO STDOUT statement; the statement ran but did \
                     not start one"
                ),
                "{e}"
            );
            let e = client.copy_out("SELEC 1").await.unwrap_err();
            assert_eq!(e.code().map(|c| c.code()), Some("42601"), "{e}");
            let one: i32 = client
                .query_one("SELECT 1", &[])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            assert_eq!(one, 1);
        })
    });
}
