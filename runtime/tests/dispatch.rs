//! `dispatch`: the local path runs the work in place with no allocation of its own, the remote
//! path through a worker's mailbox; `boxed` keeps both; and the one misuse it cannot survive
//! (a started local dispatch dropped on another thread) aborts rather than corrupt memory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Dispatches are returned unawaited on purpose: to move them to another thread.
#![allow(clippy::async_yields_async)]

use std::future::Future;
use std::pin::Pin;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use corelane_runtime::{dispatch, Loop, Placement, SubmitError};
use corelane_testkit::alloc_count::{start_counting, stop_counting, ThreadCountingAlloc};

#[global_allocator]
static ALLOCATOR: ThreadCountingAlloc = ThreadCountingAlloc;

fn one_worker() -> Loop {
    Loop::builder()
        .workers(1)
        .placement(Placement::Unbound)
        .start()
        .unwrap()
}

/// Yields once, so the dispatch is polled twice (pinned, then resumed).
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn the_local_path_runs_in_place_without_allocating() {
    let lp = one_worker();
    let worker = lp.workers()[0].clone();
    let set = lp.worker_set();
    let (allocs, outputs) = futures_lite::future::block_on(worker.spawn(move || async move {
        let mut outputs = Vec::with_capacity(1000);
        // Warm: the executor's queues at their working size.
        for i in 0..100u64 {
            outputs.push(dispatch(&set, 0, move || async move { i }).await);
        }
        outputs.clear();
        start_counting();
        for i in 0..1000u64 {
            let out = dispatch(&set, 0, move || async move {
                YieldOnce(false).await;
                i * 3
            })
            .await;
            outputs.push(out);
        }
        (stop_counting(), outputs)
    }))
    .unwrap();
    lp.shutdown();
    assert_eq!(allocs, 0, "allocations for 1000 local dispatches");
    assert_eq!(outputs, (0..1000u64).map(|i| Ok(i * 3)).collect::<Vec<_>>());
}

#[test]
fn boxed_and_remote_dispatches_give_the_same_answers() {
    let lp = one_worker();
    let set = lp.worker_set();
    // Off the loop: the mailbox path, plain and boxed.
    let remote = futures_lite::future::block_on(dispatch(&set, 7, || async { 41 + 1 }));
    assert_eq!(remote, Ok(42));
    let remote = futures_lite::future::block_on(dispatch(&set, 7, || async { 6 * 7 }).boxed());
    assert_eq!(remote, Ok(42));
    // On the loop: the local path, boxed before its first poll.
    let worker = lp.workers()[0].clone();
    let local = futures_lite::future::block_on(worker.spawn(move || async move {
        let boxed = dispatch(&set, 0, || async {
            YieldOnce(false).await;
            "local"
        })
        .boxed();
        boxed.await
    }))
    .unwrap();
    assert_eq!(local, Ok("local"));
    lp.shutdown();
}

#[test]
fn a_panic_in_local_work_is_a_typed_error_and_the_worker_lives_on() {
    let lp = one_worker();
    let set = lp.worker_set();
    let worker = lp.workers()[0].clone();
    let out = futures_lite::future::block_on(worker.spawn(move || async move {
        let panicked = dispatch(&set, 0, || async {
            YieldOnce(false).await;
            if std::hint::black_box(true) {
                panic!("work panicked");
            }
            1u8
        })
        .await;
        let after = dispatch(&set, 0, || async { 2u8 }).await;
        (panicked, after)
    }))
    .unwrap();
    match out.0 {
        Err(SubmitError::Panicked(p)) => assert_eq!(p.message(), "work panicked"),
        other => panic!("expected Panicked, got {other:?}"),
    }
    assert_eq!(out.1, Ok(2));
    lp.shutdown();
}

