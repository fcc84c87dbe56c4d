//! Writing from the read path: bytes a protocol makes the client send by itself while it
//! reads (NATS' `PONG` to a server `PING`, a keepalive answer, CopyBoth feedback).

use bytes::BytesMut;

use super::WriteError;

/// The connection's outbound buffer, lent to a [`Handler`](super::Handler) or a
/// [`Codec`](crate::roundtrip::Codec) right after it read, so it can answer the server without a
/// request of its own.
///
/// What it writes is appended *after* everything already queued on the connection and sent by
/// the connection's writer, like any [`Registered::write`](super::Registered::write), with the
/// same rules: all or nothing per call, refused with [`WriteError::QueueFull`] past
/// [`Limits::max_outbound`](super::Limits::max_outbound), with [`WriteError::Closed`] once the
/// connection is closed or its writes failed. It is not a request: it has no reply and takes no
/// place in the bridge queue, so the replies around it stay matched to their own requests.
///
/// [`WriteBack::buffer`] makes one over a plain buffer, for testing a codec without a socket.
pub struct WriteBack<'a> {
    target: Target<'a>,
}

enum Target<'a> {
    /// A registered connection's outbound buffer.
    Conn(&'a dyn Outbound),
    /// A plain buffer with no limit (sans-IO tests).
    Buffer(&'a mut BytesMut),
}

/// The write side of a registered connection, without its handler type: what a [`WriteBack`]
/// appends through.
pub(crate) trait Outbound {
    /// Appends what `encode` writes (about `len` bytes, for the limit check), or nothing.
    fn append(&self, len: usize, encode: &mut dyn FnMut(&mut BytesMut)) -> Result<(), WriteError>;
}

impl<'a> WriteBack<'a> {
    pub(crate) fn conn(outbound: &'a dyn Outbound) -> Self {
        WriteBack {
            target: Target::Conn(outbound),
        }
    }

    /// A write-back that appends to `buf`, with no limit: for unit tests of a codec's or a
    /// handler's write-back, away from any connection.
    pub fn buffer(buf: &'a mut BytesMut) -> Self {
        WriteBack {
            target: Target::Buffer(buf),
        }
    }

    /// Queues `bytes` after everything already queued on the connection.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.write_with(bytes.len(), |out| out.extend_from_slice(bytes))
    }

    /// Queues what `encode` appends (about `len` bytes, for the limit check), without an
    /// intermediate buffer. All or nothing: if `encode` panics, what it wrote is cut off again.
    pub fn write_with(
        &mut self,
        len: usize,
        encode: impl FnOnce(&mut BytesMut),
    ) -> Result<(), WriteError> {
        match &mut self.target {
            Target::Conn(outbound) => {
                let mut encode = Some(encode);
                outbound.append(len, &mut |out| {
                    if let Some(encode) = encode.take() {
                        encode(out);
                    }
                })
            }
            Target::Buffer(buf) => {
                super::append_whole(buf, encode);
                Ok(())
            }
        }
    }
}

impl std::fmt::Debug for WriteBack<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = match self.target {
            Target::Conn(_) => "connection",
            Target::Buffer(_) => "buffer",
        };
        f.debug_struct("WriteBack")
            .field("target", &target)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_write_back_appends_in_order_and_whole() {
        let mut buf = BytesMut::from(&b"queued "[..]);
        let mut out = WriteBack::buffer(&mut buf);
        out.write(b"PONG ").unwrap();
        out.write_with(4, |b| b.extend_from_slice(b"PONG")).unwrap();
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = out.write_with(4, |b| {
                b.extend_from_slice(b"HALF");
                panic!("encoder failed");
            });
        }));
        assert!(unwound.is_err());
        assert_eq!(&buf[..], b"queued PONG PONG");
    }
}
