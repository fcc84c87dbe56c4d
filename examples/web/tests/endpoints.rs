//! The four stacks (corelane, the axum peer, the xitca peer, corelane-offloop) against the TechEmpower
//! Framework Benchmarks rules, on a free port, with a throwaway PostgreSQL and redis-server (or
//! DATABASE_URL / REDIS_URL), through a raw HTTP/1.1 client on a plain `std::net::TcpStream`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

use corelane_web::offloop::Offloop;
use corelane_web::peer::Peer;
use corelane_web::xitca::Xitca;
use corelane_web::{Config, Web};
use serde_json::Value;

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        let mut found = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let first = found.next().map(|(_, v)| v.as_str());
        assert!(found.next().is_none(), "header {name} twice");
        first
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// One keep-alive connection.
struct Client {
    sock: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        Client {
            sock,
            buf: Vec::new(),
        }
    }

    fn get(&mut self, path: &str) -> Reply {
        self.get_pipelined(&[path]).pop().unwrap()
    }

    /// All requests in one write, then their replies in order.
    fn get_pipelined(&mut self, paths: &[&str]) -> Vec<Reply> {
        let requests: String = paths
            .iter()
            .map(|path| format!("GET {path} HTTP/1.1\r\nHost: tfb\r\n\r\n"))
            .collect();
        self.sock.write_all(requests.as_bytes()).unwrap();
        paths.iter().map(|_| self.reply()).collect()
    }

    fn reply(&mut self) -> Reply {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            self.fill();
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_owned(), v.trim().to_owned())
            })
            .collect();
        let reply = Reply {
            status,
            headers,
            body: Vec::new(),
        };
        let len: usize = reply
            .header("content-length")
            .expect("Content-Length on every reply")
            .parse()
            .unwrap();
        let end = head_end + 4 + len;
        while self.buf.len() < end {
            self.fill();
        }
        let body = self.buf[head_end + 4..end].to_vec();
        self.buf.drain(..end);
        Reply { body, ..reply }
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 16384];
        loop {
            match self.sock.read(&mut chunk) {
                Ok(0) => panic!("the server closed the connection"),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }
}

/// The headers every reply must carry, and a 200.
fn check_common(reply: &Reply, content_type: &str, what: &str) {
    assert_eq!(
        reply.status,
        200,
        "{what}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(
        reply.header("server").is_some_and(|s| !s.is_empty()),
        "{what}: Server"
    );
    let date = reply.header("date").expect("Date");
    assert!(
        date.ends_with(" GMT") && date.len() == 29,
        "{what}: Date {date:?} (RFC 7231)"
    );
    assert_eq!(reply.header("content-type"), Some(content_type), "{what}");
    assert_eq!(
        reply
            .header("content-length")
            .map(|l| l.parse::<usize>().unwrap()),
        Some(reply.body.len()),
        "{what}"
    );
}

/// A `{"id":…,"randomNumber":…}` object with exactly those keys, in range.
fn world(value: &Value) -> (i32, i32) {
    let object = value.as_object().expect("a World is an object");
    let keys: HashSet<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(keys, HashSet::from(["id", "randomNumber"]), "{value}");
    let id = object["id"].as_i64().expect("an integer id");
    let number = object["randomNumber"]
        .as_i64()
        .expect("an integer randomNumber");
    assert!((1..=10_000).contains(&id), "{value}");
    assert!((1..=10_000).contains(&number), "{value}");
    (id as i32, number as i32)
}

fn worlds(reply: &Reply, what: &str) -> Vec<(i32, i32)> {
    check_common(reply, "application/json", what);
    reply
        .json()
        .as_array()
        .expect("an array")
        .iter()
        .map(world)
        .collect()
}

/// What the database holds for `id` now.
fn stored(pg: &corelane_postgres::Client, id: i32) -> i32 {
    futures_lite::future::block_on(
        pg.query_one("SELECT randomnumber FROM world WHERE id = $1", &[&id]),
    )
    .unwrap()
    .get(0)
    .unwrap()
}

/// One stack at a time: with DATABASE_URL / REDIS_URL set, both tests share the tables, and
/// one's updates would race the other's checks.
static SERIAL: Mutex<()> = Mutex::new(());

fn config(database: &corelane_testkit::PgTarget, redis: &corelane_testkit::RedisTarget) -> Config {
    Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        database_url: database.url(),
        redis_url: redis.url(),
        workers: Some(2),
        placement: corelane_runtime::Placement::Auto,
        spin_before_park: None,
        loop_workers: None,
    }
}

#[test]
fn the_corelane_service_follows_the_benchmark_rules() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let database = corelane_testkit::database_url().unwrap();
    let redis = corelane_testkit::redis_url().unwrap();
    let web = Web::start(&config(&database, &redis)).unwrap();
    check_every_endpoint(web.local_addr(), &database.url());
    let report = web.shutdown(Duration::from_secs(5));
    assert_eq!(report.cut, 0, "{report:?}");
}

#[test]
fn the_peer_stack_follows_the_benchmark_rules() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let database = corelane_testkit::database_url().unwrap();
    let redis = corelane_testkit::redis_url().unwrap();
    let peer = Peer::start(&config(&database, &redis)).unwrap();
    check_every_endpoint(peer.local_addr(), &database.url());
    peer.shutdown(Duration::from_secs(5));
}

