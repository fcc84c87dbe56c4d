//! Streamed query results ([`Client::query_stream`]): rows of any number, in bounded memory.
//!
//! The statement runs on a connection of its own, checked out of the worker's exclusive pool
//! like a transaction or a COPY (rows arrive only while the stream wants them, so nothing else
//! can share the connection meanwhile). It goes out as `Parse` (the unnamed statement) /
//! `Bind` / `Execute` / `Sync`, and the reply is read as a series of requests that send
//! nothing ([`Expect::RowChunk`]): each is the next rows (about [`ROW_CHUNK`] bytes) or the
//! end. A pump task on the worker forwards them through the bounded channel of
//! [`crate::pump_chan`] to the [`RowStream`], which may be on any thread — the same flow
//! control as COPY OUT (see `copy.rs`): between pieces the pump holds the connection's reading
//! back, so a slow consumer holds the server back through TCP, and memory stays at the
//! channel's few pieces.
//!
//! Dropping the stream before its end closes the connection (the server stops at its next
//! write); it never goes back to the pool mid-result.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::BytesMut;
use corelane_pg_proto::message::frontend;
use corelane_pg_proto::types::{IsNull, ToSql, Type};
use corelane_runtime::dispatch;
use futures_lite::Stream;

use crate::client::Client;
use crate::codec::{Expect, Response};
use crate::connection::Connection;
use crate::data_rows::DataRows;
use crate::pump_chan::{self, Receiver, Sender};
use crate::row::Row;
use crate::statement::{Column, Params, Statement};
use crate::to_statement::ToStatement;
use crate::Error;

#[cfg(doc)]
use crate::codec::ROW_CHUNK;

/// What the pump tells the stream.
enum Msg {
    Rows(DataRows),
    Done(Option<u64>),
    Failed(Error),
}

/// The rows of [`Client::query_stream`], as they arrive.
///
/// Yields each row in order, then ends; an error ends it early. [`affected`](Self::affected)
/// gives the command tag's count at the end.
#[must_use = "a streamed query reads rows only while it is polled"]
pub struct RowStream {
    rx: Receiver<Msg>,
    columns: Arc<[Column]>,
    /// The rows of the piece being handed out.
    current: <DataRows as IntoIterator>::IntoIter,
    affected: Option<u64>,
    finished: bool,
}

impl std::fmt::Debug for RowStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowStream")
            .field("columns", &self.columns.len())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl RowStream {
    /// The result's columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The rows the server reported (`SELECT n`), once the stream has ended.
    pub fn affected(&self) -> Option<u64> {
        self.affected
    }
}

impl Stream for RowStream {
    type Item = Result<Row, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(data) = this.current.next() {
                return Poll::Ready(Some(Ok(Row {
                    columns: this.columns.clone(),
                    data,
                })));
            }
            if this.finished {
                return Poll::Ready(None);
            }
            match this.rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Msg::Rows(rows))) => this.current = rows.into_iter(),
                Poll::Ready(Some(Msg::Done(affected))) => {
                    this.affected = affected;
                    this.finished = true;
                }
                Poll::Ready(Some(Msg::Failed(e))) => {
                    this.finished = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    this.finished = true;
                    return Poll::Ready(Some(Err(Error::protocol(
                        "the streamed query ended without its end",
                    ))));
                }
            }
        }
    }
}

/// Closes the connection if dropped armed: a result half read cannot be put back in step.
struct MidResult {
    conn: Connection,
    armed: bool,
}

impl Drop for MidResult {
    fn drop(&mut self) {
        if self.armed {
            self.conn.pipe.close();
        }
    }
}

/// `Parse` (unnamed) / `Bind` / `Execute` / `Sync` for `stmt` with `params`.
fn encode(stmt: &Statement, params: &Params) -> Result<BytesMut, Error> {
    let mut out = BytesMut::new();
    frontend::parse("", &stmt.sql, stmt.params.iter().map(Type::oid), &mut out)
        .map_err(Error::type_error)?;
    frontend::bind(
        "",
        "",
        params.formats().iter().copied(),
        params.iter(),
        |value, buf| -> Result<IsNull, std::convert::Infallible> {
            match value {
                Some(bytes) => {
                    buf.extend_from_slice(bytes);
                    Ok(IsNull::No)
                }
                None => Ok(IsNull::Yes),
            }
        },
        crate::statement::result_formats(&stmt.columns),
        &mut out,
    )
    .map_err(Error::type_error)?;
    frontend::execute("", 0, &mut out).map_err(Error::type_error)?;
    frontend::sync(&mut out);
    Ok(out)
}

