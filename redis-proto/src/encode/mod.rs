//! Encoding commands: RESP arrays of bulk strings, written straight into a `BytesMut`.

mod arg;
mod spare;

use bytes::{BufMut, Bytes, BytesMut};

pub use arg::{ArgSink, ToArg};

use crate::wire::{blob_len, header_len, put_blob, put_header};

/// A command under construction: its arguments already encoded as bulk strings in one buffer.
///
/// Each argument is written once, as `$len\r\n<bytes>\r\n`, when it is added; there is no
/// intermediate vector of arguments. [`write_to`](Self::write_to) prepends `*argc\r\n` and
/// copies the arguments into the connection's buffer with one exact-size reserve, so a `Cmd`
/// can be built once and sent many times.
///
/// ```
/// use bytes::BytesMut;
/// use corelane_redis_proto::Cmd;
///
/// let cmd = Cmd::new("ZADD").arg("board").arg(f64::INFINITY).arg(b"ann");
/// let mut out = BytesMut::new();
/// cmd.write_to(&mut out);
/// assert_eq!(&out[..], b"*4\r\n$4\r\nZADD\r\n$5\r\nboard\r\n$3\r\ninf\r\n$3\r\nann\r\n");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cmd {
    args: BytesMut,
    argc: usize,
}

impl Cmd {
    /// A command whose first argument is `name` (e.g. `"GET"`).
    pub fn new(name: impl ToArg) -> Self {
        // The buffer comes from this thread's spares and goes back when the command is
        // dropped (see `Drop`): a command built per call allocates nothing in steady state.
        let mut cmd = Cmd {
            args: spare::take(),
            argc: 0,
        };
        cmd.push(name);
        cmd
    }

    /// Adds `arg` (builder style).
    #[must_use]
    pub fn arg(mut self, arg: impl ToArg) -> Self {
        self.push(arg);
        self
    }

    /// Adds every item of `args` (builder style).
    #[must_use]
    pub fn args<I>(mut self, args: I) -> Self
    where
        I: IntoIterator,
        I::Item: ToArg,
    {
        for arg in args {
            self.push(arg);
        }
        self
    }

    /// Adds `arg` in place.
    pub fn push(&mut self, arg: impl ToArg) -> &mut Self {
        arg.write_args(self);
        self
    }

    /// Number of arguments, the command name included.
    pub fn argc(&self) -> usize {
        self.argc
    }

    /// The arguments as written, the command name first (for routing and checks: e.g. a
    /// client looking at a raw command's name and subcommand).
    ///
    /// ```
    /// use corelane_redis_proto::Cmd;
    ///
    /// let cmd = Cmd::new("CLIENT").arg("REPLY").arg("OFF");
    /// let args: Vec<&[u8]> = cmd.iter_args().collect();
    /// assert_eq!(args, [&b"CLIENT"[..], b"REPLY", b"OFF"]);
    /// ```
    pub fn iter_args(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut rest: &[u8] = &self.args;
        std::iter::from_fn(move || {
            // Each argument is `$<len>\r\n<bytes>\r\n`, as `push_arg` wrote it.
            let header_end = rest.iter().position(|&b| b == b'\r')?;
            let len: usize = std::str::from_utf8(rest.get(1..header_end)?)
                .ok()?
                .parse()
                .ok()?;
            let start = header_end.checked_add(2)?;
            let end = start.checked_add(len)?;
            let arg = rest.get(start..end)?;
            rest = rest.get(end.checked_add(2)?..).unwrap_or_default();
            Some(arg)
        })
    }

    /// Exact number of bytes [`write_to`](Self::write_to) appends.
    pub fn encoded_len(&self) -> usize {
        header_len(self.argc).saturating_add(self.args.len())
    }

    /// Appends `*argc\r\n` and the encoded arguments to `out`, reserving once.
    pub fn write_to(&self, out: &mut BytesMut) {
        out.reserve(self.encoded_len());
        put_header(out, b'*', self.argc);
        out.put_slice(&self.args);
    }

    /// The complete encoding in a fresh buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.write_to(&mut out);
        out.freeze()
    }

    /// Removes every argument, keeping the buffer's capacity for reuse.
    pub fn clear(&mut self) {
        self.args.clear();
        self.argc = 0;
    }
}

impl Drop for Cmd {
    fn drop(&mut self) {
        spare::give(std::mem::take(&mut self.args));
    }
}

impl ArgSink for Cmd {
    fn push_arg(&mut self, arg: &[u8]) {
        self.args.reserve(blob_len(arg.len()));
        put_blob(&mut self.args, b'$', arg);
        self.argc += 1;
    }
}

/// Appends the command `args` (name first) to `out` as a RESP array of bulk strings, reserving
/// the exact size once.
///
/// ```
/// use bytes::BytesMut;
/// use corelane_redis_proto::encode_command;
///
/// let mut out = BytesMut::new();
/// encode_command(&mut out, &["GET", "key"]);
/// assert_eq!(&out[..], b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n");
/// ```
pub fn encode_command<A: AsRef<[u8]>>(out: &mut BytesMut, args: &[A]) {
    let total = args.iter().fold(header_len(args.len()), |n, a| {
        n.saturating_add(blob_len(a.as_ref().len()))
    });
    out.reserve(total);
    put_header(out, b'*', args.len());
    for arg in args {
        put_blob(out, b'$', arg.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmd_exact_bytes_and_len() {
        let cmd = Cmd::new("SET")
            .arg("k")
            .arg(String::from("v"))
            .arg(-5i64)
            .arg(u64::MAX)
            .arg(1.5f64)
            .arg(f64::NEG_INFINITY)
            .arg(0.1f32)
            .arg(Bytes::from_static(b""))
            .arg(vec![0u8, 13, 10]);
        let bytes = cmd.to_bytes();
        assert_eq!(
            &bytes[..],
            &b"*10\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\n-5\r\n$20\r\n18446744073709551615\r\n\
$3\r\n1.5\r\n$4\r\n-inf\r\n$3\r\n0.1\r\n$0\r\n\r\n$3\r\n\x00\r\n\r\n"[..]
        );
        assert_eq!(cmd.encoded_len(), bytes.len());
        assert_eq!(cmd.argc(), 10);
    }

    #[test]
    fn write_to_reserves_once_and_exactly() {
        let cmd = Cmd::new("MSET").args(["a", "1", "b", "2"]);
        let mut out = BytesMut::new();
        cmd.write_to(&mut out);
        assert_eq!(out.len(), cmd.encoded_len());
        // Writing again appends the same bytes.
        cmd.write_to(&mut out);
        assert_eq!(&out[..cmd.encoded_len()], &out[cmd.encoded_len()..]);
    }

    #[test]
    fn push_and_clear() {
        let mut cmd = Cmd::default();
        for i in 0..3u8 {
            cmd.push(i);
        }
        assert_eq!(
            &cmd.to_bytes()[..],
            b"*3\r\n$1\r\n0\r\n$1\r\n1\r\n$1\r\n2\r\n"
        );
        cmd.clear();
        assert_eq!(cmd.argc(), 0);
        assert_eq!(&cmd.to_bytes()[..], b"*0\r\n");
    }

    #[test]
    fn encode_command_matches_cmd() {
        let mut out = BytesMut::new();
        encode_command(&mut out, &[&b"GET"[..], b"key"]);
        assert_eq!(out.freeze(), Cmd::new("GET").arg("key").to_bytes());
        let mut empty = BytesMut::new();
        encode_command::<&[u8]>(&mut empty, &[]);
        assert_eq!(&empty[..], b"*0\r\n");
    }
}
