//! Fault injection between a pipelined connection and a real server: replies split at every
//! byte, connections cut mid-batch in either direction, a corrupted reply byte, stalled
//! replies with callers timing out, every connection cut at once, and a real `redis-server`
//! killed mid-pipeline.
//!
//! What every test checks (ARCHITECTURE.md, invariants 1–4): every request ends exactly once —
//! its own reply, or `Closed` naming why; none hangs; none gets another request's reply; and
//! afterwards the connection is either closed with a cause or still in step.
//!
//! Setup: a line-echo server on std threads, a [`FaultProxy`] in front of it, and a `Pipe` on a
//! corelane worker connected to the proxy. Requests and replies are framed lines with a
//! checksum (`support::framed`), so a corrupted reply cannot pass for a good one.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::support::framed::{frames, FrameError, Framed, MAX_LINE};
use crate::support::{run_on, test_loop, wait, EchoServer, Lines};
use bytes::{Bytes, BytesMut};
use corelane_runtime::roundtrip::{Batch, Codec, Pipe, RequestError};
use corelane_runtime::task::{sleep, spawn, timeout, yield_now};
use corelane_runtime::{oneshot, CloseCause, Limits, Loop, Stream};
use corelane_testkit::{Direction, FaultProxy, Mode, RedisServer};
use futures_lite::future::poll_once;

/// Payload bytes per request: with the 10-digit id, two colons, the 8-digit checksum and the
/// newline, every framed line is [`LINE`] bytes long.
const PAYLOAD: usize = 19;
/// Length of every framed line.
const LINE: usize = PAYLOAD + 21;
/// Requests in the batches that faults hit mid-stream.
const BATCH: usize = 2000;
/// Bridge callers queued behind such a batch.
const CALLERS: usize = 10;

/// An echo server, a proxy in front of it and a one-worker loop.
struct Rig {
    // Field order is drop order: the loop (and its connections) first, then the proxy.
    lp: Loop,
    proxy: Arc<FaultProxy>,
    server: EchoServer,
}

impl Rig {
    fn new() -> Rig {
        let server = EchoServer::start();
        let proxy = Arc::new(FaultProxy::start(server.addr).unwrap());
        Rig {
            lp: test_loop(1),
            proxy,
            server,
        }
    }

    /// A fresh proxy in front of the same server: one-shot modes then count from a clean slate
    /// and `connections()` sees only this proxy's clients.
    fn fresh_proxy(&self) -> Arc<FaultProxy> {
        Arc::new(FaultProxy::start(self.server.addr).unwrap())
    }

    fn run<T: Send + 'static, Fut: std::future::Future<Output = T> + 'static>(
        &self,
        make: impl FnOnce() -> Fut + Send + 'static,
    ) -> T {
        run_on(&self.lp.workers()[0], make)
    }
}

async fn connect(addr: SocketAddr) -> Pipe<Framed> {
    let stream = Stream::connect_tcp(addr).await.unwrap();
    Pipe::new(stream, Framed::default(), Limits::default()).unwrap()
}

/// Waits until `proxy` has accepted (and connected upstream) `n` clients, so a cut applied
/// next reaches them. Hang-guarded by the caller's `run_on`.
async fn accepted(proxy: &FaultProxy, n: usize) {
    while proxy.connections() < n {
        sleep(Duration::from_millis(1)).await;
    }
}

/// Completes a future already polled once by `poll_once`: its output if that poll finished it
/// (the future is then dropped), else the rest of it.
async fn finish<F: std::future::Future + Unpin>(first: Option<F::Output>, fut: F) -> F::Output {
    match first {
        Some(output) => output,
        None => fut.await,
    }
}

fn batch_of<C: Codec<Expect = ()>>(reqs: &[String]) -> Batch<C> {
    let mut batch = Batch::new();
    for r in reqs {
        batch.push_bytes((), r.as_bytes());
    }
    batch
}

/// One result per request of a finished run: the slots, or the run's own error for every
/// request when the batch was not sent at all.
fn outcomes<C: Codec>(
    batch: &mut Batch<C>,
    run: Result<(), RequestError>,
    n: usize,
) -> Vec<Result<C::Reply, RequestError>> {
    match run {
        Ok(()) => batch.take_all(),
        Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
    }
}

async fn run_batch<C: Codec<Expect = ()>>(
    pipe: &Pipe<C>,
    reqs: &[String],
) -> Vec<Result<C::Reply, RequestError>> {
    let mut batch = batch_of(reqs);
    let run = pipe.run(&mut batch).await;
    outcomes(&mut batch, run, reqs.len())
}

