//! The driver over TLS against real `redis-server`s started with TLS ports: commands,
//! pipelines and many concurrent callers; every certificate failure typed, and `insecure`
//! accepting them; mutual TLS; pub/sub reconnecting; blocking pops and transactions; a fault
//! proxy dripping TLS records one byte at a time or cutting the connection.

use crate::support;

use std::sync::mpsc;
use std::time::Duration;

use crate::support::{guard, on_worker};
use corelane_redis::{Client, Cmd, Config, Error, Pipeline, Subscriber, TlsError};
use corelane_testkit::{
    CertFiles, Direction, FaultProxy, Mode, RedisServer, TestCerts, TlsAuthClients,
};
use futures_lite::future::block_on;

/// A redis-server with a TLS port showing `cert` (signed by `certs`' CA unless it is the
/// untrusted one), its plain port kept for administration.
fn tls_server(certs: &TestCerts, cert: &CertFiles) -> RedisServer {
    RedisServer::builder()
        .tls(certs.ca_pem(), cert)
        .start()
        .unwrap()
}

fn tls_client(url: &str) -> Client {
    Client::open(url).unwrap()
}

/// `rediss://` to the server's TLS port, trusting the test CA.
fn url_of(server: &RedisServer) -> String {
    server.tls_url().unwrap()
}

fn percent(path: &std::path::Path) -> String {
    path.display()
        .to_string()
        .replace('%', "%25")
        .replace(' ', "%20")
}

/// What connecting to a server showing `cert` gives, as a typed error (or the value of a GET).
fn first_call(url: &str) -> Result<Option<String>, Error> {
    let client = Client::open(url)?;
    block_on(client.get::<Option<String>>("k"))
}

