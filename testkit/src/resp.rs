//! A tiny blocking RESP2 client for administering test topologies (cluster and sentinel
//! setup, slot moves, `INFO`): one command per connection, every read bounded by a timeout.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::error::{Error, Result};

/// How long one admin command may take (connect, write, read).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Nesting and length bounds: the peer is our own test server, but a bad reply must not make
/// the test allocate without limit.
const MAX_LEN: usize = 64 << 20;

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// `+OK`.
    Status(String),
    /// `-ERR …`: the whole error line.
    Error(String),
    /// `:42`.
    Int(i64),
    /// `$…` (None for the nil bulk string).
    Bulk(Option<Vec<u8>>),
    /// `*…` (an empty vector for the nil array).
    Array(Vec<Reply>),
}

impl Reply {
    /// The reply as text: a status, an error line, a bulk string (lossy) or an integer.
    pub fn text(&self) -> String {
        match self {
            Reply::Status(s) | Reply::Error(s) => s.clone(),
            Reply::Int(n) => n.to_string(),
            Reply::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            Reply::Bulk(None) => String::new(),
            Reply::Array(items) => items.iter().map(Reply::text).collect::<Vec<_>>().join(" "),
        }
    }

    /// True for an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

/// Sends one command to `addr` on a new connection and reads its reply.
pub fn command(addr: SocketAddr, args: &[&str]) -> Result<Reply> {
    command_auth(addr, None, args)
}

/// [`command`], after `AUTH password` on the same connection when `password` is given (an
/// `AUTH` refusal is returned as the reply).
pub fn command_auth(addr: SocketAddr, password: Option<&str>, args: &[&str]) -> Result<Reply> {
    let context = || format!("`{}` on {addr}", args.join(" "));
    let io = |e| Error::io(context(), e);
    let mut stream = TcpStream::connect_timeout(&addr, COMMAND_TIMEOUT).map_err(io)?;
    stream.set_read_timeout(Some(COMMAND_TIMEOUT)).map_err(io)?;
    stream
        .set_write_timeout(Some(COMMAND_TIMEOUT))
        .map_err(io)?;
    let mut reader = BufReader::new(stream.try_clone().map_err(io)?);
    if let Some(password) = password {
        stream.write_all(&encode(&["AUTH", password])).map_err(io)?;
        let auth = read_reply(&mut reader, 0).map_err(io)?;
        if auth.is_error() {
            return Ok(auth);
        }
    }
    stream.write_all(&encode(args)).map_err(io)?;
    read_reply(&mut reader, 0).map_err(io)
}

fn encode(args: &[&str]) -> Vec<u8> {
    let mut req = format!("*{}\r\n", args.len());
    for arg in args {
        req.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    req.into_bytes()
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

fn read_reply(reader: &mut impl BufRead, depth: usize) -> std::io::Result<Reply> {
    if depth > 16 {
        return Err(bad("reply nested too deep"));
    }
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line
        .strip_suffix("\r\n")
        .ok_or_else(|| bad("reply line without CRLF"))?;
    let (kind, rest) = line.split_at_checked(1).ok_or_else(|| bad("empty reply"))?;
    let number = || rest.parse::<i64>().map_err(|_| bad("bad length"));
    match kind {
        "+" => Ok(Reply::Status(rest.to_owned())),
        "-" => Ok(Reply::Error(rest.to_owned())),
        ":" => Ok(Reply::Int(number()?)),
        "$" => {
            let Ok(len) = usize::try_from(number()?) else {
                return Ok(Reply::Bulk(None));
            };
            if len > MAX_LEN {
                return Err(bad("bulk string too long"));
            }
            let mut body = vec![0; len + 2];
            reader.read_exact(&mut body)?;
            body.truncate(len);
            Ok(Reply::Bulk(Some(body)))
        }
        "*" => {
            let Ok(len) = usize::try_from(number()?) else {
                return Ok(Reply::Array(Vec::new()));
            };
            let mut items = Vec::new();
            for _ in 0..len {
                items.push(read_reply(reader, depth + 1)?);
            }
            Ok(Reply::Array(items))
        }
        _ => Err(bad("unknown reply type")),
    }
}
