//! `Client::session` and `Client::with_session` over a real throwaway server: session state
//! (a temporary table, `SET search_path`, an advisory lock, `PREPARE`, a transaction of one's
//! own) sticks across the calls of one session, on a worker and off the loop; it is gone for
//! the next user of the pooled connection once the session is dropped; a session dropped mid
//! statement neither leaks nor wedges the pool; a failing statement leaves the session usable;
//! `Session::transaction` commits or rolls back (also when dropped) and the session's own
//! state outlives it.
//!
//! Two workers: off-loop calls of the client itself go to either worker's connections, so a
//! session that did not pin its connection would lose its temporary table on some calls.

use std::time::Duration;

use crate::support::{block_on, client_for, guard, on_worker, shared_server, two_workers};
use corelane_postgres::{Client, Error, GenericClient, Session, TransactionOptions};
use futures_lite::future;

/// How many times a bounded poll asks before giving up (with a short pause between asks: the
/// pause paces the poll, the bound is a hang guard, not a timing assertion).
const POLLS: usize = 2_000;
const PAUSE: Duration = Duration::from_millis(5);

fn setup(
    tweak: impl FnOnce(corelane_postgres::Config) -> corelane_postgres::Config,
) -> (std::sync::Arc<corelane_testkit::PgServer>, Client) {
    two_workers();
    let server = shared_server();
    let client = client_for(&server, tweak);
    (server, client)
}

async fn one<T: for<'a> corelane_postgres::FromSql<'a>>(db: &impl GenericClient, sql: &str) -> T {
    db.query_one(sql, &[]).await.unwrap().get(0).unwrap()
}

async fn pid(db: &impl GenericClient) -> i32 {
    one(db, "SELECT pg_backend_pid()").await
}

/// Makes a temp table in `s`, then counts how many of six later queries see it (and on which
/// backends they ran).
async fn temp_table_seen(s: &Session, table: &str) -> (usize, Vec<i32>) {
    s.execute(&format!("CREATE TEMP TABLE {table} (n int4)"), &[])
        .await
        .unwrap();
    s.execute(&format!("INSERT INTO {table} VALUES (1)"), &[])
        .await
        .unwrap();
    let mut seen = 0;
    let mut pids = Vec::new();
    for _ in 0..6 {
        let row = s
            .query_one(
                &format!("SELECT count(*), pg_backend_pid() FROM {table}"),
                &[],
            )
            .await;
        if let Ok(row) = row {
            if row.get::<i64>(0).unwrap() == 1 {
                seen += 1;
            }
            pids.push(row.get(1).unwrap());
        }
    }
    (seen, pids)
}

#[test]
fn a_temp_table_is_seen_by_every_later_query_of_the_session_off_the_loop_and_on_a_worker() {
    let (_server, client) = setup(|c| c);
    let c = client.clone();
    let (off_loop, on_loop) = guard("temp table in a session", move || {
        let off_loop = block_on(async {
            let s = c.session().await.unwrap();
            temp_table_seen(&s, "sess_temp_off").await
        });
        let c2 = c.clone();
        let on_loop = on_worker(1, move || async move {
            let s = c2.session().await.unwrap();
            temp_table_seen(&s, "sess_temp_on").await
        });
        (off_loop, on_loop)
    });
    for (seen, pids) in [off_loop, on_loop] {
        assert_eq!(seen, 6, "{pids:?}");
        assert!(
            pids.windows(2).all(|w| w[0] == w[1]),
            "one backend: {pids:?}"
        );
    }
    // And the client's own calls do not see it (they never run on the session's connection).
    let missing = block_on(client.query("SELECT count(*) FROM sess_temp_off", &[]));
    assert_eq!(missing.unwrap_err().code().map(|c| c.code()), Some("42P01"));
}

