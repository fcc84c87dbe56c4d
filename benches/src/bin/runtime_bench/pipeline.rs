//! Per-request cost of the round-trip toolkit on one worker and one connection: a 64-request
//! batch by direct index, the same 64 requests through the bridge queue (as 64 concurrent
//! calls and as one bridged batch), and single sequential calls.

use std::error::Error;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use corelane_runtime::roundtrip::{Batch, Codec, Pipe, PipeStats, RequestError};
use corelane_runtime::{oneshot, task, Limits, Stream, WorkerLoop};

use crate::sys;

/// Requests per batch (and concurrent calls per round).
pub const BATCH: usize = 64;

/// Replies are lines ending in `\n`; a line over 1 MiB is a protocol error.
struct Lines;

impl Codec for Lines {
    type Reply = Bytes;
    type Expect = ();
    type Error = String;

    fn decode(&mut self, _: &(), input: &mut BytesMut) -> Result<Option<Bytes>, String> {
        match input.iter().position(|&b| b == b'\n') {
            Some(i) => Ok(Some(input.split_to(i + 1).freeze())),
            None if input.len() > 1 << 20 => Err("line too long".into()),
            None => Ok(None),
        }
    }

    fn unsolicited(&mut self, input: &mut BytesMut) -> Result<(), String> {
        if input.is_empty() {
            Ok(())
        } else {
            Err(format!("{} unsolicited bytes", input.len()))
        }
    }
}

/// What one round sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `pipe.run(&mut batch)` of 64 requests on an idle connection: direct index.
    Direct64,
    /// 64 tasks, each one `pipe.call`: the first reads directly, 63 ride the bridge queue.
    BridgeCalls64,
    /// One `send_remote` request keeps the connection busy, so the 64-request batch behind
    /// it goes through the bridge queue (65 requests per round, all bridged).
    BridgeBatch64,
    /// One `pipe.call` at a time on an idle connection: direct index.
    C1Direct,
    /// One `send_remote` + oneshot at a time, from the worker: the bridge path for one request.
    C1Bridge,
}

impl Mode {
    /// Every mode, in report order.
    pub const ALL: [Mode; 5] = [
        Mode::Direct64,
        Mode::BridgeCalls64,
        Mode::BridgeBatch64,
        Mode::C1Direct,
        Mode::C1Bridge,
    ];

    /// The name printed in the report.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Direct64 => "direct.batch64",
            Mode::BridgeCalls64 => "bridge.calls64",
            Mode::BridgeBatch64 => "bridge.batch64",
            Mode::C1Direct => "c1.direct",
            Mode::C1Bridge => "c1.bridge",
        }
    }

    /// Rounds between two clock reads (a clock read per single request would be noise).
    fn check_every(self) -> u64 {
        match self {
            Mode::C1Direct | Mode::C1Bridge => 32,
            _ => 1,
        }
    }
}

/// One timed window.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Requests answered in the window.
    pub requests: u64,
    /// Wall time of the window.
    pub wall: Duration,
    /// CPU time of the worker thread running the client.
    pub thread_cpu: Duration,
    /// CPU time of the whole client process.
    pub process_cpu: Duration,
    /// CPU time of the echo-server process, when readable.
    pub server_cpu: Option<Duration>,
    /// How the window's batches travelled (deltas).
    pub stats: PipeStats,
}

impl Sample {
    /// Wall nanoseconds per request.
    pub fn ns_per_req(&self) -> f64 {
        per_req(self.wall, self.requests)
    }
}

/// Nanoseconds of `d` per request.
pub fn per_req(d: Duration, requests: u64) -> f64 {
    d.as_nanos() as f64 / requests.max(1) as f64
}

type BoxError = Box<dyn Error>;

/// Connects from `worker`, verifies the echo, warms up, then runs `mode` for `window`.
pub fn measure(
    worker: &WorkerLoop,
    addr: SocketAddr,
    server_pid: u32,
    mode: Mode,
    warmup: Duration,
    window: Duration,
) -> Result<Sample, Box<dyn Error>> {
    let task = worker.spawn(move || async move {
        run(addr, server_pid, mode, warmup, window)
            .await
            .map_err(|e| e.to_string())
    });
    Ok(futures_lite::future::block_on(task)??)
}

async fn run(
    addr: SocketAddr,
    server_pid: u32,
    mode: Mode,
    warmup: Duration,
    window: Duration,
) -> Result<Sample, BoxError> {
    let stream = Stream::connect_tcp(addr).await?;
    let pipe = Pipe::new(stream, Lines, Limits::default())?;
    let mut client = Client::new(pipe);
    client.verify().await?;

    let deadline = Instant::now() + warmup;
    while Instant::now() < deadline {
        client.round(mode).await?;
    }

    let stats0 = client.pipe.stats();
    let meter = Meter::start(server_pid);
    let start = Instant::now();
    let mut requests = 0;
    let mut rounds = 0u64;
    let wall = loop {
        requests += client.round(mode).await?;
        rounds += 1;
        if rounds % mode.check_every() == 0 {
            let elapsed = start.elapsed();
            if elapsed >= window {
                break elapsed;
            }
        }
    };
    let mut sample = meter.finish(requests, wall);
    let stats1 = client.pipe.stats();
    sample.stats.direct = stats1.direct - stats0.direct;
    sample.stats.bridged = stats1.bridged - stats0.bridged;
    sample.stats.handoffs = stats1.handoffs - stats0.handoffs;
    client.pipe.close();
    Ok(sample)
}

