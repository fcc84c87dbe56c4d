//! The connection budget (issue 13) and eager start: `Config::max_connections` bounds what the
//! server sees of one client (`CLIENT LIST`, by client name), exclusive checkouts past a
//! worker's share wait (and show in `stats().waiting`) until one is released, a wait past
//! `acquire_timeout` fails with a typed error naming the pool, and `Client::check` /
//! `Client::new_checked` report a wrong password at start-up.

use crate::support;

use std::time::Duration;

use crate::support::{block_on, guard, num_workers, on_worker};
use corelane_redis::{Client, Cmd, Config, PoolKind};
use corelane_runtime::RemoteTask;
use corelane_testkit::RedisServer;

/// Connections the server has for client name `name`, counted through `observer`.
fn named_clients(observer: &Client, name: &str) -> usize {
    let list: String = block_on(observer.query(Cmd::new("CLIENT").arg("LIST"))).unwrap();
    let field = format!("name={name}");
    list.lines()
        .filter(|line| line.split_whitespace().any(|f| f == field))
        .count()
}

/// `BLPOP key 0` on worker `w`: holds one of its exclusive connections until `key` gets a value.
fn pop_on(
    client: &Client,
    w: usize,
    key: &str,
) -> RemoteTask<Result<Option<(String, String)>, corelane_redis::Error>> {
    let c = client.clone();
    let key = key.to_owned();
    let workers = corelane_runtime::resolve(None).unwrap();
    let worker = workers.worker(w % workers.num_workers()).unwrap().clone();
    worker.spawn(move || async move { c.blpop::<String>(&[key], Duration::ZERO).await })
}

fn push(observer: &Client, key: &str, value: &str) {
    let n: i64 = block_on(observer.query(Cmd::new("RPUSH").arg(key).arg(value))).unwrap();
    assert_eq!(n, 1);
}

