//! Commands that would change the state of a shared connection: refused with a typed error
//! naming the API to use, or (blocking commands) run on a connection of their own — through
//! raw `query`, inside pipelines, and on exclusive connections.

use crate::support;

use std::time::Duration;

use crate::support::{block_on, guard, on_worker};
use corelane_redis::{Cmd, Pipeline, Value};
use corelane_testkit::RedisServer;

/// Long enough to be a hang on any machine, short enough that a failing run ends quickly.
const STUCK: Duration = Duration::from_secs(20);

fn cmd(args: &[&str]) -> Cmd {
    let mut c = Cmd::new(args[0]);
    for a in &args[1..] {
        c.push(*a);
    }
    c
}

/// `CLIENT REPLY SKIP` among concurrent GETs on one worker's shared connection: on an unguarded
/// connection the next reply is skipped and every caller after it gets its neighbour's value.
#[test]
fn client_reply_is_refused_and_neighbours_keep_their_own_replies() {
    let server = RedisServer::start().unwrap();
    let client = support::client(&server.url());
    for i in 0..8 {
        block_on(client.set::<()>(format!("k{i}"), format!("v{i}"))).unwrap();
    }
    for mode in ["SKIP", "OFF"] {
        let c = client.clone();
        let (refused, gets) = guard("client reply", move || {
            on_worker(0, move || async move {
                let skip = c.query::<Value>(cmd(&["CLIENT", "REPLY", mode]));
                let gets = futures_lite::future::zip(skip, async {
                    let mut got = Vec::new();
                    for i in 0..8 {
                        got.push(
                            corelane_runtime::task::timeout(
                                STUCK,
                                c.get::<String>(format!("k{i}")),
                            )
                            .await,
                        );
                    }
                    got
                });
                gets.await
            })
        });
        let e = refused.unwrap_err();
        assert!(e.is_refused(), "CLIENT REPLY {mode}: {e:?}");
        assert!(e.to_string().contains("CLIENT REPLY"), "{e}");
        for (i, got) in gets.into_iter().enumerate() {
            assert_eq!(
                got.expect("stuck").unwrap(),
                format!("v{i}"),
                "CLIENT REPLY {mode}"
            );
        }
    }
}

#[test]
fn session_and_transaction_commands_are_refused_naming_the_api() {
    let server = RedisServer::start().unwrap();
    let client = support::client(&server.url());
    let cases: &[(&[&str], &str)] = &[
        (&["MULTI"], "transaction"),
        (&["exec"], "transaction"),
        (&["WATCH", "k"], "transaction"),
        (&["SELECT", "1"], "Config::db"),
        (&["SUBSCRIBE", "ch"], "subscriber"),
        (&["psubscribe", "ch*"], "subscriber"),
        (&["MONITOR"], "with_connection"),
        (&["RESET"], "with_connection"),
        (&["HELLO", "2"], "protocol"),
        (&["AUTH", "x"], "password"),
        (&["QUIT"], "with_connection"),
        (&["client", "setname", "x"], "client_name"),
    ];
    for (args, hint) in cases {
        let c = client.clone();
        let command = cmd(args);
        let e = guard("refused", move || block_on(c.query::<Value>(command))).unwrap_err();
        assert!(e.is_refused(), "{args:?}: {e:?}");
        assert!(e.to_string().contains(hint), "{args:?}: {e}");
        // The same on a worker.
        let c = client.clone();
        let command = cmd(args);
        let e = on_worker(1, move || async move { c.query::<Value>(command).await }).unwrap_err();
        assert!(e.is_refused(), "{args:?}: {e:?}");
    }
    // Nothing reached the server: still database 0, no open MULTI, replies in step.
    block_on(client.set::<()>("here", "0")).unwrap();
    assert_eq!(block_on(client.get::<String>("here")).unwrap(), "0");
    assert_eq!(block_on(client.ping::<String>()).unwrap(), "PONG");
}

#[test]
fn pipelines_holding_such_commands_are_refused_whole() {
    let server = RedisServer::start().unwrap();
    let client = support::client(&server.url());
    for args in [
        &["SELECT", "1"][..],
        &["MULTI"],
        &["CLIENT", "REPLY", "OFF"],
        &["BLPOP", "q", "0"],
        &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
    ] {
        let mut pipe = Pipeline::new();
        pipe.set("p", args[0]).cmd(cmd(args)).set("p2", "x");
        let c = client.clone();
        let e = guard("pipeline", move || {
            block_on(c.pipeline::<Vec<Value>>(&pipe))
        })
        .unwrap_err();
        assert!(e.is_refused(), "{args:?}: {e:?}");
    }
    // Nothing was sent.
    assert_eq!(block_on(client.get::<Option<String>>("p")).unwrap(), None);
    // On an exclusive connection, a transaction is fine but SELECT would outlive the checkout.
    let e = block_on(client.with_connection(|conn| async move {
        conn.query::<()>(cmd(&["MULTI"])).await?;
        conn.query::<()>(cmd(&["DISCARD"])).await?;
        conn.query::<()>(cmd(&["SELECT", "1"])).await
    }))
    .unwrap_err();
    assert!(e.is_refused(), "{e:?}");
}

/// A blocking command sent raw waits on a connection of its own: a push from the same worker
/// (on the shared connection) reaches the server and wakes it. On a shared connection the push
/// would queue behind the blocked pop forever.
#[test]
fn raw_blocking_commands_run_on_their_own_connection() {
    let server = RedisServer::start().unwrap();
    let client = support::client(&server.url());
    for (n, args) in [
        &["BLPOP", "q0", "0"][..],
        &["blmove", "q1", "dst", "LEFT", "RIGHT", "0"],
        &["BZPOPMIN", "z2", "0"],
        &["XREAD", "BLOCK", "0", "STREAMS", "s3", "$"],
    ]
    .into_iter()
    .enumerate()
    {
        let c = client.clone();
        let got = guard("raw blocking", move || {
            on_worker(0, move || async move {
                let pop = c.query::<Value>(cmd(args));
                let push = async {
                    // Give the pop a head start so it is blocked when the push lands.
                    corelane_runtime::task::sleep(Duration::from_millis(100)).await;
                    let key = args[match n {
                        3 => 4,
                        _ => 1,
                    }];
                    match n {
                        2 => c.query::<Value>(cmd(&["ZADD", key, "1", "m"])).await,
                        3 => c.query::<Value>(cmd(&["XADD", key, "*", "f", "v"])).await,
                        _ => c.query::<Value>(cmd(&["RPUSH", key, "v"])).await,
                    }
                };
                corelane_runtime::task::timeout(STUCK, futures_lite::future::zip(pop, push)).await
            })
        });
        let (pop, push) = got.unwrap_or_else(|| panic!("{args:?}: stuck behind the blocked pop"));
        push.unwrap();
        let pop = pop.unwrap();
        assert!(!matches!(pop, Value::Null(_)), "{args:?}: {pop:?}");
    }
    // From a thread too, and dropping a blocked one leaves the client working.
    let c = client.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dropped = rt.block_on(async move {
        tokio::time::timeout(
            Duration::from_millis(100),
            c.query::<Value>(cmd(&["BLPOP", "never", "0"])),
        )
        .await
    });
    assert!(dropped.is_err(), "the pop should still be blocked");
    assert_eq!(block_on(client.ping::<String>()).unwrap(), "PONG");
}
