//! The startup exchange as a state machine: StartupMessage, authentication (trust, cleartext,
//! MD5, SCRAM-SHA-256 with or without channel binding), then the session's parameters and
//! cancellation key up to the first ReadyForQuery.
//!
//! TLS negotiation (`SSLRequest`, direct TLS) comes before and stays outside: hand the
//! machine what the connection offers channel binding ([`TlsEndPoint`]).
//!
//! Call order:
//!
//! 1. Build a [`Startup`]; [`Startup::start`] appends the StartupMessage to `out`: send it.
//! 2. For every backend message, in order: [`Startup::step`]. It may append the client's
//!    answer to `out`; send what `out` holds before waiting for more. It returns
//!    - [`Progress::Continue`]: feed the next message;
//!    - [`Progress::Derive`]: SCRAM's PBKDF2, CPU work the server sizes (up to about a
//!      second). Run [`Pbkdf2::run`] wherever CPU work belongs (not on an event loop), then
//!      [`Startup::derived`], which appends the client-final message to `out`;
//!    - [`Progress::Done`]: the session is ready ([`Session`]).
//! 3. An `Err` ends the startup: close the connection.
//!
//! [`ends_turn`] tells a reader that gathers messages when the server stops to wait for the
//! client (or is done), so a driver can collect one turn's messages and step them together.
//!
//! ```
//! use bytes::BytesMut;
//! use corelane_pg_proto::message::backend::{Authentication, Message, TransactionStatus};
//! use corelane_pg_proto::startup::{Progress, Startup};
//!
//! let mut startup = Startup::new("alice").database("shop").password("secret");
//! let mut out = BytesMut::new();
//! startup.start(&mut out)?;
//! // ... send `out`; the server asks for a cleartext password:
//! out.clear();
//! let step = startup.step(Message::Authentication(Authentication::CleartextPassword), &mut out)?;
//! assert!(matches!(step, Progress::Continue));
//! assert_eq!(&out[..], b"p\0\0\0\x0bsecret\0");
//! out.clear();
//! startup.step(Message::Authentication(Authentication::Ok), &mut out)?;
//! match startup.step(Message::ReadyForQuery(TransactionStatus::Idle), &mut out)? {
//!     Progress::Done(session) => assert_eq!(session.status, TransactionStatus::Idle),
//!     _ => unreachable!(),
//! }
//! # Ok::<(), corelane_pg_proto::startup::StartupError>(())
//! ```
//!
//! Secrets: the password and SCRAM state never appear in `Debug` or in an error.

mod binding;
mod error;

use std::fmt;

use bytes::BytesMut;

use crate::auth::md5;
use crate::auth::scram::{Pbkdf2, SaltedPassword, ScramSha256, DEFAULT_MAX_ITERATIONS};
use crate::message::backend::{
    Authentication, BackendKeyData, Message, ParameterStatus, TransactionStatus,
};
use crate::message::frontend;

pub use self::binding::{BindingPolicy, TlsEndPoint};
pub use self::error::{BindingError, StartupError};

/// The most messages one turn of the server may hold, and the most parameter statuses a
/// startup keeps. A real server sends a few dozen; a reader that gathers a turn
/// ([`ends_turn`]) should fail the connection past this many rather than keep growing.
pub const MAX_TURN: usize = 1024;

/// True when, after `message`, the server sends nothing more until the client answers, or
/// the startup is over: an authentication request other than AuthenticationOk and
/// SASLFinal, an ErrorResponse, or ReadyForQuery.
pub fn ends_turn(message: &Message) -> bool {
    match message {
        Message::Authentication(Authentication::Ok | Authentication::SaslFinal(_)) => false,
        Message::Authentication(_) | Message::ErrorResponse(_) | Message::ReadyForQuery(_) => true,
        _ => false,
    }
}

/// How the server authenticated the client.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// No password asked (trust, peer, …).
    Trust,
    /// A cleartext password.
    Cleartext,
    /// MD5.
    Md5,
    /// SCRAM-SHA-256, server signature verified.
    ScramSha256,
    /// SCRAM-SHA-256-PLUS (channel binding), server signature verified.
    ScramSha256Plus,
}

/// What a finished startup learned about the session.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Every ParameterStatus the server sent, in order (`server_version`, `TimeZone`,
    /// `in_hot_standby`, …).
    pub params: Vec<ParameterStatus>,
    /// The key for CancelRequest, when the server sent one.
    pub key_data: Option<BackendKeyData>,
    /// The transaction status of the first ReadyForQuery.
    pub status: TransactionStatus,
    /// How the client was authenticated.
    pub auth: AuthMethod,
}

