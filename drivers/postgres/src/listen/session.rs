//! The connection task: connect, start up, re-`LISTEN`, serve; on loss, back off and again.
//!
//! It runs on one worker for the listener's whole life. One round:
//!
//! 1. wait out the backoff, unless the listener is dropped;
//! 2. connect, start up and authenticate within `connect_timeout` — on failure, fail waiting
//!    `LISTEN`s (their channels stay wanted), record the failure and go to 1;
//! 3. send `LISTEN` for every wanted channel;
//! 4. serve: write queued requests, pause and resume reading for the inbox, until the
//!    connection closes (a short jittered pause, go to 1) or the listener is dropped (close
//!    the connection, end).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use corelane_pg_proto::message::backend::Message;
use corelane_pg_proto::message::frontend;
use corelane_pg_proto::startup::{ends_turn, MAX_TURN};
use corelane_runtime::pool::Backoff;
use corelane_runtime::roundtrip::RequestError;
use corelane_runtime::{CloseCause, Limits, ReadLease, Registered};

use crate::transport::{BindingChoice, Transport};

use super::handler::{ListenHandler, Local, Pending};
use super::shared::{Action, EndGuard, Op, Shared, Waiter};
use super::ListenerOptions;
use crate::config::Config;
use crate::Error;

type Conn = Registered<ListenHandler>;

/// The connection task's body. `guard` ends the stream when this returns or is dropped.
pub(crate) async fn run(
    shared: Arc<Shared>,
    config: Config,
    options: ListenerOptions,
    guard: EndGuard,
) {
    let _guard = guard;
    let mut backoff = Backoff::new(options.backoff_initial, options.backoff_max);
    let mut rng = fastrand::Rng::new();
    // Waiters whose request was in flight when a connection died: the next re-LISTEN covers
    // them.
    let mut carried: Vec<Waiter> = Vec::new();
    loop {
        if shared.is_closed() {
            return;
        }
        if let Some(wait) = backoff.wait_at(Instant::now()) {
            if !sleep_unless_closed(&shared, wait).await {
                return;
            }
            continue;
        }
        let session = match Session::open(&shared, &config).await {
            Ok(session) => session,
            Err(error) => {
                for waiter in carried.drain(..) {
                    waiter.connection_failed(&error);
                }
                for op in shared.take_ops() {
                    op.waiter.connection_failed(&error);
                }
                shared.set_error(error);
                backoff.on_failure(Instant::now(), &mut rng);
                continue;
            }
        };
        backoff.on_success();
        shared.set_connected(Some(session.pid));
        session.relisten(std::mem::take(&mut carried));
        let end = session.serve().await;
        shared.set_connected(None);
        match end {
            End::Dropped => return,
            End::Lost(cause, unanswered) => {
                carried = unanswered;
                shared.set_error(Error::from(RequestError::Closed(cause)));
                // Even after a healthy session, wait a jittered moment before reconnecting,
                // so a server that keeps killing us is not hammered.
                backoff.on_failure(Instant::now(), &mut rng);
            }
        }
    }
}

/// How a served connection ended.
enum End {
    /// The listener was dropped.
    Dropped,
    /// The connection closed; the waiters of unanswered requests.
    Lost(CloseCause, Vec<Waiter>),
}

/// Sleeps `wait`; false when the listener was dropped meanwhile.
async fn sleep_unless_closed(shared: &Arc<Shared>, wait: Duration) -> bool {
    let sleep = async {
        corelane_runtime::task::sleep(wait).await;
        true
    };
    let dropped = poll_fn(|cx| {
        shared.set_task_waker(cx);
        if shared.is_closed() {
            Poll::Ready(false)
        } else {
            Poll::Pending
        }
    });
    futures_lite::future::or(sleep, dropped).await
}

fn encode_err(e: impl std::fmt::Display) -> Error {
    Error::type_error(e)
}

/// `name` as a quoted SQL identifier: in double quotes, inner double quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn sql_for(action: &Action) -> String {
    match action {
        Action::Listen(channel) => format!("LISTEN {}", quote_ident(channel)),
        Action::Unlisten(channel) => format!("UNLISTEN {}", quote_ident(channel)),
        Action::UnlistenAll => "UNLISTEN *".to_owned(),
    }
}

