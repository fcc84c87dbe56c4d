//! RESP over the runtime's round trip: decoding replies and routing pushes.

use std::rc::Rc;

use bytes::BytesMut;
use corelane_redis_proto::{DecodeError, Decoder, Frame, Limits, Value};
use corelane_runtime::roundtrip::Codec;

/// Where RESP3 push frames (client-side caching invalidations, …) on a command connection go.
pub(crate) type PushSink = Rc<dyn Fn(Vec<Value>)>;

/// Why the byte stream from the server cannot be trusted any more.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("a reply arrived while no request was waiting for one")]
    Unsolicited,
    #[error("a frame of a kind this client does not know")]
    UnknownFrame,
}

/// The codec of a command connection: one reply per request, pushes routed aside.
pub(crate) struct RespCodec {
    decoder: Decoder,
    on_push: Option<PushSink>,
}

impl RespCodec {
    pub(crate) fn new(on_push: Option<PushSink>, limits: Limits) -> Self {
        RespCodec {
            decoder: Decoder::with_limits(limits),
            on_push,
        }
    }

    /// Routes the complete pushes right behind a reply before the reply is handed over: Redis
    /// sends the invalidation a write causes with the write's reply, so the client-side cache
    /// has dropped the key by the time the writer learns the write is done (read-your-writes
    /// on the connection). A push not complete yet stays in the decoder, resumed next time.
    fn pushes_behind(&mut self, input: &mut BytesMut) -> Result<(), WireError> {
        if self.on_push.is_none() {
            return Ok(());
        }
        while input.first() == Some(&b'>') {
            match self.decoder.decode(input)? {
                Some(Frame::Push(push)) => self.push(push),
                None => return Ok(()),
                // A frame starting with `>` is a push: anything else is a broken stream.
                Some(_) => return Err(WireError::UnknownFrame),
            }
        }
        Ok(())
    }

    fn push(&self, frame: Vec<Value>) {
        if let Some(sink) = &self.on_push {
            sink(frame);
        }
    }
}

impl Codec for RespCodec {
    type Reply = Value;
    type Expect = ();
    type Error = WireError;

    fn decode(&mut self, _: &(), input: &mut BytesMut) -> Result<Option<Value>, WireError> {
        loop {
            match self.decoder.decode(input)? {
                Some(Frame::Reply(value)) => {
                    self.pushes_behind(input)?;
                    return Ok(Some(value));
                }
                Some(Frame::Push(push)) => self.push(push),
                None => return Ok(None),
                Some(_) => return Err(WireError::UnknownFrame),
            }
        }
    }

    fn unsolicited(&mut self, input: &mut BytesMut) -> Result<(), WireError> {
        loop {
            match self.decoder.decode(input)? {
                Some(Frame::Push(push)) => self.push(push),
                None => return Ok(()),
                // A reply nobody asked for: the stream is out of step with our requests.
                Some(Frame::Reply(_)) => return Err(WireError::Unsolicited),
                Some(_) => return Err(WireError::UnknownFrame),
            }
        }
    }
}