/// Runs the statement on `conn` and forwards its rows to `tx` (on the connection's worker).
async fn pump(conn: Connection, bytes: BytesMut, tx: &Sender<Msg>) -> Result<(), Error> {
    let mut guard = MidResult {
        conn: conn.clone(),
        armed: true,
    };
    // The statement may change the session (`set_config`, …): reset it before the next user.
    conn.mark_session_dirty();
    if !conn.pipe.is_idle() {
        // Something its last user left in flight: let it finish first, so every request below
        // reads its own reply directly.
        conn.simple("").await?;
    }
    let mut send: &[u8] = &bytes;
    let mut hold = None;
    loop {
        // While the consumer is behind, nothing reads this socket (see `copy.rs`, COPY OUT).
        if hold.is_none() && send.is_empty() {
            hold = conn.pipe.hold_reading();
        }
        if !tx.room().await {
            // The stream was dropped: the guard closes the connection.
            return Ok(());
        }
        // Let go and start the request in this same poll: no read in between.
        drop(hold.take());
        let reply = conn
            .pipe
            .call(Expect::RowChunk, |b| b.extend_from_slice(send))
            .await
            .map_err(Error::from)?;
        send = &[];
        match reply {
            Response::RowChunk(rows) => tx.push(Msg::Rows(rows)),
            Response::Rows { complete, .. } => {
                guard.armed = false;
                tx.push(Msg::Done(complete.and_then(|c| c.rows())));
                return Ok(());
            }
            Response::Failed(e) => {
                guard.armed = false;
                return Err(Error::db(e));
            }
            _ => return Err(Error::protocol("unexpected reply to a streamed query")),
        }
    }
}

impl Client {
    /// Runs `statement` (SQL text or a prepared [`Statement`]) with `params` and streams its rows as they arrive, in bounded memory
    /// whatever the result's size and however slow the consumer: the server is held back
    /// while a few pieces (about a megabyte) wait unread. For results too big to collect
    /// (see [`Config::max_result_bytes`](crate::Config::max_result_bytes), which does not
    /// apply here).
    ///
    /// Resolves once the statement is described (its columns known); rows, and an error the
    /// server reports while running it, come through the stream. The statement runs on a connection
    /// of its own (no other statement interleaves), on a worker (this one when called on one:
    /// then it progresses while the stream is polled), and that connection is reset before
    /// its next use. Not bounded by the query timeout. Dropping the stream before its end
    /// closes that connection (the server stops the statement).
    ///
    /// ```
    /// # // Runs against a throwaway PostgreSQL (corelane-testkit, a dev-dependency).
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = corelane_testkit::PgServer::start()?;
    /// # let client = corelane_postgres::Client::connect(&server.url())?;
    /// # let client = &client;
    /// # futures_lite::future::block_on(async {
    /// # client.batch_execute("CREATE TABLE events (id int8, payload text, day text); INSERT INTO events VALUES (1, 'x', '2024-01-01'), (2, 'y', '2024-01-01')").await?;
    /// use futures_lite::StreamExt;
    ///
    /// let mut rows = client
    ///     .query_stream("SELECT id, payload FROM events WHERE day = $1", &[&"2024-01-01"])
    ///     .await?;
    /// let mut total = 0i64;
    /// while let Some(row) = rows.next().await {
    ///     total += row?.get::<i64>("id")?;
    /// }
    /// # let _ = total;
    /// # Ok::<(), corelane_postgres::Error>(())
    /// # })?;
    /// # Ok(()) }
    /// ```
    pub async fn query_stream<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<RowStream, Error> {
        let stmt = self
            .resolve(crate::to_statement::target(statement), false, None)
            .await?;
        let encoded = stmt.encode(params)?;
        let bytes = encode(&stmt, &encoded)?;
        let (tx, mut rx) = pump_chan::channel();
        let client = self.clone();
        let fallback = || corelane_runtime::ClientHandle::fallback(self);
        let pump = dispatch(
            &**self.inner.states.workers(),
            fallback,
            move || async move {
                tx.on_this_worker();
                let result = match client.exclusive_connection().await {
                    Ok(permit) => pump((*permit).clone(), bytes, &tx).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = result {
                    tx.push(Msg::Failed(e));
                }
            },
        );
        rx.set_pump(pump);
        Ok(RowStream {
            rx,
            columns: stmt.columns.clone(),
            current: DataRows::default().into_iter(),
            affected: None,
            finished: false,
        })
    }
}
