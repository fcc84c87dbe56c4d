//! The router: one handler per benchmark endpoint.

use std::convert::Infallible;
use std::rc::Rc;

use hyper::body::Incoming;
use hyper::Request;

use crate::reply::{self, Reply};
use crate::rules::{queries, HELLO, HELLO_MESSAGE};
use crate::{fortunes, world, App};

/// Answers one request (errors become 500s; the connection serves on).
pub(crate) async fn handle(req: Request<Incoming>, app: Rc<App>) -> Result<Reply, Infallible> {
    let query = req.uri().query();
    let reply = match req.uri().path() {
        "/plaintext" => reply::ok(reply::TEXT, HELLO),
        "/json" => reply::json(&HELLO_MESSAGE),
        "/db" => match world::random_one(&app.pg).await {
            Ok(row) => reply::json(&row),
            Err(e) => reply::error(&e),
        },
        "/queries" => match world::random_many(&app.pg, queries(query)).await {
            Ok(rows) => reply::json(&rows),
            Err(e) => reply::error(&e),
        },
        "/updates" => match world::update_many(&app.pg, &app.redis, queries(query)).await {
            Ok(rows) => reply::json(&rows),
            Err(e) => reply::error(&e),
        },
        "/cached-queries" => match world::cached_many(&app.pg, &app.redis, queries(query)).await {
            Ok(rows) => reply::json(&rows),
            Err(e) => reply::error(&e),
        },
        "/fortunes" => match fortunes::page(&app.pg).await {
            Ok(html) => reply::ok(reply::HTML, html),
            Err(e) => reply::error(&e),
        },
        "/metrics" => crate::metrics::page(),
        _ => reply::not_found(),
    };
    Ok(reply)
}