#[test]
fn set_search_path_sticks_and_statements_are_described_on_the_session() {
    let (_server, client) = setup(|c| c);
    block_on(client.batch_execute(
        "DROP SCHEMA IF EXISTS sess_sp CASCADE; CREATE SCHEMA sess_sp; \
         DROP TABLE IF EXISTS public.sess_shadow; \
         CREATE TABLE public.sess_shadow (k int4); INSERT INTO public.sess_shadow VALUES (1); \
         CREATE TABLE sess_sp.sess_shadow (k text); INSERT INTO sess_sp.sess_shadow VALUES ('x'); \
         CREATE TABLE sess_sp.only_here (v text); INSERT INTO sess_sp.only_here VALUES ('here')",
    ))
    .unwrap();
    let c = client.clone();
    guard("search_path in a session", move || {
        block_on(async {
            let sql = "SELECT k FROM sess_shadow WHERE k = $1";
            // The client describes it on its connections (k int4), remembered on this thread.
            let on_client = c.query_one(sql, &[&1i32]).await.unwrap();
            assert_eq!(on_client.get::<i32>(0).unwrap(), 1);

            let s = c.session().await.unwrap();
            s.batch_execute("SET search_path = sess_sp, public")
                .await
                .unwrap();
            for _ in 0..6 {
                assert_eq!(
                    one::<String>(&s, "SELECT current_setting('search_path')").await,
                    "sess_sp, public"
                );
                assert_eq!(one::<String>(&s, "SELECT v FROM only_here").await, "here");
            }
            // The same SQL means sess_sp.sess_shadow (k text) here: described on the session's
            // connection, not taken from the client's descriptions.
            let row = s.query_one(sql, &[&"x"]).await.unwrap();
            assert_eq!(row.get::<String>(0).unwrap(), "x");
            // A plain SET too; and the client's connections never see either.
            s.batch_execute("SET application_name = 'sess_app'")
                .await
                .unwrap();
            assert_eq!(
                one::<String>(&s, "SELECT current_setting('application_name')").await,
                "sess_app"
            );
            assert_ne!(
                one::<String>(&c, "SELECT current_setting('search_path')").await,
                "sess_sp, public"
            );
        })
    });
}

#[test]
fn an_advisory_lock_is_held_across_calls_and_released_when_the_session_is_dropped() {
    let (_server, client) = setup(|c| c);
    let c = client.clone();
    guard("advisory lock in a session", move || {
        block_on(async {
            let holder = c.session().await.unwrap();
            let other = c.session().await.unwrap();
            assert_ne!(pid(&holder).await, pid(&other).await);
            assert!(one::<bool>(&holder, "SELECT pg_try_advisory_lock(71001)").await);
            for _ in 0..3 {
                // Still held by the holder's connection, call after call.
                assert!(!one::<bool>(&other, "SELECT pg_try_advisory_lock(71001)").await);
                let held: i64 = one(
                    &holder,
                    "SELECT count(*) FROM pg_locks \
                     WHERE locktype = 'advisory' AND objid = 71001 AND pid = pg_backend_pid()",
                )
                .await;
                assert_eq!(held, 1);
            }
            drop(holder);
            // Released by the reset the drop starts (not when the connection is next checked
            // out: `other` holds a connection of its own meanwhile).
            let mut got = false;
            for _ in 0..POLLS {
                if one::<bool>(&other, "SELECT pg_try_advisory_lock(71001)").await {
                    got = true;
                    break;
                }
                std::thread::sleep(PAUSE);
            }
            assert!(got, "the dropped session's lock was never released");
        })
    });
}

/// What the next user of an exclusive connection sees: backend, work_mem, search_path, whether
/// the temp table, the prepared statement and the advisory lock are still there, and whether
/// a transaction is open (a `BEGIN` would warn; `now()` would be frozen — read the xact id).
async fn probe(s: &Session) -> (i32, String, String, bool, i64, i64, Option<String>) {
    let row = s
        .query_one(
            "SELECT pg_backend_pid(), current_setting('work_mem'), \
             current_setting('search_path'), to_regclass('sess_dirty') IS NOT NULL, \
             (SELECT count(*) FROM pg_prepared_statements WHERE name = 'sess_p'), \
             (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
                AND pid = pg_backend_pid()), \
             pg_current_xact_id_if_assigned()::text",
            &[],
        )
        .await
        .unwrap();
    (
        row.get(0).unwrap(),
        row.get(1).unwrap(),
        row.get(2).unwrap(),
        row.get(3).unwrap(),
        row.get(4).unwrap(),
        row.get(5).unwrap(),
        row.get(6).unwrap(),
    )
}

