//! memcached workloads for corelane's example driver (`examples/memcached`, built on
//! corelane-runtime alone) and the peer, async-memcached (see benches/Cargo.toml for why).
//!
//! `memcached_pipe_p64` fetches 64 values per op with one 64-key `get` for both clients (the
//! peer cannot pipeline separate requests); `corelane-pipeline` does it as 64 separate `get`s
//! in one batch, which costs the server several times more per value, so it is shown beside.

use std::future::Future;

use async_memcached::AsciiProtocol;

use crate::measure::{self, Sample, Timing};
use crate::{At, Ctx, Workload};

/// The key every get reads; set once before the runs.
pub const KEY: &str = "corelane:bench:get";
/// Its 16-byte value, checked on every get.
pub const VALUE: &[u8; 16] = b"0123456789abcdef";
/// Gets per pipeline.
pub const PIPE: usize = 64;
const SERVER: &str = "memcached";

/// The memcached clients measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemcachedClient {
    Corelane,
    /// corelane on the one-worker loop (`corelane-1w`), as on the Redis and PostgreSQL rows.
    CorelaneOneWorker,
    CorelaneOffloop,
    /// The off-loop calls through the one-worker loop (`corelane-offloop-1w`).
    CorelaneOffloopOneWorker,
    /// The pipeline row as 64 separate `get`s in one `Pipeline` (the runtime's direct-index
    /// batch). The server does far more work for 64 commands than for one 64-key get (the
    /// peer's only way, and the `corelane` row's), so this is printed beside, not compared.
    CorelanePipeline,
    AsyncMemcachedCurrentThread,
    AsyncMemcachedMultiThread2,
}

impl MemcachedClient {
    pub const ALL: [MemcachedClient; 7] = [
        MemcachedClient::Corelane,
        MemcachedClient::CorelaneOneWorker,
        MemcachedClient::CorelaneOffloop,
        MemcachedClient::CorelaneOffloopOneWorker,
        MemcachedClient::CorelanePipeline,
        MemcachedClient::AsyncMemcachedCurrentThread,
        MemcachedClient::AsyncMemcachedMultiThread2,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MemcachedClient::Corelane => "corelane",
            MemcachedClient::CorelaneOneWorker => "corelane-1w",
            MemcachedClient::CorelaneOffloop => "corelane-offloop",
            MemcachedClient::CorelaneOffloopOneWorker => "corelane-offloop-1w",
            MemcachedClient::CorelanePipeline => "corelane-pipeline",
            MemcachedClient::AsyncMemcachedCurrentThread => "async-memcached-ct",
            MemcachedClient::AsyncMemcachedMultiThread2 => "async-memcached-mt2",
        }
    }
}