struct Session {
    shared: Arc<Shared>,
    local: Rc<Local>,
    conn: Conn,
    pid: i32,
    /// Held while the inbox is full: the reader task does not read.
    lease: Option<ReadLease<ListenHandler>>,
}

impl Session {
    /// Opens a connection to the first configured host that accepts one and fits
    /// `target_session_attrs`, as the client's own connections do (see
    /// [`crate::host_select`]).
    async fn open(shared: &Arc<Shared>, config: &Config) -> Result<Session, Error> {
        let session = crate::host_select::connect(config, |one| async move {
            crate::transport::establish(&one, |transport| Self::open_on(shared, &one, transport))
                .await
        })
        .await?;
        session.local.set_ready();
        Ok(session)
    }

    /// The one text value of a one-row simple query, run before the session is ready (its
    /// messages still come through the startup queue).
    async fn show(&self, sql: &str) -> Result<String, Error> {
        let mut out = BytesMut::new();
        frontend::query(sql, &mut out).map_err(encode_err)?;
        self.write(&out)?;
        let mut value = None;
        let mut error = None;
        loop {
            match self.next_startup().await? {
                Message::DataRow(row) => {
                    value = row
                        .get(0)
                        .flatten()
                        .map(|v| String::from_utf8_lossy(v).into_owned());
                }
                Message::ErrorResponse(e) => error = Some(Error::db(e)),
                Message::ReadyForQuery(_) => break,
                Message::RowDescription(_) | Message::CommandComplete(_) => {}
                _ => return Err(Error::protocol(format!("unexpected reply to {sql}"))),
            }
        }
        match (error, value) {
            (Some(e), _) => Err(e),
            (None, Some(v)) => Ok(v),
            (None, None) => Err(Error::protocol(format!("{sql}: no value"))),
        }
    }

    async fn open_on(
        shared: &Arc<Shared>,
        config: &Config,
        transport: Transport,
    ) -> Result<Session, Error> {
        let binding = transport.binding();
        let stream = transport.stream;
        let local = Rc::new(Local::default());
        let handler = ListenHandler::new(shared.clone(), local.clone());
        let conn =
            Registered::register(stream, handler, Limits::default()).map_err(Error::runtime)?;
        let mut session = Session {
            shared: shared.clone(),
            local,
            conn,
            pid: 0,
            lease: None,
        };
        session.startup(config, &binding).await?;
        Ok(session)
    }

    fn write(&self, bytes: &[u8]) -> Result<(), Error> {
        self.conn
            .write(bytes)
            .map_err(|e| Error::from(RequestError::from(e)))
    }

