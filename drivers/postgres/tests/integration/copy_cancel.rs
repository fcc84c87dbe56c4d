//! COPY IN against a server that stops answering, and COPY IN dropped by its caller (issue 9
//! B7): a stalled server fails the copy after the copy timeout instead of hanging; a caller on
//! another thread that drops its future stops the copy at once, wherever it waits; either way
//! nothing of the copy is kept and the client serves on.

use crate::support;

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::support::{block_on, client_for, shared_server, two_workers};
use bytes::{Bytes, BytesMut};
use corelane_postgres::{copy_text_row, Client};
use corelane_testkit::{FaultProxy, Mode};
use futures_lite::{Stream, StreamExt};

/// Long enough for any of these tests on a loaded machine; short enough that a copy that
/// never gives up fails the test rather than the whole run.
const HANG: Duration = Duration::from_secs(60);

/// The tests of this file stall a proxy in front of the shared server: one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn guard<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    corelane_testkit::guard(what, HANG, f)
}

/// A client whose connections go through a fault proxy, and the proxy.
fn proxied(
    copy_timeout: Option<Duration>,
) -> (Arc<corelane_testkit::PgServer>, Arc<FaultProxy>, Client) {
    two_workers();
    let server = shared_server();
    let proxy = Arc::new(FaultProxy::start(server.addr()).unwrap());
    let port = proxy.addr().port();
    let client = client_for(&server, |c| {
        c.host("127.0.0.1", port).copy_timeout(copy_timeout)
    });
    (server, proxy, client)
}

/// Sets a flag when dropped: tells when the copy's task let go of its source.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A piece of 200 text rows (about 4 KiB).
fn piece(n: u64) -> Bytes {
    let mut out = BytesMut::new();
    for i in 0..200 {
        let id = (n * 200 + i).to_string();
        copy_text_row([Some(id.as_str()), Some("some text of a row")], &mut out);
    }
    out.freeze()
}

/// A source of `pieces` pieces (endless for `None`) that calls `at_k` when piece `k` is read
/// and raises `dropped` when the copy lets go of it.
fn source(
    pieces: Option<u64>,
    k: u64,
    at_k: impl Fn() + Send + 'static,
    dropped: Arc<AtomicBool>,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let flag = DropFlag(dropped);
    futures_lite::stream::iter(0..pieces.unwrap_or(u64::MAX)).map(move |n| {
        let _keep = &flag;
        if n == k {
            at_k();
        }
        Ok(piece(n))
    })
}

async fn count(client: &Client, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
        .unwrap()
}

