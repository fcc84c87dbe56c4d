//! Registered connections: `on_close` exactly once whatever ends them, protocol errors from the
//! handler, loop shutdown, and the bounded outbound buffer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use crate::support::{run_on, test_loop, DeafServer, EchoServer};
use bytes::BytesMut;
use corelane_runtime::{CloseCause, Handler, Limits, Registered, Stream, WriteError};

/// Reports every event over std channels so the test thread can watch.
struct Probe {
    received: mpsc::Sender<Vec<u8>>,
    closed: mpsc::Sender<CloseCause>,
    closes: Arc<AtomicUsize>,
    reject: bool,
}

impl Handler for Probe {
    fn on_recv(&mut self, input: &mut BytesMut) -> Result<(), CloseCause> {
        if self.reject {
            return Err(CloseCause::protocol("probe rejects everything"));
        }
        let _ = self.received.send(input.split().to_vec());
        Ok(())
    }

    fn on_close(&mut self, cause: &CloseCause) {
        self.closes.fetch_add(1, Ordering::SeqCst);
        let _ = self.closed.send(cause.clone());
    }
}

struct Watch {
    received: mpsc::Receiver<Vec<u8>>,
    closed: mpsc::Receiver<CloseCause>,
    closes: Arc<AtomicUsize>,
}

fn probe(reject: bool) -> (Probe, Watch) {
    let (rtx, rrx) = mpsc::channel();
    let (ctx, crx) = mpsc::channel();
    let closes = Arc::new(AtomicUsize::new(0));
    (
        Probe {
            received: rtx,
            closed: ctx,
            closes: closes.clone(),
            reject,
        },
        Watch {
            received: rrx,
            closed: crx,
            closes,
        },
    )
}

const WAIT: Duration = Duration::from_secs(30);

thread_local! {
    /// Keeps handles alive on a worker between jobs.
    static HELD: std::cell::RefCell<Vec<Registered<Probe>>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[test]
fn peer_close_then_unregister_closes_once() {
    let server = EchoServer::start_with(Some(1));
    let lp = test_loop(1);
    let (handler, watch) = probe(false);
    let addr = server.addr;
    let worker = lp.workers()[0].clone();
    run_on(&worker, move || async move {
        let conn = Registered::register(
            Stream::connect_tcp(addr).await.unwrap(),
            handler,
            Limits::default(),
        )
        .unwrap();
        conn.write(b"ping\n").unwrap();
        HELD.with(|h| h.borrow_mut().push(conn));
    });
    assert_eq!(watch.received.recv_timeout(WAIT).unwrap(), b"ping\n");
    assert_eq!(
        watch.closed.recv_timeout(WAIT).unwrap(),
        CloseCause::PeerClosed
    );
    run_on(&worker, || async {
        HELD.with(|h| {
            for conn in h.borrow_mut().drain(..) {
                assert!(conn.is_closed());
                conn.unregister();
                assert!(matches!(conn.write(b"x"), Err(WriteError::Closed(_))));
            }
        });
    });
    assert_eq!(watch.closes.load(Ordering::SeqCst), 1);
}

#[test]
fn dropping_the_last_handle_unregisters() {
    let server = EchoServer::start();
    let lp = test_loop(1);
    let (handler, watch) = probe(false);
    let addr = server.addr;
    run_on(&lp.workers()[0], move || async move {
        let conn = Registered::register(
            Stream::connect_tcp(addr).await.unwrap(),
            handler,
            Limits::default(),
        )
        .unwrap();
        let clone = conn.clone();
        drop(conn);
        assert!(!clone.is_closed(), "a clone still holds it");
        drop(clone);
    });
    assert_eq!(
        watch.closed.recv_timeout(WAIT).unwrap(),
        CloseCause::Unregistered
    );
    assert_eq!(watch.closes.load(Ordering::SeqCst), 1);
}

#[test]
fn a_handler_error_closes_with_a_protocol_cause() {
    let server = EchoServer::start();
    let lp = test_loop(1);
    let (handler, watch) = probe(true);
    let addr = server.addr;
    run_on(&lp.workers()[0], move || async move {
        let conn = Registered::register(
            Stream::connect_tcp(addr).await.unwrap(),
            handler,
            Limits::default(),
        )
        .unwrap();
        conn.write(b"anything\n").unwrap();
        HELD.with(|h| h.borrow_mut().push(conn));
    });
    let cause = watch.closed.recv_timeout(WAIT).unwrap();
    assert!(
        matches!(cause, CloseCause::Protocol(ref m) if m.contains("rejects")),
        "{cause:?}"
    );
}

#[test]
fn loop_shutdown_closes_registered_connections_with_loop_closed() {
    let server = EchoServer::start();
    let lp = test_loop(2);
    let mut watches = Vec::new();
    for worker in lp.workers() {
        for _ in 0..3 {
            let (handler, watch) = probe(false);
            watches.push(watch);
            let addr = server.addr;
            run_on(worker, move || async move {
                let conn = Registered::register(
                    Stream::connect_tcp(addr).await.unwrap(),
                    handler,
                    Limits::default(),
                )
                .unwrap();
                HELD.with(|h| h.borrow_mut().push(conn));
            });
        }
    }
    drop(lp);
    for watch in watches {
        assert_eq!(
            watch.closed.recv_timeout(WAIT).unwrap(),
            CloseCause::LoopClosed
        );
        assert_eq!(watch.closes.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn writes_past_the_outbound_limit_fail_with_queue_full() {
    let server = DeafServer::start();
    let lp = test_loop(1);
    let (handler, _watch) = probe(false);
    let addr = server.addr;
    let (queued, limit) = run_on(&lp.workers()[0], move || async move {
        let conn = Registered::register(
            Stream::connect_tcp(addr).await.unwrap(),
            handler,
            Limits::with_max_outbound(128 * 1024),
        )
        .unwrap();
        let chunk = vec![7u8; 16 * 1024];
        for _ in 0..100_000 {
            match conn.write(&chunk) {
                Ok(()) => corelane_runtime::task::yield_now().await,
                Err(WriteError::QueueFull { queued, limit }) => {
                    assert!(conn.outbound_len() <= limit);
                    return (queued, limit);
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("QueueFull never reached");
    });
    assert_eq!(limit, 128 * 1024);
    assert!(queued + 16 * 1024 > limit);
}
