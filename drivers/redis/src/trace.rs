//! Spans for calls (feature `tracing`), with the OpenTelemetry database attributes:
//! `db.system.name`, `db.operation.name` (the command's name, never its arguments),
//! `db.namespace` (the database index), `server.address`, `server.port`,
//! `db.operation.batch.size` (pipelines), and on failure `error.type` and
//! `db.response.status_code` (the server error's prefix, e.g. `WRONGTYPE`).
//!
//! Without the feature, [`CallSpan`] is a zero-sized value and every function here is empty.

use corelane_redis_proto::{Cmd, Value};
#[cfg(feature = "tracing")]
use corelane_runtime::client::OperationName;

use crate::request::Request;
use crate::{Client, Error};

/// The span of one call.
#[cfg(feature = "tracing")]
pub(crate) type CallSpan = tracing::Span;

/// The span of one call (the `tracing` feature is off: nothing).
#[cfg(not(feature = "tracing"))]
#[derive(Debug, Clone, Default)]
pub(crate) struct CallSpan;

/// The command's name as sent (ASCII letters, digits, `_`, `.`, `|` and `-`; at most 32 of
/// them), upper-cased: arguments never reach a span.
#[cfg(feature = "tracing")]
fn command_name(cmd: &Cmd) -> Option<OperationName> {
    OperationName::new(cmd.iter_args().next().unwrap_or_default())
}

#[cfg(feature = "tracing")]
fn record_operation(span: &CallSpan, request: Option<&Request>) {
    match request {
        Some(Request::One(cmd)) => name(span, command_name(cmd).as_ref()),
        Some(Request::Many { atomic: true, .. }) => name_str(span, "MULTI"),
        Some(Request::Many { .. }) => name_str(span, "PIPELINE"),
        None => name(span, None),
    }
}

/// A span for `request` on `client`.
#[cfg(feature = "tracing")]
pub(crate) fn call_span(client: &Client, request: Option<&Request>) -> CallSpan {
    let span = new_span(client);
    if span.is_disabled() {
        return span;
    }
    record_operation(&span, request);
    if let Some(size) = request.and_then(Request::pipeline_size) {
        span.record("db.operation.batch.size", size);
    }
    span
}

/// A span for one command on `client`.
#[cfg(feature = "tracing")]
pub(crate) fn command_span(client: &Client, cmd: &Cmd) -> CallSpan {
    let span = new_span(client);
    if !span.is_disabled() {
        name(&span, command_name(cmd).as_ref());
    }
    span
}

/// A span for one command on `client` (the `tracing` feature is off: nothing).
#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub(crate) fn command_span(_client: &Client, _cmd: &Cmd) -> CallSpan {
    CallSpan
}

/// A span with the client's attributes; the operation is recorded by [`name`] (nothing is
/// computed for a span no subscriber wants: no name, no allocation).
#[cfg(feature = "tracing")]
fn new_span(client: &Client) -> CallSpan {
    let config = client.config();
    let (address, port) = match &config.addr {
        crate::Addr::Tcp { host, port } => (tracing::field::display(host.as_str()), Some(*port)),
        crate::Addr::Unix(path) => (
            tracing::field::display(path.to_str().unwrap_or("unix")),
            None,
        ),
    };
    tracing::info_span!(
        "redis",
        otel.name = tracing::field::Empty,
        otel.kind = "client",
        db.system.name = "redis",
        db.operation.name = tracing::field::Empty,
        db.namespace = config.db,
        server.address = address,
        server.port = port,
        db.operation.batch.size = tracing::field::Empty,
        error.type = tracing::field::Empty,
        db.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    )
}

#[cfg(feature = "tracing")]
fn name(span: &CallSpan, operation: Option<&OperationName>) {
    name_str(span, operation.map_or("UNKNOWN", OperationName::as_str));
}

#[cfg(feature = "tracing")]
fn name_str(span: &CallSpan, operation: &str) {
    span.record("otel.name", operation);
    span.record("db.operation.name", operation);
}

/// A span for `request` on `client` (the `tracing` feature is off: nothing).
#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub(crate) fn call_span(_client: &Client, _request: Option<&Request>) -> CallSpan {
    CallSpan
}

/// A span that records nothing: the call's own span's stand-in while the call polls inside it
/// (taking it out instead of cloning it saves the subscriber a clone and a close per poll).
#[inline(always)]
pub(crate) fn no_span() -> CallSpan {
    #[cfg(feature = "tracing")]
    {
        tracing::Span::none()
    }
    #[cfg(not(feature = "tracing"))]
    {
        CallSpan
    }
}

/// How a call ended, kept until it can be recorded on its span.
#[cfg(feature = "tracing")]
pub(crate) type Ending = Option<(&'static str, Option<String>)>;

/// How a call ended (the `tracing` feature is off: nothing).
#[cfg(not(feature = "tracing"))]
#[derive(Debug, Default)]
pub(crate) struct Ending;

/// Runs `f` inside `span`.
#[inline(always)]
pub(crate) fn within<R>(span: &CallSpan, f: impl FnOnce() -> R) -> R {
    #[cfg(feature = "tracing")]
    {
        span.in_scope(f)
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = span;
        f()
    }
}

/// How the call ended, to record on its span with [`finish`] (nothing for a success).
#[inline(always)]
pub(crate) fn ending(result: &Result<Value, Error>) -> Ending {
    #[cfg(feature = "tracing")]
    {
        match result {
            Ok(Value::Error(e) | Value::BlobError(e)) => {
                Some(("server_error", e.code().map(str::to_owned)))
            }
            Ok(_) => None,
            Err(e) => Some((e.outcome().as_str(), e.code().map(str::to_owned))),
        }
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = result;
        Ending
    }
}

/// Records a failed call's ending on its span.
#[inline(always)]
pub(crate) fn finish(span: &CallSpan, ending: Ending) {
    #[cfg(feature = "tracing")]
    if let Some((kind, code)) = ending {
        span.record("error.type", kind);
        span.record("otel.status_code", "ERROR");
        if let Some(code) = code {
            span.record("db.response.status_code", code.as_str());
        }
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (span, ending);
}
