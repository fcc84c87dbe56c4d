//! TLS against real PostgreSQL servers: every `sslmode` against a TLS and a plaintext server
//! (libpq's outcomes, as a table), certificate verification failures as typed errors,
//! `hostssl`/`hostnossl` pg_hba.conf, `sslnegotiation=direct` against PostgreSQL 15, SCRAM
//! channel binding, client certificates, query cancellation and LISTEN reconnection over TLS,
//! and TLS through a proxy that forwards one byte at a time.

use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::support::{block_on, guard, on_worker, two_workers};
use corelane_postgres::{ChannelBinding, Client, Config, Error, SslMode};
use corelane_runtime::conn::TlsError;
use corelane_testkit::{CertFiles, FaultProxy, Mode, PgAuth, PgHbaTls, PgServer, TestCerts};

const PASSWORD: &str = "s3cret pass";

/// A server and the certificates it was started with (their CA file is what clients trust).
struct Fixture {
    certs: Arc<TestCerts>,
    server: PgServer,
}

impl Fixture {
    fn ca(&self) -> &Path {
        self.certs.ca_file()
    }

    /// The server's URL (user `postgres`, host `127.0.0.1`) with `query` appended.
    fn url(&self, query: &str) -> String {
        format!("{}?{query}", self.server.url())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    /// TLS on, `host` lines (TLS or not), SCRAM.
    Tls,
    /// TLS off, SCRAM.
    Plain,
    /// TLS on with the expired certificate.
    Expired,
    /// TLS on with a certificate for another host.
    WrongHost,
    /// TLS on, `hostssl` only, the CA trusted for client certificates.
    TlsOnly,
    /// TLS on, `hostnossl` only.
    PlainOnly,
    /// TLS on, certificates signed with ECDSA P-384 / SHA-384.
    P384,
}

fn certs() -> Arc<TestCerts> {
    static SLOT: Mutex<Weak<TestCerts>> = Mutex::new(Weak::new());
    let mut slot = SLOT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(certs) = slot.upgrade() {
        return certs;
    }
    let certs = Arc::new(TestCerts::generate().unwrap());
    *slot = Arc::downgrade(&certs);
    certs
}

fn start(kind: Kind) -> Fixture {
    let certs = match kind {
        Kind::P384 => Arc::new(TestCerts::generate_with(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap()),
        _ => certs(),
    };
    let builder = PgServer::builder()
        .auth(PgAuth::ScramSha256)
        .superuser_password(PASSWORD);
    let with = |files: &CertFiles| builder.clone().tls(&files.cert, &files.key);
    let builder = match kind {
        Kind::Plain => builder.clone(),
        Kind::Tls | Kind::P384 => with(certs.server()),
        Kind::Expired => with(certs.expired_server()),
        Kind::WrongHost => with(certs.wrong_host_server()),
        Kind::TlsOnly => with(certs.server())
            .tls_ca_file(certs.ca_file())
            .hba_tls(PgHbaTls::TlsOnly),
        Kind::PlainOnly => with(certs.server()).hba_tls(PgHbaTls::PlainOnly),
    };
    let server = builder.start().expect("start postgres");
    Fixture { certs, server }
}

/// The server of `kind` shared by the tests running at the same time (stopped when the last
/// one is done).
fn fixture(kind: Kind) -> Arc<Fixture> {
    static SLOTS: Mutex<Vec<(Kind, Weak<Fixture>)>> = Mutex::new(Vec::new());
    let mut slots = SLOTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(f) = slots
        .iter()
        .find(|(k, _)| *k == kind)
        .and_then(|(_, w)| w.upgrade())
    {
        return f;
    }
    let f = Arc::new(start(kind));
    slots.retain(|(k, _)| *k != kind);
    slots.push((kind, Arc::downgrade(&f)));
    f
}

fn new_client(url: &str) -> Client {
    two_workers();
    let config = Config::parse(url)
        .unwrap()
        .connect_timeout(Duration::from_secs(30));
    Client::new(config).unwrap()
}

/// Whether the connection that answers runs TLS, per the server.
async fn ssl_in_use(client: &Client) -> Result<bool, Error> {
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await?
        .get(0)
}

/// Connects with `url` and says whether the session runs TLS.
fn connect(url: &str) -> Result<bool, Error> {
    let client = new_client(url);
    guard("connect", move || block_on(ssl_in_use(&client)))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Tls,
    Plain,
    /// The server does not support SSL ([`Error::is_ssl_not_supported`]).
    NoSsl,
}

fn check(what: &str, got: Result<bool, Error>, want: Expect) {
    match (want, got) {
        (Expect::Tls, Ok(true)) | (Expect::Plain, Ok(false)) => {}
        (Expect::NoSsl, Err(e)) => {
            assert!(e.is_ssl_not_supported() && e.is_tls(), "{what}: {e}");
            assert!(e.to_string().contains("does not support SSL"), "{e}");
        }
        (want, got) => panic!("{what}: expected {want:?}, got {got:?}"),
    }
}

/// libpq's outcome of each `sslmode` against a server with TLS (valid certificate, `host`
/// lines) and one without (`ssl = off`), both with SCRAM.
const SSLMODE_TABLE: [(&str, Expect, Expect); 6] = [
    // sslmode      TLS server    plaintext server
    ("disable", Expect::Plain, Expect::Plain),
    ("allow", Expect::Plain, Expect::Plain),
    ("prefer", Expect::Tls, Expect::Plain),
    ("require", Expect::Tls, Expect::NoSsl),
    ("verify-ca", Expect::Tls, Expect::NoSsl),
    ("verify-full", Expect::Tls, Expect::NoSsl),
];

#[test]
fn every_sslmode_against_tls_and_plaintext_servers() {
    let tls = fixture(Kind::Tls);
    let plain = fixture(Kind::Plain);
    for (mode, on_tls, on_plain) in SSLMODE_TABLE {
        let query = format!("sslmode={mode}&sslrootcert={}", tls.ca().display());
        check(
            &format!("{mode} on the TLS server"),
            connect(&tls.url(&query)),
            on_tls,
        );
        check(
            &format!("{mode} on the plaintext server"),
            connect(&plain.url(&query)),
            on_plain,
        );
        // The same without a root certificate: only verify-* need one.
        let bare = format!("sslmode={mode}");
        if mode.starts_with("verify") {
            let e = Client::new(Config::parse(&tls.url(&bare)).unwrap())
                .and_then(|c| guard("no root", move || block_on(ssl_in_use(&c))))
                .unwrap_err();
            assert!(e.is_config(), "{mode} without a root: {e}");
        } else {
            check(&format!("{mode} bare"), connect(&tls.url(&bare)), on_tls);
        }
    }
    // No sslmode at all is libpq's default, prefer.
    check("default", connect(&tls.url("")), Expect::Tls);
    check("default", connect(&plain.url("")), Expect::Plain);
}

#[test]
fn require_with_a_root_certificate_verifies_the_chain() {
    let tls = fixture(Kind::Tls);
    // A CA that did not sign the server's certificate: require then acts as verify-ca.
    let other = TestCerts::generate().unwrap();
    let query = format!("sslmode=require&sslrootcert={}", other.ca_file().display());
    let e = connect(&tls.url(&query)).unwrap_err();
    assert!(e.is_tls(), "{e}");
    // The other CA has the same name as the real issuer, so the chain is built and its
    // signature fails (BadSignature); a CA of another name gives UnknownIssuer.
    let rejected = |e: &Error| {
        matches!(
            e.tls_error(),
            Some(TlsError::UnknownIssuer | TlsError::BadCertificate(_))
        )
    };
    assert!(rejected(&e), "{e:?}");
    // The builder says the same.
    let config = Config::parse(&tls.server.url())
        .unwrap()
        .ssl_mode(SslMode::Require)
        .ssl_root_cert(other.ca_file());
    let client = Client::new(config).unwrap();
    let e = guard("builder", move || block_on(ssl_in_use(&client))).unwrap_err();
    assert!(rejected(&e), "{e:?}");
}

#[test]
fn verify_full_rejects_wrong_host_and_expired_certificates() {
    let wrong = fixture(Kind::WrongHost);
    let expired = fixture(Kind::Expired);
    for mode in ["verify-full", "verify-ca"] {
        let query = format!("sslmode={mode}&sslrootcert={}", expired.ca().display());
        let e = connect(&expired.url(&query)).unwrap_err();
        assert!(e.is_tls(), "{e}");
        assert!(
            matches!(e.tls_error(), Some(TlsError::CertificateExpired)),
            "{mode}: {e:?}"
        );
    }
    let query = format!("sslmode=verify-full&sslrootcert={}", wrong.ca().display());
    let e = connect(&wrong.url(&query)).unwrap_err();
    assert!(e.is_tls() && !e.is_ssl_not_supported(), "{e}");
    assert!(
        matches!(e.tls_error(), Some(TlsError::NameMismatch(host)) if host == "127.0.0.1"),
        "{e:?}"
    );
    // verify-ca checks the chain only: the wrong host is fine.
    let query = format!("sslmode=verify-ca&sslrootcert={}", wrong.ca().display());
    assert!(connect(&wrong.url(&query)).unwrap());
    // prefer falls back to plaintext when the handshake fails (here: the chain, checked
    // because a root certificate is given).
    let other = TestCerts::generate().unwrap();
    let query = format!("sslmode=prefer&sslrootcert={}", other.ca_file().display());
    assert!(!connect(&wrong.url(&query)).unwrap());
}

#[test]
fn hostssl_only_server() {
    let f = fixture(Kind::TlsOnly);
    // Plaintext is refused by pg_hba.conf (no "hostnossl"/"host" line): a server error.
    let e = connect(&f.url("sslmode=disable")).unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("28000"), "{e}");
    assert!(!e.is_tls());
    // allow: plaintext refused, then TLS.
    assert!(connect(&f.url("sslmode=allow")).unwrap());
    assert!(connect(&f.url("sslmode=prefer")).unwrap());
    assert!(connect(&f.url("sslmode=require")).unwrap());
}

#[test]
fn hostnossl_only_server() {
    let f = fixture(Kind::PlainOnly);
    let e = connect(&f.url("sslmode=require")).unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("28000"), "{e}");
    // prefer: TLS refused during startup, then plaintext (as libpq retries).
    assert!(!connect(&f.url("sslmode=prefer")).unwrap());
    assert!(!connect(&f.url("sslmode=allow")).unwrap());
    assert!(!connect(&f.url("sslmode=disable")).unwrap());
}

