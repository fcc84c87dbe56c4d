//! One statement's runs on one connection: the first, and once more when the server lost the
//! prepared statement (26000). Written once, for the shared connections' [`Execute`] and for
//! the statements of a transaction or a session on their own connection.
//!
//! Polled through `&mut` (no pinning), so it sits by value in a hand-written future.
//!
//! [`Execute`]: crate::execute::Execute

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};

use corelane_runtime::roundtrip::{OwnedRun, RequestError};

use crate::codec::{PgCodec, Response};
use crate::connection::{Connection, Sent};
use crate::statement::{Params, Statement};
use crate::Error;

/// The statement's current run on its connection. Dropping it mid-run is safe: the request
/// becomes a placeholder whose reply is read and discarded.
pub(crate) struct Attempts {
    /// `None` only once it has answered.
    run: Option<OwnedRun<PgCodec>>,
    /// What the run sent (see `Connection::retry_execute`).
    sent: Sent,
    /// 0 for the first run.
    attempt: u32,
    /// The last run ended without being sent because its connection was closed (see
    /// [`Attempts::unsent`]).
    unsent: bool,
}

impl Attempts {
    /// Sends the statement's first run on `conn`.
    pub(crate) fn start(
        conn: &Connection,
        stmt: &Statement,
        params: &Params,
    ) -> Result<Attempts, Error> {
        let (run, sent) = conn.start_execute(stmt, params)?;
        Ok(Attempts {
            run: Some(run),
            sent,
            attempt: 0,
            unsent: false,
        })
    }

    /// True when the statement ended with an error because its connection was found closed
    /// before any of it was sent: nothing of it reached the server, so it may go to another
    /// connection.
    pub(crate) fn unsent(&self) -> bool {
        self.unsent
    }

    /// Polls the run on `conn` (the connection it was started on); after a 26000 sends the
    /// statement once more.
    pub(crate) fn poll(
        &mut self,
        conn: &Connection,
        stmt: &Statement,
        params: &Params,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Response, Error>> {
        loop {
            let Some(run) = &mut self.run else {
                return Poll::Ready(Err(Error::protocol("statement polled after its reply")));
            };
            let outcome = match Pin::new(run).poll(cx) {
                Poll::Ready(outcome) => outcome,
                Poll::Pending => return Poll::Pending,
            };
            let Some(run) = self.run.take() else {
                return Poll::Ready(Err(Error::protocol("statement run lost")));
            };
            // A run fails as a whole only when nothing of it was written (see `Run`).
            self.unsent = matches!(outcome, Err(RequestError::Closed(_)));
            let response = match conn.finish_execute(stmt, &mut self.sent, run, outcome) {
                Ok(response) => response,
                Err(e) => return Poll::Ready(Err(e)),
            };
            if !conn.retry_execute(stmt, &self.sent, &response, self.attempt) {
                return Poll::Ready(Ok(response));
            }
            match conn.start_execute(stmt, params) {
                Ok((run, sent)) => {
                    self.run = Some(run);
                    self.sent = sent;
                    self.attempt += 1;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// Runs one statement on `conn` to its response (a transaction's or a session's statement).
pub(crate) async fn run(
    conn: &Connection,
    stmt: &Statement,
    params: &Params,
) -> Result<Response, Error> {
    let mut attempts = Attempts::start(conn, stmt, params)?;
    poll_fn(|cx| attempts.poll(conn, stmt, params, cx)).await
}
