//! The connection handshake as a state machine: `HELLO 3` (with `AUTH` and `SETNAME`), or
//! RESP2's `AUTH` and `CLIENT SETNAME` when the server refuses `HELLO`, then `SELECT`.
//!
//! One command at a time: each reply is checked before the next command goes out, so a
//! refused password is reported as such and never followed by commands the server would
//! refuse for want of it.
//!
//! Call order:
//!
//! 1. Build a [`Hello`]; [`Hello::start`] appends the first command to `out` (or returns
//!    [`Progress::Done`] at once when RESP2 needs no command at all).
//! 2. Send `out`; read one reply; [`Hello::step`] with it. On [`Progress::Continue`] it
//!    appended the next command to `out`: send it and read the next reply. On
//!    [`Progress::Done`] the connection is ready, in the protocol [`Negotiated`] says.
//! 3. An `Err` ends the handshake: close the connection.
//!
//! Feed replies only, never RESP3 push frames (route those aside, as for any command).
//!
//! ```
//! use bytes::BytesMut;
//! use corelane_redis_proto::hello::{Hello, Progress, Protocol};
//! use corelane_redis_proto::{ServerError, Value};
//!
//! let mut hello = Hello::new(Protocol::Resp3).auth(None, "secret").db(2);
//! let mut out = BytesMut::new();
//! assert!(matches!(hello.start(&mut out)?, Progress::Continue));
//! assert!(out.starts_with(b"*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n"));
//! // A Redis 5 server does not know HELLO: fall back to RESP2.
//! out.clear();
//! let unknown = Value::Error(ServerError::new("ERR unknown command 'HELLO'"));
//! assert!(matches!(hello.step(unknown, &mut out)?, Progress::Continue));
//! assert_eq!(&out[..], b"*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n");
//! out.clear();
//! hello.step(Value::SimpleString("OK".into()), &mut out)?; // AUTH; then SELECT 2
//! match hello.step(Value::SimpleString("OK".into()), &mut out)? {
//!     Progress::Done(done) => assert_eq!(done.protocol, Protocol::Resp2),
//!     Progress::Continue => unreachable!(),
//! }
//! # Ok::<(), corelane_redis_proto::hello::HelloError>(())
//! ```
//!
//! Secrets: the password never appears in `Debug` or in an error.

use std::fmt;

use bytes::BytesMut;

use crate::{encode_command, ServerError, Value};

/// The RESP version of a connection.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// RESP2: no `HELLO`; `AUTH`, `CLIENT SETNAME`.
    Resp2,
    /// RESP3 via `HELLO 3`, falling back to RESP2 when the server refuses `HELLO`.
    Resp3,
}

/// What the server said about itself in its `HELLO` reply (all `None` after a RESP2
/// handshake, which sends no `HELLO`).
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerInfo {
    /// `server`: e.g. `redis`, `valkey`.
    pub server: Option<String>,
    /// `version`: e.g. `7.2.4`.
    pub version: Option<String>,
    /// `proto`: the protocol the server now speaks.
    pub proto: Option<i64>,
    /// `id`: this connection's client id.
    pub id: Option<i64>,
    /// `mode`: `standalone`, `cluster` or `sentinel`.
    pub mode: Option<String>,
    /// `role`: `master` or `replica`.
    pub role: Option<String>,
}

impl ServerInfo {
    /// Reads the fields it knows from a `HELLO` reply (a RESP3 map, or the flat key/value
    /// array a RESP2 server would send); anything else is ignored.
    fn from_reply(reply: &Value) -> ServerInfo {
        let mut info = ServerInfo::default();
        let pairs: Vec<(&Value, &Value)> = match reply {
            Value::Map(pairs) => pairs.iter().map(|(k, v)| (k, v)).collect(),
            Value::Array(flat) => flat
                .chunks_exact(2)
                .filter_map(|kv| Some((kv.first()?, kv.get(1)?)))
                .collect(),
            _ => Vec::new(),
        };
        let text = |v: &Value| {
            v.as_bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned())
        };
        for (key, value) in pairs {
            match key.as_bytes().map(|k| &k[..]) {
                Some(b"server") => info.server = text(value),
                Some(b"version") => info.version = text(value),
                Some(b"proto") => info.proto = value.as_integer(),
                Some(b"id") => info.id = value.as_integer(),
                Some(b"mode") => info.mode = text(value),
                Some(b"role") => info.role = text(value),
                _ => {}
            }
        }
        info
    }
}