#[test]
fn a_local_dispatch_dropped_off_its_thread_before_its_first_poll_is_dropped_on_its_worker() {
    let lp = one_worker();
    let set = lp.worker_set();
    let worker = lp.workers()[0].clone();
    // Made on the worker, never polled, sent back here and dropped: its future goes back to
    // the worker and is dropped there (never touched here).
    let drops = Arc::new(Drops::default());
    let counted = drops.clone();
    let unpolled = futures_lite::future::block_on(
        worker.spawn(move || async move { dispatch(&set, 0, move || PendingUnpin(counted)) }),
    )
    .unwrap();
    drop(unpolled);
    wait_for_drops_on_worker(&drops, 1);
    // And a dispatch moved off its thread before its first poll cannot run there.
    let set = lp.worker_set();
    let moved = futures_lite::future::block_on(
        worker.spawn(move || async move { dispatch(&set, 0, || async { 5u8 }) }),
    )
    .unwrap();
    assert_eq!(
        futures_lite::future::block_on(moved),
        Err(SubmitError::WrongThread)
    );
    lp.shutdown();
}

/// An `Unpin` future that is pending forever and counts its drops: on a worker thread, and
/// anywhere else.
struct PendingUnpin(Arc<Drops>);

#[derive(Default)]
struct Drops {
    on_worker: AtomicUsize,
    elsewhere: AtomicUsize,
}

impl Future for PendingUnpin {
    type Output = u8;
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<u8> {
        Poll::Pending
    }
}

impl Drop for PendingUnpin {
    fn drop(&mut self) {
        let count = if corelane_runtime::WorkerLoop::current().is_some() {
            &self.0.on_worker
        } else {
            &self.0.elsewhere
        };
        count.fetch_add(1, Ordering::SeqCst);
    }
}