impl Session {
    /// The last value the server reported for parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|p| p.name == name)
            .map(|p| p.value.as_str())
    }
}

/// What to do after a [`Startup::step`].
#[must_use]
#[derive(Debug)]
pub enum Progress {
    /// Send what `out` holds (possibly nothing), then feed the next message.
    Continue,
    /// Run this PBKDF2 job (off any event loop) and hand its result to
    /// [`Startup::derived`]; then send `out` and feed the next message.
    Derive(Pbkdf2),
    /// The startup is over: the session is ready for queries.
    Done(Session),
}

/// The password: bytes that never appear in `Debug`.
struct Password(Vec<u8>);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

enum State {
    /// [`Startup::start`] not called yet.
    New,
    /// StartupMessage sent; waiting for the first authentication request.
    Sent,
    /// A password (cleartext or MD5) sent; waiting for AuthenticationOk.
    PasswordSent,
    /// SCRAM under way (the exchange holds its own step).
    Scram(Box<ScramSha256>),
    /// AuthenticationOk seen: parameters and key data until ReadyForQuery.
    Authenticated,
    /// Done, or failed: nothing more to do.
    Over,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::New => "not started",
            State::Sent => "waiting for an authentication request",
            State::PasswordSent => "waiting for the password's verdict",
            State::Scram(_) => "in a SCRAM exchange",
            State::Authenticated => "reading session parameters",
            State::Over => "over",
        }
    }
}

/// The startup exchange of one connection (see the [module docs](self) for the call order).
///
/// `Debug` shows the user, database and state, never the password or SCRAM keys.
pub struct Startup {
    user: String,
    database: Option<String>,
    params: Vec<(String, String)>,
    password: Option<Password>,
    policy: BindingPolicy,
    end_point: TlsEndPoint,
    max_iterations: u32,
    nonce: Option<String>,
    state: State,
    /// What the session learned so far.
    session_params: Vec<ParameterStatus>,
    key_data: Option<BackendKeyData>,
    method: AuthMethod,
}

impl fmt::Debug for Startup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Startup")
            .field("user", &self.user)
            .field("database", &self.database)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("policy", &self.policy)
            .field("end_point", &self.end_point)
            .field("state", &self.state.name())
            .finish_non_exhaustive()
    }
}

impl Startup {
    /// A startup as `user`, no database (the server uses the user name), no password,
    /// channel binding preferred on a plaintext connection.
    pub fn new(user: impl Into<String>) -> Startup {
        Startup {
            user: user.into(),
            database: None,
            params: Vec::new(),
            password: None,
            policy: BindingPolicy::default(),
            end_point: TlsEndPoint::default(),
            max_iterations: DEFAULT_MAX_ITERATIONS,
            nonce: None,
            state: State::New,
            session_params: Vec::new(),
            key_data: None,
            method: AuthMethod::Trust,
        }
    }

    /// The database to connect to.
    pub fn database(mut self, database: impl Into<String>) -> Startup {
        self.database = Some(database.into());
        self
    }

