//! What a driver supplies to use the round-trip toolkit: a reply decoder.

use bytes::BytesMut;

use crate::conn::{CloseCause, WriteBack};

/// Decodes replies from a connection's input, one request's reply at a time.
///
/// The toolkit calls [`decode`](Codec::decode) with the `Expect` of the oldest request that has
/// no reply yet, whoever reads (the loop's reader task, or a batch reading its own replies), so
/// the codec's own state (a resumable parser) carries across reads and across the handoff.
///
/// # Answering the server from the read path
///
/// Some protocols make the client answer frames that are not replies: NATS' `PING` wants a
/// `PONG`, whenever it comes — between two replies, in the middle of a batch's replies, or
/// while nothing is in flight. `decode` and `unsolicited` consume such a frame and remember
/// what is owed; [`write_back`](Codec::write_back) writes it. The toolkit calls `write_back`
/// after every pass of `decode`/`unsolicited` over freshly read bytes, on every read path (the
/// loop's reader task, a batch reading its own replies, the check before a request goes out on
/// an idle connection), before reading again and before any caller whose reply was decoded in
/// that pass runs. The bytes go out after whatever is already queued, with no reply slot and
/// no bridge-queue entry: the replies around them stay matched to their own requests.
pub trait Codec: 'static {
    /// One complete reply to one request.
    type Reply: 'static;
    /// What a request tells the decoder about its reply (e.g. "ends at ReadyForQuery");
    /// `()` when every reply looks alike.
    type Expect: 'static;
    /// A protocol violation; it closes the connection.
    type Error: std::fmt::Display;

    /// Takes one complete reply for a request described by `expect` from the front of `input`:
    /// `Ok(None)` consumes nothing and waits for more bytes. Frames that are not replies (a
    /// RESP3 push, a NOTICE) are the codec's to consume and route before the reply.
    fn decode(
        &mut self,
        expect: &Self::Expect,
        input: &mut BytesMut,
    ) -> Result<Option<Self::Reply>, Self::Error>;

    /// Bytes arrived while no request waits for a reply. Consume what the protocol allows
    /// unsolicited (pushes, notifications); anything else is an error — a reply nobody asked
    /// for would otherwise be taken as the next request's.
    fn unsolicited(&mut self, input: &mut BytesMut) -> Result<(), Self::Error>;

    /// Writes what the last `decode`/`unsolicited` calls left owed to the server (see
    /// [Answering the server from the read path](Codec#answering-the-server-from-the-read-path)),
    /// and forgets it once written.
    ///
    /// Returning `Err` closes the connection with that cause, and every request in flight ends
    /// with [`RequestError::Closed`](super::RequestError::Closed) carrying it:
    /// `out.write(..)?` turns a write refused because the outbound buffer is full into
    /// [`CloseCause::OutboundFull`]. (A refusal because the connection's writes already
    /// failed is ignored: the connection reads on until end of stream.)
    ///
    /// The default writes nothing.
    fn write_back(&mut self, out: &mut WriteBack<'_>) -> Result<(), CloseCause> {
        let _ = out;
        Ok(())
    }
}
