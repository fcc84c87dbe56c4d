//! FaultProxy in front of a throwaway redis-server: each mode as a raw client sees it.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use corelane_testkit::{Direction, FaultProxy, Mode, RedisServer};

const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";

fn setup() -> (RedisServer, FaultProxy) {
    let redis = RedisServer::start().unwrap();
    let proxy = FaultProxy::start(redis.addr()).unwrap();
    (redis, proxy)
}

fn connect(proxy: &FaultProxy) -> TcpStream {
    let stream = TcpStream::connect(proxy.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

/// Reads exactly `n` bytes, returning how many `read` calls it took.
fn read_n(stream: &mut TcpStream, n: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut reads = 0;
    let mut buf = [0u8; 4096];
    while out.len() < n {
        let got = stream.read(&mut buf[..n - out.len()]).unwrap();
        assert!(got > 0, "eof after {} of {n} bytes: {out:?}", out.len());
        out.extend_from_slice(&buf[..got]);
        reads += 1;
    }
    (out, reads)
}

/// Reads until end-of-file (a reset also counts as the end).
fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("read failed instead of reaching eof: {e}"),
        }
    }
}

fn wait_connections(proxy: &FaultProxy, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy.connections() != n {
        assert!(
            Instant::now() < deadline,
            "connections() stuck at {}",
            proxy.connections()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn pass_through_ping() {
    let (_redis, proxy) = setup();
    assert_eq!(proxy.mode(Direction::Both), Some(Mode::PassThrough));
    let mut client = connect(&proxy);
    client.write_all(PING).unwrap();
    assert_eq!(read_n(&mut client, 7).0, b"+PONG\r\n");
    wait_connections(&proxy, 1);
    drop(client);
    wait_connections(&proxy, 0);
}

#[test]
fn cut_after_closes_the_connection_then_reverts() {
    let (_redis, proxy) = setup();
    let mut client = connect(&proxy);
    client.write_all(PING).unwrap();
    assert_eq!(read_n(&mut client, 7).0, b"+PONG\r\n");
    proxy.set_mode_on(Direction::ServerToClient, Mode::CutAfter(3));
    assert_eq!(proxy.mode(Direction::Both), None);
    client.write_all(PING).unwrap();
    assert_eq!(read_to_end(&mut client), b"+PO");
    wait_connections(&proxy, 0);
    // One-shot: new connections pass through again.
    assert_eq!(
        proxy.mode(Direction::ServerToClient),
        Some(Mode::PassThrough)
    );
    let mut again = connect(&proxy);
    again.write_all(PING).unwrap();
    assert_eq!(read_n(&mut again, 7).0, b"+PONG\r\n");
}

#[test]
fn cut_after_on_requests_and_cut_after_zero() {
    let (_redis, proxy) = setup();
    let mut client = connect(&proxy);
    proxy.set_mode_on(Direction::ClientToServer, Mode::CutAfter(4));
    client.write_all(PING).unwrap();
    assert_eq!(read_to_end(&mut client), b"");
    wait_connections(&proxy, 0);

    let mut idle = connect(&proxy);
    wait_connections(&proxy, 1);
    proxy.set_mode(Mode::CutAfter(0));
    assert_eq!(read_to_end(&mut idle), b"");
    wait_connections(&proxy, 0);
}

#[test]
fn corrupt_flips_one_byte_once() {
    let (_redis, proxy) = setup();
    let mut client = connect(&proxy);
    proxy.set_mode_on(Direction::ServerToClient, Mode::Corrupt { after: 1 });
    client.write_all(PING).unwrap();
    assert_eq!(
        read_n(&mut client, 7).0,
        [b'+', b'P' ^ 0xFF, b'O', b'N', b'G', b'\r', b'\n']
    );
    client.write_all(PING).unwrap();
    assert_eq!(read_n(&mut client, 7).0, b"+PONG\r\n");
}

#[test]
fn corrupt_offset_spans_replies() {
    let (_redis, proxy) = setup();
    let mut client = connect(&proxy);
    proxy.set_mode_on(Direction::ServerToClient, Mode::Corrupt { after: 8 });
    client.write_all(PING).unwrap();
    assert_eq!(read_n(&mut client, 7).0, b"+PONG\r\n");
    client.write_all(PING).unwrap();
    assert_eq!(
        read_n(&mut client, 7).0,
        [b'+', b'P' ^ 0xFF, b'O', b'N', b'G', b'\r', b'\n']
    );
}

#[test]
fn fragment_one_still_delivers_the_full_reply() {
    let (_redis, proxy) = setup();
    proxy.set_mode(Mode::Fragment(1));
    let mut client = connect(&proxy);
    let value = "x".repeat(3000);
    let request = format!("*2\r\n$4\r\nECHO\r\n$3000\r\n{value}\r\n");
    let expected = format!("$3000\r\n{value}\r\n");
    // Every attempt must deliver the whole reply. That it came in pieces is visible only when
    // this thread reads faster than the proxy writes; a loaded machine can let the kernel
    // coalesce the 1-byte writes, so one of several attempts must show it.
    let mut most_reads = 0;
    for _ in 0..5 {
        client.write_all(request.as_bytes()).unwrap();
        let (reply, reads) = read_n(&mut client, expected.len());
        assert_eq!(reply, expected.as_bytes());
        most_reads = most_reads.max(reads);
        if most_reads > 1 {
            break;
        }
    }
    assert!(most_reads > 1, "the reply arrived in a single read 5 times");
}

#[test]
fn stall_holds_bytes_until_the_mode_changes() {
    let (_redis, proxy) = setup();
    let mut client = connect(&proxy);
    proxy.set_mode_on(Direction::ServerToClient, Mode::Stall);
    client.write_all(PING).unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 16];
    let err = client.read(&mut buf).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut
    ));
    proxy.set_mode(Mode::PassThrough);
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(read_n(&mut client, 7).0, b"+PONG\r\n");
}

