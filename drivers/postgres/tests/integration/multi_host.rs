//! Multi-host connection strings against a real primary and streaming standby
//! (`corelane_testkit::PgReplicaPair`): `target_session_attrs` in both host orders, a dead
//! host skipped, `load_balance_hosts=random`, the error when no host qualifies, listeners, and
//! a failover (primary stopped, standby promoted) under load.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::support::{block_on, guard, two_workers};
use corelane_postgres::{Client, Config, LoadBalanceHosts, TargetSessionAttrs, TransactionOptions};
use corelane_testkit::{free_port, PgReplicaPair};

/// The pair shared by the tests that leave it as it is (the failover test starts its own).
fn shared_pair() -> Arc<PgReplicaPair> {
    static SLOT: Mutex<Weak<PgReplicaPair>> = Mutex::new(Weak::new());
    let mut slot = SLOT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(pair) = slot.upgrade() {
        return pair;
    }
    let pair = Arc::new(PgReplicaPair::start().expect("start primary + standby"));
    *slot = Arc::downgrade(&pair);
    pair
}

/// Parses with no environment (no `PG*` defaults, no `~/.pgpass`).
fn parse(s: &str) -> Config {
    Config::parse_with_env(s, |_| None).unwrap()
}

/// A client for `127.0.0.1` on `ports`, in that order, with `extra` keywords.
fn client(ports: &[u16], extra: &str) -> Client {
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    let hosts = vec!["127.0.0.1"; ports.len()].join(",");
    Client::new(parse(&format!(
        "host={hosts} port={} user=postgres dbname=test connect_timeout=5 {extra}",
        ports.join(",")
    )))
    .unwrap()
}

/// Which server answered: its port and whether it is in recovery.
async fn who(client: &Client) -> Result<(u16, bool), corelane_postgres::Error> {
    let row = client
        .query_one("SELECT inet_server_port(), pg_is_in_recovery()", &[])
        .await?;
    let port: i32 = row.get(0)?;
    Ok((u16::try_from(port).unwrap(), row.get(1)?))
}

#[test]
fn each_target_session_attrs_in_both_orders() {
    two_workers();
    let pair = shared_pair();
    let (p, s) = (pair.primary().port(), pair.standby().port());
    guard("target_session_attrs", move || {
        let _pair = pair;
        // (attrs, expected port for order (primary, standby), for order (standby, primary))
        let cases = [
            ("any", p, s),
            ("read-write", p, p),
            ("read-only", s, s),
            ("primary", p, p),
            ("standby", s, s),
            ("prefer-standby", s, s),
        ];
        for (attrs, first, second) in cases {
            for (order, expected) in [([p, s], first), ([s, p], second)] {
                let c = client(&order, &format!("target_session_attrs={attrs}"));
                let (port, recovery) = block_on(who(&c)).unwrap_or_else(|e| panic!("{attrs}: {e}"));
                assert_eq!(port, expected, "{attrs} with ports {order:?}");
                assert_eq!(recovery, port == s, "{attrs}: {port}");
                // The exclusive (transaction) connections go through the same choice.
                let in_tx = block_on(c.transaction(TransactionOptions::new(), |tx| async move {
                    let row = tx.query_one("SELECT inet_server_port()", &[]).await?;
                    row.get::<i32>(0)
                }))
                .unwrap();
                assert_eq!(in_tx, i32::from(expected), "{attrs} in a transaction");
            }
        }
        // The builder says the same.
        let c = Client::new(
            Config::default()
                .add_host("127.0.0.1", s)
                .add_host("127.0.0.1", p)
                .user("postgres")
                .dbname("test")
                .target_session_attrs(TargetSessionAttrs::ReadWrite),
        )
        .unwrap();
        assert_eq!(block_on(who(&c)).unwrap(), (p, false));
    });
}