#[test]
fn get_set_pipelines_transactions_and_many_callers_over_tls() {
    guard("TLS commands", || {
        let certs = TestCerts::generate().unwrap();
        let server = tls_server(&certs, certs.server());
        let c = tls_client(&url_of(&server));
        assert!(c.config().is_tls());

        block_on(c.set::<()>("greeting", "hello over tls")).unwrap();
        let got: Option<String> = block_on(c.get("greeting")).unwrap();
        assert_eq!(got.as_deref(), Some("hello over tls"));

        // A big value: many TLS records each way.
        let big = "x".repeat(300_000);
        block_on(c.set::<()>("big", big.as_str())).unwrap();
        let back: String = block_on(c.get("big")).unwrap();
        assert_eq!(back, big);

        // A pipeline of 2000 commands.
        let mut pipe = Pipeline::new();
        for i in 0..1000 {
            pipe.set(format!("p:{i}"), format!("v{i}"));
        }
        for i in 0..1000 {
            pipe.get(format!("p:{i}"));
        }
        let replies: Vec<String> = block_on(c.pipeline(&pipe)).unwrap();
        assert_eq!(replies.len(), 2000);
        for i in 0..1000 {
            assert_eq!(replies[1000 + i], format!("v{i}"));
        }

        // A WATCH transaction (an exclusive connection) over TLS.
        block_on(c.set::<()>("counter", 1)).unwrap();
        let (n,): (i64,) = block_on(c.transaction(&["counter"], |_conn| async move {
            let mut p = Pipeline::new();
            p.incr_by("counter", 41);
            Ok(p)
        }))
        .unwrap();
        assert_eq!(n, 42);

        // 64 concurrent callers on one worker share its TLS connection, and callers off the
        // loop go through the mailbox.
        let client = c.clone();
        let wrong: usize = on_worker(0, move || async move {
            let tasks: Vec<_> = (0..64)
                .map(|t| {
                    let client = client.clone();
                    corelane_runtime::task::spawn(async move {
                        let mut wrong = 0;
                        for i in 0..50 {
                            let key = format!("c:{t}:{i}");
                            let value = format!("{t}-{i}");
                            client
                                .set::<()>(key.as_str(), value.as_str())
                                .await
                                .unwrap();
                            let got: String = client.get(key.as_str()).await.unwrap();
                            if got != value {
                                wrong += 1;
                            }
                        }
                        wrong
                    })
                    .unwrap()
                })
                .collect();
            let mut wrong = 0;
            for t in tasks {
                wrong += t.await;
            }
            wrong
        });
        assert_eq!(wrong, 0);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        let got: Option<String> =
                            block_on(c.get(format!("c:{t}:{}", i % 50))).unwrap();
                        assert_eq!(got, Some(format!("{t}-{}", i % 50)));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
}

/// Whether a TLS error is the one a case expects.
type IsExpected = fn(&TlsError) -> bool;

#[test]
fn certificate_failures_are_typed_and_insecure_accepts_them() {
    guard("certificate failures", || {
        let certs = TestCerts::generate().unwrap();
        let cases: [(&CertFiles, IsExpected, &str); 3] = [
            (
                certs.expired_server(),
                |e| matches!(e, TlsError::CertificateExpired),
                "expired",
            ),
            (
                certs.wrong_host_server(),
                |e| matches!(e, TlsError::NameMismatch(h) if h == "127.0.0.1"),
                "wrong host",
            ),
            (
                certs.untrusted_server(),
                |e| matches!(e, TlsError::UnknownIssuer),
                "untrusted",
            ),
        ];
        for (cert, expected, what) in cases {
            let server = tls_server(&certs, cert);
            let e = first_call(&url_of(&server)).unwrap_err();
            assert!(e.is_tls(), "{what}: {e}");
            assert!(e.is_connect(), "{what}: {e}");
            assert!(!e.is_config(), "{what}: {e}");
            let tls = e.tls_error().unwrap();
            assert!(expected(tls), "{what}: {tls:?}");
            assert!(e.to_string().contains("TLS"), "{what}: {e}");

            // `insecure=true` (URL) and `danger_accept_invalid_certs` (builder) accept it.
            let insecure = format!(
                "rediss://127.0.0.1:{}?insecure=true",
                server.tls_port().unwrap()
            );
            assert_eq!(first_call(&insecure).unwrap(), None, "{what}");
            let config = Config::default()
                .host("127.0.0.1", server.tls_port().unwrap())
                .danger_accept_invalid_certs(true);
            let c = Client::new(config).unwrap();
            block_on(c.set::<()>("k", "v")).unwrap();
            assert_eq!(block_on(c.get::<String>("k")).unwrap(), "v", "{what}");
        }
    });
}

#[test]
fn wrong_protocol_on_either_side_fails_with_an_error() {
    guard("protocol mismatch", || {
        let certs = TestCerts::generate().unwrap();
        // A server that answers in clear text: not TLS.
        let fake = support::FakeServer::start(|mut s| {
            s.write(b"-ERR this port speaks RESP in clear\r\n");
            s.wait_for_close();
        });
        let url = format!(
            "rediss://127.0.0.1:{}?ca_file={}",
            fake.addr.port(),
            percent(certs.ca_file())
        );
        let e = first_call(&url).unwrap_err();
        assert!(e.is_tls(), "{e}");
        assert!(matches!(e.tls_error(), Some(TlsError::NotTls)), "{e:?}");

        // redis-server's plain port waits for a line that the ClientHello never ends: the
        // handshake runs inside the connect timeout, which ends it.
        let server = tls_server(&certs, certs.server());
        let url = format!(
            "rediss://127.0.0.1:{}?ca_file={}&connect_timeout_ms=300",
            server.port(),
            percent(certs.ca_file())
        );
        let e = first_call(&url).unwrap_err();
        assert!(e.is_connect(), "{e}");
        assert!(e.to_string().contains("timed out"), "{e}");

        // Clear text to the TLS port: an error, not a hang.
        let plain = format!(
            "redis://127.0.0.1:{}?connect_timeout_ms=20000",
            server.tls_port().unwrap()
        );
        assert!(first_call(&plain).is_err());
    });
}

#[test]
fn unusable_tls_settings_fail_when_the_client_is_made() {
    let certs = TestCerts::generate().unwrap();
    let e = Client::open("rediss://127.0.0.1:1?ca_file=/nonexistent/ca.pem").unwrap_err();
    assert!(e.is_tls() && e.is_config(), "{e}");
    assert!(
        matches!(e.tls_error(), Some(TlsError::Config { .. })),
        "{e:?}"
    );
    // A certificate where the key should be: refused, and no key material in the text.
    let client = certs.client();
    let e = Client::new(
        Config::default()
            .host("127.0.0.1", 1)
            .tls_ca_file(certs.ca_file())
            .tls_client_cert_files(&client.cert, &client.cert),
    )
    .unwrap_err();
    assert!(e.is_tls() && e.is_config(), "{e}");
    // A real key never shows up in errors or Debug.
    let config = Config::default()
        .host("127.0.0.1", 1)
        .password("hunter2")
        .tls_ca_pem(certs.ca_pem())
        .tls_client_cert_pem(client.cert_pem.as_str(), client.key_pem.as_str());
    let key_body = client.key_pem.lines().nth(1).unwrap();
    let c = Client::new(config.clone()).unwrap();
    for text in [format!("{config:?}"), format!("{c:?}")] {
        assert!(!text.contains(key_body), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
    // Nothing to trust and no system roots: a clear error, not a server that cannot verify.
    let e = Client::new(Config::default().tls(true).tls_system_roots(false)).unwrap_err();
    assert!(e.is_tls() && e.is_config(), "{e}");
    // TLS over a Unix socket is refused.
    let e = Client::new(
        Config::default()
            .addr(corelane_redis::Addr::Unix("/tmp/x.sock".into()))
            .tls(true),
    )
    .unwrap_err();
    assert!(e.is_config(), "{e}");
}

#[test]
fn a_password_over_tls() {
    guard("password over tls", || {
        let certs = TestCerts::generate().unwrap();
        let server = RedisServer::builder()
            .tls(certs.ca_pem(), certs.server())
            .requirepass("s3cret")
            .start()
            .unwrap();
        let url = url_of(&server).replacen("rediss://", "rediss://:s3cret@", 1);
        let c = tls_client(&url);
        assert_eq!(block_on(c.ping::<String>()).unwrap(), "PONG");
        let bad = url_of(&server).replacen("rediss://", "rediss://:wrong@", 1);
        let e = first_call(&bad).unwrap_err();
        assert!(e.is_auth(), "{e}");
        assert!(!e.to_string().contains("wrong@"), "{e}");
    });
}

fn mtls_url(server: &RedisServer, client: Option<&CertFiles>) -> String {
    let mut url = url_of(server);
    if let Some(c) = client {
        url.push_str(&format!(
            "&cert_file={}&key_file={}",
            percent(&c.cert),
            percent(&c.key)
        ));
    }
    url
}

#[test]
fn mutual_tls_needs_a_client_certificate_the_server_trusts() {
    guard("mutual tls", || {
        let certs = TestCerts::generate().unwrap();
        let server = RedisServer::builder()
            .tls(certs.ca_pem(), certs.server())
            .tls_auth_clients(TlsAuthClients::Yes)
            .start()
            .unwrap();

        // With the client certificate (URL and builder): works.
        let c = tls_client(&mtls_url(&server, Some(certs.client())));
        block_on(c.set::<()>("m", "tls")).unwrap();
        assert_eq!(block_on(c.get::<String>("m")).unwrap(), "tls");
        let client = certs.client();
        let built = Client::new(
            Config::default()
                .host("127.0.0.1", server.tls_port().unwrap())
                .tls_ca_file(certs.ca_file())
                .tls_system_roots(false)
                .tls_client_cert_files(&client.cert, &client.key),
        )
        .unwrap();
        assert_eq!(block_on(built.get::<String>("m")).unwrap(), "tls");

        // Without one, or with one from an untrusted CA: a TLS error, not a hang.
        for (what, url) in [
            ("no client certificate", mtls_url(&server, None)),
            (
                "untrusted client certificate",
                mtls_url(&server, Some(certs.untrusted_client())),
            ),
        ] {
            let e = first_call(&url).unwrap_err();
            assert!(e.is_tls(), "{what}: {e:?}");
            assert!(
                matches!(e.tls_error(), Some(TlsError::PeerAlert(_))),
                "{what}: {e:?}"
            );
        }
    });
}

/// The next message, or `None` after `limit` (a hang guard, not a timing assertion).
fn next_within(
    sub: &mut corelane_redis::Subscriber,
    limit: Duration,
) -> Option<corelane_redis::Message> {
    let (tx, rx) = corelane_runtime::oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        let _ = tx.send(());
    });
    block_on(futures_lite::future::or(
        async { sub.next().await },
        async {
            let _ = rx.await;
            None
        },
    ))
}

#[test]
fn pubsub_over_tls_reconnects_after_client_kill() {
    guard("pubsub over tls", || {
        let certs = TestCerts::generate().unwrap();
        let server = tls_server(&certs, certs.server());
        let c = tls_client(&url_of(&server));
        let mut sub = c
            .subscriber_with(
                corelane_redis::SubscriberOptions::default()
                    .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(200)),
            )
            .unwrap();
        block_on(sub.subscribe(["news"])).unwrap();
        assert_eq!(block_on(c.publish::<i64>("news", "first")).unwrap(), 1);
        let m = next_within(&mut sub, Duration::from_secs(20)).expect("first message");
        assert_eq!(m.payload_str(), Some("first"));

        let killed: i64 =
            block_on(c.query(Cmd::new("CLIENT").arg("KILL").arg("TYPE").arg("pubsub"))).unwrap();
        assert_eq!(killed, 1);
        assert!(
            publish_until_received(&c, &mut sub),
            "never received after the kill"
        );
        assert!(sub.connects() >= 2, "connects {}", sub.connects());
    });
}

/// Publishes on `news` until `sub` receives one of these messages (errors are expected while
/// the publisher's connection reconnects too): whether the subscriber came back.
fn publish_until_received(c: &Client, sub: &mut Subscriber) -> bool {
    for attempt in 0..400 {
        let payload = format!("after-{attempt}");
        let _ = block_on(c.publish::<i64>("news", payload.as_str()));
        if let Some(m) = next_within(sub, Duration::from_millis(50)) {
            if m.payload_str().is_some_and(|p| p.starts_with("after-")) {
                return true;
            }
        }
    }
    false
}

#[test]
fn blocking_pop_over_tls() {
    guard("blpop over tls", || {
        let certs = TestCerts::generate().unwrap();
        let server = tls_server(&certs, certs.server());
        let c = tls_client(&url_of(&server));
        let popper = c.clone();
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            tx.send(()).unwrap();
            block_on(popper.blpop::<String>(&["queue"], Duration::ZERO))
        });
        rx.recv().unwrap();
        // Push until the pop has taken a value (the pop may start after the first push).
        let mut pushed = 0;
        while !waiter.is_finished() && pushed < 2000 {
            block_on(c.rpush::<i64>("queue", &["job"])).unwrap();
            pushed += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
        let popped = waiter.join().unwrap().unwrap();
        assert_eq!(popped, Some(("queue".to_owned(), "job".to_owned())));
        // The blocking pop ran on a connection of its own: the shared one answered meanwhile.
        let left: i64 = block_on(c.llen("queue")).unwrap();
        assert_eq!(left, pushed - 1);
    });
}