#[test]
fn the_xitca_stack_follows_the_benchmark_rules() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let database = corelane_testkit::database_url().unwrap();
    let redis = corelane_testkit::redis_url().unwrap();
    let stack = Xitca::start(&config(&database, &redis)).unwrap();
    check_every_endpoint(stack.local_addr(), &database.url());
    stack.shutdown(Duration::from_secs(5));
}

#[test]
fn the_offloop_stack_follows_the_benchmark_rules() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let database = corelane_testkit::database_url().unwrap();
    let redis = corelane_testkit::redis_url().unwrap();
    let stack = Offloop::start(&config(&database, &redis)).unwrap();
    check_every_endpoint(stack.local_addr(), &database.url());
    stack.shutdown(Duration::from_secs(5));
}

fn check_every_endpoint(addr: SocketAddr, database_url: &str) {
    let pg = corelane_postgres::Client::connect(database_url).unwrap();
    let mut client = Client::connect(addr);

    let plain = client.get("/plaintext");
    check_common(&plain, "text/plain", "/plaintext");
    assert_eq!(plain.text(), "Hello, World!");

    // The plaintext benchmark pipelines 16 requests per write.
    let pipelined = client.get_pipelined(&["/plaintext"; 16]);
    assert_eq!(pipelined.len(), 16);
    for reply in &pipelined {
        check_common(reply, "text/plain", "pipelined /plaintext");
        assert_eq!(reply.text(), "Hello, World!");
    }

    let json = client.get("/json");
    check_common(&json, "application/json", "/json");
    assert_eq!(json.json(), serde_json::json!({"message": "Hello, World!"}));

    let db = client.get("/db");
    check_common(&db, "application/json", "/db");
    let (id, number) = world(&db.json());
    assert_eq!(stored(&pg, id), number, "/db answers what the table holds");

    // q: clamped to 1..=500; missing, zero, negative or not a number is 1.
    for (query, expected) in [
        ("", 1),
        ("?q=", 1),
        ("?q=0", 1),
        ("?q=-3", 1),
        ("?q=abc", 1),
        ("?q=1", 1),
        ("?q=20", 20),
        ("?q=500", 500),
        ("?q=1000", 500),
    ] {
        let path = format!("/queries{query}");
        let rows = worlds(&client.get(&path), &path);
        assert_eq!(rows.len(), expected, "{path}");
        for (id, number) in rows.iter().take(25) {
            assert_eq!(stored(&pg, *id), *number, "{path}: row {id}");
        }
        let path = format!("/cached-queries{query}");
        assert_eq!(worlds(&client.get(&path), &path).len(), expected, "{path}");
    }

    for (query, expected) in [("?q=0", 1), ("?q=abc", 1), ("?q=20", 20), ("?q=1000", 500)] {
        let path = format!("/updates{query}");
        let rows = worlds(&client.get(&path), &path);
        assert_eq!(rows.len(), expected, "{path}");
        let ids: HashSet<i32> = rows.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids.len(), rows.len(), "{path}: each row updated once");
        for (id, number) in &rows {
            assert_eq!(
                stored(&pg, *id),
                *number,
                "{path}: the update of row {id} persisted"
            );
        }
    }

    // The cache is refilled from the table after updates, never stale.
    let rows = worlds(&client.get("/cached-queries?q=500"), "/cached-queries");
    for (id, number) in rows.iter().take(100) {
        assert_eq!(stored(&pg, *id), *number, "cached row {id}");
    }

    check_fortunes(&client.get("/fortunes"));

    let missing = client.get("/no-such-endpoint");
    assert_eq!(missing.status, 404);
}

fn check_fortunes(reply: &Reply) {
    check_common(reply, "text/html; charset=utf-8", "/fortunes");
    let html = reply.text();
    assert!(html.starts_with(
        "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>"
    ));
    assert!(html.ends_with("</table></body></html>"));
    let rows: Vec<(i32, &str)> = html
        .split("<tr><td>")
        .skip(1)
        .map(|row| {
            let (id, rest) = row.split_once("</td><td>").unwrap();
            (
                id.parse().unwrap(),
                rest.split_once("</td></tr>").unwrap().0,
            )
        })
        .collect();
    let ids: Vec<i32> = rows.iter().map(|(id, _)| *id).collect();
    // The 12 rows and the one added at request time (id 0), sorted by message.
    assert_eq!(ids, [11, 4, 5, 2, 8, 0, 3, 7, 10, 6, 9, 1, 12]);
    let messages: Vec<String> = rows.iter().map(|(_, m)| unescape(m)).collect();
    let mut sorted = messages.clone();
    sorted.sort();
    assert_eq!(messages, sorted);
    assert_eq!(messages[5], "Additional fortune added at request time.");
    assert_eq!(
        rows[0].1,
        "&lt;script&gt;alert(&quot;This should not be displayed in a browser alert box.&quot;);&lt;/script&gt;"
    );
    assert!(!html.contains("<script>"), "markup is escaped");
    assert_eq!(rows[12].1, "フレームワークのベンチマーク");
    assert!(html.contains("aren&#x27;t broken") || html.contains("aren&#39;t broken"));
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}
