//! The subscriber's connection: connect, handshake, (un)subscribe. The runtime's session loop
//! ([`corelane_runtime::session::run`]) drives it: back off, open, resubscribe everything
//! wanted, serve; on loss, again.

use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use corelane_redis_proto::{Cmd, Value};
use corelane_runtime::roundtrip::RequestError;
use corelane_runtime::session::{Connect, Connection, Link, Pending};
use corelane_runtime::{CloseCause, Limits, Registered};

use super::handler::{Command, Local, PubSubHandler};
use super::message::Action;
use super::shared::{PubSub, Request, Shared, Waiter};
use crate::config::Config;
use crate::connect::connect_stream;
use crate::connection::{describe, tls_refusal};
use crate::Error;

type Conn = Registered<PubSubHandler>;

/// Opens the subscriber's connections. Each connection goes to the next of `configs` after a
/// failed attempt or a lost connection (one server for a subscriber; the sentinels, in turn,
/// for a Sentinel client's watcher).
pub(crate) struct Connector {
    configs: Vec<Config>,
    turn: usize,
}

impl Connector {
    pub(crate) fn new(configs: Vec<Config>) -> Self {
        Connector { configs, turn: 0 }
    }
}

impl Connect<PubSub> for Connector {
    type Conn = Session;

    async fn open(&mut self, shared: &Arc<Shared>) -> Result<Session, Error> {
        let Some(config) = self.configs.get(self.turn % self.configs.len().max(1)) else {
            return Err(Error::config("no server to subscribe on"));
        };
        // The next open follows a failure or a loss: it turns to the next server.
        self.turn = self.turn.wrapping_add(1);
        Session::open(shared, config).await
    }
}

fn closed(cause: CloseCause) -> Error {
    Error::from(RequestError::Closed(cause))
}

pub(crate) struct Session {
    shared: Arc<Shared>,
    local: Rc<Local>,
    conn: Conn,
}

impl Session {
    async fn open(shared: &Arc<Shared>, config: &Config) -> Result<Session, Error> {
        let limit = config.connect_timeout;
        match corelane_runtime::task::timeout(limit, Self::open_inner(shared, config)).await {
            Some(result) => result,
            None => Err(Error::connect(
                describe(&config.addr),
                format!("timed out after {limit:?} (connect + handshake)"),
            )),
        }
    }

    async fn open_inner(shared: &Arc<Shared>, config: &Config) -> Result<Session, Error> {
        let stream = connect_stream(config).await?;
        let local = Rc::new(Local::default());
        let handler = PubSubHandler::new(shared.clone(), local.clone());
        let conn =
            Registered::register(stream, handler, Limits::default()).map_err(Error::runtime)?;
        let session = Session {
            shared: shared.clone(),
            local,
            conn,
        };
        // Channels are not per database, but keyspace-notification users expect the
        // connection to look like the client's others (hence `SELECT` too).
        crate::handshake::run(&mut SessionExchange(&session), config)
            .await
            .map_err(|e| tls_refusal(config, e))?;
        session.local.set_handshaken();
        Ok(session)
    }

    // ---- handshake: the same machine and loop as a command connection's

    /// Writes one handshake command and waits for its reply.
    async fn query(&self, command: &[u8]) -> Result<Value, Error> {
        self.conn
            .write(command)
            .map_err(|e| Error::from(RequestError::from(e)))?;
        poll_fn(|cx| {
            self.shared.set_task_waker(cx);
            if let Some(reply) = self.local.next_reply() {
                return Poll::Ready(Ok(reply));
            }
            match self.local.link.closed() {
                Some(cause) => Poll::Ready(Err(closed(cause))),
                None => Poll::Pending,
            }
        })
        .await
    }

    // ---- subscriptions

    /// Sends one command and records what confirms it. Entry before bytes: the pending entry
    /// is queued before the write, so its confirmations always find it.
    fn send_command(&self, action: Action, names: Vec<Bytes>, waiters: Vec<Waiter>) {
        let cmd = Cmd::new(action.command()).args(names.iter());
        let entry = Pending {
            detail: Command {
                action,
                remaining: names.len(),
                names,
            },
            waiters,
        };
        let write = || {
            self.conn
                .write_with(cmd.encoded_len(), |buf| cmd.write_to(buf))
        };
        // The outbound buffer is full (the server is not reading): refuse this request.
        if let Some((refused, e)) = self.local.link.pending().push_then_write(entry, write) {
            let Command { action, names, .. } = &refused.detail;
            if action.subscribe {
                self.shared.with_wanted(|w| w.unwant(action.kind, names));
            }
            refused.fail(&Error::from(RequestError::from(e)));
        }
    }
}

impl Connection<PubSub> for Session {
    type Handler = PubSubHandler;
    type Detail = Command;

    fn registered(&self) -> &Conn {
        &self.conn
    }

    fn send(&self, request: Request, waiters: Vec<Waiter>) {
        self.send_command(request.action, request.names, waiters);
    }

    fn link(&self) -> &Link<Command, Error> {
        &self.local.link
    }
}

/// The handshake's commands go straight to the registered connection; their replies come
/// back through the handler's reply queue.
struct SessionExchange<'a>(&'a Session);

impl crate::handshake::Exchange for SessionExchange<'_> {
    async fn exchange(&mut self, command: &[u8]) -> Result<Value, Error> {
        self.0.query(command).await
    }
}