#[test]
fn a_dead_host_is_skipped() {
    two_workers();
    let pair = shared_pair();
    let (p, s) = (pair.primary().port(), pair.standby().port());
    let closed = free_port().unwrap();
    guard("dead host", move || {
        let _pair = pair;
        let c = client(&[closed, p], "");
        assert_eq!(block_on(who(&c)).unwrap(), (p, false));
        block_on(c.check()).unwrap();
        let c = client(&[closed, s, p], "target_session_attrs=read-write");
        assert_eq!(block_on(who(&c)).unwrap(), (p, false));
        let c = client(&[closed, p, s], "target_session_attrs=standby");
        assert_eq!(block_on(who(&c)).unwrap(), (s, true));
        // A host that accepts TCP and then says nothing: given up after connect_timeout
        // (which bounds each host's attempt, not the whole connect), then the next is tried.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let quiet = silent.local_addr().unwrap().port();
        let c = client(
            &[quiet, s, p],
            "connect_timeout=2 target_session_attrs=primary",
        );
        assert_eq!(block_on(who(&c)).unwrap(), (p, false));
        let e = block_on(who(&client(
            &[quiet, s],
            "connect_timeout=2 target_session_attrs=primary",
        )))
        .unwrap_err();
        let reasons: Vec<&str> = e.host_rejections().iter().map(|r| r.reason()).collect();
        assert!(reasons[0].contains("timed out after 2s"), "{e}");
        assert_eq!(reasons[1], "server is in hot standby mode", "{e}");
        drop(silent);
        // hostaddr lists (no name lookup), a host name per address.
        let c = Client::new(parse(&format!(
            "host=primary.invalid,standby.invalid hostaddr=127.0.0.1,127.0.0.1 port={closed},{s} \
             user=postgres dbname=test"
        )))
        .unwrap();
        assert_eq!(block_on(who(&c)).unwrap(), (s, true));
        // The URL form.
        let c = Client::new(parse(&format!(
            "postgres://postgres@127.0.0.1:{closed},127.0.0.1:{s}/test?target_session_attrs=read-only"
        )))
        .unwrap();
        assert_eq!(block_on(who(&c)).unwrap(), (s, true));
    });
}

#[test]
fn random_load_balancing_reaches_both_hosts() {
    two_workers();
    let pair = shared_pair();
    let (p, s) = (pair.primary().port(), pair.standby().port());
    guard("load_balance_hosts", move || {
        let _pair = pair;
        let mut seen: BTreeMap<u16, usize> = BTreeMap::new();
        for _ in 0..40 {
            let c = client(&[p, s], "load_balance_hosts=random");
            *seen.entry(block_on(who(&c)).unwrap().0).or_default() += 1;
        }
        // Each order has probability 1/2: both missing in 40 draws is 2^-39.
        assert_eq!(seen.keys().copied().collect::<Vec<_>>(), {
            let mut both = vec![p, s];
            both.sort_unstable();
            both
        });
        // Without it, always the first.
        for _ in 0..10 {
            let c = client(&[s, p], "load_balance_hosts=disable");
            assert_eq!(block_on(who(&c)).unwrap().0, s);
        }
        // The builder's setting, with a target: always the primary.
        for _ in 0..10 {
            let c = Client::new(
                Config::default()
                    .hosts([("127.0.0.1", s), ("127.0.0.1", p)])
                    .user("postgres")
                    .dbname("test")
                    .load_balance_hosts(LoadBalanceHosts::Random)
                    .target_session_attrs(TargetSessionAttrs::Primary),
            )
            .unwrap();
            assert_eq!(block_on(who(&c)).unwrap().0, p);
        }
    });
}

#[test]
fn no_host_qualifies() {
    two_workers();
    let pair = shared_pair();
    let (p, s) = (pair.primary().port(), pair.standby().port());
    let closed = free_port().unwrap();
    guard("no suitable host", move || {
        let _pair = pair;
        let c = client(
            &[s, closed],
            "password=sekrit-value target_session_attrs=read-write",
        );
        let e = block_on(who(&c)).unwrap_err();
        assert!(e.is_no_suitable_host(), "{e}");
        assert!(e.is_connect(), "{e}");
        let text = e.to_string();
        assert!(!text.contains("sekrit"), "{text}");
        assert!(text.contains("target_session_attrs=read-write"), "{text}");
        let tried = e.host_rejections();
        assert_eq!(tried.len(), 2, "{text}");
        assert_eq!(tried[0].host(), format!("127.0.0.1:{s}"));
        assert_eq!(tried[0].reason(), "session is read-only");
        assert_eq!(tried[1].host(), format!("127.0.0.1:{closed}"));
        assert!(tried[1].reason().contains("refused"), "{text}");
        eprintln!("no suitable host: {text}");
        // Client::check says the same.
        assert!(block_on(c.check()).unwrap_err().is_no_suitable_host());

        let e = block_on(who(&client(&[s], "target_session_attrs=primary"))).unwrap_err();
        assert_eq!(
            e.host_rejections()[0].reason(),
            "server is in hot standby mode"
        );
        let e = block_on(who(&client(&[p], "target_session_attrs=standby"))).unwrap_err();
        assert_eq!(
            e.host_rejections()[0].reason(),
            "server is not in hot standby mode"
        );
        let e = block_on(who(&client(&[p], "target_session_attrs=read-only"))).unwrap_err();
        assert_eq!(e.host_rejections()[0].reason(), "session is not read-only");
        // prefer-standby tries every host twice.
        let e = block_on(who(&client(
            &[closed, closed],
            "target_session_attrs=prefer-standby",
        )))
        .unwrap_err();
        assert_eq!(e.host_rejections().len(), 4, "{e}");
        // One unreachable host, nothing to choose: its own connect error, as always.
        let e = block_on(who(&client(&[closed], ""))).unwrap_err();
        assert!(e.is_connect() && !e.is_no_suitable_host(), "{e}");
    });
}

