//! A panic on a worker ends one task, never the worker: caught per task and reported to the
//! awaiter as a typed error; a worker whose executor still dies is restarted (issue 9 A8).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{run_on, test_loop, wait, EchoServer};
use bytes::BytesMut;
use corelane_runtime::{dispatch, CloseCause, Handler, Limits, Registered, Stream, SubmitError};

const WAIT: Duration = Duration::from_secs(60);

/// 1,000 jobs on every worker of `lp`, awaited from this (non-worker) thread: all must run.
fn thousand_jobs(lp: &corelane_runtime::Loop) {
    for i in 0..1_000usize {
        let out = futures_lite::future::block_on(dispatch(lp, i, move || async move { i * 2 }));
        assert_eq!(out, Ok(i * 2), "job {i}");
    }
}

#[test]
fn a_panicking_spawned_future_reports_a_typed_error_to_its_awaiter() {
    let lp = test_loop(2);
    for worker in lp.workers() {
        let out = futures_lite::future::block_on(worker.spawn(|| async {
            if std::hint::black_box(true) {
                panic!("future panicked");
            }
            1u8
        }));
        match out {
            Err(SubmitError::Panicked(p)) => assert_eq!(p.message(), "future panicked"),
            other => panic!("expected Panicked, got {other:?}"),
        }
        // The closure that makes the future panics: the same.
        let out = futures_lite::future::block_on(worker.spawn(|| {
            if std::hint::black_box(true) {
                panic!("make panicked");
            }
            async { 1u8 }
        }));
        assert!(matches!(out, Err(SubmitError::Panicked(_))), "{out:?}");
        assert_eq!(worker.panics(), 2);
        assert_eq!(worker.restarts(), 0);
    }
    thousand_jobs(&lp);
}

#[test]
fn panicking_local_and_detached_tasks_leave_the_worker_running() {
    let lp = test_loop(2);
    for worker in lp.workers() {
        let joined = run_on(worker, || async {
            corelane_runtime::task::spawn_detached(async {
                panic!("detached task panicked");
            })
            .unwrap();
            let task = corelane_runtime::task::spawn(async {
                if std::hint::black_box(true) {
                    panic!("local task panicked");
                }
                3u8
            })
            .unwrap();
            task.join().await.map_err(|p| p.message().to_owned())
        });
        assert_eq!(joined, Err("local task panicked".to_owned()));
        // A submitted job that panics is caught the same way.
        worker.submit(|| panic!("job panicked")).unwrap();
    }
    thousand_jobs(&lp);
    for worker in lp.workers() {
        assert_eq!(worker.panics(), 3);
        assert_eq!(worker.restarts(), 0);
    }
}

/// A handler that panics on its first bytes: a panic outside any task the runtime wraps (the
/// connection's reader task calls it), which takes the executor down.
struct Panics;

impl Handler for Panics {
    fn on_recv(&mut self, _: &mut BytesMut) -> Result<(), CloseCause> {
        panic!("handler panicked");
    }

    fn on_close(&mut self, _: &CloseCause) {}
}

thread_local! {
    /// Keeps handles alive on a worker between jobs.
    static HELD: std::cell::RefCell<Vec<(Registered<Panics>, mpsc::Sender<()>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

#[test]
fn a_worker_whose_executor_dies_is_restarted() {
    let server = EchoServer::start();
    let lp = test_loop(2);
    let worker = lp.workers()[0].clone();
    let addr = server.addr;
    let (held_tx, held_rx) = mpsc::channel::<()>();
    run_on(&worker, move || async move {
        let conn = Registered::register(
            Stream::connect_tcp(addr).await.unwrap(),
            Panics,
            Limits::default(),
        )
        .unwrap();
        conn.write(b"ping\n").unwrap();
        // Keep the connection registered until the executor dies with it.
        HELD.with(|h| h.borrow_mut().push((conn, held_tx)));
    });
    // The echo comes back, the handler panics, the executor dies, a new one takes over.
    let deadline = Instant::now() + WAIT;
    while worker.restarts() == 0 {
        assert!(Instant::now() < deadline, "the worker was not restarted");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The old thread ended, and what it held (its connections) with it.
    assert_eq!(
        held_rx.recv_timeout(WAIT),
        Err(mpsc::RecvTimeoutError::Disconnected)
    );
    let deadline = Instant::now() + WAIT;
    while !worker.is_running() {
        assert!(Instant::now() < deadline, "the restarted worker never ran");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The restarted worker is the same `WorkerLoop`: jobs, spawns and calls reach it.
    assert_eq!(wait(worker.spawn(|| async { 7u8 })), 7);
    thousand_jobs(&lp);
    assert_eq!(worker.restarts(), 1);
    // And the loop still shuts down cleanly, joining the new thread.
    lp.shutdown();
    assert!(!worker.is_running());
}
