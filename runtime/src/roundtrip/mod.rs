//! The round-trip toolkit: the bridge queue, the direct-index batch and the handoff between
//! them, generic over a driver's [`Codec`].
//!
//! # Behavior
//!
//! Replies come back in request order, so every connection keeps a FIFO of requests waiting
//! for replies: the **bridge queue**.
//!
//! - **Bridge mode** (the loop reads). A request's entry is queued *before* its bytes are
//!   written; the connection's reader task decodes each reply with the head entry's `Expect`
//!   and completes that entry. Callers on the worker are woken without atomics; callers on
//!   other threads get their reply through a oneshot ([`Pipe::send_remote`]).
//! - **Direct index** (the caller reads). A [`Batch`] run on an idle connection (nothing in
//!   flight, nobody else reading) writes its bytes from the caller's task and then reads the
//!   socket itself, putting reply `k` straight into slot `k`: no queue operation, no waker,
//!   no allocation per reply.
//! - **The handoff.** When a direct batch stops reading early — its future was dropped — its
//!   unanswered requests move, in order, to the *front* of the bridge queue as placeholders
//!   whose replies are read and dropped, and reading passes back to the loop. Requests that
//!   arrived meanwhile were queued behind them, so the queue order stays the wire order.
//!
//! ```text
//!  wire:   [b0 b1 b2 b3 | x0 x1]      b* = direct batch (b0, b1 answered), x* = bridge callers
//!  drop:   queue = [x0 x1]  ->  [b2' b3' x0 x1]   (b' = placeholder, reply discarded)
//! ```
//!
//! - **Revocation.** A direct batch whose future is kept alive but not polled (`select!` took
//!   another branch, a `join` polls it later) must not hold the reader: the first request
//!   queued behind it takes the read lease over. The batch's unanswered requests move, in
//!   order, to the front of the queue with their replies going to the batch's own slots
//!   (`b2 b3 x0`, not placeholders); polled again, the batch finds them there, and dropped,
//!   it discards them like any bridged batch.
//!
//! - **Requests without a reply** (memcached's `noreply`, fire-and-forget messages):
//!   [`Pipe::send_no_reply`] and [`Batch::push_no_reply`] write their bytes in order with the
//!   others but queue no entry and take no slot, so FIFO matching of the replies around them
//!   is unchanged and nothing waits for a reply that never comes. A dropped batch hands off
//!   only its requests that expect a reply.
//!
//! ```text
//!  wire:   [a n b]   queue = [a b]   replies: ra rb     (n = no reply: no entry, no slot)
//! ```
//!
//! - **Writing from the read path** (NATS' `PONG` to a server `PING`): the codec consumes
//!   the frame while decoding and writes the answer in [`Codec::write_back`], called after
//!   every decode pass whoever reads (reader task or direct batch). The answer joins the
//!   outbound bytes like a no-reply request: no entry, no slot, replies stay matched.
//!
//! Every request ends exactly once: with its reply, or with [`RequestError::Closed`] carrying
//! why the connection ended (peer closed, I/O error, protocol error, loop shut down).
//!
//! # Example
//!
//! ```
//! # use corelane_runtime::roundtrip::{Codec, Pipe, Batch};
//! # use corelane_runtime::{Limits, Stream};
//! # use bytes::BytesMut;
//! /// Replies are lines.
//! struct Lines;
//! impl Codec for Lines {
//!     type Reply = bytes::Bytes;
//!     type Expect = ();
//!     type Error = &'static str;
//!     fn decode(&mut self, _: &(), input: &mut BytesMut) -> Result<Option<bytes::Bytes>, &'static str> {
//!         Ok(input.iter().position(|&b| b == b'\n').map(|i| input.split_to(i + 1).freeze()))
//!     }
//!     fn unsolicited(&mut self, input: &mut BytesMut) -> Result<(), &'static str> {
//!         if input.is_empty() { Ok(()) } else { Err("reply nobody asked for") }
//!     }
//! }
//! # async fn demo(addr: std::net::SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
//! // On a worker (inside a job or task of a corelane loop):
//! let pipe = Pipe::new(Stream::connect_tcp(addr).await?, Lines, Limits::default())?;
//! let one = pipe.call((), |buf| buf.extend_from_slice(b"hello\n")).await?;
//! let mut batch = Batch::new();
//! for i in 0..64 {
//!     batch.push((), |buf| buf.extend_from_slice(format!("line {i}\n").as_bytes()));
//! }
//! pipe.run(&mut batch).await?;
//! let replies = batch.take_all();
//! # assert_eq!(&one[..], b"hello\n");
//! # assert_eq!(replies.len(), 64);
//! # assert!(matches!(&replies[63], Ok(r) if &r[..] == b"line 63\n"));
//! # Ok(()) }
//! # // A line echo server on loopback, and the demo run on a worker of the standalone loop.
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # use corelane_runtime::EventLoopProvider;
//! # use std::io::{BufRead, Write};
//! # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! # let addr = listener.local_addr()?;
//! # std::thread::spawn(move || {
//! #     if let Ok((socket, _)) = listener.accept() {
//! #         let mut out = socket.try_clone().expect("clone");
//! #         for line in std::io::BufReader::new(socket).lines() {
//! #             let Ok(line) = line else { break };
//! #             if out.write_all(format!("{line}\n").as_bytes()).is_err() { break; }
//! #         }
//! #     }
//! # });
//! # let workers = corelane_runtime::resolve(None)?;
//! # let worker = workers.worker(0).ok_or("no worker")?;
//! # futures_lite::future::block_on(worker.spawn(move || async move {
//! #     demo(addr).await.map_err(|e| e.to_string())
//! # }))??;
//! # Ok(()) }
//! ```

mod batch;
mod bridge;
mod codec;
mod error;
mod pipe;
mod run;
mod slots;
mod stats;

pub use self::batch::Batch;
pub use self::codec::Codec;
pub use self::error::RequestError;
pub use self::pipe::{Pipe, ReadHold};
pub use self::run::{OwnedRun, Run};
pub use self::stats::{PipeCounters, PipeStats};