#[test]
fn a_host_not_accepting_connections_yet_is_skipped() {
    two_workers();
    // A standby without hot standby answers every connection with 57P03 ("the database
    // system is not accepting connections"): libpq tries the next host.
    let pair = PgReplicaPair::start_with(
        corelane_testkit::PgServer::builder().setting("hot_standby", "off"),
    )
    .expect("start primary + cold standby");
    let (p, s) = (pair.primary().port(), pair.standby().port());
    guard("57P03", move || {
        let _pair = pair;
        let c = client(&[s, p], "");
        assert_eq!(block_on(who(&c)).unwrap(), (p, false));
        let e = block_on(who(&client(&[s], "target_session_attrs=any"))).unwrap_err();
        assert_eq!(e.code().map(|c| c.code()), Some("57P03"), "{e}");
        let e = block_on(who(&client(&[s, s], ""))).unwrap_err();
        assert!(e.is_no_suitable_host(), "{e}");
        assert!(e.host_rejections()[0].reason().contains("57P03"), "{e}");
    });
}

#[test]
fn a_listener_goes_to_the_chosen_host() {
    two_workers();
    let pair = shared_pair();
    let (p, s) = (pair.primary().port(), pair.standby().port());
    guard("listener", move || {
        let _pair = pair;
        // A standby refuses LISTEN: the listener must land on the primary.
        let c = client(&[s, p], "target_session_attrs=read-write");
        let listener = c.listener().unwrap();
        block_on(listener.listen("failover_ch")).unwrap();
        block_on(c.execute("SELECT pg_notify('failover_ch', 'hi')", &[])).unwrap();
        let mut listener = listener;
        let n = block_on(listener.next()).unwrap();
        assert_eq!(n.payload, "hi");
    });
}

#[test]
fn mismatched_lists_are_config_errors() {
    for s in [
        "host=a,b,c port=1,2",
        "host=a port=1,2",
        "host=a,b hostaddr=127.0.0.1",
        "postgres://a:1,b:2/db?port=1,2,3",
    ] {
        let e = Config::parse_with_env(s, |_| None).unwrap_err();
        assert!(e.is_config(), "{s}: {e}");
        assert!(e.to_string().contains("could not match"), "{s}: {e}");
    }
    let c = parse("postgres://a:1,b:2/db");
    let hosts: Vec<(&str, u16)> = c.get_hosts().iter().map(|h| (h.host(), h.port())).collect();
    assert_eq!(hosts, [("a", 1), ("b", 2)]);
}

/// How many concurrent tasks issue writes during the failover.
const TASKS: usize = 16;
/// Bound on each call during the failover: past it the call counts as hung.
const CALL_BOUND: Duration = Duration::from_secs(30);
/// Bound on the whole failover: connections must reach the new primary within it.
const RECOVERY_BOUND: Duration = Duration::from_secs(60);

