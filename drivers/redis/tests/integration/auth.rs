//! The handshake against real redis-servers: ACL users and legacy passwords over RESP3 and
//! RESP2, refused credentials (clear, typed, secret-free errors, no hang), CLIENT SETNAME and
//! SELECT from the URL.

use crate::support;

use crate::support::{block_on, client_with, guard, on_worker, PROTOCOLS};
use corelane_redis::{Client, Cmd, Config, Error, Protocol};
use corelane_testkit::RedisServer;

const ACL_RULES: &str = "on >s3cret ~* +@all";

fn acl_server() -> RedisServer {
    RedisServer::builder()
        .user("alice", ACL_RULES)
        .start()
        .unwrap()
}

fn url_with(server: &RedisServer, userinfo: &str, rest: &str) -> String {
    format!("redis://{userinfo}@127.0.0.1:{}{rest}", server.port())
}

/// Sets, reads back and asks the server who we are; from this thread (mailbox path).
fn whoami_roundtrip(c: &Client, key: &str) -> String {
    block_on(async {
        c.set::<()>(key, "v").await.unwrap();
        assert_eq!(c.get::<String>(key).await.unwrap(), "v");
        c.query::<String>(Cmd::new("ACL").arg("WHOAMI"))
            .await
            .unwrap()
    })
}

/// A call that must fail: returns its error, guarded against hangs.
fn must_fail(c: &Client, what: &str) -> Error {
    let c = c.clone();
    guard(what, move || {
        block_on(c.get::<Option<String>>("k")).expect_err("the call should have been refused")
    })
}

fn assert_no_secret(e: &Error, secret: &str) {
    let display = e.to_string();
    let debug = format!("{e:?}");
    assert!(
        !display.contains(secret),
        "the password leaked into Display: {display}"
    );
    assert!(
        !debug.contains(secret),
        "the password leaked into Debug: {debug}"
    );
}

#[test]
fn acl_user_and_password_over_resp3_and_resp2() {
    let server = acl_server();
    for protocol in PROTOCOLS {
        // Through the URL…
        let by_url = client_with(&url_with(&server, "alice:s3cret", ""), protocol);
        assert_eq!(
            whoami_roundtrip(&by_url, &format!("url:{protocol:?}")),
            "alice"
        );
        // …and through the builder.
        let built = Client::new(
            Config::default()
                .host("127.0.0.1", server.port())
                .username("alice")
                .password("s3cret")
                .protocol(protocol),
        )
        .unwrap();
        assert_eq!(
            whoami_roundtrip(&built, &format!("builder:{protocol:?}")),
            "alice"
        );
        // The secret does not show in the client's or the config's Debug.
        assert!(!format!("{built:?}").contains("s3cret"), "{built:?}");
    }
    // `?protocol=resp2` in the URL is the same as `Config::protocol`.
    let resp2 = support::client(&url_with(&server, "alice:s3cret", "?protocol=resp2"));
    assert_eq!(resp2.config().get_protocol(), Protocol::Resp2);
    assert_eq!(whoami_roundtrip(&resp2, "url-query"), "alice");
}

#[test]
fn acl_user_on_a_worker() {
    let server = acl_server();
    for protocol in PROTOCOLS {
        let c = client_with(&url_with(&server, "alice:s3cret", ""), protocol);
        let who = on_worker(0, move || async move {
            c.set::<()>("w", "1").await.unwrap();
            c.query::<String>(Cmd::new("ACL").arg("WHOAMI"))
                .await
                .unwrap()
        });
        assert_eq!(who, "alice");
    }
}

#[test]
fn legacy_requirepass_over_resp3_and_resp2() {
    let server = RedisServer::builder()
        .requirepass("hunter2")
        .start()
        .unwrap();
    for protocol in PROTOCOLS {
        let c = client_with(&url_with(&server, ":hunter2", ""), protocol);
        assert_eq!(c.config().get_username(), None);
        assert_eq!(
            whoami_roundtrip(&c, &format!("legacy:{protocol:?}")),
            "default"
        );
        let built = Client::new(
            Config::default()
                .host("127.0.0.1", server.port())
                .password("hunter2")
                .protocol(protocol),
        )
        .unwrap();
        assert_eq!(whoami_roundtrip(&built, "built"), "default");
    }
}