/// Checks that every request ended once: the replies that arrived are a prefix and each is its
/// own request's; every other request ended with `Closed`. Returns how many replies arrived.
///
/// A result of `WorkerClosed` means the request's slot was never filled (it never ended).
fn check_prefix(results: Vec<Result<Bytes, RequestError>>, reqs: &[String]) -> usize {
    assert_eq!(results.len(), reqs.len(), "one result per request");
    let mut ok = 0;
    for (k, result) in results.into_iter().enumerate() {
        match result {
            Ok(reply) => {
                assert_eq!(
                    reply,
                    reqs[k].as_bytes(),
                    "request {k} got another request's reply"
                );
                assert_eq!(ok, k, "reply {k} arrived after request {ok} had failed");
                ok += 1;
            }
            Err(RequestError::Closed(_)) => {}
            Err(e) => panic!("request {k} ended with {e:?}"),
        }
    }
    ok
}

/// Every request got its own reply.
fn check_all(results: Vec<Result<Bytes, RequestError>>, reqs: &[String]) {
    let n = results.len();
    for (k, r) in results.iter().enumerate() {
        assert!(r.is_ok(), "request {k} of {n} failed: {r:?}");
    }
    assert_eq!(check_prefix(results, reqs), reqs.len());
}

/// The end state every test checks: the connection is closed with a cause (and refuses new
/// requests with it), or it is still in step (a batch and single calls get their own replies,
/// nothing is left in flight).
async fn closed_or_in_step(pipe: &Pipe<Framed>, first_id: u64) {
    if pipe.is_closed() {
        let cause = pipe.close_cause().expect("a closed pipe has a cause");
        let req = frames(first_id, 1, "after-close", PAYLOAD).remove(0);
        let after = pipe.call((), |b| b.extend_from_slice(req.as_bytes())).await;
        assert_eq!(after, Err(RequestError::Closed(cause)));
    } else {
        let reqs = frames(first_id, 500, "in-step", PAYLOAD);
        check_all(run_batch(pipe, &reqs).await, &reqs);
        for r in frames(first_id + 500, 20, "in-step-call", PAYLOAD) {
            let reply = guarded(pipe, pipe.call((), |b| b.extend_from_slice(r.as_bytes()))).await;
            assert_eq!(reply.unwrap(), r.as_bytes());
        }
        assert_eq!(pipe.in_flight(), 0, "replies left unread");
        assert!(!pipe.is_closed(), "closed: {:?}", pipe.close_cause());
    }
}

/// Awaits `fut` with a hang guard (not a timing assertion) that reports the connection's
/// state when it trips.
async fn guarded<T>(pipe: &Pipe<Framed>, fut: impl std::future::Future<Output = T>) -> T {
    match timeout(Duration::from_secs(30), fut).await {
        Some(out) => out,
        None => panic!(
            "hung: in_flight {} idle {} outbound {} closed {:?} stats {:?}",
            pipe.in_flight(),
            pipe.is_idle(),
            pipe.outbound_len(),
            pipe.close_cause(),
            pipe.stats()
        ),
    }
}