#[test]
fn failover_under_load() {
    two_workers();
    let mut pair = PgReplicaPair::start().expect("start primary + standby");
    let (p, s) = (pair.primary().port(), pair.standby().port());
    let c = client(&[p, s], "target_session_attrs=read-write connect_timeout=2");
    block_on(c.execute(
        "CREATE TABLE failover (id serial PRIMARY KEY, task int)",
        &[],
    ))
    .unwrap();
    pair.wait_caught_up().unwrap();
    // A listener of the same client: it reconnects, through the same host choice, to the new
    // primary and listens again there.
    let mut listener = c.listener().unwrap();
    block_on(listener.listen("failover_ch")).unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let promoted_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Tasks that have written on the old primary at least once.
    let warm = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let c = c.clone();
        let stop = stop.clone();
        let warm = warm.clone();
        let promoted_at = promoted_at.clone();
        tasks.push(rt.spawn(async move {
            let mut ok_on = BTreeMap::<u16, usize>::new();
            let mut errors = Vec::new();
            let mut first_new_primary = None;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = task as i32;
                let result = tokio::time::timeout(
                    CALL_BOUND,
                    c.query_one(
                        "INSERT INTO failover (task) VALUES ($1) RETURNING inet_server_port()",
                        &[&id],
                    ),
                )
                .await;
                match result {
                    Err(_) => panic!("task {task}: a call hung for {CALL_BOUND:?}"),
                    Ok(Ok(row)) => {
                        let port = u16::try_from(row.get::<i32>(0).unwrap()).unwrap();
                        if port == p && !ok_on.contains_key(&p) {
                            warm.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        *ok_on.entry(port).or_default() += 1;
                        if port == s && first_new_primary.is_none() {
                            first_new_primary = Some(Instant::now());
                        }
                    }
                    Ok(Err(e)) => {
                        assert!(
                            e.is_closed() || e.is_connect(),
                            "task {task}: not a typed connection error: {e}"
                        );
                        let kind = if e.is_closed() {
                            "closed"
                        } else if e.is_no_suitable_host() {
                            "no suitable host"
                        } else {
                            "connect"
                        };
                        errors.push((kind, e.to_string()));
                        // Give the failover room; a real client would back off too.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                if let (Some(at), Some(_)) = (*promoted_at.lock().unwrap(), first_new_primary) {
                    // Once on the new primary, keep going a little, then stop this task.
                    if at.elapsed() > Duration::from_secs(1) && ok_on.get(&s) > Some(&20) {
                        break;
                    }
                }
            }
            (task, ok_on, errors, first_new_primary)
        }));
    }
    // Let every task write on the primary (and a little more), then fail over.
    let warming = Instant::now();
    while warm.load(std::sync::atomic::Ordering::Relaxed) < TASKS {
        assert!(
            warming.elapsed() < RECOVERY_BOUND,
            "the load never got going"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    pair.stop_primary().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let promote_started = Instant::now();
    pair.promote_standby().unwrap();
    let promoted = Instant::now();
    *promoted_at.lock().unwrap() = Some(promoted);

    let deadline = promoted + RECOVERY_BOUND;
    let results: Vec<_> = rt.block_on(async {
        let watchdog = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline.into()).await;
            watchdog.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    let mut kinds = BTreeMap::<&str, usize>::new();
    let mut slowest = Duration::ZERO;
    for (task, ok_on, errors, first_new_primary) in &results {
        assert!(
            ok_on.get(&p).is_some_and(|&n| n > 0),
            "task {task}: {ok_on:?}"
        );
        let reached = first_new_primary.unwrap_or_else(|| {
            panic!("task {task}: never reached the new primary within {RECOVERY_BOUND:?}: {ok_on:?}, errors {errors:?}")
        });
        slowest = slowest.max(reached.saturating_duration_since(promote_started));
        for (kind, _) in errors {
            *kinds.entry(kind).or_default() += 1;
        }
    }
    eprintln!(
        "failover: {TASKS} tasks, failed calls by kind {kinds:?}; every task wrote on the new \
         primary within {slowest:?} of `pg_ctl promote` ({:?} until it returned)",
        promoted - promote_started
    );
    // The listener is back, on the new primary (a standby refuses LISTEN): a notification
    // sent there arrives. Those sent before it relistened are lost, so send until one does.
    let heard = rt.block_on(async {
        let until = Instant::now() + RECOVERY_BOUND;
        while Instant::now() < until {
            c.execute("SELECT pg_notify('failover_ch', 'after')", &[])
                .await
                .unwrap();
            match tokio::time::timeout(Duration::from_millis(500), listener.next()).await {
                Ok(Some(n)) if n.payload == "after" => return true,
                Ok(None) => return false,
                _ => {}
            }
        }
        false
    });
    assert!(
        heard,
        "the listener did not come back: {:?}",
        listener.last_error()
    );
    assert!(listener.connects() >= 2, "{}", listener.connects());
    drop(listener);
    // The new primary took the writes.
    let after = client(&[s], "");
    let n: i64 = block_on(after.query_one("SELECT count(*) FROM failover", &[]))
        .unwrap()
        .get(0)
        .unwrap();
    assert!(n > 0);
    drop(rt);
    drop(pair);
}