#[test]
fn wrong_acl_password_is_a_clear_auth_error_without_the_secret() {
    let server = acl_server();
    let wrong = "not-the-s3cret-xyzzy";
    for protocol in PROTOCOLS {
        let c = client_with(&url_with(&server, &format!("alice:{wrong}"), ""), protocol);
        let e = must_fail(&c, "wrong ACL password");
        assert!(
            e.is_auth(),
            "{protocol:?}: expected an auth error, got {e:?}"
        );
        let text = e.to_string();
        assert!(
            text.contains("WRONGPASS") || text.to_lowercase().contains("authentication"),
            "{protocol:?}: unclear error: {text}"
        );
        assert_no_secret(&e, wrong);
        assert!(!e.is_closed() && !e.is_timeout(), "{e:?}");
        // Still refused (and still no hang) on the next call.
        let again = must_fail(&c, "wrong ACL password, again");
        assert!(again.is_auth(), "{again:?}");
        assert_no_secret(&again, wrong);
    }
}

#[test]
fn wrong_legacy_password_is_a_clear_auth_error_without_the_secret() {
    let server = RedisServer::builder()
        .requirepass("hunter2")
        .start()
        .unwrap();
    let wrong = "letmein-wrong-8472";
    for protocol in PROTOCOLS {
        let c = client_with(&url_with(&server, &format!(":{wrong}"), ""), protocol);
        let e = must_fail(&c, "wrong legacy password");
        assert!(
            e.is_auth(),
            "{protocol:?}: expected an auth error, got {e:?}"
        );
        let text = e.to_string();
        assert!(
            text.contains("WRONGPASS") || text.to_lowercase().contains("authentication"),
            "{protocol:?}: unclear error: {text}"
        );
        assert_no_secret(&e, wrong);
    }
}

#[test]
fn no_password_against_a_protected_server_is_noauth_not_a_hang() {
    let server = RedisServer::builder()
        .requirepass("hunter2")
        .start()
        .unwrap();
    for protocol in PROTOCOLS {
        let c = client_with(&server.url(), protocol);
        let e = must_fail(&c, "no password");
        assert!(
            e.is_auth() || e.code() == Some("NOAUTH"),
            "{protocol:?}: expected NOAUTH, got {e:?}"
        );
        assert!(e.to_string().contains("NOAUTH"), "{protocol:?}: {e}");
        assert!(!e.is_timeout(), "{e:?}");
    }
    // Over RESP3 the refusal comes from the handshake itself: a typed auth error.
    let c = client_with(&server.url(), Protocol::Resp3);
    let e = must_fail(&c, "no password, RESP3");
    assert!(e.is_auth(), "{e:?}");
}

#[test]
fn client_name_from_the_url_is_set_on_the_connection() {
    let server = RedisServer::start().unwrap();
    for protocol in PROTOCOLS {
        let name = format!("corelane-test-{protocol:?}").to_lowercase();
        let c = client_with(&format!("{}?client_name={name}", server.url()), protocol);
        let got = block_on(c.query::<String>(Cmd::new("CLIENT").arg("GETNAME"))).unwrap();
        assert_eq!(got, name);
        // On a worker too (that worker's own connection).
        let c2 = c.clone();
        let got = on_worker(1, move || async move {
            c2.query::<String>(Cmd::new("CLIENT").arg("GETNAME"))
                .await
                .unwrap()
        });
        assert_eq!(got, name);
    }
    // With a password as well (HELLO … AUTH … SETNAME in one command over RESP3).
    let protected = RedisServer::builder()
        .user("alice", ACL_RULES)
        .start()
        .unwrap();
    for protocol in PROTOCOLS {
        let c = client_with(
            &url_with(&protected, "alice:s3cret", "?client_name=named-alice"),
            protocol,
        );
        let got = block_on(c.query::<String>(Cmd::new("CLIENT").arg("GETNAME"))).unwrap();
        assert_eq!(got, "named-alice");
    }
}