    /// Adds a startup parameter (`client_encoding`, `application_name`, `options`, …), sent
    /// after `user` and `database` in the order added.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Startup {
        self.params.push((name.into(), value.into()));
        self
    }

    /// The password, for whichever method the server asks (kept out of `Debug`).
    pub fn password(mut self, password: impl Into<Vec<u8>>) -> Startup {
        self.password = Some(Password(password.into()));
        self
    }

    /// The channel binding policy and what the connection offers to bind to.
    pub fn channel_binding(mut self, policy: BindingPolicy, end_point: TlsEndPoint) -> Startup {
        self.policy = policy;
        self.end_point = end_point;
        self
    }

    /// The largest SCRAM iteration count accepted from the server (default
    /// [`DEFAULT_MAX_ITERATIONS`]).
    pub fn max_scram_iterations(mut self, max: u32) -> Startup {
        self.max_iterations = max;
        self
    }

    /// A fixed SCRAM client nonce, for recorded exchanges and tests (by default each exchange
    /// draws one from the OS CSPRNG).
    pub fn scram_nonce(mut self, nonce: impl Into<String>) -> Startup {
        self.nonce = Some(nonce.into());
        self
    }

    /// Appends the StartupMessage (protocol 3.0) to `out`. Call once, first.
    pub fn start(&mut self, out: &mut BytesMut) -> Result<(), StartupError> {
        if !matches!(self.state, State::New) {
            return Err(StartupError::Misuse("start called twice"));
        }
        let mut params: Vec<(&str, &str)> = Vec::with_capacity(self.params.len() + 2);
        params.push(("user", &self.user));
        if let Some(database) = &self.database {
            params.push(("database", database));
        }
        params.extend(self.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        frontend::startup(params.iter().copied(), out)?;
        self.state = State::Sent;
        Ok(())
    }

    /// Consumes one backend message, appending the client's answer (if any) to `out`.
    /// After an `Err` the startup is over: close the connection.
    pub fn step(&mut self, message: Message, out: &mut BytesMut) -> Result<Progress, StartupError> {
        let result = self.step_inner(message, out);
        if result.is_err() {
            self.state = State::Over;
        }
        result
    }

    /// Takes the result of the PBKDF2 job [`Progress::Derive`] handed out and appends the
    /// SCRAM client-final message to `out`.
    pub fn derived(
        &mut self,
        salted: SaltedPassword,
        out: &mut BytesMut,
    ) -> Result<(), StartupError> {
        let State::Scram(scram) = &mut self.state else {
            self.state = State::Over;
            return Err(StartupError::Misuse(
                "a derived key while no SCRAM exchange waits for one",
            ));
        };
        let result = scram
            .complete_update(salted)
            .map_err(StartupError::from)
            .and_then(|()| {
                frontend::sasl_response(scram.message(), out).map_err(StartupError::from)
            });
        if result.is_err() {
            self.state = State::Over;
        }
        result
    }

    /// True once the startup is over (done or failed).
    pub fn is_over(&self) -> bool {
        matches!(self.state, State::Over)
    }

    fn step_inner(
        &mut self,
        message: Message,
        out: &mut BytesMut,
    ) -> Result<Progress, StartupError> {
        let state = self.state.name();
        match (&self.state, message) {
            (State::New | State::Over, _) => Err(StartupError::Misuse(match self.state {
                State::New => "step before start",
                _ => "step after the startup ended",
            })),
            (_, Message::ErrorResponse(e)) => Err(StartupError::Server(e)),
            // Notices are for the caller's notice sink; the startup does not need them.
            (_, Message::NoticeResponse(_)) => Ok(Progress::Continue),
            // Servers report parameters after AuthenticationOk; one that reports earlier is
            // believed all the same (the earlier drivers accepted them anywhere).
            (_, Message::ParameterStatus(_)) if self.session_params.len() >= MAX_TURN => {
                Err(StartupError::TooManyParameters(MAX_TURN))
            }
            (_, Message::ParameterStatus(p)) => {
                self.session_params.push(p);
                Ok(Progress::Continue)
            }
            // The server supports an older minor version or lacks a `_pq_` option we did not
            // ask for: nothing to change for protocol 3.0.
            (
                State::Sent | State::PasswordSent | State::Scram(_),
                Message::NegotiateProtocolVersion(_),
            ) => Ok(Progress::Continue),
            (
                State::Sent | State::PasswordSent | State::Scram(_),
                Message::Authentication(auth),
            ) => self.authenticate(auth, out),
            (State::Authenticated, Message::BackendKeyData(key)) => {
                self.key_data = Some(key);
                Ok(Progress::Continue)
            }
            (State::Authenticated, Message::ReadyForQuery(status)) => {
                self.state = State::Over;
                Ok(Progress::Done(Session {
                    params: std::mem::take(&mut self.session_params),
                    key_data: self.key_data,
                    status,
                    auth: self.method,
                }))
            }
            (_, other) => Err(StartupError::Unexpected {
                message: message_name(&other),
                state,
            }),
        }
    }

    fn password_bytes(&self) -> Result<&[u8], StartupError> {
        self.password
            .as_ref()
            .map(|p| p.0.as_slice())
            .ok_or(StartupError::PasswordMissing)
    }

    fn authenticate(
        &mut self,
        auth: Authentication,
        out: &mut BytesMut,
    ) -> Result<Progress, StartupError> {
        let state = self.state.name();
        let out_of_order = |request| StartupError::AuthOutOfOrder { request, state };
        match auth {
            Authentication::Ok => {
                match &self.state {
                    // AuthenticationOk before a verified SASLFinal: the server never proved it
                    // knows the password.
                    State::Scram(scram) => scram.ensure_verified()?,
                    State::PasswordSent => {}
                    _ => binding::check_unbound(self.policy, "trust (no password)")?,
                }
                self.state = State::Authenticated;
                Ok(Progress::Continue)
            }
            Authentication::CleartextPassword | Authentication::Md5Password { .. }
                if !matches!(self.state, State::Sent) =>
            {
                Err(out_of_order("a second password request"))
            }
            Authentication::CleartextPassword => {
                binding::check_unbound(self.policy, "a cleartext password")?;
                frontend::password_message(self.password_bytes()?, out)?;
                self.method = AuthMethod::Cleartext;
                self.state = State::PasswordSent;
                Ok(Progress::Continue)
            }
            Authentication::Md5Password { salt } => {
                binding::check_unbound(self.policy, "MD5")?;
                let hashed = md5::hash(self.user.as_bytes(), self.password_bytes()?, salt);
                frontend::password_message(hashed.as_bytes(), out)?;
                self.method = AuthMethod::Md5;
                self.state = State::PasswordSent;
                Ok(Progress::Continue)
            }
            Authentication::Sasl { .. } if !matches!(self.state, State::Sent) => {
                Err(out_of_order("a second SASL exchange"))
            }
            Authentication::Sasl { mechanisms } => {
                let gs2 = binding::choose(self.policy, &self.end_point, &mechanisms)?;
                let password = self.password_bytes()?;
                let mut scram = match &self.nonce {
                    Some(nonce) => ScramSha256::with_nonce_and_binding("", password, nonce, gs2)?,
                    None => ScramSha256::with_channel_binding(password, gs2)?,
                };
                scram.set_max_iterations(self.max_iterations);
                frontend::sasl_initial_response(scram.mechanism(), scram.message(), out)?;
                self.method = match scram.channel_binding() {
                    crate::auth::scram::ChannelBinding::TlsServerEndPoint(_) => {
                        AuthMethod::ScramSha256Plus
                    }
                    _ => AuthMethod::ScramSha256,
                };
                self.state = State::Scram(Box::new(scram));
                Ok(Progress::Continue)
            }
            Authentication::SaslContinue(data) => match &mut self.state {
                State::Scram(scram) => Ok(Progress::Derive(scram.begin_update(&data)?)),
                _ => Err(out_of_order("SASLContinue without a SASL exchange")),
            },
            Authentication::SaslFinal(data) => match &mut self.state {
                State::Scram(scram) => {
                    scram.finish(&data)?;
                    Ok(Progress::Continue)
                }
                _ => Err(out_of_order("SASLFinal without a SASL exchange")),
            },
            Authentication::KerberosV5 => Err(StartupError::UnsupportedMethod("Kerberos V5")),
            Authentication::ScmCredential => {
                Err(StartupError::UnsupportedMethod("SCM credentials"))
            }
            Authentication::Gss | Authentication::GssContinue(_) => {
                Err(StartupError::UnsupportedMethod("GSSAPI"))
            }
            Authentication::Sspi => Err(StartupError::UnsupportedMethod("SSPI")),
        }
    }
}