/// Leaves every kind of session state behind, with a transaction open and a row written in
/// it; returns the backend pid.
async fn dirty(s: &Session) -> i32 {
    s.batch_execute(
        "SET work_mem = '7MB'; SET search_path = pg_catalog; \
         CREATE TEMP TABLE sess_dirty (n int4); PREPARE sess_p AS SELECT 1; \
         SELECT pg_advisory_lock(71002); \
         BEGIN; INSERT INTO public.sess_rows VALUES (1)",
    )
    .await
    .unwrap();
    let seen = probe(s).await;
    assert_eq!(seen.1, "7MB");
    assert!(
        seen.3 && seen.4 == 1 && seen.5 == 1 && seen.6.is_some(),
        "{seen:?}"
    );
    seen.0
}

#[test]
fn a_dropped_session_leaves_nothing_for_the_next_user_of_its_connection() {
    // One exclusive connection per worker: the next session on the worker reuses it.
    let (_server, client) = setup(|c| c.exclusive_per_worker(1));
    block_on(
        client.batch_execute("DROP TABLE IF EXISTS sess_rows; CREATE TABLE sess_rows (n int4)"),
    )
    .unwrap();
    let c = client.clone();
    let (on_loop, off_loop, rows) = guard("dirty session reset", move || {
        let c2 = c.clone();
        let on_loop = on_worker(0, move || async move {
            let s = c2.session().await.unwrap();
            let clean = probe(&s).await;
            let first = dirty(&s).await;
            drop(s);
            let next = c2.session().await.unwrap();
            (first, clean, probe(&next).await)
        });
        // Off the loop the drop's reset goes through the worker's mailbox.
        let off_loop = block_on(async {
            let s = c.session().await.unwrap();
            let clean = probe(&s).await;
            let first = dirty(&s).await;
            drop(s);
            let next = next_on(&c, first).await;
            (first, clean, probe(&next).await)
        });
        (
            on_loop,
            off_loop,
            block_on(one::<i64>(&c, "SELECT count(*) FROM sess_rows")),
        )
    });
    for (pid, clean, next) in [on_loop, off_loop] {
        assert_eq!(next.0, pid, "the same connection, reused");
        // Everything as a fresh connection has it.
        assert_eq!((&next.1, &next.2), (&clean.1, &clean.2));
        assert_eq!(
            (next.3, next.4, next.5, next.6.as_deref()),
            (false, 0, 0, None)
        );
    }
    assert_eq!(rows, 0, "the transaction left open was rolled back");
}

/// The next session whose connection is backend `pid` (a session may land on the other
/// worker: ask until it is that connection; each worker has one exclusive connection, so the
/// one asked for comes once the dropped session's reset is done).
async fn next_on(c: &Client, pid_wanted: i32) -> Session {
    let mut next = c.session().await.unwrap();
    for _ in 0..POLLS {
        if pid(&next).await == pid_wanted {
            return next;
        }
        // Dropped before asking again: the other worker's only exclusive connection.
        drop(next);
        next = c.session().await.unwrap();
    }
    next
}

/// Polls `observer` until the backend `pid` is running a `pg_sleep`.
async fn until_sleeping(observer: &Client, pid: i32) {
    for _ in 0..POLLS * 10 {
        let active: bool = observer
            .query_one(
                "SELECT count(*) > 0 FROM pg_stat_activity \
                 WHERE pid = $1 AND state = 'active' AND query LIKE 'SELECT pg_sleep%'",
                &[&pid],
            )
            .await
            .unwrap()
            .get(0)
            .unwrap();
        if active {
            return;
        }
        // Paced by the query's round trip (this may run on a worker: no blocking sleep).
        futures_lite::future::yield_now().await;
    }
    panic!("the session's statement never started");
}

