#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The env entry points. One test in its own binary: it changes process-wide variables.

use std::net::TcpStream;

use corelane_testkit::{database_url, redis_url, Error, PgTarget, RedisServer, RedisTarget};

#[test]
fn env_entry_points_and_missing_binary() {
    std::env::set_var("REDIS_URL", "redis://example.invalid:6390");
    std::env::set_var("DATABASE_URL", "postgres://u:p@example.invalid/db");
    let redis = redis_url().unwrap();
    assert!(matches!(redis, RedisTarget::External(_)));
    assert_eq!(redis.url(), "redis://example.invalid:6390");
    let pg = database_url().unwrap();
    assert!(matches!(pg, PgTarget::External(_)));
    assert_eq!(pg.url(), "postgres://u:p@example.invalid/db");

    std::env::remove_var("REDIS_URL");
    std::env::remove_var("DATABASE_URL");
    let redis = redis_url().unwrap();
    let RedisTarget::Owned(server) = &redis else {
        panic!("expected an owned server");
    };
    assert_eq!(redis.url(), server.url());
    TcpStream::connect(server.addr()).unwrap();
    let pg = database_url().unwrap();
    let PgTarget::Owned(server) = &pg else {
        panic!("expected an owned server");
    };
    assert!(pg
        .url()
        .ends_with(&format!("@127.0.0.1:{}/test", server.port())));
    TcpStream::connect(server.addr()).unwrap();

    // Without redis-server on PATH the error says what to install.
    let empty = corelane_testkit::TempDir::new("env-test").unwrap();
    let old_path = std::env::var_os("PATH").unwrap_or_default();
    std::env::set_var("PATH", empty.path());
    let err = RedisServer::start().unwrap_err();
    std::env::set_var("PATH", old_path);
    match err {
        Error::MissingBinary {
            binary, install, ..
        } => {
            assert_eq!(binary, "redis-server");
            assert_eq!(install, "apt-get install redis-server");
        }
        other => panic!("unexpected error: {other}"),
    }
}