/// What a finished handshake agreed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The protocol the connection speaks from now on.
    pub protocol: Protocol,
    /// What `HELLO` said about the server.
    pub server: ServerInfo,
}

/// What to do after [`Hello::start`] or [`Hello::step`].
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// `out` holds the next command: send it and feed its reply to [`Hello::step`].
    Continue,
    /// The handshake is over.
    Done(Negotiated),
}

/// The handshake failed. None of these carries the password.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    /// The server refused the credentials (`WRONGPASS`, `NOAUTH`, `NOPERM` to `HELLO`, or any
    /// error to RESP2's `AUTH`).
    #[error("authentication refused: {0}")]
    Auth(ServerError),
    /// The server refused `CLIENT SETNAME` or `SELECT`.
    #[error("{command} refused: {error}")]
    Refused {
        /// The command: `CLIENT SETNAME` or `SELECT`.
        command: &'static str,
        /// The server's error.
        error: ServerError,
    },
    /// A call that does not fit the call order (`start` twice, `step` before `start` or
    /// after the end).
    #[error("handshake API misuse: {0}")]
    Misuse(&'static str),
}

/// True for the error codes that mean "these credentials are refused".
pub fn is_auth_failure(code: Option<&str>) -> bool {
    matches!(code, Some("NOAUTH" | "NOPERM")) || code.is_some_and(|c| c.starts_with("WRONGPASS"))
}

/// The password: bytes that never appear in `Debug`.
struct Secret(Vec<u8>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    New,
    /// `HELLO 3` sent.
    Hello,
    /// RESP2 `AUTH` sent.
    Auth,
    /// `CLIENT SETNAME` sent.
    SetName,
    /// `SELECT` sent.
    Select,
    Over,
}

/// The handshake of one connection (see the [module docs](self) for the call order).
///
/// `Debug` shows the settings and the state, never the password.
pub struct Hello {
    protocol: Protocol,
    username: Option<String>,
    password: Option<Secret>,
    client_name: Option<String>,
    db: i64,
    state: State,
    negotiated: Protocol,
    server: ServerInfo,
}