/// Starts a sleep on a session, drops the call once the server runs it, then the session;
/// the next session must come (the pool has one exclusive connection per worker) and be clean.
async fn drop_mid_statement(c: &Client, observer: &Client) -> (i32, i32, bool) {
    let s = c.session().await.unwrap();
    s.execute("CREATE TEMP TABLE sess_mid (n int4)", &[])
        .await
        .unwrap();
    let first = pid(&s).await;
    let outcome = future::or(
        async {
            let _ = s.query("SELECT pg_sleep(2)", &[]).await;
            "finished"
        },
        async {
            until_sleeping(observer, first).await;
            "dropped"
        },
    )
    .await;
    assert_eq!(outcome, "dropped");
    drop(s);
    let next = next_on(c, first).await;
    let again: bool = one(&next, "SELECT to_regclass('sess_mid') IS NOT NULL").await;
    (first, pid(&next).await, again)
}

#[test]
fn a_session_dropped_mid_statement_neither_leaks_nor_wedges_the_pool() {
    // Two connections per worker: one shared, one exclusive.
    let (_server, client) = setup(|c| c.max_connections(4).exclusive_per_worker(1));
    let observer = setup(|c| c).1;
    let (c, o) = (client.clone(), observer.clone());
    let on_loop = guard("session dropped mid statement, on a worker", move || {
        on_worker(0, move || async move { drop_mid_statement(&c, &o).await })
    });
    let (c, o) = (client.clone(), observer.clone());
    let off_loop = guard("session dropped mid statement, off the loop", move || {
        block_on(drop_mid_statement(&c, &o))
    });
    for (first, next, temp_table_left) in [on_loop, off_loop] {
        assert_eq!(first, next, "the connection was reset and reused, not lost");
        assert!(!temp_table_left);
    }
    // Every session ended: no exclusive connection is held (the last drops' resets may still
    // be on their way: ask until they are done).
    let mut in_use = usize::MAX;
    for _ in 0..POLLS {
        let stats = block_on(client.stats());
        in_use = stats
            .workers
            .iter()
            .map(|w| w.connections.exclusive_in_use)
            .sum();
        if in_use == 0 {
            break;
        }
        std::thread::sleep(PAUSE);
    }
    assert_eq!(in_use, 0);
}

#[test]
fn a_failing_statement_leaves_the_session_usable() {
    let (_server, client) = setup(|c| c);
    let c = client.clone();
    guard("errors in a session", move || {
        block_on(async {
            let s = c.session().await.unwrap();
            s.execute("CREATE TEMP TABLE sess_err (n int4)", &[])
                .await
                .unwrap();
            let first = pid(&s).await;
            let e = s.execute("SELECT 1/0", &[]).await.unwrap_err();
            assert_eq!(e.code().map(|c| c.code()), Some("22012"));
            let e = s.batch_execute("SELEC oops").await.unwrap_err();
            assert_eq!(e.code().map(|c| c.code()), Some("42601"));
            let e = s
                .query("SELECT * FROM sess_no_such_table", &[])
                .await
                .unwrap_err();
            assert_eq!(e.code().map(|c| c.code()), Some("42P01"));
            // Refused before sending: LISTEN and COPY name the API to use.
            let e: Error = s.batch_execute("LISTEN sess_chan").await.unwrap_err();
            assert!(
                e.is_session_change() && e.to_string().contains("Client::listener()"),
                "{e}"
            );
            let e = s
                .simple_query("COPY sess_err FROM STDIN")
                .await
                .unwrap_err();
            assert!(
                e.is_session_change() && e.to_string().contains("Client::copy_in()"),
                "{e}"
            );
            // Still the same connection, temp table and all.
            s.execute("INSERT INTO sess_err VALUES (1)", &[])
                .await
                .unwrap();
            assert_eq!(one::<i64>(&s, "SELECT count(*) FROM sess_err").await, 1);
            assert_eq!(pid(&s).await, first);
            // A transaction of one's own: a failure aborts it until ROLLBACK, as on any
            // connection; then the session carries on.
            s.batch_execute("BEGIN").await.unwrap();
            s.execute("INSERT INTO sess_err VALUES (2)", &[])
                .await
                .unwrap();
            assert!(s.execute("SELECT 1/0", &[]).await.is_err());
            let e = s
                .execute("INSERT INTO sess_err VALUES (3)", &[])
                .await
                .unwrap_err();
            assert_eq!(e.code().map(|c| c.code()), Some("25P02"));
            s.batch_execute("ROLLBACK").await.unwrap();
            s.batch_execute("BEGIN; INSERT INTO sess_err VALUES (4); COMMIT")
                .await
                .unwrap();
            let ns: Vec<i32> = s
                .query("SELECT n FROM sess_err ORDER BY n", &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0).unwrap())
                .collect();
            assert_eq!(ns, [1, 4]);
        })
    });
}

