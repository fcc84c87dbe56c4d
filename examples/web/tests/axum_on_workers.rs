//! An axum `Router` served by hyper on corelane's workers, with no tokio runtime anywhere in
//! the process path that serves it (issue 14: "an axum `Router` served through hyper, if its
//! handlers only need `Send` futures, runs on the workers").
//!
//! The router goes through `corelane_runtime::serve::serve_http` (one handler per worker): each
//! request calls the router as a `tower` service. Routing, path extraction, a request body, a
//! fallback, a router-level 405, and a handler that calls corelane's Redis client (whose
//! connections live on the same workers) all run on the worker that accepted the connection.
//!
//! What does not fit: axum wants `Send` handler futures. The drivers' calls are `Send` (they
//! are made for tokio callers too), but the runtime's worker-local futures, such as
//! `corelane_runtime::task::sleep`, are not, so a handler cannot await them directly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::poll_fn;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use axum::extract::Path;
use axum::routing::{get, post};
use axum::Router;
use corelane_runtime::serve::serve_http;
use corelane_runtime::{Loop, WorkerLoop};
use hyper::body::Incoming;
use tower_service::Service;

/// The worker that runs the handler, so the test can see requests served on the workers.
fn worker_id() -> String {
    WorkerLoop::current().map_or("none".to_owned(), |w| w.id().to_string())
}

fn router(redis: corelane_redis::Client) -> Router {
    Router::new()
        .route(
            "/hello",
            get(|| async { format!("hello from worker {}", worker_id()) }),
        )
        .route(
            "/add/{a}/{b}",
            get(|Path((a, b)): Path<(i64, i64)>| async move { (a + b).to_string() }),
        )
        .route(
            "/echo",
            post(|body: String| async move { body.to_uppercase() }),
        )
        .route(
            "/hits/{key}",
            // corelane's Redis client, its connection on this worker: no thread hop.
            get(move |Path(key): Path<String>| async move {
                match redis.incr::<i64>(format!("axum-test:{key}")).await {
                    Ok(n) => (axum::http::StatusCode::OK, n.to_string()),
                    Err(e) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                }
            }),
        )
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "no such page") })
}

/// Serves `router()` on every worker of a two-worker loop, with a Redis client on the same
/// workers.
fn start(redis_url: &str) -> (Loop, corelane_runtime::serve::Serving) {
    let lp = Loop::builder()
        .workers(2)
        .name("axum-test")
        .start()
        .unwrap();
    let redis = corelane_redis::Client::with_server(
        corelane_redis::Config::from_url(redis_url).unwrap(),
        &lp.worker_set(),
    )
    .unwrap();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let serving = futures_lite::future::block_on(serve_http(&lp, addr, move || {
        let app = router(redis.clone());
        move |req: hyper::Request<Incoming>| {
            let mut app = app.clone();
            async move {
                // `Router` is always ready; asked anyway, as a tower service must be.
                poll_fn(|cx| Service::<hyper::Request<Incoming>>::poll_ready(&mut app, cx)).await?;
                app.call(req).await
            }
        }
    }))
    .unwrap();
    (lp, serving)
}

/// One request on its own connection (`Connection: close`): status and body.
fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    sock.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, body.to_owned())
}

#[test]
fn an_axum_router_serves_on_the_workers() {
    corelane_testkit::guard("axum on workers", Duration::from_secs(120), || {
        let redis = corelane_testkit::redis_url().unwrap();
        let (lp, serving) = start(&redis.url());
        // A key of this run only (REDIS_URL may point at a shared server).
        let key = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let addr = serving.local_addr();

        let mut workers_seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let (status, body) = request(addr, "GET", "/hello", "");
            assert_eq!(status, 200, "{body}");
            let worker = body
                .strip_prefix("hello from worker ")
                .unwrap_or_else(|| panic!("unexpected body {body:?}"));
            assert_ne!(worker, "none", "a handler ran off the workers");
            workers_seen.insert(worker.to_owned());
        }
        assert!(!workers_seen.is_empty());

        assert_eq!(
            request(addr, "GET", "/add/40/2", ""),
            (200, "42".to_owned())
        );
        // A path segment that is not a number: axum's extractor rejects it.
        assert_eq!(request(addr, "GET", "/add/forty/2", "").0, 400);
        assert_eq!(
            request(addr, "POST", "/echo", "shout"),
            (200, "SHOUT".to_owned())
        );
        // A route that exists with another method: axum's 405.
        assert_eq!(request(addr, "GET", "/echo", "").0, 405);
        assert_eq!(
            request(addr, "GET", "/missing", ""),
            (404, "no such page".to_owned())
        );
        for want in 1..=5 {
            let path = format!("/hits/{key}");
            assert_eq!(request(addr, "GET", &path, ""), (200, want.to_string()));
        }

        let report = futures_lite::future::block_on(serving.shutdown(Duration::from_secs(5)));
        assert_eq!(report.cut, 0, "nothing was in flight");
        lp.shutdown();
    });
}