impl fmt::Debug for Hello {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hello")
            .field("protocol", &self.protocol)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("client_name", &self.client_name)
            .field("db", &self.db)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Hello {
    /// A handshake that asks for `protocol`, with no credentials, no name and database 0.
    pub fn new(protocol: Protocol) -> Hello {
        Hello {
            protocol,
            username: None,
            password: None,
            client_name: None,
            db: 0,
            state: State::New,
            negotiated: Protocol::Resp2,
            server: ServerInfo::default(),
        }
    }

    /// Authenticates as `username` (an ACL user; `None`: the `default` user, or a legacy
    /// `requirepass` password) with `password` (kept out of `Debug`).
    pub fn auth(mut self, username: Option<&str>, password: impl Into<Vec<u8>>) -> Hello {
        self.username = username.map(str::to_owned);
        self.password = Some(Secret(password.into()));
        self
    }

    /// Names the connection (`CLIENT SETNAME`, or `HELLO`'s `SETNAME`).
    pub fn client_name(mut self, name: impl Into<String>) -> Hello {
        self.client_name = Some(name.into());
        self
    }

    /// Selects database `db` (no `SELECT` for 0).
    pub fn db(mut self, db: i64) -> Hello {
        self.db = db;
        self
    }

    /// Appends the first command to `out`. Call once, first.
    pub fn start(&mut self, out: &mut BytesMut) -> Result<Progress, HelloError> {
        if self.state != State::New {
            return Err(HelloError::Misuse("start called twice"));
        }
        if self.protocol == Protocol::Resp2 {
            return Ok(self.resp2_from(State::Hello, out));
        }
        let mut args: Vec<&[u8]> = vec![b"HELLO", b"3"];
        if let Some(password) = &self.password {
            args.push(b"AUTH");
            args.push(self.username.as_deref().unwrap_or("default").as_bytes());
            args.push(&password.0);
        }
        if let Some(name) = &self.client_name {
            args.push(b"SETNAME");
            args.push(name.as_bytes());
        }
        encode_command(out, &args);
        self.state = State::Hello;
        Ok(Progress::Continue)
    }

    /// Consumes the reply to the command last sent, appending the next command (if any) to
    /// `out`. After an `Err` the handshake is over: close the connection.
    pub fn step(&mut self, reply: Value, out: &mut BytesMut) -> Result<Progress, HelloError> {
        let state = std::mem::replace(&mut self.state, State::Over);
        let error = reply.as_server_error().cloned();
        match (state, error) {
            (State::New, _) => Err(HelloError::Misuse("step before start")),
            (State::Over, _) => Err(HelloError::Misuse("step after the handshake ended")),
            (State::Hello, Some(e)) if is_auth_failure(e.code()) => Err(HelloError::Auth(e)),
            // Any other refusal of HELLO (Redis < 6: `ERR unknown command`; `NOPROTO`; HELLO
            // renamed away or denied to this user) means RESP2, where AUTH says whether the
            // credentials are good.
            (State::Hello, Some(_)) => Ok(self.resp2_from(State::Hello, out)),
            (State::Hello, None) => {
                self.negotiated = Protocol::Resp3;
                self.server = ServerInfo::from_reply(&reply);
                // HELLO already authenticated and named the connection.
                Ok(self.next_from(State::SetName, out))
            }
            (State::Auth, Some(e)) => Err(HelloError::Auth(e)),
            (State::SetName, Some(error)) => Err(HelloError::Refused {
                command: "CLIENT SETNAME",
                error,
            }),
            (State::Select, Some(error)) => Err(HelloError::Refused {
                command: "SELECT",
                error,
            }),
            // Accepted (`+OK`; the reply's form is not checked further).
            (sent, None) => Ok(self.next_from(sent, out)),
        }
    }

    /// True once the handshake is over (done or failed).
    pub fn is_over(&self) -> bool {
        self.state == State::Over
    }

    /// Goes on in RESP2 after `done` (`State::Hello`: from the start).
    fn resp2_from(&mut self, done: State, out: &mut BytesMut) -> Progress {
        self.negotiated = Protocol::Resp2;
        self.next_from(done, out)
    }

    /// Sends the command that comes after `done`, or finishes.
    fn next_from(&mut self, done: State, out: &mut BytesMut) -> Progress {
        let mut next = done;
        loop {
            next = match next {
                State::New | State::Hello => State::Auth,
                State::Auth => State::SetName,
                State::SetName => State::Select,
                State::Select | State::Over => State::Over,
            };
            let sent = match next {
                State::Auth => self.password.as_ref().map(|password| match &self.username {
                    Some(user) => {
                        encode_command(out, &[&b"AUTH"[..], user.as_bytes(), &password.0])
                    }
                    None => encode_command(out, &[&b"AUTH"[..], &password.0]),
                }),
                State::SetName => self.client_name.as_ref().map(|name| {
                    encode_command(out, &[&b"CLIENT"[..], b"SETNAME", name.as_bytes()])
                }),
                State::Select if self.db != 0 => {
                    let mut db = itoa::Buffer::new();
                    encode_command(out, &[&b"SELECT"[..], db.format(self.db).as_bytes()]);
                    Some(())
                }
                State::Select => None,
                State::New | State::Hello | State::Over => {
                    self.state = State::Over;
                    return Progress::Done(Negotiated {
                        protocol: self.negotiated,
                        server: std::mem::take(&mut self.server),
                    });
                }
            };
            if sent.is_some() {
                self.state = next;
                return Progress::Continue;
            }
        }
    }
}

#[cfg(test)]
mod tests;