#[test]
fn delay_slows_each_chunk() {
    let (_redis, proxy) = setup();
    let mut client = connect(&proxy);
    proxy.set_mode_on(
        Direction::ServerToClient,
        Mode::Delay(Duration::from_millis(150)),
    );
    let started = Instant::now();
    client.write_all(PING).unwrap();
    assert_eq!(read_n(&mut client, 7).0, b"+PONG\r\n");
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[test]
fn cut_all_closes_current_connections_only() {
    let (_redis, proxy) = setup();
    let mut a = connect(&proxy);
    let mut b = connect(&proxy);
    wait_connections(&proxy, 2);
    proxy.cut_all();
    assert_eq!(read_to_end(&mut a), b"");
    assert_eq!(read_to_end(&mut b), b"");
    wait_connections(&proxy, 0);
    let mut c = connect(&proxy);
    c.write_all(PING).unwrap();
    assert_eq!(read_n(&mut c, 7).0, b"+PONG\r\n");
}

#[test]
fn drop_closes_connections_even_when_stalled() {
    let (redis, proxy) = setup();
    let mut client = connect(&proxy);
    proxy.set_mode(Mode::Stall);
    client.write_all(PING).unwrap();
    wait_connections(&proxy, 1);
    let addr = proxy.addr();
    let started = Instant::now();
    drop(proxy);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "drop took {:?}",
        started.elapsed()
    );
    assert_eq!(read_to_end(&mut client), b"");
    assert!(TcpStream::connect(addr).is_err(), "proxy still accepting");
    drop(redis);
}

#[test]
fn unreachable_upstream_closes_the_client() {
    let upstream = {
        let redis = RedisServer::start().unwrap();
        redis.addr()
    };
    let proxy = FaultProxy::start(upstream).unwrap();
    let mut client = connect(&proxy);
    assert_eq!(read_to_end(&mut client), b"");
    assert_eq!(proxy.connections(), 0);
}