impl MemcachedClient {
    /// Whether this client has a row in `workload`.
    pub fn applies(self, workload: Workload) -> bool {
        self != MemcachedClient::CorelanePipeline || workload == Workload::MemcachedPipeP64
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn check(got: Option<&[u8]>) -> Result<(), String> {
    if got == Some(&VALUE[..]) {
        Ok(())
    } else {
        Err(format!(
            "wrong value: get {KEY} returned {:?}, expected {:?}",
            got.map(String::from_utf8_lossy),
            String::from_utf8_lossy(VALUE)
        ))
    }
}

/// Sets the key the workloads read (with the peer, from a throwaway runtime).
pub fn prepare(addr: &str) -> Result<(), String> {
    measure::tokio_current_thread()?.block_on(async {
        let mut client = async_memcached::Client::new(format!("tcp://{addr}"))
            .await
            .map_err(err)?;
        client.set(KEY, &VALUE[..], None, None).await.map_err(err)?;
        let back = client.get(KEY).await.map_err(err)?;
        check(back.and_then(|v| v.data).as_deref())
    })
}

/// One measurement of `client` on `workload`.
pub fn run(ctx: &Ctx, workload: Workload, client: MemcachedClient) -> Result<Sample, String> {
    match client {
        MemcachedClient::Corelane => corelane(ctx, workload, At::Loop, false),
        MemcachedClient::CorelaneOneWorker => corelane(ctx, workload, At::OneWorker, false),
        MemcachedClient::CorelaneOffloop => corelane(ctx, workload, At::Offloop, false),
        MemcachedClient::CorelaneOffloopOneWorker => {
            corelane(ctx, workload, At::OffloopOneWorker, false)
        }
        MemcachedClient::CorelanePipeline => corelane(ctx, workload, At::Loop, true),
        MemcachedClient::AsyncMemcachedCurrentThread => {
            peer(ctx, workload, measure::tokio_current_thread()?)
        }
        MemcachedClient::AsyncMemcachedMultiThread2 => {
            peer(ctx, workload, measure::tokio_multi_thread(2)?)
        }
    }
}

enum Place<'a> {
    Loop(&'a dyn corelane_runtime::EventLoopProvider),
    Tokio(tokio::runtime::Runtime),
}

fn go<M, F, Fut>(timing: Timing, place: Place<'_>, tasks: usize, make: M) -> Result<Sample, String>
where
    M: FnMut(usize) -> F,
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<u64, String>> + Send + 'static,
{
    let ops: Vec<F> = (0..tasks).map(make).collect();
    measure::measure(timing, SERVER, move |window| match place {
        Place::Loop(workers) => measure::launch_corelane(workers, window, ops),
        Place::Tokio(rt) => measure::launch_tokio(rt, window, ops),
    })
}

fn corelane(ctx: &Ctx, workload: Workload, at: At, pipeline: bool) -> Result<Sample, String> {
    let addr: std::net::SocketAddr = ctx.memcached_addr.parse().map_err(err)?;
    let config = corelane_memcached::Config::from_addr(addr);
    let client = match at {
        At::Loop | At::Offloop => corelane_memcached::Client::new(config),
        At::OneWorker | At::OffloopOneWorker => {
            corelane_memcached::Client::with_server(config, ctx.one_worker()?)
        }
    }
    .map_err(err)?;
    let place = match at {
        At::Loop => Place::Loop(&*ctx.workers),
        At::OneWorker => Place::Loop(ctx.one_worker()?),
        At::Offloop | At::OffloopOneWorker => Place::Tokio(measure::tokio_multi_thread(2)?),
    };
    match workload {
        Workload::MemcachedGetC64 => go(ctx.timing, place, workload.tasks(), |_| {
            let c = client.clone();
            move || {
                let c = c.clone();
                async move {
                    let item = c.get(KEY).await.map_err(err)?;
                    check(item.as_ref().map(|i| &i.value[..]))?;
                    Ok(1)
                }
            }
        }),
        Workload::MemcachedPipeP64 if !pipeline => go(ctx.timing, place, workload.tasks(), |_| {
            let c = client.clone();
            move || {
                let c = c.clone();
                async move {
                    let items = c.get_multi(&[KEY; PIPE], false).await.map_err(err)?;
                    if items.len() != PIPE {
                        return Err(format!(
                            "wrong value: {} values for {PIPE} keys",
                            items.len()
                        ));
                    }
                    for item in &items {
                        check(Some(&item.value))?;
                    }
                    Ok(PIPE as u64)
                }
            }
        }),
        Workload::MemcachedPipeP64 => {
            let mut pipe = corelane_memcached::Pipeline::new();
            for _ in 0..PIPE {
                pipe.get(KEY);
            }
            let pipe = std::sync::Arc::new(pipe);
            go(ctx.timing, place, workload.tasks(), |_| {
                let (c, pipe) = (client.clone(), pipe.clone());
                move || {
                    let (c, pipe) = (c.clone(), pipe.clone());
                    async move {
                        let replies = c.pipeline(&pipe).await.map_err(err)?;
                        if replies.len() != PIPE {
                            return Err(format!(
                                "wrong value: {} replies to {PIPE} gets",
                                replies.len()
                            ));
                        }
                        for r in &replies {
                            match r {
                                corelane_memcached::Reply::Values(items) if items.len() == 1 => {
                                    check(Some(&items[0].value))?
                                }
                                other => {
                                    return Err(format!("wrong value: get returned {other:?}"))
                                }
                            }
                        }
                        Ok(PIPE as u64)
                    }
                }
            })
        }
        _ => Err("not a memcached workload".into()),
    }
}

/// async-memcached: one `Client` is one connection used through `&mut self` (no
/// multiplexing), so each task owns a connection. Its fastest way to fetch 64 values is one
/// multi-key `get` (it cannot pipeline separate requests); that is what the pipeline row uses.
fn peer(ctx: &Ctx, workload: Workload, rt: tokio::runtime::Runtime) -> Result<Sample, String> {
    let tasks = workload.tasks();
    let mut conns = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        let client = rt
            .block_on(async_memcached::Client::new(format!(
                "tcp://{}",
                ctx.memcached_addr
            )))
            .map_err(err)?;
        conns.push(std::sync::Arc::new(tokio::sync::Mutex::new(client)));
    }
    let place = Place::Tokio(rt);
    match workload {
        Workload::MemcachedGetC64 => go(ctx.timing, place, tasks, |t| {
            let conn = conns[t].clone();
            move || {
                let conn = conn.clone();
                async move {
                    // Uncontended: this task is the connection's only user.
                    let mut c = conn.lock().await;
                    let v = c.get(KEY).await.map_err(err)?;
                    check(v.and_then(|v| v.data).as_deref())?;
                    Ok(1)
                }
            }
        }),
        Workload::MemcachedPipeP64 => go(ctx.timing, place, tasks, |t| {
            let conn = conns[t].clone();
            move || {
                let conn = conn.clone();
                async move {
                    let mut c = conn.lock().await;
                    let values = c.get_multi([KEY; PIPE]).await.map_err(err)?;
                    if values.len() != PIPE {
                        return Err(format!(
                            "wrong value: {} values for {PIPE} keys",
                            values.len()
                        ));
                    }
                    for v in values {
                        check(v.data.as_deref())?;
                    }
                    Ok(PIPE as u64)
                }
            }
        }),
        _ => Err("not a memcached workload".into()),
    }
}