/// Waits (bounded by the test's hang guard) until `client`'s counts satisfy `done`.
fn wait_until(client: &Client, done: impl Fn(&corelane_redis::Stats) -> bool) {
    loop {
        if done(&block_on(client.stats())) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits (bounded by the test's hang guard) until the server lists `n` connections named
/// `name`; fails at once if it lists more.
fn wait_for_named(observer: &Client, name: &str, n: usize) {
    loop {
        let seen = named_clients(observer, name);
        assert!(
            seen <= n,
            "the server sees {seen} connections, over the budget of {n}"
        );
        if seen == n {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn budgeted(server: &RedisServer, name: &str, tweak: impl FnOnce(Config) -> Config) -> Client {
    let config = Config::from_url(&server.url())
        .unwrap()
        .client_name(name)
        .max_connections(2 * num_workers());
    Client::new(tweak(config)).unwrap()
}

#[test]
fn exclusive_checkouts_past_the_budget_wait_and_the_server_never_sees_more() {
    guard("budget wait", || {
        let server = RedisServer::start().unwrap();
        let workers = num_workers();
        let budget = 2 * workers;
        let name = "corelane-budget-wait";
        let client = budgeted(&server, name, |c| c);
        let observer = support::client(&server.url());

        // Each worker: its one shared connection, then its one exclusive one, held by a pop.
        for w in 0..workers {
            let c = client.clone();
            let v: Option<String> =
                on_worker(w, move || async move { c.get("absent").await }).unwrap();
            assert_eq!(v, None);
        }
        let pops: Vec<_> = (0..workers)
            .map(|w| pop_on(&client, w, &format!("q{w}")))
            .collect();
        wait_until(&client, |s| {
            s.total().connections.exclusive_in_use == workers
        });
        // `exclusive_in_use` counts a connection from the moment it is being opened; under
        // load the server can see its handshake (`CLIENT SETNAME`) a little later.
        wait_for_named(&observer, name, budget);

        // Another exclusive checkout on worker 0 has no room: it waits.
        let extra = pop_on(&client, 0, "extra");
        wait_until(&client, |s| s.workers[0].connections.waiting == 1);
        let stats = block_on(client.stats());
        let w0 = stats.workers[0].connections;
        assert_eq!(
            (w0.shared_open, w0.exclusive_open, w0.exclusive_in_use),
            (1, 1, 1),
            "{w0:?}"
        );
        let total = stats.total().connections;
        assert_eq!((total.total(), total.waiting), (budget, 1), "{total:?}");
        assert_eq!(named_clients(&observer, name), budget);

        // Worker 0's pop ends: the waiter gets its connection.
        let mut pops = pops.into_iter();
        push(&observer, "q0", "a");
        let got = block_on(pops.next().unwrap()).unwrap().unwrap();
        assert_eq!(got, Some(("q0".to_owned(), "a".to_owned())));
        wait_until(&client, |s| {
            s.workers[0].connections.waiting == 0 && s.workers[0].connections.exclusive_in_use == 1
        });
        push(&observer, "extra", "b");
        let got = block_on(extra).unwrap().unwrap();
        assert_eq!(got, Some(("extra".to_owned(), "b".to_owned())));
        for (w, pop) in pops.enumerate() {
            let key = format!("q{}", w + 1);
            push(&observer, &key, "c");
            assert_eq!(block_on(pop).unwrap().unwrap(), Some((key, "c".to_owned())));
        }
        assert_eq!(named_clients(&observer, name), budget);
        let total = block_on(client.stats()).total().connections;
        assert_eq!(
            (total.total(), total.waiting, total.exclusive_in_use),
            (budget, 0, 0)
        );
    });
}

#[test]
fn a_wait_past_the_acquire_timeout_fails_naming_the_exclusive_pool() {
    guard("budget timeout", || {
        let server = RedisServer::start().unwrap();
        let client = budgeted(&server, "corelane-budget-timeout", |c| {
            c.acquire_timeout(Some(Duration::from_millis(200)))
        });
        let observer = support::client(&server.url());
        let held = pop_on(&client, 0, "held");
        wait_until(&client, |s| s.workers[0].connections.exclusive_in_use == 1);

        let c = client.clone();
        let e = on_worker(0, move || async move {
            c.with_connection(|_conn| async move { Ok(()) }).await
        })
        .unwrap_err();
        assert!(e.is_pool_timeout(), "{e}");
        assert!(!e.is_timeout() && !e.is_connect(), "{e}");
        assert_eq!(e.pool_timeout(), Some(PoolKind::Exclusive));
        assert!(e.to_string().contains("exclusive"), "{e}");
        // The shared pool has its own share: plain calls still run on worker 0.
        let c = client.clone();
        let v: Option<String> = on_worker(0, move || async move { c.get("absent").await }).unwrap();
        assert_eq!(v, None);

        push(&observer, "held", "x");
        assert_eq!(
            block_on(held).unwrap().unwrap(),
            Some(("held".to_owned(), "x".to_owned()))
        );
        let c = client.clone();
        let pong: String = on_worker(0, move || async move {
            c.with_connection(|conn| async move { conn.query(Cmd::new("PING")).await })
                .await
        })
        .unwrap();
        assert_eq!(pong, "PONG");
    });
}

#[test]
fn a_budget_below_two_per_worker_is_refused_when_the_client_is_made() {
    let server = RedisServer::start().unwrap();
    let workers = num_workers();
    let config = Config::from_url(&server.url())
        .unwrap()
        .max_connections(2 * workers - 1);
    let e = Client::new(config).unwrap_err();
    assert!(e.is_config(), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("max_connections ({})", 2 * workers - 1)),
        "{e}"
    );
    let e = Client::open(&format!("{}/?max_connections=1", server.url())).unwrap_err();
    assert!(e.is_config(), "{e}");
    let ok = Client::open(&format!(
        "{}/?max_connections={}",
        server.url(),
        2 * workers
    ))
    .unwrap();
    assert_eq!(ok.config().get_max_connections(), Some(2 * workers));
}

#[test]
fn check_and_new_checked_report_a_wrong_password_at_start_up() {
    guard("eager start", || {
        let server = RedisServer::builder()
            .requirepass("s3cret")
            .start()
            .unwrap();
        let url = |password: &str| format!("redis://:{password}@127.0.0.1:{}", server.port());

        let good = Client::open(&url("s3cret")).unwrap();
        block_on(good.check()).unwrap();
        let c = good.clone();
        on_worker(1, move || async move { c.check().await }).unwrap();
        let checked = block_on(Client::new_checked(
            Config::from_url(&url("s3cret")).unwrap(),
        ))
        .unwrap();
        let pong: String = block_on(checked.query(Cmd::new("PING"))).unwrap();
        assert_eq!(pong, "PONG");

        // The lazy constructor accepts a wrong password; the check does not.
        let wrong = Client::open(&url("nope")).unwrap();
        let e = block_on(wrong.check()).unwrap_err();
        assert!(e.is_auth(), "{e}");
        assert!(!e.to_string().contains("nope") && !format!("{e:?}").contains("nope"));
        let e = block_on(Client::new_checked(Config::from_url(&url("nope")).unwrap())).unwrap_err();
        assert!(e.is_auth(), "{e}");
        // No password at all: the server's NOAUTH on the PING.
        let e = block_on(Client::new_checked(
            Config::from_url(&server.url()).unwrap(),
        ))
        .unwrap_err();
        assert!(e.is_auth() || e.code() == Some("NOAUTH"), "{e}");

        // Nothing listening: a connect error.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let e = block_on(Client::new_checked(
            Config::from_url(&format!("redis://127.0.0.1:{port}"))
                .unwrap()
                .connect_timeout(Duration::from_secs(5)),
        ))
        .unwrap_err();
        assert!(e.is_connect(), "{e}");
    });
}