#[test]
fn db_from_the_url_path_selects_the_database() {
    let server = RedisServer::start().unwrap();
    for protocol in PROTOCOLS {
        let key = format!("only-in-db3:{protocol:?}");
        let db3 = client_with(&format!("{}/3", server.url()), protocol);
        let db0 = client_with(&format!("{}/0", server.url()), protocol);
        let default_db = client_with(&server.url(), protocol);
        assert_eq!(db3.config().get_db(), 3);
        block_on(async {
            db3.set::<()>(&key, "three").await.unwrap();
            assert_eq!(
                db3.get::<Option<String>>(&key).await.unwrap().as_deref(),
                Some("three")
            );
            assert_eq!(db0.get::<Option<String>>(&key).await.unwrap(), None);
            assert_eq!(default_db.get::<Option<String>>(&key).await.unwrap(), None);
            assert_eq!(db0.dbsize::<i64>().await.unwrap(), 0);
        });
        // Every worker's connection of the db-3 client has selected db 3.
        for n in 0..support::num_workers() {
            let (c, key) = (db3.clone(), key.clone());
            let got = on_worker(n, move || async move {
                c.get::<Option<String>>(&key).await.unwrap()
            });
            assert_eq!(got.as_deref(), Some("three"), "worker {n}");
        }
        // Clean up so the other protocol's round starts from empty databases.
        block_on(db3.query::<()>(Cmd::new("FLUSHALL"))).unwrap();
    }
}

/// A subscriber's connection runs the same handshake as the command connections: ACL user,
/// client name and database over RESP3 and RESP2 (the server's own `CLIENT LIST` says so),
/// and a wrong password fails its subscribe with a typed, secret-free auth error.
#[test]
fn subscriber_handshake_matches_the_command_connections() {
    // Channels too (`&*`): Redis 7 grants new users none by default.
    let server = RedisServer::builder()
        .user("alice", "on >s3cret ~* &* +@all")
        .start()
        .unwrap();
    for protocol in PROTOCOLS {
        let name = format!("sub-{protocol:?}").to_lowercase();
        let c = client_with(
            &url_with(&server, "alice:s3cret", &format!("/2?client_name={name}")),
            protocol,
        );
        let sub = c.subscriber().unwrap();
        let c2 = c.clone();
        let expected = name.clone();
        guard("subscriber handshake", move || {
            block_on(async {
                sub.subscribe(["auth-chan"]).await.unwrap();
                let list = c2
                    .query::<String>(Cmd::new("CLIENT").arg("LIST"))
                    .await
                    .unwrap();
                let line = list
                    .lines()
                    .find(|l| l.split(' ').any(|f| f == "sub=1"))
                    .unwrap_or_else(|| panic!("no subscriber in {list}"));
                let has = |field: &str| line.split(' ').any(|f| f == field);
                assert!(has(&format!("name={expected}")), "{line}");
                assert!(has("db=2") && has("user=alice"), "{line}");
                let resp = if protocol == Protocol::Resp3 {
                    "3"
                } else {
                    "2"
                };
                assert!(has(&format!("resp={resp}")), "{line}");
                assert_eq!(c2.publish::<i64>("auth-chan", "hi").await.unwrap(), 1);
                drop(sub);
            })
        });
        let wrong = "not-the-s3cret-sub";
        let bad = client_with(&url_with(&server, &format!("alice:{wrong}"), ""), protocol);
        let sub = bad.subscriber().unwrap();
        let e = guard("subscriber, wrong password", move || {
            block_on(sub.subscribe(["auth-chan"])).unwrap_err()
        });
        assert!(e.is_auth(), "{protocol:?}: {e:?}");
        assert_no_secret(&e, wrong);
    }
}