#[test]
fn direct_negotiation_fails_typed_against_postgres_15() {
    let f = fixture(Kind::Tls);
    let e = connect(&f.url("sslmode=require&sslnegotiation=direct")).unwrap_err();
    assert!(e.is_tls(), "{e}");
    assert!(!e.is_ssl_not_supported(), "{e}");
    assert!(e.to_string().contains("PostgreSQL 17"), "{e}");
    // A weak sslmode is refused up front, as libpq does.
    let e = Client::new(Config::parse(&f.url("sslnegotiation=direct")).unwrap())
        .and_then(|c| guard("weak direct", move || block_on(ssl_in_use(&c))))
        .unwrap_err();
    assert!(e.is_config(), "{e}");
}

#[test]
fn channel_binding_modes() {
    let tls = fixture(Kind::Tls);
    let plain = fixture(Kind::Plain);
    let p384 = fixture(Kind::P384);
    // Over TLS with SCRAM the server offers SCRAM-SHA-256-PLUS: require works (with the
    // SHA-256 and the SHA-384 certificate hash).
    for f in [&tls, &p384] {
        for binding in ["require", "prefer", "disable"] {
            let url = f.url(&format!("sslmode=require&channel_binding={binding}"));
            assert!(connect(&url).unwrap(), "channel_binding={binding}");
        }
    }
    // Not TLS: require fails, typed; prefer authenticates without binding.
    for url in [
        plain.url("channel_binding=require"),
        tls.url("sslmode=disable&channel_binding=require"),
    ] {
        let e = connect(&url).unwrap_err();
        assert!(e.is_channel_binding(), "{url}: {e}");
        assert!(e.to_string().contains("TLS"), "{e}");
    }
    assert!(!connect(&plain.url("channel_binding=prefer")).unwrap());
    // The builder.
    let config = Config::parse(&tls.server.url())
        .unwrap()
        .ssl_mode(SslMode::VerifyFull)
        .ssl_root_cert(tls.ca())
        .channel_binding(ChannelBinding::Require);
    assert_eq!(config.get_channel_binding(), ChannelBinding::Require);
    let client = Client::new(config).unwrap();
    assert!(guard("builder", move || block_on(ssl_in_use(&client))).unwrap());
}

