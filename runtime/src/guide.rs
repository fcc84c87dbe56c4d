//! Writing a driver on `corelane-runtime` alone, and which provider to use.
//!
//! This module holds no code: it is the guide. A driver on this crate is a codec plus a little
//! glue; the worked example is `examples/memcached` (crate `corelane-memcached`), a memcached
//! client that depends on this crate and nothing else of corelane's. Its glue — everything
//! outside the sans-IO `proto/` module — is about 800 lines, most of them the commands' own
//! docs and argument checks. Each step below names the file of the example that does it.
//!
//! # Which provider do I use?
//!
//! Drivers never start executors themselves; they ask [`resolve`](crate::resolve) for workers.
//!
//! - **An application with no thread-per-core server** (a tokio service, a CLI, a test):
//!   `resolve(None)` leases the shared standalone [`Loop`](crate::Loop), started on first use
//!   and shut down when the last lease is dropped. Tune it before first use with
//!   [`configure_standalone`](crate::configure_standalone). This is what the bundled drivers'
//!   `Client::new` does.
//! - **A thread-per-core server** (its own glommio executors, or [`serve`](crate::serve) on
//!   this crate's workers): implement [`ServerProvider`](crate::ServerProvider) once and pass
//!   it as `resolve(Some(server))`, so request handlers and their connections share executors
//!   and calls made from a handler never leave its core. A [`WorkerSet`](crate::WorkerSet) is
//!   the ready-made one: [`Loop::worker_set`](crate::Loop::worker_set) and
//!   [`Serving::workers`](crate::serve::Serving::workers) give one.
//! - [`EventLoopProvider`](crate::EventLoopProvider) is what both resolve to: the trait a
//!   driver reads (`num_workers`, `worker(n)`, `current_worker`). Implement it only to hand
//!   drivers a set of workers that is neither of the above.
//! - [`Provider`](crate::Provider) is the value `resolve` returns: those workers plus the
//!   lease that keeps a standalone loop alive. Keep it in your client's shared state.
//!
//! # The steps, in order
//!
//! 1. **The codec** (`examples/memcached/src/proto/`): encode requests into a `BytesMut`,
//!    decode one reply at a time from the front of the input, sans-IO, with no runtime types.
//!    Decoding must be resumable (return `Ok(None)` and consume nothing until a reply is
//!    whole), bounded (never allocate from a length the server merely claims) and total
//!    (every byte sequence gives a reply, `Ok(None)` or an error — never a panic: a panic
//!    kills every connection on the worker). Then implement
//!    [`roundtrip::Codec`](crate::roundtrip::Codec) for it: `decode` with the request's
//!    `Expect` (what the request tells the decoder about its reply), and `unsolicited` for
//!    bytes nobody waits for — refuse them unless the protocol has pushes, or an extra reply
//!    becomes the next caller's value. The example's adapter is `Memcache` in
//!    `examples/memcached/src/conn.rs`.
//! 2. **The connection**: [`roundtrip::Pipe::new`](crate::roundtrip::Pipe::new) over a
//!    [`Stream`](crate::Stream) registers the socket on the current worker and gives you the
//!    whole round trip: concurrent [`Pipe::call`](crate::roundtrip::Pipe::call)s share it
//!    through the bridge queue, a [`Batch`](crate::roundtrip::Batch) run on an idle pipe reads
//!    its replies by direct index, and the handoff between the two is the toolkit's, on every
//!    exit path (done, error, dropped future, future no longer polled). Requests without a
//!    reply go through [`Pipe::send_no_reply`](crate::roundtrip::Pipe::send_no_reply). A
//!    handshake (authentication, protocol negotiation) is a few `call`s made right after
//!    `Pipe::new`, before the pipe is handed out.
//! 3. **The pool manager** (`Connector` in `examples/memcached/src/conn.rs`): a
//!    [`pool::Manager`](crate::pool::Manager) that connects (resolve the host with
//!    [`task::resolve_host`](crate::task::resolve_host): glommio's own connect resolves names
//!    blocking the executor), says when a connection is broken, and reports its load so a
//!    [`SharedPool`](crate::pool::SharedPool) spreads concurrent callers over its
//!    connections. Use [`pool::Pool`](crate::pool::Pool) instead for connections one caller
//!    holds at a time (transactions, blocking commands).
//! 4. **Per-worker state** (`Pools` and `connection` in `examples/memcached/src/conn.rs`):
//!    keep the pools in a [`client::PerWorker`](crate::client::PerWorker). It makes them on
//!    first use on each worker (one thread-local lookup, no lock), closes them on every
//!    worker when the client is dropped, and answers `stats()` / `health()` through
//!    [`PerWorker::gather`](crate::client::PerWorker::gather). Count calls with
//!    [`client::Counters`](crate::client::Counters) if you want the same reports as the
//!    bundled drivers.
//! 5. **The call path** (`Client::on_worker` in `examples/memcached/src/client.rs`): one
//!    [`dispatch`](crate::dispatch) call runs the request on the caller's own worker when it is
//!    on one (no thread hop) and through a worker's mailbox otherwise, so the client handle is
//!    `Send + Sync` and works from any thread. Put the command timeout around the work on the
//!    worker, and close the connection when it fires: every later reply would be late too.
//!    Awaited where it is made, a dispatch holds the work's future inline: the local path
//!    allocates nothing of its own. A driver whose call type must be named (a `Call<T>` its
//!    users hold, as the bundled drivers return) writes the worker-side work once as a
//!    hand-written, `Unpin` future, implements [`ClientHandle`](crate::ClientHandle) for its
//!    handle, and runs the work with [`dispatch_from`](crate::dispatch_from) and
//!    [`Dispatch::movable`](crate::Dispatch::movable): the same future then runs in place on
//!    a worker and is spawned by value from anywhere else, and the handle is cloned only for
//!    the remote path (the bundled Redis driver's `local_call.rs` and the PostgreSQL driver's
//!    `execute.rs` are that future). A connection the server dropped while it sat idle is
//!    found by the first run on it, before anything is written: the run resolves to `Err`
//!    (never sent), and the work can take the pool's next connection and send again, once.
//!    Implement `Manager::check_out` with
//!    [`Pipe::probe_idle`](crate::roundtrip::Pipe::probe_idle) so the exclusive pool and
//!    `SharedPool::get_checked` (the cold path) never hand out a dead one. A request that was
//!    sent must not be sent again: the server may have run it.
//! 6. **Batches** (`examples/memcached/src/pipeline.rs`): an explicit pipeline encodes all its
//!    requests into one [`Batch`](crate::roundtrip::Batch) (`push` per request with a reply,
//!    `push_no_reply` for those without) and runs it; results come back per request, in
//!    order, each its own `Result`. A request that answers only *sometimes* (memcached's quiet
//!    meta commands: a hit or an error replies, a success or a miss does not) is neither kind:
//!    end a run of them with one that always answers (`mn`) and send them as one request
//!    whose `Expect` collects the replies up to its answer — one bridge-queue entry, so
//!    nothing stalls and nothing is mismatched (the runtime's `tests/integration/quiet_meta.rs`).
//! 7. **Optional: answering the server from the read path.** When the protocol makes the
//!    client answer frames that are not replies — NATS' `PING` wants a `PONG` at any time,
//!    between two replies, in the middle of a batch's replies or while nothing is in flight —
//!    `decode` and `unsolicited` consume such a frame and note what is owed, and
//!    [`Codec::write_back`](crate::roundtrip::Codec::write_back) writes it through the
//!    [`WriteBack`](crate::WriteBack) it is lent. The toolkit calls it after every decode pass
//!    on every read path (the loop's reader task, a batch reading its own replies, the check
//!    before a request goes out on an idle connection), so the answer goes out after whatever
//!    is queued, before anything the woken callers send next, with no reply slot and no
//!    bridge-queue entry (the replies around it stay matched). Refused because the outbound
//!    buffer is full, `out.write(..)?` closes the connection with
//!    [`CloseCause::OutboundFull`](crate::CloseCause::OutboundFull) and every waiting request
//!    ends with it. A raw [`Handler`](crate::Handler) does the same in
//!    [`Handler::write_back`](crate::Handler::write_back), called after each `on_recv`. A
//!    message the client sends of its own accord (a timer-driven keepalive) is not this: send
//!    it with `send_no_reply`. Reading, and so answering, waits while nobody reads: a
//!    [`ReadHold`](crate::roundtrip::ReadHold), or a batch future kept alive but not polled
//!    until another request takes its reader over.
//!
//!    ```
//!    use bytes::{Bytes, BytesMut};
//!    use corelane_runtime::roundtrip::Codec;
//!    use corelane_runtime::{CloseCause, WriteBack};
//!
//!    /// Replies are lines; the server may send `PING\r\n` at any time.
//!    #[derive(Default)]
//!    struct Nats {
//!        pongs_owed: usize,
//!    }
//!
//!    impl Nats {
//!        fn take_pings(&mut self, input: &mut BytesMut) {
//!            while input.starts_with(b"PING\r\n") {
//!                let _ = input.split_to(6);
//!                self.pongs_owed += 1;
//!            }
//!        }
//!    }
//!
//!    impl Codec for Nats {
//!        type Reply = Bytes;
//!        type Expect = ();
//!        type Error = &'static str;
//!
//!        fn decode(&mut self, _: &(), input: &mut BytesMut) -> Result<Option<Bytes>, Self::Error> {
//!            self.take_pings(input); // before any reply…
//!            let end = input.windows(2).position(|w| w == b"\r\n");
//!            Ok(end.map(|i| input.split_to(i + 2).freeze()))
//!        }
//!
//!        fn unsolicited(&mut self, input: &mut BytesMut) -> Result<(), Self::Error> {
//!            self.take_pings(input); // …or while nothing is in flight (a partial PING waits)
//!            if b"PING\r\n".starts_with(input) { Ok(()) } else { Err("reply nobody asked for") }
//!        }
//!
//!        fn write_back(&mut self, out: &mut WriteBack<'_>) -> Result<(), CloseCause> {
//!            while self.pongs_owed > 0 {
//!                out.write(b"PONG\r\n")?; // refused: closes with CloseCause::OutboundFull
//!                self.pongs_owed -= 1;
//!            }
//!            Ok(())
//!        }
//!    }
//!
//!    // Sans-IO, no socket: a PING between two replies takes no reply's place, and is answered.
//!    let mut codec = Nats::default();
//!    let mut input = BytesMut::from(&b"+OK\r\nPING\r\n+OK 2\r\n"[..]);
//!    assert_eq!(codec.decode(&(), &mut input), Ok(Some(Bytes::from_static(b"+OK\r\n"))));
//!    assert_eq!(codec.decode(&(), &mut input), Ok(Some(Bytes::from_static(b"+OK 2\r\n"))));
//!    let mut sent = BytesMut::new();
//!    codec.write_back(&mut WriteBack::buffer(&mut sent)).unwrap();
//!    assert_eq!(&sent[..], b"PONG\r\n");
//!    ```
//!
//!    The runtime's `tests/integration/write_back.rs` drives such a codec against a scripted server on
//!    every read path, including a write-back refused for a full buffer.
//! 8. **Optional: sessions** (subscriptions, LISTEN, server pushes): a dedicated,
//!    reconnecting connection on one worker, fed (un)subscribe requests from anywhere and
//!    drained as a stream. [`session`](crate::session) has the whole loop: implement
//!    [`Spec`](crate::session::Spec) and [`Wanted`](crate::session::Wanted) (your message
//!    and error types; what a request does to the wanted names), a
//!    [`Connect`](crate::session::Connect) (connect + handshake) and a
//!    [`Connection`](crate::session::Connection) (encode a request, entry before bytes, with
//!    [`Confirmations`](crate::session::Confirmations)); your handler delivers into
//!    [`Shared::inbox`](crate::session::Shared::inbox) and settles confirmations; spawn
//!    [`session::run`](crate::session::run) on a worker. The bundled drivers' `pubsub/`
//!    (Redis) and `listen/` (PostgreSQL) are the examples; `runtime/tests/integration/session.rs` is a
//!    line-protocol one in one file.
//!
//! # Testing it
//!
//! Test against the real server (the example's tests start a throwaway `memcached` through
//! `corelane-testkit`), and try to break the round trip the way users do: futures dropped at
//! random points (`tests/integration/chaos.rs`), a future polled once and then left alone, a server that
//! stalls, over-replies, or sends corrupt bytes (`tests/integration/faults.rs`, with a scripted fake server
//! only for faults a real server cannot produce), and the codec fed random bytes
//! (`tests/integration/proto.rs`).