/// The CPU clocks of a measured window: this thread, this process, and the server process.
pub struct Meter {
    server_pid: u32,
    server0: Option<Duration>,
    process0: Duration,
    thread0: Duration,
}

impl Meter {
    /// Reads the clocks at the window's start (on the thread that does the work).
    pub fn start(server_pid: u32) -> Meter {
        Meter {
            server_pid,
            server0: sys::other_process_cpu(server_pid),
            process0: sys::process_cpu(),
            thread0: sys::thread_cpu(),
        }
    }

    /// The window's sample: `requests` answered in `wall`, the CPU each clock spent since
    /// [`Meter::start`]; no pipe stats.
    pub fn finish(self, requests: u64, wall: Duration) -> Sample {
        let server_cpu = match (self.server0, sys::other_process_cpu(self.server_pid)) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        Sample {
            requests,
            wall,
            thread_cpu: sys::thread_cpu().saturating_sub(self.thread0),
            process_cpu: sys::process_cpu().saturating_sub(self.process0),
            server_cpu,
            stats: PipeStats::default(),
        }
    }
}

/// One connection and the reusable request material.
struct Client {
    pipe: Pipe<Lines>,
    lines: Rc<[Bytes]>,
    batch: Batch<Lines>,
    tasks: Vec<task::LocalTask<Result<Bytes, RequestError>>>,
    next: usize,
}

fn line(i: usize) -> Bytes {
    Bytes::from(format!("GET bench:key:{i:06}\n"))
}

impl Client {
    fn new(pipe: Pipe<Lines>) -> Client {
        Client {
            pipe,
            lines: (0..BATCH).map(line).collect(),
            batch: Batch::with_capacity(BATCH, BATCH * 32),
            tasks: Vec::with_capacity(BATCH),
            next: 0,
        }
    }

    /// Every mode once, with every reply compared to its request.
    async fn verify(&mut self) -> Result<(), BoxError> {
        self.fill_batch();
        self.pipe.run(&mut self.batch).await?;
        for (k, reply) in self.batch.take_all().into_iter().enumerate() {
            if reply?.as_ref() != self.lines.get(k).map_or(&[][..], |l| &l[..]) {
                return Err(format!("reply {k} is not its request's echo").into());
            }
        }
        let one = self
            .pipe
            .call((), |b| b.extend_from_slice(b"ping\n"))
            .await?;
        if one.as_ref() != b"ping\n" {
            return Err("single call got a wrong reply".into());
        }
        for mode in Mode::ALL {
            self.round(mode).await?;
        }
        if !self.pipe.is_idle() {
            return Err("connection not idle after the verification rounds".into());
        }
        Ok(())
    }

    fn fill_batch(&mut self) {
        self.batch.clear();
        for l in self.lines.iter() {
            self.batch.push_bytes((), l);
        }
    }

    /// Takes every reply of the last batch run; any failure is an error.
    fn drain_batch(&mut self) -> Result<(), BoxError> {
        for k in 0..BATCH {
            match self.batch.take(k) {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Err(format!("batch reply {k} missing").into()),
            }
        }
        Ok(())
    }

    /// One round of `mode`; returns how many requests it completed.
    async fn round(&mut self, mode: Mode) -> Result<u64, BoxError> {
        match mode {
            Mode::Direct64 => {
                self.fill_batch();
                self.pipe.run(&mut self.batch).await?;
                self.drain_batch()?;
                Ok(BATCH as u64)
            }
            Mode::BridgeCalls64 => {
                for i in 0..BATCH {
                    let pipe = self.pipe.clone();
                    let lines = self.lines.clone();
                    self.tasks.push(task::spawn(async move {
                        let bytes = lines.get(i).map_or(&[][..], |l| &l[..]);
                        pipe.call((), |b| b.extend_from_slice(bytes)).await
                    })?);
                }
                for t in self.tasks.drain(..) {
                    t.await?;
                }
                Ok(BATCH as u64)
            }
            Mode::BridgeBatch64 => {
                let (tx, rx) = oneshot::channel();
                let first = self.lines.first().map_or(&[][..], |l| &l[..]);
                self.pipe
                    .send_remote((), |b| b.extend_from_slice(first), tx);
                self.fill_batch();
                self.pipe.run(&mut self.batch).await?;
                self.drain_batch()?;
                rx.await.map_err(|_| "send_remote reply dropped")??;
                Ok(BATCH as u64 + 1)
            }
            Mode::C1Direct => {
                self.next = (self.next + 1) % BATCH;
                let bytes = self.lines.get(self.next).map_or(&[][..], |l| &l[..]);
                self.pipe.call((), |b| b.extend_from_slice(bytes)).await?;
                Ok(1)
            }
            Mode::C1Bridge => {
                self.next = (self.next + 1) % BATCH;
                let bytes = self.lines.get(self.next).map_or(&[][..], |l| &l[..]);
                let (tx, rx) = oneshot::channel();
                self.pipe
                    .send_remote((), |b| b.extend_from_slice(bytes), tx);
                rx.await.map_err(|_| "send_remote reply dropped")??;
                Ok(1)
            }
        }
    }
}