/// Waits (bounded) until `drops` counts `n` drops on a worker.
fn wait_for_drops_on_worker(drops: &Drops, n: usize) {
    for _ in 0..2_000 {
        if drops.on_worker.load(Ordering::SeqCst) >= n {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(
        drops.on_worker.load(Ordering::SeqCst),
        n,
        "drops on the worker"
    );
    assert_eq!(
        drops.elsewhere.load(Ordering::SeqCst),
        0,
        "drops off the worker"
    );
}

#[test]
fn a_started_movable_dispatch_moved_off_its_thread_errors_and_is_dropped_on_its_worker() {
    let lp = one_worker();
    let set = lp.worker_set();
    let worker = lp.workers()[0].clone();
    let drops = Arc::new(Drops::default());
    let counted = drops.clone();
    let mut started = futures_lite::future::block_on(worker.spawn(move || async move {
        let mut fut = dispatch(&set, 0, move || PendingUnpin(counted)).movable();
        // Polled once on the worker: started, but `Unpin`, so not pinned.
        assert!(futures_lite::future::poll_once(&mut fut).await.is_none());
        fut
    }))
    .unwrap();
    // Polled here, off its worker: a typed error, the future untouched.
    assert_eq!(
        futures_lite::future::block_on(&mut started),
        Err(SubmitError::WrongThread)
    );
    // Dropped here: the process lives on, and the future is dropped on its worker.
    drop(started);
    wait_for_drops_on_worker(&drops, 1);
    // A boxed dispatch is movable too.
    let set = lp.worker_set();
    let counted = drops.clone();
    let boxed = futures_lite::future::block_on(worker.spawn(move || async move {
        let mut fut = dispatch(&set, 0, move || async move {
            PendingUnpin(counted).await;
        })
        .boxed();
        assert!(futures_lite::future::poll_once(&mut fut).await.is_none());
        fut
    }))
    .unwrap();
    drop(boxed);
    wait_for_drops_on_worker(&drops, 2);
    lp.shutdown();
}

#[test]
fn a_lazy_fallback_is_called_only_on_the_remote_path() {
    let lp = one_worker();
    let set = lp.worker_set();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let remote = futures_lite::future::block_on(dispatch(
        &set,
        move || counted.fetch_add(1, Ordering::SeqCst),
        || async { 7u8 },
    ));
    assert_eq!(remote, Ok(7));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let worker = lp.workers()[0].clone();
    let counted = calls.clone();
    let local = futures_lite::future::block_on(worker.spawn(move || async move {
        dispatch(
            &set,
            move || counted.fetch_add(1, Ordering::SeqCst),
            || async { 8u8 },
        )
        .await
    }))
    .unwrap();
    assert_eq!(local, Ok(8));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "local path");
    lp.shutdown();
}

/// The child half of the next test: polls a local dispatch once on the worker, moves it to
/// this thread and drops it here. Must not return.
#[test]
#[ignore = "run only as a child process by the next test"]
fn child_drops_a_started_local_dispatch_off_its_thread() {
    if std::env::var_os("CORELANE_DISPATCH_ABORT_CHILD").is_none() {
        return;
    }
    let lp = one_worker();
    let set = lp.worker_set();
    let worker = lp.workers()[0].clone();
    let started = futures_lite::future::block_on(worker.spawn(move || async move {
        let mut fut = Box::pin(dispatch(&set, 0, || async {
            std::future::pending::<()>().await;
        }));
        // One poll: the future is pinned in place inside the dispatch.
        let _ = futures_lite::future::poll_once(fut.as_mut()).await;
        fut
    }))
    .unwrap();
    drop(started);
    println!("dropped without aborting");
}

#[test]
fn a_started_local_dispatch_dropped_off_its_thread_aborts_the_process() {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([
            "--exact",
            "child_drops_a_started_local_dispatch_off_its_thread",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CORELANE_DISPATCH_ABORT_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("dropped without aborting"),
        "the child dropped a pinned future off its thread and went on:\n{stdout}"
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(6),
        "expected SIGABRT, got {:?}; stdout:\n{stdout}",
        out.status
    );
}

/// A client handle that counts its clones and the fallbacks asked of it.
struct CountingHandle {
    workers: corelane_runtime::WorkerSet,
    clones: Arc<AtomicUsize>,
    fallbacks: Arc<AtomicUsize>,
}

impl Clone for CountingHandle {
    fn clone(&self) -> Self {
        self.clones.fetch_add(1, Ordering::SeqCst);
        CountingHandle {
            workers: self.workers.clone(),
            clones: self.clones.clone(),
            fallbacks: self.fallbacks.clone(),
        }
    }
}

impl corelane_runtime::ClientHandle for CountingHandle {
    fn workers(&self) -> &dyn corelane_runtime::EventLoopProvider {
        &self.workers
    }

    fn fallback(&self) -> usize {
        self.fallbacks.fetch_add(1, Ordering::SeqCst)
    }
}

#[test]
fn dispatch_from_clones_the_handle_only_for_the_remote_path() {
    let lp = one_worker();
    let handle = CountingHandle {
        workers: lp.worker_set(),
        clones: Arc::new(AtomicUsize::new(0)),
        fallbacks: Arc::new(AtomicUsize::new(0)),
    };
    let counts = |h: &CountingHandle| {
        (
            h.clones.load(Ordering::SeqCst),
            h.fallbacks.load(Ordering::SeqCst),
        )
    };
    // Off the loop: one clone goes through the mailbox, one fallback picks the worker, and
    // `make` runs on the worker.
    let remote = futures_lite::future::block_on(corelane_runtime::dispatch_from(&handle, |_h| {
        let on_worker = corelane_runtime::WorkerLoop::current().is_some();
        async move { on_worker }
    }));
    assert_eq!(remote, Ok(true));
    assert_eq!(counts(&handle), (1, 1));
    // On the worker: `make` gets the caller's handle, with no clone and no fallback.
    let worker = lp.workers()[0].clone();
    let on_loop = handle.clone();
    let local = futures_lite::future::block_on(worker.spawn(move || async move {
        let before = counts(&on_loop);
        let out = corelane_runtime::dispatch_from(&on_loop, |_h| std::future::ready(5u8))
            .movable()
            .await;
        (out, before, counts(&on_loop))
    }))
    .unwrap();
    assert_eq!(local.0, Ok(5));
    assert_eq!(local.1, local.2, "clones and fallbacks on the local path");
    lp.shutdown();
}
