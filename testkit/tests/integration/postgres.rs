//! Throwaway PostgreSQL: startup, raw protocol answer, psql, auth methods, kill/restart, drop.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::time::Duration;

use corelane_testkit::{Error, PgAuth, PgServer};

/// Runs `psql -c sql` over TCP as `user` with `password` in `PGPASSWORD`.
fn psql(server: &PgServer, user: &str, password: &str, sql: &str) -> Output {
    Command::new(server.psql_path())
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
        .arg("-p")
        .arg(server.port().to_string())
        .args(["-U", user, "-d", "test", "-c", sql])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .env_remove("PGHOST")
        .env_remove("PGPORT")
        .output()
        .unwrap()
}

fn psql_ok(server: &PgServer, user: &str, password: &str, sql: &str) -> String {
    let out = psql(server, user, password, sql);
    assert!(
        out.status.success(),
        "psql as {user} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn assert_wrong_password_fails(server: &PgServer, user: &str) {
    let out = psql(server, user, "wrong-password", "select 1");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );
}

/// Sends an SSLRequest and returns the one-byte answer (`N` or `S`).
fn ssl_request(addr: SocketAddr) -> u8 {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut msg = Vec::new();
    msg.extend_from_slice(&8u32.to_be_bytes());
    msg.extend_from_slice(&80_877_103u32.to_be_bytes());
    stream.write_all(&msg).unwrap();
    let mut answer = [0u8; 1];
    stream.read_exact(&mut answer).unwrap();
    answer[0]
}

fn refused(addr: SocketAddr) -> bool {
    matches!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused
    )
}

#[test]
fn trust_server_answers_and_stops_on_drop() {
    let server = PgServer::start().unwrap();
    let addr = server.addr();
    assert_eq!(server.auth(), PgAuth::Trust);
    assert_eq!(
        server.url(),
        format!(
            "postgres://postgres:postgres@127.0.0.1:{}/test",
            server.port()
        )
    );
    assert_eq!(ssl_request(addr), b'N');
    assert_eq!(psql_ok(&server, "postgres", "", "select 1"), "1");
    // The unix socket lives in socket_dir().
    assert!(server.socket_path().exists());
    assert_eq!(server.socket_path().parent(), Some(server.socket_dir()));
    let settings = psql_ok(
        &server,
        "postgres",
        "",
        "select current_setting('fsync') || current_setting('max_connections')",
    );
    assert_eq!(settings, "off200");
    let dir = server.socket_dir().to_path_buf();
    drop(server);
    assert!(refused(addr), "port still open after drop");
    assert!(!dir.exists(), "temp dir not removed");
}

#[test]
fn md5_server_checks_passwords() {
    let server = PgServer::builder()
        .auth(PgAuth::Md5)
        .user("alice", "wonder land")
        .superuser("root2", "r00t")
        .start()
        .unwrap();
    assert_eq!(psql_ok(&server, "alice", "wonder land", "select 1"), "1");
    assert_eq!(
        psql_ok(&server, "alice", "wonder land", "select current_user"),
        "alice"
    );
    assert_wrong_password_fails(&server, "alice");
    assert_wrong_password_fails(&server, "postgres");
    // Passwords are really stored as MD5, so the md5 exchange (not SCRAM) is used.
    let stored = psql_ok(
        &server,
        "root2",
        "r00t",
        "select rolpassword from pg_authid where rolname = 'alice'",
    );
    assert!(stored.starts_with("md5"), "{stored}");
    assert_eq!(
        psql_ok(
            &server,
            "root2",
            "r00t",
            "select rolsuper from pg_roles where rolname = 'root2'"
        ),
        "t"
    );
    // Non-superusers can create tables in the test database.
    psql_ok(&server, "alice", "wonder land", "create table t (x int)");
    assert_eq!(
        server.url_for("alice", "wonder land"),
        format!(
            "postgres://alice:wonder%20land@127.0.0.1:{}/test",
            server.port()
        )
    );
}