/// A message's name, for errors.
fn message_name(message: &Message) -> &'static str {
    match message {
        Message::Authentication(_) => "Authentication",
        Message::BackendKeyData(_) => "BackendKeyData",
        Message::BindComplete => "BindComplete",
        Message::CloseComplete => "CloseComplete",
        Message::CommandComplete(_) => "CommandComplete",
        Message::CopyData(_) => "CopyData",
        Message::CopyDone => "CopyDone",
        Message::CopyInResponse(_) => "CopyInResponse",
        Message::CopyOutResponse(_) => "CopyOutResponse",
        Message::CopyBothResponse(_) => "CopyBothResponse",
        Message::DataRow(_) => "DataRow",
        Message::EmptyQueryResponse => "EmptyQueryResponse",
        Message::ErrorResponse(_) => "ErrorResponse",
        Message::NoticeResponse(_) => "NoticeResponse",
        Message::FunctionCallResponse(_) => "FunctionCallResponse",
        Message::NegotiateProtocolVersion(_) => "NegotiateProtocolVersion",
        Message::NoData => "NoData",
        Message::NotificationResponse(_) => "NotificationResponse",
        Message::ParameterDescription(_) => "ParameterDescription",
        Message::ParameterStatus(_) => "ParameterStatus",
        Message::ParseComplete => "ParseComplete",
        Message::PortalSuspended => "PortalSuspended",
        Message::ReadyForQuery(_) => "ReadyForQuery",
        Message::RowDescription(_) => "RowDescription",
    }
}

#[cfg(test)]
mod tests;
