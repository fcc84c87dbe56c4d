//! `Pipe::probe_idle`: what a driver asks before it hands an idle pooled connection to work
//! that cannot be sent again elsewhere. It must find a close (or bytes nobody asked for) that
//! the worker's reader has not seen yet, and must leave a connection with requests in flight
//! alone.
//!
//! The worker thread blocks while the server acts (a std channel), so its reader cannot run in
//! between: whatever the probe reports, it found by itself.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::support::{run_on, test_loop, Lines};
use corelane_runtime::roundtrip::Pipe;
use corelane_runtime::{Limits, Stream};
use futures_lite::future::poll_once;

/// What the test's server does with its connection once it has echoed the first line.
#[derive(Clone, Copy, Debug)]
enum Then {
    /// Hangs up.
    Close,
    /// Writes a line nobody asked for, and keeps the connection open.
    Extra,
    /// Echoes one more line, after `Go`.
    EchoAfterGo,
}

/// A server for one connection: echoes a line, waits for the test's signal, does `then`, and
/// acknowledges.
fn server(then: Then) -> (std::net::SocketAddr, mpsc::Sender<()>, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        s.write_all(line.as_bytes()).unwrap();
        go_rx.recv().unwrap();
        let keep: Option<TcpStream> = match then {
            Then::Close => {
                s.shutdown(Shutdown::Both).unwrap();
                None
            }
            Then::Extra => {
                s.write_all(b"nobody asked\n").unwrap();
                Some(s)
            }
            Then::EchoAfterGo => {
                line.clear();
                r.read_line(&mut line).unwrap();
                s.write_all(line.as_bytes()).unwrap();
                Some(s)
            }
        };
        // On loopback the bytes (or the FIN) are in the client's receive queue by now.
        done_tx.send(()).unwrap();
        // Held open until the test is over (the test drops its receiver by then).
        if keep.is_some() {
            thread::sleep(Duration::from_secs(5));
        }
    });
    (addr, go_tx, done_rx)
}

/// A pipe to the test's server, after its first round trip: open, idle, in step.
async fn echoed_once(addr: std::net::SocketAddr) -> Pipe<Lines> {
    let stream = Stream::connect_tcp(addr).await.unwrap();
    let pipe = Pipe::new(stream, Lines, Limits::default()).unwrap();
    let reply = pipe
        .call((), |b| b.extend_from_slice(b"one\n"))
        .await
        .unwrap();
    assert_eq!(&reply[..], b"one\n");
    pipe
}

#[test]
fn probe_idle_finds_a_hang_up_the_reader_has_not_seen() {
    let lp = test_loop(1);
    let worker = lp.workers()[0].clone();
    let (addr, go, done) = server(Then::Close);
    run_on(&worker, move || async move {
        let pipe = echoed_once(addr).await;
        assert_eq!(pipe.probe_idle(), Ok(()), "a live idle connection");
        go.send(()).unwrap();
        done.recv().unwrap();
        // No await since the hang-up: only the probe can have seen it.
        assert!(!pipe.is_closed());
        let cause = pipe.probe_idle().expect_err("the hang-up");
        assert!(pipe.is_closed());
        assert_eq!(pipe.close_cause(), Some(cause.clone()));
        // Asked again, it reports the same cause.
        assert_eq!(pipe.probe_idle(), Err(cause));
    });
}

#[test]
fn probe_idle_finds_bytes_nobody_asked_for() {
    let lp = test_loop(1);
    let worker = lp.workers()[0].clone();
    let (addr, go, done) = server(Then::Extra);
    run_on(&worker, move || async move {
        let pipe = echoed_once(addr).await;
        go.send(()).unwrap();
        done.recv().unwrap();
        // `Lines` allows nothing unsolicited: the line would be taken for the next reply.
        let cause = pipe.probe_idle().expect_err("unsolicited bytes");
        assert!(cause.to_string().contains("unsolicited"), "{cause}");
        assert!(pipe.is_closed());
    });
}

#[test]
fn probe_idle_leaves_a_connection_with_a_request_in_flight_alone() {
    let lp = test_loop(1);
    let worker = lp.workers()[0].clone();
    let (addr, go, done) = server(Then::EchoAfterGo);
    run_on(&worker, move || async move {
        let pipe = echoed_once(addr).await;
        let mut call = Box::pin(pipe.call((), |b| b.extend_from_slice(b"two\n")));
        assert!(poll_once(&mut call).await.is_none(), "sent, not answered");
        go.send(()).unwrap();
        done.recv().unwrap();
        // The reply in the socket is the call's: the probe must not read it as unsolicited.
        assert_eq!(pipe.probe_idle(), Ok(()));
        assert!(!pipe.is_closed());
        let reply = call.await.unwrap();
        assert_eq!(&reply[..], b"two\n");
        assert_eq!(pipe.probe_idle(), Ok(()));
    });
}