    /// The next startup message, or the reason the connection closed.
    async fn next_startup(&self) -> Result<Message, Error> {
        poll_fn(|cx| {
            self.shared.set_task_waker(cx);
            if let Some(message) = self.local.next_startup() {
                return Poll::Ready(Ok(message));
            }
            match self.local.closed() {
                Some(cause) => Poll::Ready(Err(Error::from(RequestError::Closed(cause)))),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Startup and authentication, up to the first `ReadyForQuery`: the same machine and
    /// loop as the pooled connections' (see [`crate::handshake`]), fed from the startup queue
    /// (the pipelined codec drops notifications, so it cannot serve a listener).
    async fn startup(&mut self, config: &Config, binding: &BindingChoice) -> Result<(), Error> {
        let session = crate::handshake::run(&mut ListenTurn(self), config, binding).await?;
        self.pid = session.key_data.map_or(0, |key| key.process_id);
        Ok(())
    }

    // ---- requests

    /// Sends one simple query and records what answers it. Entry before bytes: the pending
    /// entry is queued before the write, so its reply always finds it.
    fn send(&self, action: &Action, waiters: Vec<Waiter>) {
        let mut out = BytesMut::new();
        if let Err(e) = frontend::query(&sql_for(action), &mut out) {
            let error = encode_err(e);
            for waiter in waiters {
                let _ = waiter.done.send(Err(error.clone()));
            }
            return;
        }
        let listen = match action {
            Action::Listen(channel) => Some(channel.clone()),
            _ => None,
        };
        self.local.push_pending(Pending {
            listen,
            error: None,
            waiters,
        });
        if let Err(e) = self.conn.write(&out) {
            if matches!(e, corelane_runtime::WriteError::Closed(_)) {
                // The connection is going: the entry stays and is carried to the next one.
                return;
            }
            // The outbound buffer is full (the server is not reading): refuse this request.
            let error = Error::from(RequestError::from(e));
            if let Some(refused) = self.local.pop_newest() {
                if let Some(channel) = &refused.listen {
                    self.shared.unwant(channel);
                }
                for waiter in refused.waiters {
                    let _ = waiter.done.send(Err(error.clone()));
                }
            }
        }
    }

    /// Listens to every wanted channel on a fresh connection. The queued requests are covered
    /// by it (the wanted set includes them), so their waiters — and those carried from the
    /// lost connection — complete when its last `LISTEN` is answered.
    fn relisten(&self, carried: Vec<Waiter>) {
        let (channels, ops) = self.shared.relisten_plan();
        let mut waiters = carried;
        waiters.extend(ops.into_iter().map(|op| op.waiter));
        let last = channels.len();
        for (i, channel) in channels.into_iter().enumerate() {
            let waiters = if i + 1 == last {
                std::mem::take(&mut waiters)
            } else {
                Vec::new()
            };
            self.send(&Action::Listen(channel), waiters);
        }
        // Nothing wanted: nothing to confirm.
        waiters.into_iter().for_each(Waiter::succeed);
    }

    fn send_ops(&self, ops: VecDeque<Op>) {
        for op in ops {
            self.send(&op.action, vec![op.waiter]);
        }
    }

    async fn serve(mut self) -> End {
        let end = poll_fn(|cx| self.poll_serve(cx)).await;
        self.lease = None;
        if let End::Dropped = end {
            let mut out = BytesMut::new();
            frontend::terminate(&mut out);
            let _ = self.conn.write_now(&out);
            self.conn.unregister();
        }
        end
    }

    fn poll_serve(&mut self, cx: &Context<'_>) -> Poll<End> {
        // The waker first, then the checks: a wake between them is not lost.
        self.shared.set_task_waker(cx);
        if self.shared.is_closed() {
            return Poll::Ready(End::Dropped);
        }
        if let Some(cause) = self.local.closed() {
            let unanswered = self
                .local
                .take_pending()
                .into_iter()
                .flat_map(|p| p.waiters)
                .collect();
            return Poll::Ready(End::Lost(cause, unanswered));
        }
        self.send_ops(self.shared.take_ops());
        self.shared.hold_reading(&self.conn, &mut self.lease);
        Poll::Pending
    }
}

/// The startup's turns: written straight to the registered connection, answered through
/// the handler's startup queue.
struct ListenTurn<'a>(&'a Session);

impl crate::handshake::Turn for ListenTurn<'_> {
    async fn turn(&mut self, out: &[u8]) -> Result<Vec<Message>, Error> {
        if !out.is_empty() {
            self.0.write(out)?;
        }
        let mut messages = Vec::new();
        loop {
            if messages.len() >= MAX_TURN {
                return Err(Error::protocol("a startup turn too long"));
            }
            let message = self.0.next_startup().await?;
            let ends = ends_turn(&message);
            messages.push(message);
            if ends {
                return Ok(messages);
            }
        }
    }
}

/// libpq 16's tests of `target_session_attrs` on a listener's connection: the parameters
/// reported at startup, else a query.
impl crate::host_select::Candidate for Session {
    async fn read_only(&self) -> Result<bool, Error> {
        match self.local.reported_read_only() {
            (Some(default_read_only), Some(hot_standby)) => Ok(default_read_only || hot_standby),
            _ => Ok(self.show("SHOW transaction_read_only").await? == "on"),
        }
    }

    async fn in_hot_standby(&self) -> Result<bool, Error> {
        match self.local.reported_read_only() {
            (_, Some(hot_standby)) => Ok(hot_standby),
            _ => Ok(self.show("SELECT pg_catalog.pg_is_in_recovery()").await? == "t"),
        }
    }

    fn close(&self) {
        self.conn.unregister();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("chan"), "\"chan\"");
        assert_eq!(quote_ident("Mixed Case"), "\"Mixed Case\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("é\"\""), "\"é\"\"\"\"\"");
    }
}
