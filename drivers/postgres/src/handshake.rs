//! Startup and authentication of every connection the crate opens (pooled connections and
//! listener sessions; a `CancelRequest`'s side connection has no startup): the protocol
//! crate's [`Startup`] machine, driven by one small loop over whatever carries the
//! connection's messages.

use std::future::Future;

use bytes::BytesMut;
use corelane_pg_proto::message::backend::Message;
use corelane_pg_proto::startup::{Progress, Session, Startup, StartupError};

use crate::config::Config;
use crate::transport::BindingChoice;
use crate::Error;

/// How a kind of connection carries the startup.
pub(crate) trait Turn {
    /// Sends `out` and returns the server's messages up to the next one after which it waits
    /// for the client or is done ([`corelane_pg_proto::startup::ends_turn`]), in order.
    fn turn(&mut self, out: &[u8]) -> impl Future<Output = Result<Vec<Message>, Error>>;
}

/// The startup `config` asks for, over a transport that offers `binding`.
fn startup_for(config: &Config, binding: &BindingChoice) -> Startup {
    let mut startup = Startup::new(config.user.as_str())
        .database(config.get_dbname())
        .param("client_encoding", "UTF8");
    if let Some(name) = config.effective_application_name() {
        startup = startup.param("application_name", name);
    }
    if let Some(options) = &config.options {
        startup = startup.param("options", options.as_str());
    }
    for (name, value) in &config.params {
        startup = startup.param(name.as_str(), value.as_str());
    }
    if let Some(password) = &config.password {
        startup = startup.password(password.expose().as_bytes());
    }
    let (policy, end_point) = binding.for_startup();
    startup.channel_binding(policy, end_point)
}

/// Runs the startup over `io`, up to the first `ReadyForQuery`.
///
/// SCRAM's PBKDF2 (as many iterations as the server asks, up to the client's cap: up to about
/// a second of CPU) runs on the worker's blocking thread, not on the worker, whose other
/// connections would otherwise stall for that long.
pub(crate) async fn run(
    io: &mut impl Turn,
    config: &Config,
    binding: &BindingChoice,
) -> Result<Session, Error> {
    let mut startup = startup_for(config, binding);
    let mut out = BytesMut::new();
    startup.start(&mut out).map_err(error)?;
    loop {
        let messages = io.turn(&out).await?;
        out.clear();
        for message in messages {
            match startup.step(message, &mut out).map_err(error)? {
                Progress::Continue => {}
                Progress::Derive(job) => {
                    let salted = corelane_runtime::task::blocking(move || job.run()).await;
                    startup.derived(salted, &mut out).map_err(error)?;
                }
                Progress::Done(session) => return Ok(session),
            }
        }
        // The server waits for the client: a turn the machine has no answer to would hang.
        if out.is_empty() {
            return Err(Error::protocol(
                "the server waits, but startup has nothing to send",
            ));
        }
    }
}

fn error(e: StartupError) -> Error {
    match e {
        StartupError::Server(fields) => Error::db(fields),
        StartupError::ChannelBinding(why) => Error::channel_binding(why.to_string()),
        StartupError::Encode(e) => Error::type_error(e),
        e if e.is_auth() => Error::auth(e.to_string()),
        e => Error::protocol(e),
    }
}
