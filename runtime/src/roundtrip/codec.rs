//! What a driver supplies to use the round-trip toolkit: a reply decoder.

use bytes::BytesMut;

/// Decodes replies from a connection's input, one request's reply at a time.
///
/// The toolkit calls [`decode`](Codec::decode) with the `Expect` of the oldest request that has
/// no reply yet, whoever reads (the loop's reader task, or a batch reading its own replies), so
/// the codec's own state (a resumable parser) carries across reads and across the handoff.
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
}
