//! corelane-runtime: a thread-per-core runtime for database drivers.
//!
//! One glommio executor runs per core and owns its connections outright: a request issued on
//! core N is encoded, written, read and decoded on core N with no lock, no atomic and no
//! cross-thread hop. This crate is the only one that names glommio; drivers (the bundled Redis
//! and PostgreSQL ones, or your own) use its types:
//!
//! - [`Loop`] — the standalone loop: one worker thread per CPU, each a glommio executor.
//! - [`EventLoopProvider`], [`ServerProvider`], [`resolve`] — how drivers find workers: a
//!   thread-per-core server's own, or the shared, refcounted standalone loop.
//! - [`WorkerLoop`] — one worker, usable from any thread: `is_current`, `submit`, `spawn`.
//! - [`Registered`] — a socket registered on a worker with a [`Handler`]; coalesced, bounded
//!   writes; `on_close` exactly once.
//! - [`roundtrip`] — the bridge queue, the direct-index [`Batch`](roundtrip::Batch) and the
//!   handoff between them, generic over a driver's [`Codec`](roundtrip::Codec).
//! - [`pool`] — per-worker connection pools.
//! - [`client`] — a client's state on each worker ([`PerWorker`](client::PerWorker)), its
//!   counters, and the `stats()` / `health()` reports built from them.
//! - [`serve`] — servers on the workers: a `SO_REUSEPORT` listener and accept loop on each,
//!   graceful drain on shutdown, and (feature `hyper`) the hyper 1.x adapter.
//! - [`guide`] — writing a driver on this crate alone, step by step, and which provider to
//!   use.
//!
//! # Example
//!
//! ```
//! use corelane_runtime::{resolve, EventLoopProvider};
//!
//! let workers = resolve(None)?; // the shared standalone loop, started on first use
//! let worker = workers.worker(0).ok_or("no worker")?;
//! let answer = futures_lite::future::block_on(worker.spawn(|| async { 6 * 7 }))?;
//! assert_eq!(answer, 42);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod catch;
pub mod client;
pub mod conn;
pub mod deadline;
mod dispatch;
mod error;
mod event_loop_provider;
pub mod guide;
pub mod inbox;
pub mod oneshot;
pub mod pool;
mod probe;
mod provider;
pub mod roundtrip;
pub mod serve;
pub mod session;
mod spare;
mod standalone;
pub mod task;
mod thread_bound;
mod worker;
mod worker_set;

pub use catch::Panicked;
pub use conn::{
    CloseCause, Handler, Limits, ReadLease, Registered, Stream, TcpKeepalive, TcpListener,
    WriteBack, WriteError,
};
pub use dispatch::{dispatch, dispatch_from, ClientHandle, Dispatch, Fallback, LocalBoxFuture};
pub use error::{Error, SubmitError};
pub use event_loop_provider::{EventLoopProvider, ServerProvider};
pub use probe::probe_io_uring;
pub use provider::{
    configure_standalone, resolve, standalone_running, standalone_starts, Provider,
};
pub use spare::SpareBuf;
pub use standalone::{Loop, LoopBuilder, Placement, DEFAULT_IO_MEMORY};
pub use thread_bound::ThreadBound;
pub use worker::{RemoteTask, WorkerLoop};
pub use worker_set::WorkerSet;
