//! TLS under the round trip: the direct index, the bridge queue and the handoff over
//! encrypted connections; every certificate failure typed; servers that do not speak TLS,
//! stall, cut or drip records one byte at a time; mutual TLS; any transport.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::support::tls_echo::{echo_tls, tls_echo};
use crate::support::{lines, run_checked, run_on, test_loop, Lines};
use corelane_runtime::conn::{TlsConfig, TlsError, Verification};
use corelane_runtime::roundtrip::{Batch, Pipe};
use corelane_runtime::{task, Limits, Stream};
use corelane_testkit::{CertFiles, FaultProxy, Mode, ScriptedServer, TestCerts};

fn client_config(certs: &TestCerts) -> TlsConfig {
    TlsConfig::builder()
        .root_pem(certs.ca_pem().as_bytes())
        .unwrap()
        .build()
        .unwrap()
}

async fn connect_tls(addr: SocketAddr, config: &TlsConfig, name: &str) -> Result<Stream, TlsError> {
    let stream = Stream::connect_tcp(addr).await.map_err(TlsError::Io)?;
    stream.start_tls(config, name).await
}

async fn tls_pipe(addr: SocketAddr, config: &TlsConfig) -> Pipe<Lines> {
    let stream = connect_tls(addr, config, "localhost").await.unwrap();
    assert!(stream.is_tls());
    Pipe::new(stream, Lines, Limits::default()).unwrap()
}

#[test]
fn direct_batches_bridged_calls_and_big_replies_over_tls() {
    let certs = TestCerts::generate().unwrap();
    let server = tls_echo(&certs, certs.server(), false);
    let config = client_config(&certs);
    let addr = server.addr();
    let lp = test_loop(1);
    let stats = run_on(&lp.workers()[0], move || async move {
        let pipe = Rc::new(tls_pipe(addr, &config).await);
        // One caller alone: the direct index.
        let reqs = lines("direct", 1000);
        run_checked(&pipe, &reqs).await;
        // Many callers at once: the bridge queue.
        let mut tasks = Vec::new();
        for i in 0..64 {
            let pipe = pipe.clone();
            tasks.push(
                task::spawn(async move {
                    let line = format!("caller-{i}\n");
                    let reply = pipe
                        .call((), |b| b.extend_from_slice(line.as_bytes()))
                        .await;
                    assert_eq!(reply.unwrap(), line.as_bytes());
                })
                .unwrap(),
            );
        }
        for t in tasks {
            t.await;
        }
        // Replies far bigger than a TLS record (16 KiB) and than one read.
        for len in [16 * 1024, 100_000, 1 << 20] {
            let line = format!("{}\n", "x".repeat(len));
            let reply = pipe
                .call((), |b| b.extend_from_slice(line.as_bytes()))
                .await;
            assert_eq!(reply.unwrap().len(), line.len());
        }
        pipe.stats()
    });
    assert!(stats.direct >= 1, "{stats:?}");
    assert!(stats.bridged >= 1, "{stats:?}");
}

