//! Responses with the headers the benchmark rules ask for. hyper adds `Date` and, for a body
//! of known length, `Content-Length`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE, SERVER};
use hyper::{Response, StatusCode};

pub(crate) type Reply = Response<Full<Bytes>>;

pub(crate) use crate::rules::{HTML, JSON, TEXT};

/// Prometheus' text exposition format.
pub(crate) const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Reply {
    let mut res = Response::new(Full::new(body.into()));
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(SERVER, HeaderValue::from_static(crate::rules::SERVER));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

pub(crate) fn ok(content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    reply(StatusCode::OK, content_type, body)
}

/// A JSON body, or a 500 if it cannot be serialized (it always can: plain structs).
pub(crate) fn json<T: serde::Serialize + ?Sized>(value: &T) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => ok(JSON, body),
        Err(e) => error(&e),
    }
}

/// A 500 naming the failure (a database error, typically).
pub(crate) fn error(e: &dyn std::fmt::Display) -> Reply {
    reply(StatusCode::INTERNAL_SERVER_ERROR, TEXT, e.to_string())
}

pub(crate) fn not_found() -> Reply {
    reply(StatusCode::NOT_FOUND, TEXT, "not found")
}
