//! `/metrics` (issue 15): after a few requests the page shows the drivers' counters for both
//! databases in Prometheus text format, with the bounded labels.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use corelane_web::{Config, Web};

fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

#[test]
fn metrics_page_shows_both_drivers_counters() {
    corelane_testkit::guard("web /metrics", Duration::from_secs(120), || {
        corelane_web::metrics::install().unwrap();
        let pg = corelane_testkit::database_url().unwrap();
        let redis = corelane_testkit::redis_url().unwrap();
        let web = Web::start(&Config {
            addr: "127.0.0.1:0".parse().unwrap(),
            database_url: pg.url(),
            redis_url: redis.url(),
            workers: Some(2),
            placement: corelane_runtime::Placement::Auto,
            spin_before_park: None,
            loop_workers: None,
        })
        .unwrap();
        let addr = web.local_addr();
        for _ in 0..4 {
            assert!(get(addr, "/db").0.starts_with("HTTP/1.1 200"));
            assert!(get(addr, "/cached-queries?q=3")
                .0
                .starts_with("HTTP/1.1 200"));
        }
        let (head, body) = get(addr, "/metrics");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("text/plain; version=0.0.4"), "{head}");
        for needle in [
            "corelane_calls_total{db_system=\"postgresql\"",
            "corelane_calls_total{db_system=\"redis\"",
            "outcome=\"ok\"",
            "corelane_call_duration_seconds",
            "corelane_connects_total",
        ] {
            assert!(body.contains(needle), "{needle} missing from:\n{body}");
        }
        web.shutdown(Duration::from_secs(5));
    });
}