#[test]
fn scram_server_checks_passwords() {
    let server = PgServer::builder()
        .auth(PgAuth::ScramSha256)
        .superuser_password("sup3r")
        .user("bob", "builder")
        .start()
        .unwrap();
    assert_eq!(psql_ok(&server, "bob", "builder", "select 1"), "1");
    assert_eq!(psql_ok(&server, "postgres", "sup3r", "select 1"), "1");
    assert_wrong_password_fails(&server, "bob");
    let stored = psql_ok(
        &server,
        "postgres",
        "sup3r",
        "select rolpassword from pg_authid where rolname = 'bob'",
    );
    assert!(stored.starts_with("SCRAM-SHA-256$"), "{stored}");
}

#[test]
fn cleartext_password_server_checks_passwords() {
    let server = PgServer::builder()
        .auth(PgAuth::Password)
        .user("carol", "c")
        .start()
        .unwrap();
    assert_eq!(psql_ok(&server, "carol", "c", "select 1"), "1");
    assert_wrong_password_fails(&server, "carol");
}

#[test]
fn kill_and_restart_keep_port_and_data_dir() {
    let mut server = PgServer::start().unwrap();
    let addr = server.addr();
    psql_ok(&server, "postgres", "", "create table kept (x int)");
    // Make sure the DDL reached the OS before the immediate stop (synchronous_commit is off).
    psql_ok(&server, "postgres", "", "checkpoint");
    server.kill().unwrap();
    assert!(!server.is_running());
    assert!(refused(addr));
    server.restart().unwrap();
    assert_eq!(server.addr(), addr);
    assert_eq!(
        psql_ok(&server, "postgres", "", "select count(*) from kept"),
        "0"
    );
    // Restarting a running server works too.
    server.restart().unwrap();
    assert_eq!(ssl_request(addr), b'N');
}

#[test]
fn missing_binaries_name_the_package() {
    let err = PgServer::builder()
        .bin_dir("/nonexistent/bin")
        .start()
        .unwrap_err();
    match &err {
        Error::MissingBinary {
            binary, install, ..
        } => {
            assert_eq!(binary, "initdb");
            assert_eq!(*install, "apt-get install postgresql");
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[test]
fn several_servers_in_parallel() {
    let handles: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(|| PgServer::start().unwrap()))
        .collect();
    let servers: Vec<PgServer> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut ports: Vec<u16> = servers.iter().map(PgServer::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), servers.len());
    for server in &servers {
        assert_eq!(psql_ok(server, "postgres", "", "select 1"), "1");
    }
}

/// psql with `sslmode` set; the output of `select ssl from pg_stat_ssl` for its own backend.
fn psql_ssl(server: &PgServer, sslmode: &str) -> Output {
    Command::new(server.psql_path())
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
        .arg("-p")
        .arg(server.port().to_string())
        .args(["-U", "postgres", "-d", "test", "-c"])
        .arg("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
        .env("PGPASSWORD", "postgres")
        .env("PGSSLMODE", sslmode)
        .env("PGCONNECT_TIMEOUT", "10")
        .env_remove("PGHOST")
        .env_remove("PGPORT")
        .output()
        .unwrap()
}

#[test]
fn tls_server_with_hostssl_only() {
    let certs = corelane_testkit::TestCerts::generate().unwrap();
    let server = PgServer::builder()
        .auth(PgAuth::ScramSha256)
        .tls(&certs.server().cert, &certs.server().key)
        .tls_ca_file(certs.ca_file())
        .hba_tls(corelane_testkit::PgHbaTls::TlsOnly)
        .start()
        .unwrap();
    assert!(server.has_tls());
    assert_eq!(ssl_request(server.addr()), b'S');
    let out = psql_ssl(&server, "require");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "t");
    let out = psql_ssl(&server, "disable");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no encryption"),
        "{out:?}"
    );
    // The key was copied with mode 0600 for the server's user.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(server.data_dir().join("corelane_server.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn tls_server_with_hostnossl_only() {
    let certs = corelane_testkit::TestCerts::generate().unwrap();
    let server = PgServer::builder()
        .auth(PgAuth::ScramSha256)
        .tls(&certs.server().cert, &certs.server().key)
        .hba_tls(corelane_testkit::PgHbaTls::PlainOnly)
        .start()
        .unwrap();
    let out = psql_ssl(&server, "disable");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "f");
    let out = psql_ssl(&server, "require");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SSL encryption"),
        "{out:?}"
    );
}