/// Spawns one single call per request (bridge callers when the connection is busy).
fn spawn_calls(
    pipe: &Pipe<Framed>,
    reqs: Vec<String>,
) -> Vec<(
    String,
    corelane_runtime::task::LocalTask<Result<Bytes, RequestError>>,
)> {
    reqs.into_iter()
        .map(|r| {
            let pipe = pipe.clone();
            let bytes = r.clone();
            let task = spawn(async move {
                pipe.call((), |b| b.extend_from_slice(bytes.as_bytes()))
                    .await
            })
            .unwrap();
            (r, task)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------

#[test]
fn framed_codec_rejects_corruption_and_overlong_lines() {
    let good = frames(7, 3, "codec", PAYLOAD);
    assert!(good.iter().all(|l| l.len() == LINE));
    let mut codec = Framed::default();

    let mut input = BytesMut::from(good.concat().as_bytes());
    for line in &good {
        let reply = codec.decode(&(), &mut input).unwrap().unwrap();
        assert_eq!(reply, line.as_bytes());
    }
    assert!(input.is_empty());

    // A partial line waits; a flipped byte anywhere (the newline too) is an error.
    let mut partial = BytesMut::from(&good[0].as_bytes()[..LINE - 1]);
    assert_eq!(codec.decode(&(), &mut partial), Ok(None));
    let two = good[..2].concat();
    for at in 0..LINE {
        let mut bytes = two.clone().into_bytes();
        bytes[at] ^= 0xFF;
        let mut input = BytesMut::from(&bytes[..]);
        assert!(
            codec.decode(&(), &mut input).is_err(),
            "flipped byte {at} went unnoticed"
        );
    }

    // No newline within 64 KiB is an error; just under it waits.
    let mut long = BytesMut::from(&vec![b'1'; MAX_LINE - 1][..]);
    assert_eq!(codec.decode(&(), &mut long), Ok(None));
    long.extend_from_slice(b"1");
    assert_eq!(
        codec.decode(&(), &mut long),
        Err(FrameError::TooLong(MAX_LINE))
    );
    let mut junk = BytesMut::from(&b"x"[..]);
    assert!(codec.unsolicited(&mut junk).is_err());
}

/// 1. Replies split at every byte boundary: a 2000-request direct batch, then 200 single calls
///    from 20 concurrent tasks (the bridge queue), all get their own replies.
#[test]
fn replies_fragmented_to_single_bytes() {
    let rig = Rig::new();
    rig.proxy
        .set_mode_on(Direction::ServerToClient, Mode::Fragment(1));
    let addr = rig.proxy.addr();
    let stats = rig.run(move || async move {
        let pipe = connect(addr).await;
        let reqs = frames(0, BATCH, "frag-batch", PAYLOAD);
        check_all(run_batch(&pipe, &reqs).await, &reqs);

        let tasks: Vec<_> = (0..20u64)
            .map(|t| {
                let pipe = pipe.clone();
                spawn(async move {
                    for r in frames(10_000 + t * 10, 10, "frag-call", PAYLOAD) {
                        let reply = pipe.call((), |b| b.extend_from_slice(r.as_bytes())).await;
                        assert_eq!(reply.unwrap(), r.as_bytes());
                    }
                })
                .unwrap()
            })
            .collect();
        for t in tasks {
            t.await;
        }
        closed_or_in_step(&pipe, 20_000).await;
        assert!(!pipe.is_closed());
        pipe.stats()
    });
    assert_eq!(
        rig.proxy.mode(Direction::ServerToClient),
        Some(Mode::Fragment(1))
    );
    assert!(stats.direct >= 1, "{stats:?}");
    assert!(stats.bridged > 0, "{stats:?}");
}

/// Cut offsets: at once, after one byte, inside the first reply, a few replies in, and in the
/// middle of a reply halfway through the batch.
const CUTS: [u64; 5] = [0, 1, 137, 5000, (BATCH * LINE / 2 + 7) as u64];

/// A direct batch of [`BATCH`] requests with [`CALLERS`] bridge callers queued behind it;
/// `direction` is cut after `n` bytes while it runs. Returns how many batch replies arrived.
fn cut_mid_batch(rig: &Rig, direction: Direction, n: u64, round: u64, size: usize) -> usize {
    let proxy = rig.fresh_proxy();
    if n > 0 {
        proxy.set_mode_on(direction, Mode::CutAfter(n));
    } else {
        // Hold the bytes so that "at once" is before any of them passed.
        proxy.set_mode_on(direction, Mode::Stall);
    }
    // `CutAfter(0)` is applied to the other direction: setting it on the stalled one would
    // first switch that one to `PassThrough` and release the held bytes (the proxy cuts only
    // after the mode change), so some could slip through before the cut.
    let other = if direction == Direction::ServerToClient {
        Direction::ClientToServer
    } else {
        Direction::ServerToClient
    };
    let base = round * 100_000;
    // The test thread keeps a handle: the proxy's drop joins its threads, not for a worker.
    let keep = proxy.clone();
    let ok = rig.run(move || async move {
        let pipe = connect(proxy.addr()).await;
        let reqs = frames(base, size, "cut-batch", PAYLOAD);
        let mut batch = batch_of(&reqs);
        let mut run = pipe.run(&mut batch);
        // The first poll writes the batch and takes the direct path.
        let first = poll_once(&mut run).await;
        let callers = spawn_calls(&pipe, frames(base + 50_000, CALLERS, "cut-caller", PAYLOAD));
        yield_now().await;
        // Callers are queued behind the batch, unless a write already failed (then they
        // were refused at once, with `Closed`).
        let queued = pipe.in_flight();
        if n == 0 {
            accepted(&proxy, 1).await;
            proxy.set_mode_on(other, Mode::CutAfter(0));
        }
        let done = finish(first, run).await;
        let ok = check_prefix(outcomes(&mut batch, done, reqs.len()), &reqs);
        // Only the replies of whole lines inside the first `n` forwarded bytes (of requests
        // or of replies) can have arrived.
        let max = usize::try_from(n).unwrap() / LINE;
        assert!(
            ok <= max,
            "{ok} replies arrived through a cut after {n} bytes"
        );
        for (r, task) in callers {
            match task.await {
                Err(RequestError::Closed(_)) => {}
                other => panic!("caller {r:?} queued behind a cut batch ended with {other:?}"),
            }
        }
        assert!(pipe.is_closed());
        let cause = pipe.close_cause();
        assert!(
            matches!(cause, Some(CloseCause::PeerClosed | CloseCause::Io { .. })),
            "{cause:?}"
        );
        closed_or_in_step(&pipe, base + 60_000).await;
        assert_eq!(pipe.in_flight(), 0);
        // The one-shot mode has fired: the proxy passes traffic again, and a new connection
        // through it works.
        if n == 0 {
            assert_eq!(proxy.mode(other), Some(Mode::PassThrough));
            proxy.set_mode_on(direction, Mode::PassThrough);
        }
        assert_eq!(proxy.mode(Direction::Both), Some(Mode::PassThrough));
        let fresh = connect(proxy.addr()).await;
        closed_or_in_step(&fresh, base + 70_000).await;
        assert!(!fresh.is_closed());
        (ok, queued, cause)
    });
    drop(keep);
    let (ok, queued, cause) = ok;
    eprintln!(
        "{direction:?} cut after {n} bytes: {ok} of {size} replies arrived, \
         {queued} of {CALLERS} callers were queued behind the batch; closed: {cause:?}"
    );
    ok
}

/// 2. Replies cut mid-batch: the replies that arrived are each the right one, every other
///    request and every bridge caller behind the batch ends with `Closed`, exactly once.
#[test]
fn replies_cut_mid_batch() {
    let rig = Rig::new();
    for (round, n) in CUTS.into_iter().enumerate() {
        cut_mid_batch(&rig, Direction::ServerToClient, n, round as u64, BATCH);
    }
    // A batch bigger than one poll's worth of decoding (4096 replies), cut just past it.
    let n = (4096 * LINE + 5) as u64;
    let ok = cut_mid_batch(&rig, Direction::ServerToClient, n, 10, 10_000);
    assert!(ok <= 4096);
}

/// 3. Requests cut mid-batch: same property.
#[test]
fn requests_cut_mid_batch() {
    let rig = Rig::new();
    for (round, n) in CUTS.into_iter().enumerate() {
        cut_mid_batch(&rig, Direction::ClientToServer, n, round as u64, BATCH);
    }
}

/// 4a. One reply byte corrupted while a direct batch reads: earlier replies are correct, the
///     corrupted one ends with `Closed(Protocol)`, every later one (and every caller queued
///     behind) with `Closed`; no wrong reply is ever delivered.
#[test]
fn corrupted_reply_in_a_direct_batch() {
    let rig = Rig::new();
    // The first byte, inside the first reply, the newline of the first reply (which merges two
    // lines), inside reply 10, the newline of reply 10, and deep into the batch.
    let offsets = [
        0,
        5,
        LINE - 1,
        10 * LINE + 11,
        11 * LINE - 1,
        1234 * LINE + 17,
    ];
    for (round, k) in offsets.into_iter().enumerate() {
        let proxy = rig.fresh_proxy();
        proxy.set_mode_on(Direction::ServerToClient, Mode::Corrupt { after: k as u64 });
        let base = round as u64 * 100_000;
        let keep = proxy.clone();
        rig.run(move || async move {
            let pipe = connect(proxy.addr()).await;
            let reqs = frames(base, BATCH, "corrupt-batch", PAYLOAD);
            let mut batch = batch_of(&reqs);
            let mut run = pipe.run(&mut batch);
            let first = poll_once(&mut run).await;
            let callers = spawn_calls(
                &pipe,
                frames(base + 50_000, CALLERS, "corrupt-caller", PAYLOAD),
            );
            let done = finish(first, run).await;
            let results = outcomes(&mut batch, done, reqs.len());
            let bad = k / LINE;
            for (i, result) in results.into_iter().enumerate() {
                match result {
                    Ok(reply) => {
                        assert!(
                            i < bad,
                            "request {i} got a reply after the corrupted one ({bad})"
                        );
                        assert_eq!(reply, reqs[i].as_bytes(), "request {i}: wrong reply");
                    }
                    Err(RequestError::Closed(CloseCause::Protocol(_))) if i >= bad => {}
                    Err(RequestError::Closed(_)) if i > bad => {}
                    Err(e) => panic!("request {i} (corrupted reply: {bad}) ended with {e:?}"),
                }
            }
            for (r, task) in callers {
                match task.await {
                    Err(RequestError::Closed(_)) => {}
                    other => panic!("caller {r:?} behind a corrupted batch ended with {other:?}"),
                }
            }
            let cause = pipe.close_cause();
            assert!(
                matches!(cause, Some(CloseCause::Protocol(_))),
                "offset {k}: {cause:?}"
            );
            closed_or_in_step(&pipe, base + 60_000).await;
            assert_eq!(pipe.in_flight(), 0);
            let fresh = connect(proxy.addr()).await;
            closed_or_in_step(&fresh, base + 70_000).await;
        });
        drop(keep);
    }
}

/// 4b. One reply byte corrupted while 20 tasks share the connection through the bridge queue:
///     exactly the replies before the corrupted one are delivered (each to its own caller),
///     and everyone else ends with `Closed(Protocol)`.
#[test]
fn corrupted_reply_in_the_bridge_queue() {
    let rig = Rig::new();
    for (round, bad) in [0usize, 1, 57, 150].into_iter().enumerate() {
        let proxy = rig.fresh_proxy();
        let k = bad * LINE + (round * 13) % LINE;
        proxy.set_mode_on(Direction::ServerToClient, Mode::Corrupt { after: k as u64 });
        let base = round as u64 * 100_000;
        let keep = proxy.clone();
        rig.run(move || async move {
            let pipe = connect(proxy.addr()).await;
            let ok_total = Rc::new(Cell::new(0usize));
            let tasks: Vec<_> = (0..20u64)
                .map(|t| {
                    let pipe = pipe.clone();
                    let ok_total = ok_total.clone();
                    spawn(async move {
                        for r in frames(base + t * 100, 10, "corrupt-call", PAYLOAD) {
                            match pipe.call((), |b| b.extend_from_slice(r.as_bytes())).await {
                                Ok(reply) => {
                                    assert_eq!(reply, r.as_bytes(), "wrong reply");
                                    ok_total.set(ok_total.get() + 1);
                                }
                                Err(RequestError::Closed(CloseCause::Protocol(_))) => return false,
                                Err(e) => panic!("{r:?} ended with {e:?}"),
                            }
                        }
                        true
                    })
                    .unwrap()
                })
                .collect();
            for t in tasks {
                t.await;
            }
            assert_eq!(
                ok_total.get(),
                bad,
                "replies delivered before the corrupted one"
            );
            assert!(matches!(pipe.close_cause(), Some(CloseCause::Protocol(_))));
            closed_or_in_step(&pipe, base + 60_000).await;
            let fresh = connect(proxy.addr()).await;
            closed_or_in_step(&fresh, base + 70_000).await;
            assert!(!fresh.is_closed());
        });
        drop(keep);
    }
}

/// 5. Replies stall; direct batches, bridged batches and single calls time out and are
///    dropped. Once replies flow again their replies are read and thrown away, and the next
///    requests on the same connection get their own replies. Then the same with replies
///    trickling one byte at a time, so drops land with half a reply buffered.
#[test]
fn stalled_replies_and_timed_out_callers() {
    let rig = Rig::new();
    let proxy = rig.proxy.clone();
    let (handoffs, trickle_handoffs) = rig.run(move || async move {
        let pipe = connect(proxy.addr()).await;
        closed_or_in_step(&pipe, 0).await;
        let mut id = 1_000u64;
        let mut next = |n: usize, tag: &str| {
            let reqs = frames(id, n, tag, PAYLOAD);
            id += n as u64;
            reqs
        };
        let deadline = Duration::from_millis(50);

        for round in 0..3 {
            proxy.set_mode_on(Direction::ServerToClient, Mode::Stall);
            // A direct batch dropped while it reads its own replies: a handoff.
            let handoffs_before = pipe.stats().handoffs;
            let reqs = next(500, "stalled-direct");
            let mut batch = batch_of(&reqs);
            assert!(pipe.is_idle());
            let outcome = timeout(deadline, pipe.run(&mut batch)).await;
            assert!(outcome.is_none(), "a batch completed through a stall");
            drop(batch);
            assert_eq!(pipe.stats().handoffs, handoffs_before + 1);
            assert_eq!(pipe.in_flight(), 500, "placeholders for the dropped batch");

            // Single calls from many tasks and batches on the bridge queue, all dropped.
            let callers: Vec<_> = next(20, "stalled-call")
                .into_iter()
                .map(|r| {
                    let pipe = pipe.clone();
                    spawn(async move {
                        timeout(
                            deadline,
                            pipe.call((), |b| b.extend_from_slice(r.as_bytes())),
                        )
                        .await
                    })
                    .unwrap()
                })
                .collect();
            for c in callers {
                assert!(c.await.is_none(), "a call completed through a stall");
            }
            for _ in 0..3 {
                let reqs = next(100, "stalled-bridged");
                let mut batch = batch_of(&reqs);
                assert!(timeout(deadline, pipe.run(&mut batch)).await.is_none());
            }
            // One more dropped before its first poll, and one dropped after its first poll.
            {
                let reqs = next(10, "never-polled");
                let mut batch = batch_of(&reqs);
                drop(pipe.run(&mut batch));
                let reqs = next(10, "polled-once");
                let mut batch = batch_of(&reqs);
                let mut run = pipe.run(&mut batch);
                assert!(poll_once(&mut run).await.is_none());
            }
            assert_eq!(pipe.in_flight(), 500 + 20 + 300 + 10);
            assert!(!pipe.is_closed());

            // Replies flow again: the next 1000 requests on the same pipe get their own.
            proxy.set_mode_on(Direction::ServerToClient, Mode::PassThrough);
            let reqs = next(1000, "after-stall");
            check_all(run_batch(&pipe, &reqs).await, &reqs);
            let tasks: Vec<_> = next(40, "after-stall-call")
                .into_iter()
                .map(|r| {
                    let pipe = pipe.clone();
                    spawn(async move {
                        let reply = pipe.call((), |b| b.extend_from_slice(r.as_bytes())).await;
                        assert_eq!(reply.unwrap(), r.as_bytes(), "round {round}");
                    })
                    .unwrap()
                })
                .collect();
            for t in tasks {
                t.await;
            }
            assert_eq!(pipe.in_flight(), 0);
        }
        let handoffs = pipe.stats().handoffs;

        // Replies trickle a byte at a time: batches dropped mid-read leave part of a reply
        // in the input buffer, which the loop's reader must finish and throw away.
        for _ in 0..3 {
            proxy.set_mode_on(Direction::ServerToClient, Mode::Fragment(1));
            let reqs = next(300, "trickle");
            let mut batch = batch_of(&reqs);
            if let Some(done) = timeout(Duration::from_millis(10), pipe.run(&mut batch)).await {
                done.unwrap();
                check_all(batch.take_all(), &reqs);
            }
            drop(batch);
            let reqs = next(5, "trickle-queued");
            let queued = spawn_calls(&pipe, reqs);
            proxy.set_mode_on(Direction::ServerToClient, Mode::PassThrough);
            for (r, task) in queued {
                assert_eq!(task.await.unwrap(), r.as_bytes());
            }
            let reqs = next(1000, "after-trickle");
            check_all(run_batch(&pipe, &reqs).await, &reqs);
        }
        closed_or_in_step(&pipe, 900_000).await;
        assert!(!pipe.is_closed());
        (handoffs, pipe.stats().handoffs - handoffs)
    });
    assert_eq!(handoffs, 3, "one handoff per stalled direct batch");
    eprintln!("trickling drops that landed mid-read: {trickle_handoffs}");
}

/// 5b. Faults that land on placeholders: a direct batch is dropped while replies stall (its
///     requests become placeholders) with callers queued behind it; then either a placeholder's
///     reply is corrupted or the connection is cut. The callers end with `Closed` (never with a
///     placeholder's reply), and the connection closes with the right cause.
#[test]
fn faults_on_placeholders_after_a_handoff() {
    let rig = Rig::new();
    for (round, corrupt) in [true, false, true, false].into_iter().enumerate() {
        let proxy = rig.fresh_proxy();
        let keep = proxy.clone();
        let base = round as u64 * 100_000;
        rig.run(move || async move {
            let pipe = connect(proxy.addr()).await;
            proxy.set_mode_on(Direction::ServerToClient, Mode::Stall);
            let reqs = frames(base, 100, "placeholder", PAYLOAD);
            let mut batch = batch_of(&reqs);
            let outcome = timeout(Duration::from_millis(20), pipe.run(&mut batch)).await;
            assert!(outcome.is_none());
            drop(batch);
            assert_eq!(pipe.stats().handoffs, 1);
            let callers = spawn_calls(&pipe, frames(base + 500, CALLERS, "behind", PAYLOAD));
            yield_now().await;
            assert_eq!(pipe.in_flight(), 100 + CALLERS);
            if corrupt {
                // Reply 50 (a placeholder's) gets a flipped byte.
                let at = (50 * LINE + 3 + round) as u64;
                proxy.set_mode_on(Direction::ServerToClient, Mode::Corrupt { after: at });
            } else {
                accepted(&proxy, 1).await;
                proxy.cut_all();
            }
            for (r, task) in callers {
                match task.await {
                    Err(RequestError::Closed(_)) => {}
                    other => panic!("{r:?} behind faulty placeholders ended with {other:?}"),
                }
            }
            let cause = pipe.close_cause();
            if corrupt {
                assert!(matches!(cause, Some(CloseCause::Protocol(_))), "{cause:?}");
            } else {
                assert!(
                    matches!(cause, Some(CloseCause::PeerClosed | CloseCause::Io { .. })),
                    "{cause:?}"
                );
            }
            closed_or_in_step(&pipe, base + 1_000).await;
            assert_eq!(pipe.in_flight(), 0);
            proxy.set_mode_on(Direction::ServerToClient, Mode::PassThrough);
            let fresh = connect(proxy.addr()).await;
            closed_or_in_step(&fresh, base + 2_000).await;
            assert!(!fresh.is_closed());
        });
        drop(keep);
    }
}

thread_local! {
    static REMOTE_PIPE: RefCell<Option<Pipe<Framed>>> = const { RefCell::new(None) };
}

/// 6. Every connection cut while 50 tasks (single calls and batches) and a caller on another
///    thread have requests in flight: everyone ends with `Closed`, exactly once.
#[test]
fn cut_all_with_many_callers_in_flight() {
    let rig = Rig::new();
    let proxy = rig.proxy.clone();
    let addr = proxy.addr();
    rig.run(move || async move {
        let pipe = connect(addr).await;
        REMOTE_PIPE.with(|p| *p.borrow_mut() = Some(pipe.clone()));
    });

    // The remote caller: off the worker, through the mailbox and a oneshot.
    let worker = rig.lp.workers()[0].clone();
    let remote = std::thread::spawn(move || {
        let mut ok = 0u64;
        for id in 5_000_000..10_000_000 {
            let r = frames(id, 1, "remote", PAYLOAD).remove(0);
            let (tx, rx) = oneshot::channel();
            let bytes = r.clone();
            worker
                .submit(move || {
                    REMOTE_PIPE.with(|p| {
                        let p = p.borrow();
                        let pipe = p.as_ref().unwrap();
                        pipe.send_remote((), |b| b.extend_from_slice(bytes.as_bytes()), tx);
                    });
                })
                .unwrap();
            match futures_lite::future::block_on(rx).unwrap() {
                Ok(reply) => {
                    assert_eq!(reply, r.as_bytes(), "remote caller got a wrong reply");
                    ok += 1;
                }
                Err(RequestError::Closed(_)) => return ok,
                Err(e) => panic!("remote request ended with {e:?}"),
            }
        }
        panic!("the remote caller never saw the cut");
    });

    let (ended, completed) = rig.run(move || async move {
        let pipe = REMOTE_PIPE.with(|p| p.borrow().clone()).unwrap();
        let completed = Rc::new(Cell::new(0u64));
        let tasks: Vec<_> = (0..50u64)
            .map(|t| {
                let pipe = pipe.clone();
                let completed = completed.clone();
                spawn(async move {
                    let mut id = t * 100_000;
                    for round in 0.. {
                        let n = if round % 2 == 0 { 1 } else { 1 + (round % 40) };
                        let reqs = frames(id, n, "cut-all", PAYLOAD);
                        id += n as u64;
                        let results = if n == 1 {
                            let reply = pipe
                                .call((), |b| b.extend_from_slice(reqs[0].as_bytes()))
                                .await;
                            vec![reply]
                        } else {
                            run_batch(&pipe, &reqs).await
                        };
                        let ok = check_prefix(results, &reqs);
                        completed.set(completed.get() + ok as u64);
                        if ok < n {
                            return;
                        }
                    }
                })
                .unwrap()
            })
            .collect();
        while completed.get() < 5_000 && !pipe.is_closed() {
            sleep(Duration::from_millis(1)).await;
        }
        proxy.cut_all();
        let mut ended = 0;
        for t in tasks {
            t.await;
            ended += 1;
        }
        assert!(pipe.is_closed());
        assert!(
            matches!(
                pipe.close_cause(),
                Some(CloseCause::PeerClosed | CloseCause::Io { .. })
            ),
            "{:?}",
            pipe.close_cause()
        );
        closed_or_in_step(&pipe, 9_000_000).await;
        assert_eq!(pipe.in_flight(), 0);
        let fresh = connect(addr).await;
        closed_or_in_step(&fresh, 9_100_000).await;
        assert!(!fresh.is_closed());
        (ended, completed.get())
    });
    assert_eq!(ended, 50);
    let remote_ok = remote.join().expect("the remote caller failed");
    rig.run(|| async {
        let pipe = REMOTE_PIPE.with(|p| p.borrow_mut().take()).unwrap();
        assert!(pipe.is_closed());
    });
    eprintln!("cut after {completed} replies on the worker, {remote_ok} remote");
}

/// 7. A real `redis-server` killed while 10 000 pipelined inline `PING`s are in flight (the
///    requests trickle through the proxy a byte per segment, so the kill lands mid-stream): every
///    request ends once, `+PONG` or `Closed`; after a restart a new connection works.
#[test]
fn redis_killed_mid_pipeline() {
    const PINGS: usize = 10_000;
    let mut server = RedisServer::start().unwrap();
    let proxy = Arc::new(FaultProxy::start(server.addr()).unwrap());
    proxy.set_mode_on(Direction::ClientToServer, Mode::Fragment(1));
    let lp = test_loop(1);
    let addr = proxy.addr();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (killed_tx, killed_rx) = oneshot::channel::<()>();
    let task = lp.workers()[0].spawn(move || async move {
        let stream = Stream::connect_tcp(addr).await.unwrap();
        let pipe = Pipe::new(stream, Lines, Limits::default()).unwrap();
        let pong = pipe.call((), |b| b.extend_from_slice(b"PING\r\n")).await;
        assert_eq!(pong.unwrap(), &b"+PONG\r\n"[..]);

        let reqs = vec!["PING\r\n".to_owned(); PINGS];
        let mut batch: Batch<Lines> = batch_of(&reqs);
        let mut run = pipe.run(&mut batch);
        let first = poll_once(&mut run).await;
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                let pipe = pipe.clone();
                spawn(async move { pipe.call((), |b| b.extend_from_slice(b"PING\r\n")).await })
                    .unwrap()
            })
            .collect();
        started_tx.send(()).unwrap();
        let done = finish(first, run).await;
        let results = outcomes(&mut batch, done, PINGS);
        let pongs: Vec<String> = vec!["+PONG\r\n".to_owned(); PINGS];
        let ok = check_prefix(results, &pongs);
        for c in callers {
            match c.await {
                Ok(reply) => {
                    assert_eq!(
                        ok, PINGS,
                        "a caller behind the batch got a reply, the batch did not"
                    );
                    assert_eq!(reply, &b"+PONG\r\n"[..]);
                }
                Err(RequestError::Closed(_)) => {}
                Err(e) => panic!("caller ended with {e:?}"),
            }
        }
        killed_rx.await.unwrap();
        // The server is gone: the connection closes (peer closed or reset) once everything
        // that was on its way has been read.
        let after = pipe.call((), |b| b.extend_from_slice(b"PING\r\n")).await;
        assert!(matches!(after, Err(RequestError::Closed(_))), "{after:?}");
        assert!(pipe.is_closed());
        assert!(
            matches!(
                pipe.close_cause(),
                Some(CloseCause::PeerClosed | CloseCause::Io { .. })
            ),
            "{:?}",
            pipe.close_cause()
        );
        assert_eq!(pipe.in_flight(), 0);
        ok
    });
    started_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the pipeline never started");
    // Not a timing assertion: a short pause only makes a kill mid-stream likelier.
    std::thread::sleep(Duration::from_millis(20));
    server.kill();
    killed_tx.send(()).unwrap();
    let ok = wait(task);
    eprintln!("redis killed after {ok} of {PINGS} PONGs");

    proxy.set_mode_on(Direction::ClientToServer, Mode::PassThrough);
    server.restart().unwrap();
    run_on(&lp.workers()[0], move || async move {
        let stream = Stream::connect_tcp(addr).await.unwrap();
        let pipe = Pipe::new(stream, Lines, Limits::default()).unwrap();
        let reqs = vec!["PING\r\n".to_owned(); 1000];
        let results = run_batch(&pipe, &reqs).await;
        let pongs: Vec<String> = vec!["+PONG\r\n".to_owned(); 1000];
        assert_eq!(check_prefix(results, &pongs), 1000);
        assert!(!pipe.is_closed());
        assert_eq!(pipe.in_flight(), 0);
    });
}