#[test]
fn with_session_runs_a_closure_on_one_connection_and_handles_cross_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let (_server, client) = setup(|c| c);
    let c = client.clone();
    let (count, pids) = guard("with_session", move || {
        let out = block_on(c.with_session(|s| async move {
            send_sync(&s);
            s.batch_execute("CREATE TEMP TABLE sess_with (n int4); PREPARE sess_ins AS INSERT INTO sess_with VALUES (7)")
                .await?;
            let mut pids = Vec::new();
            for _ in 0..6 {
                s.batch_execute("EXECUTE sess_ins").await?;
                pids.push(pid(&s).await);
            }
            let n: i64 = s.query_one("SELECT count(*) FROM sess_with", &[]).await?.get(0)?;
            Ok((n, pids))
        }))
        .unwrap();
        // A session sent to another thread and used there.
        let s = block_on(c.session()).unwrap();
        block_on(s.batch_execute("CREATE TEMP TABLE sess_moved (n int4)")).unwrap();
        std::thread::spawn(move || {
            block_on(s.execute("INSERT INTO sess_moved VALUES (1)", &[])).unwrap();
        })
        .join()
        .unwrap();
        out
    });
    assert_eq!(count, 6);
    assert!(pids.windows(2).all(|w| w[0] == w[1]), "{pids:?}");
}

#[test]
fn a_transaction_in_a_session_commits_or_rolls_back_and_the_session_state_stays() {
    let (_server, client) = setup(|c| c);
    let c = client.clone();
    guard("transaction in a session", move || {
        block_on(async {
            let mut s = c.session().await.unwrap();
            s.batch_execute("SET work_mem = '5MB'; CREATE TEMP TABLE sess_tx (n int4)")
                .await
                .unwrap();
            let first = pid(&s).await;
            s.transaction(TransactionOptions::new(), |tx| async move {
                tx.execute("INSERT INTO sess_tx VALUES (1)", &[]).await?;
                Ok(())
            })
            .await
            .unwrap();
            let failed = s
                .transaction(TransactionOptions::new(), |tx| async move {
                    tx.execute("INSERT INTO sess_tx VALUES (2)", &[]).await?;
                    tx.execute("SELECT 1/0", &[]).await?;
                    Ok(())
                })
                .await
                .unwrap_err();
            assert_eq!(failed.code().map(|c| c.code()), Some("22012"));
            // Dropped mid-transaction (after its insert ran): rolled back, the session serves on.
            let dropped = future::or(
                async {
                    s.transaction(TransactionOptions::new(), |tx| async move {
                        tx.execute("INSERT INTO sess_tx VALUES (3)", &[]).await?;
                        tx.execute("SELECT pg_sleep(2)", &[]).await?;
                        Ok(())
                    })
                    .await
                    .map(|_| "finished")
                },
                async {
                    until_sleeping(&c, first).await;
                    Ok("dropped")
                },
            )
            .await
            .unwrap();
            assert_eq!(dropped, "dropped");
            // Behind the sleep and its ROLLBACK (the server finishes the sleep first).
            let ns: Vec<i32> = s
                .query("SELECT n FROM sess_tx ORDER BY n", &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0).unwrap())
                .collect();
            assert_eq!(ns, [1]);
            assert_eq!(
                one::<String>(&s, "SELECT current_setting('work_mem')").await,
                "5MB"
            );
            assert_eq!(pid(&s).await, first);
        })
    });
}