fn preset(c: &Client, n: usize) {
    let mut pipe = Pipeline::new();
    for i in 0..n {
        pipe.set(format!("f:{i}"), format!("value-{i}"));
    }
    let _: Vec<String> = block_on(c.pipeline(&pipe)).unwrap();
}

fn gets(range: std::ops::Range<usize>) -> Pipeline {
    let mut pipe = Pipeline::new();
    for i in range {
        pipe.get(format!("f:{i}"));
    }
    pipe
}

#[test]
fn fault_proxy_fragmenting_tls_records_then_cutting() {
    guard("proxy over tls", || {
        let certs = TestCerts::generate().unwrap();
        let server = tls_server(&certs, certs.server());
        let direct = tls_client(&url_of(&server));
        preset(&direct, 500);
        let proxy = FaultProxy::start(server.tls_addr().unwrap()).unwrap();
        let url = format!(
            "rediss://127.0.0.1:{}?ca_file={}",
            proxy.addr().port(),
            percent(certs.ca_file())
        );

        // Every TLS record arrives one byte at a time, both ways, handshake included.
        proxy.set_mode_on(Direction::Both, Mode::Fragment(1));
        let c = tls_client(&url);
        let replies: Vec<String> = block_on(c.pipeline(&gets(0..500))).unwrap();
        for (i, r) in replies.iter().enumerate() {
            assert_eq!(r, &format!("value-{i}"));
        }
        for i in 0..20 {
            let got: String = block_on(c.get(format!("f:{i}"))).unwrap();
            assert_eq!(got, format!("value-{i}"));
        }
        proxy.set_mode(Mode::PassThrough);

        // A cut mid-traffic: errors say closed, nothing hangs, and the client reconnects.
        let (started_tx, started_rx) = mpsc::channel();
        let traffic = {
            let c = c.clone();
            std::thread::spawn(move || {
                let mut errors = Vec::new();
                for round in 0..200 {
                    if round == 2 {
                        let _ = started_tx.send(());
                    }
                    match block_on(c.pipeline::<Vec<String>>(&gets(0..500))) {
                        Ok(replies) => {
                            for (i, r) in replies.iter().enumerate() {
                                assert_eq!(r, &format!("value-{i}"));
                            }
                        }
                        Err(e) => errors.push(e),
                    }
                }
                errors
            })
        };
        started_rx.recv().unwrap();
        proxy.cut_all();
        let errors = traffic.join().unwrap();
        for e in &errors {
            assert!(e.is_closed() || e.is_connect(), "{e:?}");
        }
        let mut recovered = false;
        for _ in 0..200 {
            if let Ok(v) = block_on(c.get::<String>("f:7")) {
                assert_eq!(v, "value-7");
                recovered = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(recovered, "the client never reconnected through the proxy");
    });
}

#[test]
fn pubsub_over_tls_resumes_after_a_server_restart() {
    guard("pubsub restart over tls", || {
        let certs = TestCerts::generate().unwrap();
        let mut server = tls_server(&certs, certs.server());
        let c = tls_client(&url_of(&server));
        let mut sub = c
            .subscriber_with(
                corelane_redis::SubscriberOptions::default()
                    .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(200)),
            )
            .unwrap();
        block_on(sub.subscribe(["news"])).unwrap();
        assert_eq!(block_on(c.publish::<i64>("news", "first")).unwrap(), 1);
        assert!(next_within(&mut sub, Duration::from_secs(20)).is_some());

        server.restart().unwrap();
        assert!(
            publish_until_received(&c, &mut sub),
            "never received after the restart"
        );
        assert!(sub.connects() >= 2, "connects {}", sub.connects());
    });
}

/// Pub/sub connections are made the same way: without the client certificate a mutual-TLS
/// server refuses the subscriber too, and its last error says why.
#[test]
fn a_subscriber_without_a_client_certificate_reports_the_tls_refusal() {
    guard("pubsub mutual tls", || {
        let certs = TestCerts::generate().unwrap();
        let server = RedisServer::builder()
            .tls(certs.ca_pem(), certs.server())
            .tls_auth_clients(TlsAuthClients::Yes)
            .start()
            .unwrap();
        let c = tls_client(&mtls_url(&server, None));
        let sub = c
            .subscriber_with(
                corelane_redis::SubscriberOptions::default()
                    .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(100)),
            )
            .unwrap();
        let subscribed = block_on(futures_lite::future::or(
            async { Some(sub.subscribe(["news"]).await) },
            async {
                // Long enough for several connection attempts (a hang guard, not a timing
                // assertion: the outcome checked is the error, whenever it is there).
                for _ in 0..200 {
                    if sub.last_error().is_some() {
                        break;
                    }
                    let (tx, rx) = corelane_runtime::oneshot::channel::<()>();
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(20));
                        let _ = tx.send(());
                    });
                    let _ = rx.await;
                }
                None
            },
        ));
        // The subscribe fails with the connect attempt's error, or (if it is still waiting
        // for a connection) the subscriber's last error is that.
        let e = match subscribed {
            Some(result) => result.expect_err("subscribed without a client certificate"),
            None => sub.last_error().expect("no connection error recorded"),
        };
        assert!(e.is_tls(), "{e:?}");
        assert!(!sub.is_connected());
        // With the certificate, the same subscriber setup works.
        let good = tls_client(&mtls_url(&server, Some(certs.client())));
        let mut sub = good.subscriber().unwrap();
        block_on(sub.subscribe(["news"])).unwrap();
        assert_eq!(block_on(good.publish::<i64>("news", "hi")).unwrap(), 1);
        let m = next_within(&mut sub, Duration::from_secs(20)).expect("message");
        assert_eq!(m.payload_str(), Some("hi"));
    });
}
