//! A primary and its streaming standby: replication, read-only standby, promotion, stop.

use std::process::{Command, Output};

use corelane_testkit::{PgReplicaPair, PgServer};

/// Runs `psql -c sql` over TCP as `postgres` (trust).
fn psql(server: &PgServer, sql: &str) -> Output {
    Command::new(server.psql_path())
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
        .arg("-p")
        .arg(server.port().to_string())
        .args(["-U", "postgres", "-d", "test", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .env_remove("PGHOST")
        .env_remove("PGPORT")
        .env_remove("PGPASSWORD")
        .output()
        .unwrap()
}

fn psql_ok(server: &PgServer, sql: &str) -> String {
    let out = psql(server, sql);
    assert!(
        out.status.success(),
        "psql {sql:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn replicates_promotes_and_stops() {
    let mut pair = PgReplicaPair::start().unwrap();
    let (primary, standby) = (pair.primary(), pair.standby());
    assert_ne!(primary.port(), standby.port());
    assert_ne!(primary.data_dir(), standby.data_dir());
    assert_eq!(psql_ok(primary, "SELECT pg_is_in_recovery()"), "f");
    assert_eq!(psql_ok(standby, "SELECT pg_is_in_recovery()"), "t");
    assert_eq!(psql_ok(standby, "SHOW in_hot_standby"), "on");

    // Writes on the primary reach the standby; the standby refuses writes.
    psql_ok(
        primary,
        "CREATE TABLE r (v int); INSERT INTO r VALUES (41), (1)",
    );
    pair.wait_caught_up().unwrap();
    let (primary, standby) = (pair.primary(), pair.standby());
    assert_eq!(psql_ok(standby, "SELECT sum(v) FROM r"), "42");
    let refused = psql(standby, "INSERT INTO r VALUES (1)");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("read-only transaction"),
        "{refused:?}"
    );
    let primary_port = primary.port();

    // Failover: the primary goes, the promoted standby takes writes.
    pair.stop_primary().unwrap();
    assert!(!pair.primary().is_running());
    assert!(std::net::TcpStream::connect(("127.0.0.1", primary_port)).is_err());
    pair.promote_standby().unwrap();
    let standby = pair.standby();
    assert_eq!(psql_ok(standby, "SELECT pg_is_in_recovery()"), "f");
    psql_ok(standby, "INSERT INTO r VALUES (1)");
    assert_eq!(psql_ok(standby, "SELECT sum(v) FROM r"), "43");

    let dirs = [
        pair.primary().data_dir().to_path_buf(),
        pair.standby().data_dir().to_path_buf(),
    ];
    drop(pair);
    for dir in dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}