/// Waits (bounded) until `flag` is up.
fn eventually(flag: &AtomicBool, what: &str) {
    let start = Instant::now();
    while !flag.load(Ordering::SeqCst) {
        assert!(start.elapsed() < HANG / 2, "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `fut` once (off the loop: it starts on a worker), runs `then`, and drops it.
fn start_then_drop<F: Future>(fut: F, then: impl FnOnce()) {
    let mut fut = Box::pin(fut);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    then();
    drop(fut);
}

#[test]
fn copy_in_gives_up_on_a_stalled_server() {
    let _turn = serial();
    let limit = Duration::from_secs(2);
    let (_server, proxy, client) = proxied(Some(limit));
    guard("COPY IN to a stalled server", move || {
        block_on(client.batch_execute(
            "DROP TABLE IF EXISTS copy_stalled; CREATE TABLE copy_stalled (id int8, note text)",
        ))
        .unwrap();

        // Stalled while the data flows: the server stops taking it, the outbound buffer fills.
        let p = proxy.clone();
        let dropped = Arc::new(AtomicBool::new(false));
        let endless = source(None, 20, move || p.set_mode(Mode::Stall), dropped.clone());
        let started = Instant::now();
        let err = block_on(client.copy_in("COPY copy_stalled FROM STDIN", endless)).unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(started.elapsed() >= limit);
        assert!(dropped.load(Ordering::SeqCst));
        proxy.set_mode(Mode::PassThrough);
        assert_eq!(block_on(count(&client, "copy_stalled")), 0);

        // Stalled when the data is all out: the reply that ends the copy never comes.
        let p = proxy.clone();
        let dropped = Arc::new(AtomicBool::new(false));
        let short = source(
            Some(10),
            9,
            move || p.set_mode(Mode::Stall),
            dropped.clone(),
        );
        let err = block_on(client.copy_in("COPY copy_stalled FROM STDIN", short)).unwrap_err();
        assert!(err.is_timeout(), "{err}");
        // The end (`CopyDone`) is held by the proxy: were it let through, the server would
        // apply the copy (a timeout leaves the outcome unknown, as any timeout). Cut instead.
        // The statement right after the cut may find its connection closed before it is sent:
        // it goes to a new connection (see `idle_cut.rs`).
        proxy.cut_all();
        proxy.set_mode(Mode::PassThrough);
        assert_eq!(block_on(count(&client, "copy_stalled")), 0);

        // The client serves on, copies included.
        let n = block_on(client.copy_in(
            "COPY copy_stalled FROM STDIN",
            source(Some(10), u64::MAX, || {}, Arc::default()),
        ))
        .unwrap();
        assert_eq!(n, 2000);
        assert_eq!(block_on(count(&client, "copy_stalled")), 2000);
    });
}

#[test]
fn a_copy_in_dropped_off_the_loop_stops_at_once() {
    let _turn = serial();
    // The copy timeout is longer than the test waits: only the cancellation can end these.
    let (_server, proxy, client) = proxied(Some(Duration::from_secs(600)));
    guard("COPY IN dropped by its caller", move || {
        block_on(client.batch_execute(
            "DROP TABLE IF EXISTS copy_dropped; CREATE TABLE copy_dropped (id int8, note text)",
        ))
        .unwrap();

        // Waiting for its source: aborted with CopyFail, the connection serves on.
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        let first = source(Some(5), u64::MAX, || {}, Arc::default());
        let waiting = first
            .chain(futures_lite::stream::pending())
            .map(move |item| {
                let _keep = &flag;
                item
            });
        start_then_drop(
            client.copy_in("COPY copy_dropped FROM STDIN", waiting),
            || std::thread::sleep(Duration::from_millis(300)),
        );
        eventually(
            &dropped,
            "the copy still waits for its source after its caller left",
        );

        // Waiting on a stalled server: its connection is closed.
        let p = proxy.clone();
        let stalled = Arc::new(AtomicBool::new(false));
        let s = stalled.clone();
        let dropped = Arc::new(AtomicBool::new(false));
        let endless = source(
            None,
            20,
            move || {
                p.set_mode(Mode::Stall);
                s.store(true, Ordering::SeqCst);
            },
            dropped.clone(),
        );
        start_then_drop(
            client.copy_in("COPY copy_dropped FROM STDIN", endless),
            || {
                eventually(&stalled, "the copy never reached the stall");
                std::thread::sleep(Duration::from_millis(300));
            },
        );
        eventually(
            &dropped,
            "the copy still waits on the server after its caller left",
        );
        proxy.set_mode(Mode::PassThrough);

        // Nothing of either copy was kept, and the client serves on.
        assert_eq!(block_on(count(&client, "copy_dropped")), 0);
        let n = block_on(client.copy_in(
            "COPY copy_dropped FROM STDIN",
            source(Some(3), u64::MAX, || {}, Arc::default()),
        ))
        .unwrap();
        assert_eq!(n, 600);
    });
}

#[test]
fn a_copy_in_dropped_on_a_worker_rolls_back() {
    let _turn = serial();
    let (_server, _proxy, client) = proxied(None);
    block_on(client.batch_execute(
        "DROP TABLE IF EXISTS copy_local_drop; CREATE TABLE copy_local_drop (id int8, note text)",
    ))
    .unwrap();
    let polls = Arc::new(AtomicU64::new(0));
    let c = client.clone();
    let p = polls.clone();
    guard("COPY IN dropped on a worker", move || {
        support::on_worker(0, move || async move {
            // Dropped after a few polls, mid-copy (the source never ends).
            let endless = source(None, u64::MAX, || {}, Arc::default());
            let copy = c.copy_in("COPY copy_local_drop FROM STDIN", endless);
            let mut copy = Box::pin(copy);
            futures_lite::future::poll_fn(|cx| {
                let n = p.fetch_add(1, Ordering::SeqCst);
                match copy.as_mut().poll(cx) {
                    Poll::Pending if n < 50 => Poll::Pending,
                    _ => Poll::Ready(()),
                }
            })
            .await;
        })
    });
    assert!(polls.load(Ordering::SeqCst) > 1);
    assert_eq!(block_on(count(&client, "copy_local_drop")), 0);
    let n = block_on(client.copy_in(
        "COPY copy_local_drop FROM STDIN",
        source(Some(2), u64::MAX, || {}, Arc::default()),
    ))
    .unwrap();
    assert_eq!(n, 400);
}