#[test]
fn client_certificate_is_presented() {
    let f = fixture(Kind::TlsOnly);
    let client_cert = f.certs.client();
    let url = f.url(&format!(
        "sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
        f.ca().display(),
        client_cert.cert.display(),
        client_cert.key.display()
    ));
    let client = new_client(&url);
    let dn: Option<String> = guard("client cert", move || {
        block_on(client.query_one(
            "SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        ))
    })
    .unwrap()
    .get(0)
    .unwrap();
    assert_eq!(dn.as_deref(), Some("/CN=corelane-client"));
    // Without one the server (which asks but does not require) sees none.
    let client = new_client(&f.url("sslmode=require"));
    let dn: Option<String> = guard("no client cert", move || {
        block_on(client.query_one(
            "SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        ))
    })
    .unwrap()
    .get(0)
    .unwrap();
    assert_eq!(dn, None);
    // sslcertmode=disable keeps a configured certificate to itself.
    let client = new_client(&format!("{url}&sslcertmode=disable"));
    let dn: Option<String> = guard("sslcertmode=disable", move || {
        block_on(client.query_one(
            "SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        ))
    })
    .unwrap()
    .get(0)
    .unwrap();
    assert_eq!(dn, None);
}

#[test]
fn query_timeout_cancels_over_tls() {
    // A hostssl-only server: every connection, the cancel's included, runs TLS.
    let f = fixture(Kind::TlsOnly);
    let client = new_client(&f.url(&format!(
        "sslmode=verify-full&sslrootcert={}",
        f.ca().display()
    )));
    let timed = client.with_query_timeout(Some(Duration::from_millis(100)));
    guard("cancel over TLS", move || {
        on_worker(0, move || async move {
            assert!(ssl_in_use(&client).await.unwrap());
            let pid: i32 = client
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            let start = Instant::now();
            let e = timed.query("SELECT pg_sleep(10)", &[]).await.unwrap_err();
            assert!(e.is_timeout(), "{e}");
            // Behind the orphan on the same connection: answers before the sleep's 10 s only
            // if the cancel reached the server.
            let again: i32 = client
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            assert!(start.elapsed() < Duration::from_secs(8), "not cancelled");
            // The connection was kept (a failed cancel closes it): the same backend.
            assert_eq!(again, pid);
        })
    });
}

#[test]
fn listener_reconnects_over_tls() {
    let f = fixture(Kind::TlsOnly);
    let client = new_client(&f.url("sslmode=require&channel_binding=require"));
    guard("listen over TLS", move || {
        let options = corelane_postgres::ListenerOptions::default()
            .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(200));
        let mut listener = client.listener_with(options).unwrap();
        block_on(async {
            listener.listen("tls_chan").await.unwrap();
            client
                .execute("SELECT pg_notify('tls_chan', 'before')", &[])
                .await
                .unwrap();
            assert_eq!(listener.next().await.unwrap().payload, "before");
        });
        let pid = listener.backend_pid().unwrap();
        let killed: bool = block_on(client.query_one("SELECT pg_terminate_backend($1)", &[&pid]))
            .unwrap()
            .get(0)
            .unwrap();
        assert!(killed);
        // Publish (from another thread) until one sent after the kill arrives: only a new
        // (TLS) session that listened again can deliver it.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let publisher = {
            let (client, stop) = (client.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    block_on(client.execute("SELECT pg_notify('tls_chan', 'after')", &[])).unwrap();
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        let got = block_on(async {
            loop {
                let n = listener.next().await.expect("the stream ended");
                if n.payload == "after" {
                    break n;
                }
            }
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        publisher.join().unwrap();
        assert_eq!(got.channel, "tls_chan");
        assert!(listener.connects() >= 2, "{}", listener.connects());
        assert_ne!(listener.backend_pid(), Some(pid));
    });
}

#[test]
fn tls_through_a_one_byte_fragmenting_proxy() {
    let f = fixture(Kind::Tls);
    let proxy = FaultProxy::start(f.server.addr()).unwrap();
    proxy.set_mode(Mode::Fragment(1));
    let url = format!(
        "postgres://postgres:{}@127.0.0.1:{}/test?sslmode=verify-full&sslrootcert={}&channel_binding=require",
        PASSWORD.replace(' ', "%20"),
        proxy.addr().port(),
        f.ca().display()
    );
    let client = new_client(&url);
    guard("fragmented TLS", move || {
        block_on(async {
            assert!(ssl_in_use(&client).await.unwrap());
            let mut tasks = Vec::new();
            for i in 0..8i32 {
                let client = client.clone();
                tasks.push(async move {
                    let rows = client
                        .query(
                            "SELECT g, repeat('x', g) FROM generate_series(1, $1::int4) g",
                            &[&(i * 50 + 1)],
                        )
                        .await
                        .unwrap();
                    assert_eq!(rows.len(), (i * 50 + 1) as usize);
                    for (k, row) in rows.iter().enumerate() {
                        let g: i32 = row.get(0).unwrap();
                        let s: String = row.get(1).unwrap();
                        assert_eq!(g as usize, k + 1);
                        assert_eq!(s.len(), k + 1);
                    }
                });
            }
            for t in tasks {
                t.await;
            }
        })
    });
}

/// A wrong password under allow/prefer is retried in the other transport (as libpq does), and
/// the error reported is the password's, not "no pg_hba.conf entry" or "no SSL" of the retry.
#[test]
fn retries_report_the_telling_error() {
    let plain = fixture(Kind::Plain);
    let tls_only = fixture(Kind::TlsOnly);
    let wrong = |f: &Fixture, mode: &str| {
        format!(
            "postgres://postgres:wrong@127.0.0.1:{}/test?sslmode={mode}",
            f.server.port()
        )
    };
    for (f, mode) in [
        (&plain, "allow"),
        (&plain, "prefer"),
        (&tls_only, "prefer"),
        (&tls_only, "allow"),
    ] {
        let e = connect(&wrong(f, mode)).unwrap_err();
        assert_eq!(
            e.code().map(|c| c.code()),
            Some("28P01"),
            "sslmode={mode}: {e}"
        );
        assert!(e.is_auth() && !e.is_tls(), "{e}");
    }
}