#[test]
fn certificate_failures_are_typed() {
    let certs = TestCerts::generate().unwrap();
    let expired = tls_echo(&certs, certs.expired_server(), false);
    let wrong_host = tls_echo(&certs, certs.wrong_host_server(), false);
    let untrusted = tls_echo(&certs, certs.untrusted_server(), false);
    let (a, b, c) = (expired.addr(), wrong_host.addr(), untrusted.addr());
    let ca = certs.ca_pem().to_owned();
    let lp = test_loop(1);
    run_on(&lp.workers()[0], move || async move {
        let full = TlsConfig::builder()
            .root_pem(ca.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let chain_only = TlsConfig::builder()
            .root_pem(ca.as_bytes())
            .unwrap()
            .verification(Verification::ChainOnly)
            .build()
            .unwrap();
        let any = TlsConfig::builder()
            .verification(Verification::DangerAcceptAnyCertificate)
            .build()
            .unwrap();

        let err = connect_tls(a, &full, "localhost").await.unwrap_err();
        assert!(matches!(err, TlsError::CertificateExpired), "{err:?}");
        let err = connect_tls(b, &full, "localhost").await.unwrap_err();
        assert!(
            matches!(err, TlsError::NameMismatch(ref n) if n == "localhost"),
            "{err:?}"
        );
        let err = connect_tls(c, &full, "localhost").await.unwrap_err();
        assert!(matches!(err, TlsError::UnknownIssuer), "{err:?}");

        // verify-ca: the chain must hold, the name need not.
        connect_tls(b, &chain_only, "localhost").await.unwrap();
        let err = connect_tls(c, &chain_only, "localhost").await.unwrap_err();
        assert!(matches!(err, TlsError::UnknownIssuer), "{err:?}");
        let err = connect_tls(a, &chain_only, "localhost").await.unwrap_err();
        assert!(matches!(err, TlsError::CertificateExpired), "{err:?}");

        // Accept-anything still encrypts, and still talks.
        for addr in [a, b, c] {
            let stream = connect_tls(addr, &any, "localhost").await.unwrap();
            let pipe = Pipe::new(stream, Lines, Limits::default()).unwrap();
            let reply = pipe.call((), |b| b.extend_from_slice(b"hi\n")).await;
            assert_eq!(reply.unwrap(), &b"hi\n"[..]);
        }

        // The name is checked as given: an IP address must be in the certificate too.
        connect_tls(a, &any, "127.0.0.1").await.unwrap();
        let err = connect_tls(b, &full, "127.0.0.1").await.unwrap_err();
        assert!(matches!(err, TlsError::NameMismatch(_)), "{err:?}");
        let err = connect_tls(b, &full, "not a host name").await.unwrap_err();
        assert!(matches!(err, TlsError::InvalidServerName(_)), "{err:?}");
    });
}

#[test]
fn configuration_errors_are_typed() {
    let err = TlsConfig::builder().build().unwrap_err();
    assert!(matches!(err, TlsError::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("nothing is trusted"), "{err}");
    let err = TlsConfig::builder().root_pem(b"not pem").unwrap_err();
    assert!(matches!(err, TlsError::Config { .. }), "{err:?}");
    let err = TlsConfig::builder()
        .root_pem_file("/nonexistent/ca.pem")
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    let certs = TestCerts::generate().unwrap();
    let client = certs.client();
    let err = TlsConfig::builder()
        .client_cert_pem(client.cert_pem.as_bytes(), b"-----BEGIN NOTHING-----")
        .unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::Config {
                what: "client key",
                ..
            }
        ),
        "{err:?}"
    );
    // Debug never shows the key.
    let builder = TlsConfig::builder()
        .client_cert_pem(client.cert_pem.as_bytes(), client.key_pem.as_bytes())
        .unwrap();
    let shown = format!("{builder:?}");
    let key_body = client.key_pem.lines().nth(1).unwrap();
    assert!(!shown.contains(key_body), "{shown}");
    let config = builder
        .root_pem(certs.ca_pem().as_bytes())
        .unwrap()
        .build()
        .unwrap();
    assert!(!format!("{config:?}").contains(key_body));
}

#[test]
fn servers_that_do_not_speak_tls_fail_the_handshake_cleanly() {
    // A Redis-like error line instead of a ServerHello.
    let talker = ScriptedServer::start(Duration::from_secs(10), |_, mut tcp| {
        let _ = tcp.write_all(b"-ERR unknown command\r\n");
        let _ = corelane_testkit::wait_for_close(&mut tcp);
    })
    .unwrap();
    // Closes at once.
    let closer = ScriptedServer::start(Duration::from_secs(10), |_, tcp| drop(tcp)).unwrap();
    // Random bytes that happen to look like a record header with a huge length.
    let liar = ScriptedServer::start(Duration::from_secs(10), |_, mut tcp| {
        let _ = tcp.write_all(&[0x16, 0x03, 0x03, 0xff, 0xff, 1, 2, 3]);
        let _ = corelane_testkit::wait_for_close(&mut tcp);
    })
    .unwrap();
    // Accepts and says nothing.
    let mute = ScriptedServer::start(Duration::from_secs(30), |_, mut tcp| {
        let _ = corelane_testkit::wait_for_close(&mut tcp);
    })
    .unwrap();
    let addrs = (talker.addr(), closer.addr(), liar.addr(), mute.addr());
    let lp = test_loop(1);
    run_on(&lp.workers()[0], move || async move {
        let any = TlsConfig::builder()
            .verification(Verification::DangerAcceptAnyCertificate)
            .build()
            .unwrap();
        let err = connect_tls(addrs.0, &any, "localhost").await.unwrap_err();
        assert!(matches!(err, TlsError::NotTls), "{err:?}");
        let err = connect_tls(addrs.1, &any, "localhost").await.unwrap_err();
        assert!(
            matches!(err, TlsError::ClosedDuringHandshake | TlsError::Io(_)),
            "{err:?}"
        );
        let err = connect_tls(addrs.2, &any, "localhost").await.unwrap_err();
        assert!(
            matches!(err, TlsError::Handshake(_) | TlsError::NotTls),
            "{err:?}"
        );
        // A mute server: the caller's timeout ends the handshake.
        let stalled = task::timeout(
            Duration::from_millis(200),
            connect_tls(addrs.3, &any, "localhost"),
        )
        .await;
        assert!(
            stalled.is_none(),
            "a mute server cannot complete a handshake"
        );
    });
}

