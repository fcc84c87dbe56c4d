//! The handshake of every connection (command, exclusive, blocking, sentinel, pub/sub): the
//! protocol crate's [`Hello`] machine, driven by one small loop over whatever carries the
//! connection's commands and replies.

use std::future::Future;

use bytes::BytesMut;
use corelane_redis_proto::hello::{self, Hello, HelloError, Progress};
use corelane_redis_proto::Value;

use crate::config::{Config, Protocol};
use crate::Error;

/// One command out, its reply back: how a kind of connection carries the handshake.
pub(crate) trait Exchange {
    /// Sends `command` (one encoded command) and waits for its reply.
    fn exchange(&mut self, command: &[u8]) -> impl Future<Output = Result<Value, Error>>;
}

/// The handshake `config` asks for.
fn hello_for(config: &Config) -> Hello {
    let protocol = match config.protocol {
        Protocol::Resp2 => hello::Protocol::Resp2,
        Protocol::Resp3 => hello::Protocol::Resp3,
    };
    let mut hello = Hello::new(protocol).db(config.db);
    if let Some(password) = &config.password {
        hello = hello.auth(config.username.as_deref(), password.expose());
    }
    if let Some(name) = &config.client_name {
        hello = hello.client_name(name.as_str());
    }
    hello
}

/// Runs the handshake over `io`; returns the protocol the server agreed to.
pub(crate) async fn run(io: &mut impl Exchange, config: &Config) -> Result<Protocol, Error> {
    let mut hello = hello_for(config);
    let mut out = BytesMut::new();
    let mut progress = hello.start(&mut out).map_err(error)?;
    loop {
        match progress {
            Progress::Done(done) => {
                return Ok(match done.protocol {
                    hello::Protocol::Resp3 => Protocol::Resp3,
                    _ => Protocol::Resp2,
                })
            }
            Progress::Continue => {
                let reply = io.exchange(&out).await?;
                out.clear();
                progress = hello.step(reply, &mut out).map_err(error)?;
            }
        }
    }
}

fn error(e: HelloError) -> Error {
    match e {
        HelloError::Auth(e) => Error::auth(e),
        HelloError::Refused { error, .. } => Error::server(error),
        other => Error::runtime(other),
    }
}
