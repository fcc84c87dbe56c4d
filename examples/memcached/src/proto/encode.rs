//! Request encoders: each appends one complete request to the caller's buffer.
//!
//! Keys must pass [`check_key`] first: the server cannot parse a malformed request line, and
//! for a `noreply` request it would then send an error nobody waits for (the protocol's own
//! advice: "Client should construct only valid requests").

use bytes::{BufMut, BytesMut};

/// The longest key the server accepts.
pub const MAX_KEY: usize = 250;

/// A request the client refuses to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// An empty key.
    #[error("empty key")]
    EmptyKey,
    /// A key longer than [`MAX_KEY`] bytes.
    #[error("key of {0} bytes (the limit is {MAX_KEY})")]
    KeyTooLong(usize),
    /// A key with a space or a control byte.
    #[error("key byte {byte:#04x} at {at} (spaces and control bytes are not allowed)")]
    KeyByte {
        /// The byte.
        byte: u8,
        /// Its index in the key.
        at: usize,
    },
    /// A value longer than the configured limit.
    #[error("value of {len} bytes (the limit is {limit})")]
    ValueTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A `get` of no key at all.
    #[error("a get needs at least one key")]
    NoKeys,
}

/// Checks that the server will accept `key` as one token of a request line.
pub fn check_key(key: &[u8]) -> Result<(), InvalidRequest> {
    if key.is_empty() {
        return Err(InvalidRequest::EmptyKey);
    }
    if key.len() > MAX_KEY {
        return Err(InvalidRequest::KeyTooLong(key.len()));
    }
    match key.iter().position(|&b| b <= b' ' || b == 0x7f) {
        Some(at) => Err(InvalidRequest::KeyByte { byte: key[at], at }),
        None => Ok(()),
    }
}

/// The storage commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Store {
    /// Store unconditionally.
    Set,
    /// Store only if the key does not exist.
    Add,
    /// Store only if the key exists.
    Replace,
    /// Store only if the item is unchanged since the `gets` that returned this CAS unique.
    Cas(u64),
}

impl Store {
    fn name(self) -> &'static [u8] {
        match self {
            Store::Set => b"set",
            Store::Add => b"add",
            Store::Replace => b"replace",
            Store::Cas(_) => b"cas",
        }
    }
}

fn int(buf: &mut BytesMut, n: impl itoa::Integer) {
    buf.put_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn end(buf: &mut BytesMut, noreply: bool) {
    if noreply {
        buf.put_slice(b" noreply");
    }
    buf.put_slice(b"\r\n");
}

/// `get <key>*` (or `gets` with `cas`).
pub fn retrieve<K: AsRef<[u8]>>(buf: &mut BytesMut, cas: bool, keys: &[K]) {
    let len: usize = keys.iter().map(|k| k.as_ref().len() + 1).sum();
    buf.reserve(len + 6);
    buf.put_slice(if cas { b"gets" } else { b"get" });
    for key in keys {
        buf.put_u8(b' ');
        buf.put_slice(key.as_ref());
    }
    buf.put_slice(b"\r\n");
}

/// `<command> <key> <flags> <exptime> <bytes> [<cas>] [noreply]\r\n<value>\r\n`.
pub fn store(
    buf: &mut BytesMut,
    cmd: Store,
    key: &[u8],
    flags: u32,
    exptime: u32,
    value: &[u8],
    noreply: bool,
) {
    buf.reserve(key.len() + value.len() + 64);
    buf.put_slice(cmd.name());
    buf.put_u8(b' ');
    buf.put_slice(key);
    for n in [flags, exptime] {
        buf.put_u8(b' ');
        int(buf, n);
    }
    buf.put_u8(b' ');
    int(buf, value.len());
    if let Store::Cas(unique) = cmd {
        buf.put_u8(b' ');
        int(buf, unique);
    }
    end(buf, noreply);
    buf.put_slice(value);
    buf.put_slice(b"\r\n");
}

/// `delete <key> [noreply]`.
pub fn delete(buf: &mut BytesMut, key: &[u8], noreply: bool) {
    buf.put_slice(b"delete ");
    buf.put_slice(key);
    end(buf, noreply);
}

/// `incr <key> <delta>` (or `decr`) `[noreply]`.
pub fn arith(buf: &mut BytesMut, incr: bool, key: &[u8], delta: u64, noreply: bool) {
    buf.put_slice(if incr { b"incr " } else { b"decr " });
    buf.put_slice(key);
    buf.put_u8(b' ');
    int(buf, delta);
    end(buf, noreply);
}

/// `touch <key> <exptime> [noreply]`.
pub fn touch(buf: &mut BytesMut, key: &[u8], exptime: u32, noreply: bool) {
    buf.put_slice(b"touch ");
    buf.put_slice(key);
    buf.put_u8(b' ');
    int(buf, exptime);
    end(buf, noreply);
}

/// `version`.
pub fn version(buf: &mut BytesMut) {
    buf.put_slice(b"version\r\n");
}

/// `flush_all [<delay>]`.
pub fn flush_all(buf: &mut BytesMut, delay: Option<u32>) {
    buf.put_slice(b"flush_all");
    if let Some(delay) = delay {
        buf.put_u8(b' ');
        int(buf, delay);
    }
    buf.put_slice(b"\r\n");
}
