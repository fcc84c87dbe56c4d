//! Connection strings against real servers: Unix sockets (queries, a listener, a cancel),
//! the eager `Client::check`, `target_session_attrs`, the password file and environment
//! defaults (injected: the process environment is never changed).

use std::collections::HashMap;
use std::time::Duration;

use crate::support::{block_on, guard, on_worker, shared_server, two_workers};
use corelane_postgres::{Client, Config, TransactionOptions};
use corelane_testkit::{PgAuth, PgServer, TempDir};

/// Parses with no environment at all (no `PG*` defaults, no `~/.pgpass`).
fn parse(s: &str) -> Config {
    Config::parse_with_env(s, |_| None).unwrap()
}

/// A scram server with user `app` / `s3cret`.
fn scram_server() -> PgServer {
    PgServer::builder()
        .auth(PgAuth::ScramSha256)
        .user("app", "s3cret")
        .start()
        .unwrap()
}

/// `SELECT inet_server_addr() IS NULL`: true on a Unix-socket connection.
async fn over_socket(client: &Client) -> bool {
    client
        .query_one("SELECT inet_server_addr() IS NULL", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap()
}

#[test]
fn unix_socket_in_every_spelling() {
    two_workers();
    let server = shared_server();
    let dir = server.socket_dir().to_str().unwrap().to_owned();
    let port = server.port();
    let encoded = dir.replace('/', "%2F");
    let strings = [
        format!("host={dir} port={port} user=postgres dbname=test"),
        format!("host='{dir}' port={port} user=postgres dbname=test"),
        format!("postgres://postgres@{encoded}:{port}/test"),
        format!("postgresql:///test?host={dir}&port={port}&user=postgres"),
    ];
    let tcp = Client::new(parse(&format!(
        "host=127.0.0.1 port={port} user=postgres dbname=test"
    )))
    .unwrap();
    guard("unix sockets", move || {
        // The probe tells the two apart.
        assert!(!block_on(over_socket(&tcp)));
        for s in strings {
            let config = parse(&s);
            assert!(config.get_socket_path().is_some(), "{s}");
            let client = Client::new(config).unwrap();
            block_on(client.check()).unwrap();
            // Off the loop and on a worker.
            assert!(block_on(over_socket(&client)), "{s}");
            let c = client.clone();
            assert!(
                on_worker(1, move || async move { over_socket(&c).await }),
                "{s}"
            );
            // A transaction's exclusive connection too.
            let in_tx = block_on(
                client.transaction(TransactionOptions::new(), |tx| async move {
                    let row = tx
                        .query_one("SELECT inet_server_addr() IS NULL", &[])
                        .await?;
                    row.get::<bool>(0)
                }),
            )
            .unwrap();
            assert!(in_tx, "{s}");
        }
    });
}

#[test]
fn a_listener_over_a_unix_socket() {
    two_workers();
    let server = shared_server();
    let config = parse(&format!(
        "host={} port={} user=postgres dbname=test",
        server.socket_dir().display(),
        server.port()
    ));
    let client = Client::new(config).unwrap();
    guard("listener over a unix socket", move || {
        block_on(async {
            let mut listener = client.listener().unwrap();
            listener.listen("over_socket").await.unwrap();
            assert!(listener.is_connected());
            client
                .execute("SELECT pg_notify('over_socket', 'hello')", &[])
                .await
                .unwrap();
            let n = listener.next().await.expect("the stream ended");
            assert_eq!(n.payload, "hello");
            // The listener's own backend is a Unix-socket one.
            let pid = listener.backend_pid().unwrap();
            let row = client
                .query_one(
                    "SELECT client_addr IS NULL FROM pg_stat_activity WHERE pid = $1",
                    &[&pid],
                )
                .await
                .unwrap();
            assert!(row.get::<bool>(0).unwrap());
        })
    });
}

#[test]
fn a_timed_out_query_is_cancelled_over_the_unix_socket() {
    two_workers();
    let server = shared_server();
    let config = parse(&format!(
        "host={} port={} user=postgres dbname=test application_name=cancel-over-socket",
        server.socket_dir().display(),
        server.port()
    ));
    let client = Client::new(config).unwrap();
    guard("cancel over a unix socket", move || {
        on_worker(0, move || async move {
            let pid = |c: Client| async move {
                c.query_one("SELECT pg_backend_pid()", &[])
                    .await
                    .unwrap()
                    .get::<i32>(0)
                    .unwrap()
            };
            let before = pid(client.clone()).await;
            let quick = client.with_query_timeout(Some(Duration::from_millis(200)));
            let e = quick.query("SELECT pg_sleep(600)", &[]).await.unwrap_err();
            assert!(e.is_timeout(), "{e}");
            // The next call waits for the cancel to land and the connection to drain: without
            // a delivered cancel it would wait out the sleep (the hang guard fails first), and
            // a failed cancel closes the connection (another backend would answer).
            assert_eq!(pid(client.clone()).await, before);
        })
    });
}

#[test]
fn check_fails_fast_with_typed_errors() {
    two_workers();
    let server = scram_server();
    let port = server.port();
    let closed = corelane_testkit::free_port().unwrap();
    let good = server.url_for("app", "s3cret");
    let wrong = server.url_for("app", "wrong-pw");
    guard("check", move || {
        // Right credentials: Ok, off the loop and on a worker.
        let client = Client::new(parse(&good)).unwrap();
        block_on(client.check()).unwrap();
        let c = client.clone();
        on_worker(0, move || async move { c.check().await }).unwrap();
        block_on(Client::new_checked(parse(&good))).unwrap();

        // Wrong password: an auth error at check, the password nowhere in it.
        let client = Client::new(parse(&wrong)).unwrap();
        let e = block_on(client.check()).unwrap_err();
        assert!(e.is_auth(), "{e}");
        assert!(!e.to_string().contains("wrong-pw"), "{e}");
        let e = block_on(Client::new_checked(parse(&wrong))).unwrap_err();
        assert!(e.is_auth(), "{e}");
        let c = client.clone();
        let e = on_worker(1, move || async move { c.check().await }).unwrap_err();
        assert!(e.is_auth(), "{e}");

        // No password at all.
        let client = Client::new(parse(&format!(
            "host=127.0.0.1 port={port} user=app dbname=test"
        )))
        .unwrap();
        assert!(block_on(client.check()).unwrap_err().is_auth());

        // Nothing listens on the port: a connect error.
        let client = Client::new(parse(&format!(
            "host=127.0.0.1 port={closed} user=app password=s3cret dbname=test"
        )))
        .unwrap();
        let e = block_on(client.check()).unwrap_err();
        assert!(e.is_connect(), "{e}");
        // No socket in the directory: a connect error naming the socket.
        let client = Client::new(parse(&format!(
            "host=/nonexistent-corelane-dir port={port} user=app dbname=test"
        )))
        .unwrap();
        let e = block_on(client.check()).unwrap_err();
        assert!(e.is_connect(), "{e}");
        assert!(
            e.to_string()
                .contains("/nonexistent-corelane-dir/.s.PGSQL."),
            "{e}"
        );
        // A database that does not exist: the server's error.
        let client = Client::new(parse(&format!(
            "host=127.0.0.1 port={port} user=app password=s3cret dbname=nope"
        )))
        .unwrap();
        let e = block_on(client.check()).unwrap_err();
        assert_eq!(e.code().map(|c| c.code()), Some("3D000"), "{e}");
    });
}

#[test]
fn target_session_attrs_are_checked_after_connect() {
    two_workers();
    let server = shared_server();
    let base = format!(
        "host=127.0.0.1 port={} user=postgres dbname=test",
        server.port()
    );
    guard("target_session_attrs", move || {
        let read_only = "options='-c default_transaction_read_only=on'";
        let check = |extra: &str| {
            let client = Client::new(parse(&format!("{base} {extra}"))).unwrap();
            block_on(client.check())
        };
        for ok in [
            "target_session_attrs=any",
            "target_session_attrs=read-write",
            "target_session_attrs=primary",
            "target_session_attrs=prefer-standby",
            &format!("target_session_attrs=read-only {read_only}"),
            &format!("target_session_attrs=any {read_only}"),
        ] {
            check(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, why) in [
            ("target_session_attrs=read-only", "not read-only"),
            ("target_session_attrs=standby", "not in hot standby"),
            (
                &format!("target_session_attrs=read-write {read_only}"),
                "is read-only",
            ),
        ] {
            let e = check(bad).unwrap_err();
            assert!(e.is_connect(), "{bad}: {e}");
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
        // The pooled connections are checked as well.
        let client = Client::new(parse(&format!(
            "{base} target_session_attrs=read-write {read_only}"
        )))
        .unwrap();
        let e = block_on(client.query("SELECT 1", &[])).unwrap_err();
        assert!(e.is_connect(), "{e}");
    });
}

/// A password file in its own temp dir.
fn passfile(dir: &TempDir, text: &str, mode: u32) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.path().join("pgpass");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn password_file_and_environment() {
    two_workers();
    let server = scram_server();
    let port = server.port();
    let dir = TempDir::new("pgpass").unwrap();
    let home = dir.path().to_str().unwrap().to_owned();
    let socket_dir = server.socket_dir().to_str().unwrap().to_owned();
    guard("pgpass and env", move || {
        // A matching line supplies the password (first match wins).
        let file = passfile(
            &dir,
            &format!("127.0.0.1:{port}:test:app:s3cret\n*:*:*:app:wrong\n"),
            0o600,
        );
        let s = format!("host=127.0.0.1 port={port} user=app dbname=test passfile={file}");
        let config = parse(&s);
        assert!(config.has_password());
        block_on(Client::new(config).unwrap().check()).unwrap();
        // ~/.pgpass through HOME, and PGPASSFILE.
        std::fs::copy(&file, dir.path().join(".pgpass")).unwrap();
        let base = format!("host=127.0.0.1 port={port} user=app dbname=test");
        for var in ["HOME", "PGPASSFILE"] {
            let value = if var == "HOME" {
                home.clone()
            } else {
                file.clone()
            };
            let config =
                Config::parse_with_env(&base, |name| (name == var).then(|| value.clone())).unwrap();
            block_on(Client::new(config).unwrap().check()).unwrap_or_else(|e| panic!("{var}: {e}"));
        }
        // The first matching line is the wrong one: auth fails.
        let file = passfile(
            &dir,
            &format!("*:*:*:app:wrong\n127.0.0.1:{port}:test:app:s3cret\n"),
            0o600,
        );
        let config = parse(&format!("{base} passfile={file}"));
        assert!(block_on(Client::new(config).unwrap().check())
            .unwrap_err()
            .is_auth());
        // A world-readable file is not used.
        let file = passfile(&dir, &format!("*:{port}:*:app:s3cret\n"), 0o644);
        let config = parse(&format!("{base} passfile={file}"));
        assert!(!config.has_password());
        assert!(!config.notes().is_empty());
        assert!(block_on(Client::new(config).unwrap().check())
            .unwrap_err()
            .is_auth());

        // Environment defaults: host (the socket dir), port, user, database, app name.
        let env: HashMap<&str, String> = [
            ("PGHOST", socket_dir.clone()),
            ("PGPORT", port.to_string()),
            ("PGUSER", "app".to_owned()),
            ("PGDATABASE", "test".to_owned()),
            ("PGAPPNAME", "from-env".to_owned()),
            ("PGOPTIONS", "-c search_path=env_path".to_owned()),
        ]
        .into_iter()
        .collect();
        let config = Config::parse_with_env("", |name| env.get(name).cloned()).unwrap();
        let client = Client::new(config).unwrap();
        let row = block_on(client.query_one(
            "SELECT current_user::text, current_setting('application_name'), \
             current_setting('search_path'), inet_server_addr() IS NULL",
            &[],
        ))
        .unwrap();
        assert_eq!(row.get::<String>(0).unwrap(), "app");
        assert_eq!(row.get::<String>(1).unwrap(), "from-env");
        assert_eq!(row.get::<String>(2).unwrap(), "env_path");
        assert!(row.get::<bool>(3).unwrap());
        // The string wins over the environment; fallback_application_name applies when no
        // application_name is given anywhere.
        let config = Config::parse_with_env(
            "host=127.0.0.1 password=s3cret fallback_application_name=fb",
            |name| env.get(name).filter(|_| name != "PGAPPNAME").cloned(),
        )
        .unwrap();
        let client = Client::new(config).unwrap();
        let row = block_on(client.query_one(
            "SELECT current_setting('application_name'), inet_server_addr() IS NULL",
            &[],
        ))
        .unwrap();
        assert_eq!(row.get::<String>(0).unwrap(), "fb");
        assert!(!row.get::<bool>(1).unwrap());
    });
}
