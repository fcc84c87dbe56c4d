//! Spans for statements, pipelines and transactions (feature `tracing`), with the
//! OpenTelemetry database attributes: `db.system.name`, `db.operation.name` (the statement's
//! first keyword, `PIPELINE`, `TRANSACTION`), `db.namespace` (the database), `server.address`,
//! `server.port`, `db.operation.batch.size` (pipelines), `db.query.text` only when
//! [`Config::trace_query_text`](crate::Config::trace_query_text) is on (parameters never), and
//! on failure `error.type` and `db.response.status_code` (the SQLSTATE).
//!
//! Without the feature every function here is empty and [`CallSpan`] is zero-sized.

use std::future::Future;

use crate::config::Config;
use crate::Error;
#[cfg(feature = "tracing")]
use corelane_runtime::client::OperationName;

/// The span of one call.
#[cfg(feature = "tracing")]
pub(crate) type CallSpan = tracing::Span;

/// The span of one call (the `tracing` feature is off: nothing).
#[cfg(not(feature = "tracing"))]
#[derive(Debug, Clone, Default)]
pub(crate) struct CallSpan;

/// The statement's first keyword (`SELECT`, `INSERT`, `WITH`, …: ASCII letters after any
/// blanks and opening parentheses), upper-cased on the stack.
#[cfg(feature = "tracing")]
fn first_keyword(sql: &str) -> Option<OperationName> {
    let rest = sql.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
    let end = rest
        .bytes()
        .position(|b| !b.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    OperationName::new(rest.as_bytes().get(..end.min(17))?).filter(|_| end <= 16)
}

/// The span of a statement (`sql: Some`) or of an operation named `operation` over several.
/// Nothing is computed (no name, no allocation) unless a subscriber wants the span.
#[cfg(feature = "tracing")]
pub(crate) fn span(config: &Config, operation: &str, sql: Option<&str>) -> CallSpan {
    let span = tracing::info_span!(
        "postgresql",
        otel.name = tracing::field::Empty,
        otel.kind = "client",
        db.system.name = "postgresql",
        db.operation.name = tracing::field::Empty,
        db.namespace = config.get_dbname(),
        server.address = config.get_host(),
        server.port = config.get_socket_path().is_none().then(|| config.get_port()),
        db.query.text = tracing::field::Empty,
        db.operation.batch.size = tracing::field::Empty,
        error.type = tracing::field::Empty,
        db.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    if span.is_disabled() {
        return span;
    }
    let keyword = sql.and_then(first_keyword);
    let name = match (sql, &keyword) {
        (None, _) => operation,
        (Some(_), Some(keyword)) => keyword.as_str(),
        (Some(_), None) => "UNKNOWN",
    };
    span.record("otel.name", name);
    span.record("db.operation.name", name);
    if let (Some(sql), true) = (sql, config.trace_query_text) {
        span.record("db.query.text", sql);
    }
    span
}

/// The span of a statement or operation (the `tracing` feature is off: nothing).
#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub(crate) fn span(_config: &Config, _operation: &str, _sql: Option<&str>) -> CallSpan {
    CallSpan
}

/// Records a pipeline's size on its span.
#[inline(always)]
pub(crate) fn batch_size(span: &CallSpan, size: usize) {
    #[cfg(feature = "tracing")]
    span.record("db.operation.batch.size", size);
    #[cfg(not(feature = "tracing"))]
    let _ = (span, size);
}

/// Runs `fut` inside `span` (entered at each poll) and records how it ended.
#[cfg(feature = "tracing")]
pub(crate) async fn run<T>(
    span: CallSpan,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    use tracing::Instrument;
    let result = fut.instrument(span.clone()).await;
    if let Err(e) = &result {
        span.record("error.type", e.outcome().as_str());
        span.record("otel.status_code", "ERROR");
        if let Some(code) = e.code() {
            span.record("db.response.status_code", code.code());
        }
    }
    result
}

/// Runs `fut` (the `tracing` feature is off: `fut` itself). Not an `async fn` that awaits
/// it: that would be a second state machine around the call's, and the call's (kilobytes)
/// would be copied into it on the first poll.
#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub(crate) fn run<T, F>(_span: CallSpan, fut: F) -> F
where
    F: Future<Output = Result<T, Error>>,
{
    fut
}
