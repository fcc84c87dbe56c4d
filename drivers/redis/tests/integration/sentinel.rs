//! A client that finds its master through Redis Sentinel: it reaches the master the
//! sentinels name, and after the master is killed every call either succeeds or fails with a
//! typed error (none hangs), and calls reach the promoted replica.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{bulk, guard, on_worker, FakeServer};
use corelane_redis::{Client, Cmd, Config, Error, Value};
use corelane_testkit::resp::{command, Reply};
use corelane_testkit::{RedisServer, SentinelTrio, SENTINEL_MASTER};

const CALL_LIMIT: Duration = Duration::from_secs(20);

fn typed_failover_error(e: &Error) -> bool {
    e.is_closed() || e.is_connect() || e.is_timeout() || e.code() == Some("READONLY")
}

#[test]
fn finds_the_master_and_follows_a_failover() {
    guard("sentinel", || {
        let mut trio = SentinelTrio::start().unwrap();
        let client = Client::open(&trio.url()).unwrap();
        let master = trio.master_addr().unwrap();
        futures_lite::future::block_on(client.set::<()>("s-key", "v1")).unwrap();
        // It was written at the master the sentinels name.
        let direct = command(master, &["GET", "s-key"]).unwrap();
        assert_eq!(direct, Reply::Bulk(Some(b"v1".to_vec())));
        // From a worker too, and with a builder config.
        let by_config = Client::new(
            Config::default().sentinel(
                SENTINEL_MASTER,
                trio.sentinel_addrs()
                    .iter()
                    .map(|a| (a.ip().to_string(), a.port())),
            ),
        )
        .unwrap();
        let got: String =
            on_worker(0, move || async move { by_config.get("s-key").await }).unwrap();
        assert_eq!(got, "v1");
        // An unknown master name: a typed connect error naming it.
        let bad = trio.url().replace("/mymaster", "/nosuch");
        let e = futures_lite::future::block_on(
            Client::open(&bad).unwrap().query::<Value>(Cmd::new("PING")),
        )
        .unwrap_err();
        assert!(e.is_connect() && e.to_string().contains("nosuch"), "{e}");

        // Load, then kill the master.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let (client, stop, ok) = (client.clone(), stop.clone(), ok.clone());
                rt.spawn(async move {
                    let k = format!("s{i}");
                    let mut errors = Vec::new();
                    let mut n = 0i64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let set = tokio::time::timeout(CALL_LIMIT, client.set::<()>(k.clone(), n))
                            .await
                            .expect("SET hung");
                        let got = match set {
                            Ok(()) => {
                                tokio::time::timeout(CALL_LIMIT, client.get::<i64>(k.clone()))
                                    .await
                                    .expect("GET hung")
                            }
                            Err(e) => Err(e),
                        };
                        match got {
                            Ok(v) => {
                                assert_eq!(v, n, "{k}");
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                errors.push(e);
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                        }
                    }
                    errors
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        assert!(ok.load(Ordering::Relaxed) > 0);
        trio.kill(master).unwrap();
        let killed = Instant::now();
        let new_master = trio.wait_failover(master).unwrap();
        eprintln!("sentinel failover took {:?}", killed.elapsed());
        let before = ok.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(30);
        while ok.load(Ordering::Relaxed) < before + 16 * 4 {
            assert!(
                Instant::now() < deadline,
                "calls did not succeed again after the failover"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        let mut errors = Vec::new();
        rt.block_on(async {
            for t in tasks {
                errors.extend(t.await.unwrap());
            }
        });
        for e in &errors {
            assert!(
                typed_failover_error(e),
                "untyped error during failover: {e:?}"
            );
        }
        eprintln!(
            "{} calls ok, {} typed errors",
            ok.load(Ordering::Relaxed),
            errors.len()
        );
        // The writes after the failover are at the new master.
        rt.block_on(client.set::<()>("s-after", "v2")).unwrap();
        let direct = command(new_master, &["GET", "s-after"]).unwrap();
        assert_eq!(direct, Reply::Bulk(Some(b"v2".to_vec())));
    });
}

/// A sentinel that still names the old master after a failover (now a replica) is what the
/// `ROLE` check is for; a real sentinel does so only for a moment, so a scripted one names a
/// real replica here.
#[test]
fn a_server_named_by_a_sentinel_must_say_it_is_master() {
    guard("role check", || {
        let master = RedisServer::start().unwrap();
        let replica = RedisServer::builder()
            .config("replicaof", &["127.0.0.1", &master.port().to_string()])
            .start()
            .unwrap();
        let (name_host, name_port) = (replica.addr().ip().to_string(), replica.port());
        let asked = Arc::new(AtomicUsize::new(0));
        let counted = asked.clone();
        let sentinel = FakeServer::start(move |mut session| {
            while let Some(cmd) = session.next_command() {
                assert!(cmd[0].eq_ignore_ascii_case(b"SENTINEL"), "{cmd:?}");
                assert_eq!(cmd[2], b"mymaster");
                counted.fetch_add(1, Ordering::Relaxed);
                let mut reply = b"*2\r\n".to_vec();
                reply.extend(bulk(name_host.as_bytes()));
                reply.extend(bulk(name_port.to_string().as_bytes()));
                session.write(&reply);
            }
        });
        let client = Client::new(Config::default().sentinel(
            "mymaster",
            [(sentinel.addr.ip().to_string(), sentinel.addr.port())],
        ))
        .unwrap();
        let e =
            futures_lite::future::block_on(client.query::<Value>(Cmd::new("PING"))).unwrap_err();
        assert!(e.is_connect() && e.to_string().contains("ROLE"), "{e}");
        assert!(asked.load(Ordering::Relaxed) >= 1);
    });
}

/// Polls `done` until true; the test's hang guard bounds the wait (no timed assertion).
fn wait_until(mut done: impl FnMut() -> bool) {
    while !done() {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `name=` fields of `CLIENT LIST` on `server`, but for the sentinels' own connections.
fn client_names(server: std::net::SocketAddr) -> Vec<String> {
    command(server, &["CLIENT", "LIST"])
        .unwrap()
        .text()
        .split_whitespace()
        .filter_map(|field| field.strip_prefix("name="))
        .filter(|name| !name.is_empty() && !name.starts_with("sentinel-"))
        .map(str::to_owned)
        .collect()
}

/// `SENTINEL FAILOVER` keeps the old master up (and a master) for seconds: only the
/// `+switch-master` event tells an idle client to leave it. Its next call reaches the new
/// master, without any error.
#[test]
fn an_idle_client_follows_a_graceful_failover_without_error() {
    guard("sentinel idle failover", || {
        let trio = SentinelTrio::start().unwrap();
        let name = "idle-follower";
        let client = Client::open(&format!("{}?client_name={name}", trio.url())).unwrap();
        let old = trio.master_addr().unwrap();
        futures_lite::future::block_on(client.set::<()>("idle-key", "before")).unwrap();
        assert_eq!(client_names(old), [name]);
        wait_until(|| client.sentinel_subscribed());
        assert_eq!(client.sentinel_switches(), 0);

        trio.failover().unwrap();
        let new = trio.wait_failover(old).unwrap();
        assert_ne!(new, old);
        wait_until(|| client.sentinel_switches() == 1);

        // The next calls: no error, and they run on the new master.
        futures_lite::future::block_on(client.set::<()>("idle-key", "after")).unwrap();
        let role: Vec<Value> =
            futures_lite::future::block_on(client.query(Cmd::new("ROLE"))).unwrap();
        assert_eq!(role.first(), Some(&Value::BulkString("master".into())));
        // (One connection per worker the calls ran on.)
        let on_new = client_names(new);
        assert!(
            !on_new.is_empty() && on_new.iter().all(|n| n == name),
            "{on_new:?}"
        );
        let direct = command(new, &["GET", "idle-key"]).unwrap();
        assert_eq!(direct, Reply::Bulk(Some(b"after".to_vec())));
        let stats = futures_lite::future::block_on(client.stats());
        assert_eq!(stats.total().errors(), 0, "{stats:?}");
        assert_eq!(client.sentinel_switches(), 1);
    });
}

/// Calls from several tasks while `SENTINEL FAILOVER` runs: each ends once, with its reply or
/// a typed error (none hangs: each is bounded), and once the client has acted on the switch
/// the writes land on the new master.
#[test]
fn calls_under_load_end_once_through_a_graceful_failover() {
    guard("sentinel failover under load", || {
        let trio = SentinelTrio::start().unwrap();
        let client = Client::open(&trio.url()).unwrap();
        let old = trio.master_addr().unwrap();
        wait_until(|| client.sentinel_subscribed());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let issued = Arc::new(AtomicUsize::new(0));
        let ended = Arc::new(AtomicUsize::new(0));
        let ok = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let client = client.clone();
                let (stop, issued, ended, ok) =
                    (stop.clone(), issued.clone(), ended.clone(), ok.clone());
                rt.spawn(async move {
                    let k = format!("load{i}");
                    let mut errors = Vec::new();
                    let mut n = 0i64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        issued.fetch_add(1, Ordering::Relaxed);
                        let set = tokio::time::timeout(CALL_LIMIT, client.set::<()>(k.clone(), n))
                            .await
                            .expect("SET hung");
                        ended.fetch_add(1, Ordering::Relaxed);
                        match set {
                            Ok(()) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                errors.push(e);
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                    }
                    errors
                })
            })
            .collect();
        wait_until(|| ok.load(Ordering::Relaxed) >= 100);
        trio.failover().unwrap();
        let new = trio.wait_failover(old).unwrap();
        wait_until(|| client.sentinel_switches() == 1);
        let before = ok.load(Ordering::Relaxed);
        wait_until(|| ok.load(Ordering::Relaxed) >= before + 8 * 20);
        stop.store(true, Ordering::Relaxed);
        let mut errors = Vec::new();
        rt.block_on(async {
            for t in tasks {
                errors.extend(t.await.unwrap());
            }
        });
        assert_eq!(
            issued.load(Ordering::Relaxed),
            ended.load(Ordering::Relaxed)
        );
        assert_eq!(
            ended.load(Ordering::Relaxed),
            ok.load(Ordering::Relaxed) + errors.len()
        );
        for e in &errors {
            assert!(
                typed_failover_error(e),
                "untyped error during failover: {e:?}"
            );
        }
        eprintln!(
            "{} calls ok, {} typed errors",
            ok.load(Ordering::Relaxed),
            errors.len()
        );
        rt.block_on(client.set::<()>("load-after", "v")).unwrap();
        let direct = command(new, &["GET", "load-after"]).unwrap();
        assert_eq!(direct, Reply::Bulk(Some(b"v".to_vec())));
    });
}

/// Sentinels with `requirepass`: the right `sentinel_password` (URL or builder) reaches the
/// master and the `+switch-master` subscription; a wrong or missing one is a typed auth
/// error that never shows the secret.
#[test]
fn sentinel_password_right_and_wrong() {
    guard("sentinel auth", || {
        let secret = "sentinel-s3cret";
        let trio = SentinelTrio::start_with_sentinel_password(secret).unwrap();
        let master = trio.master_addr().unwrap();
        let client = Client::open(&format!("{}?sentinel_password={secret}", trio.url())).unwrap();
        futures_lite::future::block_on(client.set::<()>("auth-key", "v")).unwrap();
        let direct = command(master, &["GET", "auth-key"]).unwrap();
        assert_eq!(direct, Reply::Bulk(Some(b"v".to_vec())));
        wait_until(|| client.sentinel_subscribed());
        assert!(!format!("{client:?}").contains(secret));

        let by_config = Client::new(
            Config::default()
                .sentinel(
                    SENTINEL_MASTER,
                    trio.sentinel_addrs()
                        .iter()
                        .map(|a| (a.ip().to_string(), a.port())),
                )
                .sentinel_password(secret),
        )
        .unwrap();
        let got: String = futures_lite::future::block_on(by_config.get("auth-key")).unwrap();
        assert_eq!(got, "v");

        let wrong = "not-the-s3cret";
        let bad = Client::open(&format!("{}?sentinel_password={wrong}", trio.url())).unwrap();
        let e = futures_lite::future::block_on(bad.get::<Option<String>>("auth-key")).unwrap_err();
        assert!(e.is_auth(), "{e:?}");
        assert!(
            !e.to_string().contains(wrong) && !format!("{e:?}").contains(wrong),
            "{e:?}"
        );
        let e = futures_lite::future::block_on(bad.check()).unwrap_err();
        assert!(e.is_auth(), "{e:?}");
        assert!(!format!("{bad:?}").contains(wrong));

        let none = Client::open(&trio.url()).unwrap();
        let e = futures_lite::future::block_on(none.get::<Option<String>>("auth-key")).unwrap_err();
        assert!(e.is_auth(), "{e:?}");
    });
}

/// Sentinels reached over TLS (their `tls-port`), the master over plain TCP: the master is
/// found, the `+switch-master` subscription runs over TLS, and a sentinel certificate from an
/// untrusted CA is a typed TLS error.
#[test]
fn sentinels_over_tls() {
    guard("sentinel tls", || {
        let certs = corelane_testkit::TestCerts::generate().unwrap();
        let trio = SentinelTrio::start_with_tls_sentinels(&certs).unwrap();
        let master = trio.master_addr().unwrap();
        let hosts: Vec<String> = trio
            .tls_sentinel_addrs()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(hosts.len(), 3);
        let ca: String = certs
            .ca_file()
            .display()
            .to_string()
            .replace('%', "%25")
            .replace('/', "%2F");
        let url = format!(
            "redis+sentinel://{}/{SENTINEL_MASTER}?sentinel_tls=true&sentinel_ca_file={ca}",
            hosts.join(",")
        );
        let client = Client::open(&url).unwrap();
        futures_lite::future::block_on(client.set::<()>("tls-key", "v")).unwrap();
        let direct = command(master, &["GET", "tls-key"]).unwrap();
        assert_eq!(direct, Reply::Bulk(Some(b"v".to_vec())));
        wait_until(|| client.sentinel_subscribed());

        // Without trusting the test CA (only the system's roots): the sentinels' certificate
        // is refused, with a typed error.
        let untrusted = Client::new(
            Config::default()
                .sentinel(
                    SENTINEL_MASTER,
                    trio.tls_sentinel_addrs()
                        .iter()
                        .map(|a| (a.ip().to_string(), a.port())),
                )
                .sentinel_tls(true),
        )
        .unwrap();
        let e = futures_lite::future::block_on(untrusted.check()).unwrap_err();
        assert!(e.is_tls(), "{e:?}");
        // Plain TCP to a TLS port: an error, not a hang.
        let plain = Client::new(
            Config::default().sentinel(
                SENTINEL_MASTER,
                trio.tls_sentinel_addrs()
                    .iter()
                    .map(|a| (a.ip().to_string(), a.port())),
            ),
        )
        .unwrap();
        assert!(futures_lite::future::block_on(plain.check()).is_err());
    });
}

/// `read_from=replica`: read-only commands run on the replica the sentinels report, writes on
/// the master (seen from the servers' `CLIENT LIST`).
#[test]
fn reads_go_to_the_replica_with_read_from_replica() {
    guard("sentinel replica reads", || {
        let trio = SentinelTrio::start().unwrap();
        let master = trio.master_addr().unwrap();
        let replica = *trio.server_addrs().iter().find(|a| **a != master).unwrap();
        let reader = "replica-reader";
        let client = Client::open(&format!(
            "{}?read_from=replica&client_name={reader}",
            trio.url()
        ))
        .unwrap();
        assert_eq!(
            command(master, &["SET", "r-key", "v1"]).unwrap(),
            Reply::Status("OK".into())
        );
        wait_until(|| {
            command(replica, &["GET", "r-key"]).unwrap() == Reply::Bulk(Some(b"v1".to_vec()))
        });

        let got: Option<String> = futures_lite::future::block_on(client.get("r-key")).unwrap();
        assert_eq!(got.as_deref(), Some("v1"));
        let raw: Value =
            futures_lite::future::block_on(client.query(Cmd::new("EXISTS").arg("r-key"))).unwrap();
        assert_eq!(raw, Value::Integer(1));
        // Only reads so far: the replica has our connections, the master none.
        let on_replica = client_names(replica);
        assert!(
            !on_replica.is_empty() && on_replica.iter().all(|n| n == reader),
            "{on_replica:?}"
        );
        assert!(
            client_names(master).is_empty(),
            "{:?}",
            client_names(master)
        );

        // A write goes to the master.
        futures_lite::future::block_on(client.set::<()>("r-key", "v2")).unwrap();
        assert!(client_names(master).iter().any(|n| n == reader));
        assert_eq!(
            command(master, &["GET", "r-key"]).unwrap(),
            Reply::Bulk(Some(b"v2".to_vec()))
        );
    });
}

/// The sentinels holding a `+switch-master` subscriber (a client with `sub=1` in their
/// `CLIENT LIST`).
fn subscribed_sentinels(trio: &SentinelTrio) -> Vec<std::net::SocketAddr> {
    trio.sentinel_addrs()
        .into_iter()
        .filter(|s| {
            trio.sentinel_command(*s, &["CLIENT", "LIST"])
                .map(|r| r.text().contains(" sub=1 "))
                .unwrap_or(false)
        })
        .collect()
}

/// The subscription survives losing its sentinel: it moves to another one, and a failover
/// after that is still followed through `+switch-master`.
#[test]
fn the_subscription_moves_to_another_sentinel_when_it_drops() {
    guard("sentinel resubscribe", || {
        let trio = SentinelTrio::start().unwrap();
        let client = Client::open(&trio.url()).unwrap();
        let old = trio.master_addr().unwrap();
        wait_until(|| client.sentinel_subscribed());
        wait_until(|| subscribed_sentinels(&trio).len() == 1);
        let first = subscribed_sentinels(&trio)[0];
        let killed = trio
            .sentinel_command(first, &["CLIENT", "KILL", "TYPE", "pubsub"])
            .unwrap();
        assert_eq!(killed, Reply::Int(1));
        wait_until(|| {
            let now = subscribed_sentinels(&trio);
            now.len() == 1 && now[0] != first
        });
        wait_until(|| client.sentinel_subscribed());

        futures_lite::future::block_on(client.set::<()>("moved-key", "before")).unwrap();
        trio.failover().unwrap();
        let new = trio.wait_failover(old).unwrap();
        wait_until(|| client.sentinel_switches() == 1);
        futures_lite::future::block_on(client.set::<()>("moved-key", "after")).unwrap();
        let direct = command(new, &["GET", "moved-key"]).unwrap();
        assert_eq!(direct, Reply::Bulk(Some(b"after".to_vec())));
    });
}
