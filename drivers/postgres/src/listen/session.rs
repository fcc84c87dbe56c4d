//! The listener's connection: connect, start up, `LISTEN`/`UNLISTEN`, say goodbye. The
//! runtime's session loop ([`corelane_runtime::session::run`]) drives it: back off, open,
//! re-`LISTEN` every wanted channel, serve; on loss, again.

use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;

use bytes::BytesMut;
use corelane_pg_proto::message::backend::Message;
use corelane_pg_proto::message::frontend;
use corelane_pg_proto::startup::{ends_turn, MAX_TURN};
use corelane_runtime::roundtrip::RequestError;
use corelane_runtime::session::{Connect, Connection, Link, Pending};
use corelane_runtime::{Limits, Registered};

use crate::transport::{BindingChoice, Transport};

use super::handler::{ListenHandler, Local, Query};
use super::shared::{unwant, Action, Listen, Shared, Waiter};
use crate::config::Config;
use crate::Error;

type Conn = Registered<ListenHandler>;

/// Opens the listener's connections (see [`Session::open`]).
pub(crate) struct Connector {
    config: Config,
}

impl Connector {
    pub(crate) fn new(config: Config) -> Self {
        Connector { config }
    }
}

impl Connect<Listen> for Connector {
    type Conn = Session;

    async fn open(&mut self, shared: &Arc<Shared>) -> Result<Session, Error> {
        Session::open(shared, &self.config).await
    }
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

pub(crate) struct Session {
    shared: Arc<Shared>,
    local: Rc<Local>,
    conn: Conn,
    pid: i32,
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
            match self.local.link.closed() {
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
    fn send_query(&self, action: &Action, waiters: Vec<Waiter>) {
        let mut out = BytesMut::new();
        if let Err(e) = frontend::query(&sql_for(action), &mut out) {
            let error = encode_err(e);
            for waiter in waiters {
                waiter.fail(error.clone());
            }
            return;
        }
        let listen = match action {
            Action::Listen(channel) => Some(channel.clone()),
            _ => None,
        };
        let entry = Pending {
            detail: Query {
                listen,
                error: None,
            },
            waiters,
        };
        // The outbound buffer is full (the server is not reading): refuse this request.
        if let Some((refused, e)) = self
            .local
            .link
            .pending()
            .push_then_write(entry, || self.conn.write(&out))
        {
            if let Some(channel) = &refused.detail.listen {
                unwant(&self.shared, channel);
            }
            refused.fail(&Error::from(RequestError::from(e)));
        }
    }
}

impl Connection<Listen> for Session {
    type Handler = ListenHandler;
    type Detail = Query;

    fn registered(&self) -> &Conn {
        &self.conn
    }

    fn id(&self) -> i64 {
        i64::from(self.pid)
    }

    fn send(&self, action: Action, waiters: Vec<Waiter>) {
        self.send_query(&action, waiters);
    }

    fn link(&self) -> &Link<Query, Error> {
        &self.local.link
    }

    /// Says goodbye (`Terminate`) before closing, so the server ends the backend cleanly.
    fn close(self) {
        let mut out = BytesMut::new();
        frontend::terminate(&mut out);
        let _ = self.conn.write_now(&out);
        self.conn.unregister();
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