#[test]
fn mutual_tls_needs_a_client_certificate_the_server_trusts() {
    let certs = TestCerts::generate().unwrap();
    let server = tls_echo(&certs, certs.server(), true);
    let addr = server.addr();
    let ca = certs.ca_pem().to_owned();
    let good = certs.client().clone();
    let bad = certs.untrusted_client().clone();
    let lp = test_loop(1);
    run_on(&lp.workers()[0], move || async move {
        let with = |client: &CertFiles| {
            TlsConfig::builder()
                .root_pem(ca.as_bytes())
                .unwrap()
                .client_cert_pem(client.cert_pem.as_bytes(), client.key_pem.as_bytes())
                .unwrap()
                .build()
                .unwrap()
        };
        let pipe = tls_pipe(addr, &with(&good)).await;
        let reply = pipe.call((), |b| b.extend_from_slice(b"mtls\n")).await;
        assert_eq!(reply.unwrap(), &b"mtls\n"[..]);

        // Without a certificate, or with an untrusted one, the server refuses: under TLS 1.3
        // the refusal arrives after the client's side of the handshake, so it may surface at
        // the first call. Either way it ends, with an error that says so.
        let without = TlsConfig::builder()
            .root_pem(ca.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        for config in [without, with(&bad)] {
            match connect_tls(addr, &config, "localhost").await {
                Err(TlsError::PeerAlert(why)) => assert!(!why.is_empty()),
                Err(other) => panic!("unexpected error {other:?}"),
                Ok(stream) => {
                    let pipe = Pipe::new(stream, Lines, Limits::default()).unwrap();
                    let err = pipe
                        .call((), |b| b.extend_from_slice(b"x\n"))
                        .await
                        .unwrap_err();
                    let text = format!("{err:?}");
                    assert!(
                        text.contains("Certificate") || text.contains("certificate"),
                        "{text}"
                    );
                }
            }
        }
    });
}

#[test]
fn fragmented_stalled_and_cut_records() {
    let certs = TestCerts::generate().unwrap();
    let server = tls_echo(&certs, certs.server(), false);
    let proxy = Arc::new(FaultProxy::start(server.addr()).unwrap());
    let config = client_config(&certs);
    let addr = proxy.addr();
    let lp = test_loop(1);
    // Every record, the handshake's included, one byte per segment.
    proxy.set_mode(Mode::Fragment(1));
    let cfg = config.clone();
    run_on(&lp.workers()[0], move || async move {
        let pipe = tls_pipe(addr, &cfg).await;
        let reqs = lines("drip", 50);
        run_checked(&pipe, &reqs).await;
    });
    // Cut in the middle of a record: the calls in flight end with an error, none hangs.
    proxy.set_mode(Mode::PassThrough);
    let p = proxy.clone();
    let cfg = config.clone();
    run_on(&lp.workers()[0], move || async move {
        let pipe = Rc::new(tls_pipe(addr, &cfg).await);
        let reply = pipe.call((), |b| b.extend_from_slice(b"warm\n")).await;
        assert_eq!(reply.unwrap(), &b"warm\n"[..]);
        p.set_mode_on(
            corelane_testkit::Direction::ServerToClient,
            Mode::CutAfter(7),
        );
        let big = format!("{}\n", "y".repeat(50_000));
        let result = pipe.call((), |b| b.extend_from_slice(big.as_bytes())).await;
        assert!(result.is_err(), "a reply cut mid-record cannot be whole");
        assert!(pipe.is_closed());
    });
    // Stalled, then dropped by its caller, then released: the next caller's reply is its own.
    proxy.set_mode(Mode::PassThrough);
    let p = proxy.clone();
    run_on(&lp.workers()[0], move || async move {
        let pipe = Rc::new(tls_pipe(addr, &config).await);
        p.set_mode_on(corelane_testkit::Direction::ServerToClient, Mode::Stall);
        let mut first = Box::pin(pipe.call((), |b| b.extend_from_slice(b"first\n")));
        assert!(futures_lite::future::poll_once(&mut first).await.is_none());
        drop(first);
        p.set_mode(Mode::PassThrough);
        let reply = pipe.call((), |b| b.extend_from_slice(b"second\n")).await;
        assert_eq!(reply.unwrap(), &b"second\n"[..]);
    });
}

#[test]
fn a_peer_close_notify_ends_the_connection_as_a_close() {
    let certs = TestCerts::generate().unwrap();
    let config = certs.server_config(certs.server(), false).unwrap();
    // Answers one line, then closes with close_notify.
    let server = ScriptedServer::start(Duration::from_secs(10), move |_, tcp| {
        let conn = rustls::ServerConnection::new(config.clone()).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut reader = BufReader::new(&mut tls);
        let mut line = String::new();
        if reader.read_line(&mut line).is_ok() {
            let _ = tls.write_all(line.as_bytes());
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    })
    .unwrap();
    let addr = server.addr();
    let client = client_config(&certs);
    let lp = test_loop(1);
    run_on(&lp.workers()[0], move || async move {
        let pipe = tls_pipe(addr, &client).await;
        let reply = pipe.call((), |b| b.extend_from_slice(b"bye\n")).await;
        assert_eq!(reply.unwrap(), &b"bye\n"[..]);
        let next = pipe.call((), |b| b.extend_from_slice(b"again\n")).await;
        assert!(next.is_err());
        let cause = pipe.close_cause().unwrap();
        assert!(
            matches!(cause, corelane_runtime::CloseCause::PeerClosed),
            "{cause:?}"
        );
    });
}

/// An in-memory duplex transport: what `Stream::from_transport` exists for.
mod mem {
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::io;
    use std::pin::Pin;
    use std::rc::Rc;
    use std::task::{Context, Poll, Waker};

    #[derive(Default)]
    struct Half {
        bytes: VecDeque<u8>,
        closed: bool,
        reader: Option<Waker>,
    }

    pub struct End {
        inbox: Rc<RefCell<Half>>,
        outbox: Rc<RefCell<Half>>,
    }

    pub fn pair() -> (End, End) {
        let a = Rc::new(RefCell::new(Half::default()));
        let b = Rc::new(RefCell::new(Half::default()));
        (
            End {
                inbox: a.clone(),
                outbox: b.clone(),
            },
            End {
                inbox: b,
                outbox: a,
            },
        )
    }

    impl futures_lite::AsyncRead for End {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let mut half = self.inbox.borrow_mut();
            if half.bytes.is_empty() {
                if half.closed {
                    return Poll::Ready(Ok(0));
                }
                half.reader = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let n = buf.len().min(half.bytes.len());
            for (dst, src) in buf.iter_mut().zip(half.bytes.drain(..n)) {
                *dst = src;
            }
            Poll::Ready(Ok(n))
        }
    }

    impl futures_lite::AsyncWrite for End {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let mut half = self.outbox.borrow_mut();
            if half.closed {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            half.bytes.extend(buf);
            if let Some(w) = half.reader.take() {
                w.wake();
            }
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            let mut half = self.outbox.borrow_mut();
            half.closed = true;
            if let Some(w) = half.reader.take() {
                w.wake();
            }
            Poll::Ready(Ok(()))
        }
    }
}

#[test]
fn any_transport_carries_the_round_trip() {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let lp = test_loop(1);
    run_on(&lp.workers()[0], || async {
        let (client, mut server) = mem::pair();
        // The server end: echo every byte, on the same worker.
        task::spawn_detached(async move {
            let mut buf = [0u8; 4096];
            loop {
                match server.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if server.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = server.close().await;
        })
        .unwrap();
        let pipe = Pipe::new(Stream::from_transport(client), Lines, Limits::default()).unwrap();
        let reqs = lines("mem", 300);
        run_checked(&pipe, &reqs).await;
        let reply = pipe.call((), |b| b.extend_from_slice(b"one more\n")).await;
        assert_eq!(reply.unwrap(), &b"one more\n"[..]);
    });
}

#[test]
fn tls_info_reports_the_server_chain_and_alpn() {
    let certs = TestCerts::generate().unwrap();
    let mut server_config = (*certs.server_config(certs.server(), false).unwrap()).clone();
    server_config.alpn_protocols = vec![b"postgresql".to_vec()];
    let server_config = Arc::new(server_config);
    let server = ScriptedServer::start(Duration::from_secs(10), move |_, tcp| {
        echo_tls(server_config.clone(), tcp)
    })
    .unwrap();
    let addr = server.addr();
    let ca = certs.ca_pem().to_owned();
    let leaf_pem = certs.server().cert_pem.clone();
    let lp = test_loop(1);
    run_on(&lp.workers()[0], move || async move {
        let config = TlsConfig::builder()
            .root_pem(ca.as_bytes())
            .unwrap()
            .alpn(&[b"postgresql"])
            .build()
            .unwrap();
        let stream = connect_tls(addr, &config, "localhost").await.unwrap();
        let info = stream.tls_info().unwrap();
        assert_eq!(info.alpn_protocol.as_deref(), Some(&b"postgresql"[..]));
        assert!(!info.protocol_version.is_empty());
        use rustls::pki_types::pem::PemObject;
        let leaf = rustls::pki_types::CertificateDer::from_pem_slice(leaf_pem.as_bytes()).unwrap();
        assert_eq!(info.peer_certificates[0], leaf.as_ref());
    });
}

#[test]
fn garbage_after_the_handshake_fails_the_calls_and_never_panics() {
    let certs = TestCerts::generate().unwrap();
    let config = certs.server_config(certs.server(), false).unwrap();
    // Handshakes, reads one request line, then writes raw random bytes (seeded by the
    // connection index) on the socket under TLS, and sometimes a valid record first.
    let server = ScriptedServer::start(Duration::from_secs(10), move |index, tcp| {
        let conn = rustls::ServerConnection::new(config.clone()).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut line = String::new();
        if BufReader::new(&mut tls).read_line(&mut line).is_err() {
            return;
        }
        let mut rng = fastrand::Rng::with_seed(index as u64);
        if rng.bool() {
            let _ = tls.write_all(b"half a li");
            let _ = tls.flush();
        }
        let mut garbage = vec![0u8; rng.usize(1..4096)];
        rng.fill(&mut garbage);
        if rng.bool() && garbage.len() >= 5 {
            // A plausible record header claiming the largest length, then too few bytes.
            garbage[..5].copy_from_slice(&[0x17, 0x03, 0x03, 0xff, 0xff]);
        }
        let _ = tls.sock.write_all(&garbage);
        let _ = tls.sock.shutdown(std::net::Shutdown::Write);
        let _ = corelane_testkit::wait_for_close(&mut tls.sock);
    })
    .unwrap();
    let addr = server.addr();
    let client = client_config(&certs);
    let lp = test_loop(1);
    run_on(&lp.workers()[0], move || async move {
        for _ in 0..100 {
            let pipe = tls_pipe(addr, &client).await;
            let result = pipe.call((), |b| b.extend_from_slice(b"hello\n")).await;
            assert!(result.is_err(), "garbage cannot be a reply: {result:?}");
            assert!(pipe.is_closed());
        }
    });
}

/// A TLS server that answers every line it receives with a record of its own: a 16000-byte
/// line and then many small ones, so a socket read can end inside a big record and the next
/// one complete it followed by small records.
fn record_per_line_server(certs: &TestCerts) -> ScriptedServer {
    let config = certs.server_config(certs.server(), false).unwrap();
    ScriptedServer::start(Duration::from_secs(60), move |_, tcp| {
        let conn = rustls::ServerConnection::new(config.clone()).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut reader = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match std::io::Read::read(&mut tls, &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            reader.extend_from_slice(&buf[..n]);
            while let Some(end) = reader.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = reader.drain(..=end).collect();
                // One record per line (rustls seals each write on its own).
                if tls.write_all(&line).is_err() {
                    return;
                }
            }
            if tls.flush().is_err() {
                return;
            }
        }
    })
    .unwrap()
}

/// rustls refuses more ciphertext once its received-plaintext buffer holds over 16 KiB: a
/// socket read that completes a big record and then holds more records must keep the rest
/// for later rather than fail with "received plaintext buffer full".
#[test]
fn records_of_mixed_sizes_never_overflow_the_plaintext_buffer() {
    let certs = TestCerts::generate().unwrap();
    let server = record_per_line_server(&certs);
    let config = client_config(&certs);
    let addr = server.addr();
    let lp = test_loop(1);
    run_on(&lp.workers()[0], move || async move {
        let pipe = tls_pipe(addr, &config).await;
        let mut reqs = Vec::new();
        for round in 0..300 {
            reqs.push(format!("{round}:{}\n", "b".repeat(16_000 + round % 7)));
            for small in 0..(1 + round % 13) {
                reqs.push(format!(
                    "{round}.{small}:{}\n",
                    "s".repeat(1 + (round * 31 + small * 17) % 900)
                ));
            }
        }
        let mut batch = Batch::new();
        for r in &reqs {
            batch.push_bytes((), r.as_bytes());
        }
        pipe.run(&mut batch).await.unwrap();
        for (k, reply) in batch.take_all().into_iter().enumerate() {
            match reply {
                Ok(reply) => assert_eq!(reply, reqs[k].as_bytes(), "reply {k}"),
                Err(e) => panic!("reply {k} of {}: {e}", reqs.len()),
            }
        }
    });
}

/// Issue 9 C4 over TLS: an extra reply that arrives (as its own record) while nothing is
/// outstanding answers nobody. The worker is blocked while it arrives, so only the check
/// before the next request's write — a non-blocking read, decrypted — can see it: the next
/// call must fail with a protocol error, never return `surprise`.
#[test]
fn an_extra_reply_over_tls_fails_the_next_call() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let certs = TestCerts::generate().unwrap();
    let config = certs.server_config(certs.server(), false).unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let server = ScriptedServer::start(Duration::from_secs(30), move |_, tcp| {
        let conn = rustls::ServerConnection::new(config.clone()).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        loop {
            let mut line = String::new();
            match BufReader::new(&mut tls).read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if tls
                .write_all(line.as_bytes())
                .and_then(|()| tls.flush())
                .is_err()
            {
                return;
            }
            if line.starts_with("extra") {
                std::thread::sleep(Duration::from_millis(2));
                let _ = tls.write_all(b"surprise\n").and_then(|()| tls.flush());
                counter.fetch_add(1, Ordering::AcqRel);
            }
        }
    })
    .unwrap();
    let addr = server.addr();
    let client = client_config(&certs);
    let lp = test_loop(1);
    run_on(&lp.workers()[0], move || async move {
        for round in 0..8 {
            let pipe = tls_pipe(addr, &client).await;
            let reply = pipe.call((), |b| b.extend_from_slice(b"extra\n")).await;
            assert_eq!(reply.unwrap(), &b"extra\n"[..]);
            // Block the worker (its reader task cannot run) until the extra record is sent.
            while sent.load(Ordering::Acquire) <= round {
                std::thread::sleep(Duration::from_micros(200));
            }
            std::thread::sleep(Duration::from_millis(5));
            match pipe.call((), |b| b.extend_from_slice(b"next\n")).await {
                Err(corelane_runtime::roundtrip::RequestError::Closed(
                    corelane_runtime::CloseCause::Protocol(_),
                )) => {}
                other => panic!("round {round}: expected a protocol error, got {other:?}"),
            }
        }
    });
}
