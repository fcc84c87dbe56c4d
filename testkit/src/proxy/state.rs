//! State shared by the proxy handle, its accept thread and its pump threads.

use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Mode;

/// One direction of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    ClientToServer,
    ServerToClient,
}

impl Flow {
    fn index(self) -> usize {
        match self {
            Flow::ClientToServer => 0,
            Flow::ServerToClient => 1,
        }
    }
}

/// A proxied connection: both sockets, plus how many of its pumps still run.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) client: TcpStream,
    pub(crate) server: TcpStream,
    closed: AtomicBool,
    pumps: AtomicUsize,
}

impl Conn {
    pub(crate) fn new(client: TcpStream, server: TcpStream) -> std::io::Result<Self> {
        client.set_nonblocking(false)?;
        client.set_nodelay(true)?;
        server.set_nodelay(true)?;
        Ok(Conn {
            client,
            server,
            closed: AtomicBool::new(false),
            pumps: AtomicUsize::new(2),
        })
    }

    /// Whether the connection was cut.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Shuts both sockets down in both directions. This wakes pumps blocked in `read` or
    /// `write`; callers must also notify the condvar to wake pumps in a stall or delay.
    pub(crate) fn cut(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
    }
}

#[derive(Debug, Default)]
struct State {
    modes: [Mode; 2],
    conns: Vec<Arc<Conn>>,
    workers: Vec<JoinHandle<()>>,
}

/// What a pump should do with the next part of its buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Write the next `len` bytes (after flipping the byte at `flip`, if any), then, if
    /// `cut_after`, cut every connection.
    Write {
        len: usize,
        flip: Option<usize>,
        cut_after: bool,
    },
    /// The connection or the proxy is closing: stop.
    Stop,
}

/// The shared half of a [`super::FaultProxy`].
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) upstream: SocketAddr,
    pub(crate) shutdown: AtomicBool,
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    pub(crate) fn new(upstream: SocketAddr) -> Self {
        Shared {
            upstream,
            shutdown: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stopping(&self, conn: &Conn) -> bool {
        conn.is_closed() || self.shutdown.load(Ordering::SeqCst)
    }

    pub(crate) fn mode(&self, flow: Flow) -> Mode {
        self.lock().modes[flow.index()].clone()
    }

    pub(crate) fn set_mode(&self, flows: &[Flow], mode: Mode) {
        let cut_now = mode == Mode::CutAfter(0);
        {
            let mut state = self.lock();
            for flow in flows {
                state.modes[flow.index()] = if cut_now {
                    Mode::PassThrough
                } else {
                    mode.clone()
                };
            }
        }
        self.changed.notify_all();
        if cut_now {
            self.cut_all();
        }
    }

    pub(crate) fn register(&self, conn: Arc<Conn>) {
        self.lock().conns.push(conn);
    }

    pub(crate) fn add_worker(&self, handle: JoinHandle<()>) {
        self.lock().workers.push(handle);
    }

    /// Joins pump threads that already ended, so a long-lived proxy does not pile up handles.
    pub(crate) fn reap_workers(&self) {
        let finished: Vec<JoinHandle<()>> = {
            let mut state = self.lock();
            let (done, running) = std::mem::take(&mut state.workers)
                .into_iter()
                .partition(JoinHandle::is_finished);
            state.workers = running;
            done
        };
        for handle in finished {
            let _ = handle.join();
        }
    }

    pub(crate) fn take_workers(&self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut self.lock().workers)
    }

    pub(crate) fn connections(&self) -> usize {
        self.lock().conns.len()
    }

    /// Records that one pump of `conn` ended; the second one removes it from the list.
    pub(crate) fn pump_finished(&self, conn: &Arc<Conn>) {
        if conn.pumps.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.lock().conns.retain(|c| !Arc::ptr_eq(c, conn));
        }
    }

    pub(crate) fn cut_all(&self) {
        let conns = self.lock().conns.clone();
        for conn in &conns {
            conn.cut();
        }
        self.notify();
    }

    /// Wakes every pump waiting in a stall or delay so it re-checks its connection.
    pub(crate) fn notify(&self) {
        // Taking the lock before notifying means a pump that checked `closed` just before a
        // cut is already waiting and gets this wakeup.
        let _guard = self.lock();
        self.changed.notify_all();
    }

    /// Sleeps for `delay`, waking early if the connection or the proxy closes.
    /// Returns `false` if it should stop.
    pub(crate) fn sleep(&self, conn: &Conn, delay: Duration) -> bool {
        let deadline = Instant::now() + delay;
        let mut state = self.lock();
        loop {
            if self.stopping(conn) {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            state = match self.changed.wait_timeout(state, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Decides what to do with the next `available` bytes in `flow`: waits out a stall and a
    /// delay, consumes one-shot budgets.
    pub(crate) fn next_step(&self, conn: &Conn, flow: Flow, available: usize) -> Step {
        let mut state = self.lock();
        loop {
            if self.stopping(conn) {
                return Step::Stop;
            }
            let mode = &mut state.modes[flow.index()];
            let write_all = Step::Write {
                len: available,
                flip: None,
                cut_after: false,
            };
            match mode {
                Mode::PassThrough => return write_all,
                Mode::Stall => {
                    state = self
                        .changed
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                Mode::Delay(delay) => {
                    let delay = *delay;
                    drop(state);
                    if !self.sleep(conn, delay) {
                        return Step::Stop;
                    }
                    return write_all;
                }
                Mode::Fragment(max) => {
                    return Step::Write {
                        len: available.min((*max).max(1)),
                        flip: None,
                        cut_after: false,
                    }
                }
                Mode::CutAfter(remaining) => {
                    let len = usize::try_from(*remaining).map_or(available, |r| r.min(available));
                    // `len` fits in u64: it is at most `remaining`.
                    *remaining -= len as u64;
                    let cut_after = *remaining == 0;
                    if cut_after {
                        *mode = Mode::PassThrough;
                    }
                    return Step::Write {
                        len,
                        flip: None,
                        cut_after,
                    };
                }
                Mode::Corrupt { after } => {
                    let flip = usize::try_from(*after).ok().filter(|at| *at < available);
                    match flip {
                        Some(_) => *mode = Mode::PassThrough,
                        None => *after -= available as u64,
                    }
                    return Step::Write {
                        len: available,
                        flip,
                        cut_after: false,
                    };
                }
            }
        }
    }
}
