//! Redis workloads for corelane-redis, redis-rs (MultiplexedConnection, and the plain blocking
//! `Connection` on the single-caller rows) and fred, in clear or over TLS (rustls with ring for
//! everyone), on one server or on a Redis Cluster (corelane's `ClusterClient`, redis-rs'
//! async cluster connection, fred's clustered client).
//!
//! Cluster rows: `redis_cluster_get_c64` has each task read a key of its own
//! ([`cluster_key`]), so the 64 callers spread over the three masters; in
//! `redis_cluster_pipe_p64` the 64 GETs all read [`KEY`] (one slot, one node), because
//! redis-rs' async cluster connection refuses a pipeline whose commands span slots.

use std::future::Future;

use bytes::Bytes;

use crate::measure::{self, Sample, Timing};
use crate::{At, Ctx, Workload};

/// The key every GET reads; set once before the runs.
pub const KEY: &str = "corelane:bench:get";
/// Its 16-byte value, checked on every GET.
pub const VALUE: &[u8; 16] = b"0123456789abcdef";
/// Commands per pipeline.
pub const PIPE: usize = 64;
/// Size of the SET value.
pub const SET_SIZE: usize = 1024;
const SERVER: &str = "redis-server";

/// The Redis clients measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisClient {
    Corelane,
    /// corelane on a loop of one worker (when the main loop has more): the other CPUs are
    /// left to the server, as the peers' current-thread runtimes leave them. Not on the
    /// cluster rows.
    CorelaneOneWorker,
    CorelaneOffloop,
    /// The off-loop calls through a loop of one worker: the other CPU is left to the
    /// caller's tokio threads (and the server). Not on the cluster rows.
    CorelaneOffloopOneWorker,
    RedisRsCurrentThread,
    RedisRsMultiThread2,
    /// redis-rs' blocking `Connection`, one per caller on a thread of its own.
    RedisRsSync,
    Fred,
    FredPool2,
}

impl RedisClient {
    pub const ALL: [RedisClient; 9] = [
        RedisClient::Corelane,
        RedisClient::CorelaneOneWorker,
        RedisClient::CorelaneOffloop,
        RedisClient::CorelaneOffloopOneWorker,
        RedisClient::RedisRsCurrentThread,
        RedisClient::RedisRsMultiThread2,
        RedisClient::RedisRsSync,
        RedisClient::Fred,
        RedisClient::FredPool2,
    ];

    /// Whether this client is measured on `workload`. The blocking connection only on the
    /// single-caller rows of one server: with 64 callers it would need 64 threads (or make
    /// callers queue behind each other, which measures fewer callers than the row says), and
    /// redis-rs' blocking cluster connection is not wired up.
    pub fn applies(self, workload: Workload) -> bool {
        match self {
            RedisClient::RedisRsSync => {
                workload.tasks() == 1 && !workload.is_tls() && !workload.is_cluster()
            }
            RedisClient::CorelaneOneWorker | RedisClient::CorelaneOffloopOneWorker => {
                !workload.is_cluster()
            }
            _ => true,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RedisClient::Corelane => "corelane",
            RedisClient::CorelaneOneWorker => "corelane-1w",
            RedisClient::CorelaneOffloop => "corelane-offloop",
            RedisClient::CorelaneOffloopOneWorker => "corelane-offloop-1w",
            RedisClient::RedisRsCurrentThread => "redis-rs-ct",
            RedisClient::RedisRsMultiThread2 => "redis-rs-mt2",
            RedisClient::RedisRsSync => "redis-rs-sync",
            RedisClient::Fred => "fred-mt2",
            RedisClient::FredPool2 => "fred-pool2-mt2",
        }
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
            "wrong value: GET {KEY} returned {:?}, expected {:?}",
            got.map(String::from_utf8_lossy),
            String::from_utf8_lossy(VALUE)
        ))
    }
}

/// The key task `task` reads on `workload`: its own on `redis_cluster_get_c64` (spread over
/// the masters), else [`KEY`].
pub fn key_of(workload: Workload, task: usize) -> String {
    if workload == Workload::RedisClusterGetC64 {
        cluster_key(task)
    } else {
        KEY.to_owned()
    }
}

/// The key of task `task` on `redis_cluster_get_c64`.
pub fn cluster_key(task: usize) -> String {
    format!("{KEY}:{task}")
}

fn set_value() -> Bytes {
    Bytes::from(vec![b'x'; SET_SIZE])
}

/// Sets the key the GET workloads read (with redis-rs' blocking connection).
pub fn prepare(url: &str) -> Result<(), String> {
    use redis::Commands;
    let client = redis::Client::open(url).map_err(err)?;
    let mut conn = client.get_connection().map_err(err)?;
    conn.set::<_, _, ()>(KEY, &VALUE[..]).map_err(err)?;
    let back: Option<Vec<u8>> = conn.get(KEY).map_err(err)?;
    check(back.as_deref())
}

/// Sets the keys the cluster rows read (with redis-rs' blocking cluster connection), given
/// the `redis://` URL of every node.
pub fn prepare_cluster(seeds: &[String]) -> Result<(), String> {
    use redis::Commands;
    let client = redis::cluster::ClusterClient::new(seeds.to_vec()).map_err(err)?;
    let mut conn = client.get_connection().map_err(err)?;
    let keys = (0..64).map(cluster_key).chain([KEY.to_owned()]);
    for key in keys {
        conn.set::<_, _, ()>(&key, &VALUE[..]).map_err(err)?;
        let back: Option<Vec<u8>> = conn.get(&key).map_err(err)?;
        check(back.as_deref())?;
    }
    Ok(())
}

/// One measurement of `client` on `workload`.
pub fn run(ctx: &Ctx, workload: Workload, client: RedisClient) -> Result<Sample, String> {
    match client {
        RedisClient::Corelane => corelane(ctx, workload, At::Loop),
        RedisClient::CorelaneOneWorker => corelane(ctx, workload, At::OneWorker),
        RedisClient::CorelaneOffloop => corelane(ctx, workload, At::Offloop),
        RedisClient::CorelaneOffloopOneWorker => corelane(ctx, workload, At::OffloopOneWorker),
        RedisClient::RedisRsCurrentThread => {
            redis_rs(ctx, workload, measure::tokio_current_thread()?)
        }
        RedisClient::RedisRsMultiThread2 => {
            redis_rs(ctx, workload, measure::tokio_multi_thread(2)?)
        }
        RedisClient::RedisRsSync => redis_rs_sync(ctx, workload),
        RedisClient::Fred => fred_client(ctx, workload, None),
        RedisClient::FredPool2 => fred_client(ctx, workload, Some(2)),
    }
}

/// Where the tasks run.
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

/// The TLS server of a TLS workload.
fn tls_of(ctx: &Ctx, workload: Workload) -> Result<Option<&crate::RedisTls>, String> {
    if !workload.is_tls() {
        return Ok(None);
    }
    ctx.redis_tls
        .as_ref()
        .map(Some)
        .ok_or_else(|| "no TLS redis-server was started".to_owned())
}

/// A rustls client configuration trusting only `ca_pem` (ring provider), for fred.
fn rustls_config(ca_pem: &str) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.map_err(err)?).map_err(err)?;
    }
    // ring: the provider corelane uses (see the runtime's TLS docs).
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn corelane(ctx: &Ctx, workload: Workload, at: At) -> Result<Sample, String> {
    if workload.is_cluster() {
        return corelane_cluster(ctx, workload, at == At::Offloop);
    }
    let url = match tls_of(ctx, workload)? {
        Some(tls) => tls.corelane_url.as_str(),
        None => ctx.redis_url.as_str(),
    };
    let client = match at {
        At::OneWorker | At::OffloopOneWorker => {
            let config = corelane_redis::Config::from_url(url).map_err(err)?;
            corelane_redis::Client::with_server(config, ctx.one_worker()?).map_err(err)?
        }
        At::Loop | At::Offloop => corelane_redis::Client::open(url).map_err(err)?,
    };
    let place = || -> Result<Place<'_>, String> {
        Ok(match at {
            At::Loop => Place::Loop(&*ctx.workers),
            At::OneWorker => Place::Loop(ctx.one_worker()?),
            At::Offloop | At::OffloopOneWorker => Place::Tokio(measure::tokio_multi_thread(2)?),
        })
    };
    let tasks = workload.tasks();
    match workload {
        Workload::RedisGetC1 | Workload::RedisGetC64 | Workload::RedisGetC64Tls => {
            go(ctx.timing, place()?, tasks, |_| {
                let c = client.clone();
                move || {
                    let call = c.get::<Option<Bytes>>(KEY);
                    async move {
                        let v = call.await.map_err(err)?;
                        check(v.as_deref())?;
                        Ok(1)
                    }
                }
            })
        }
        Workload::RedisPipeP64 => go(ctx.timing, place()?, tasks, |_| {
            let c = client.clone();
            move || {
                let mut pipe = corelane_redis::Pipeline::new();
                for _ in 0..PIPE {
                    pipe.get(KEY);
                }
                let call = c.pipeline::<Vec<corelane_redis::Value>>(&pipe);
                async move {
                    let replies = call.await.map_err(err)?;
                    check_values(&replies)
                }
            }
        }),
        Workload::RedisSet1kC64 => {
            let value = set_value();
            go(ctx.timing, place()?, tasks, |task| {
                let c = client.clone();
                let key = format!("key:{task}");
                let value = value.clone();
                move || {
                    let call = c.set::<()>(key.as_str(), &value[..]);
                    async move {
                        call.await.map_err(err)?;
                        Ok(1)
                    }
                }
            })
        }
        _ => Err("not a Redis workload".into()),
    }
}

/// corelane's `ClusterClient` on the cluster rows.
fn corelane_cluster(ctx: &Ctx, workload: Workload, offloop: bool) -> Result<Sample, String> {
    let client =
        corelane_redis::cluster::ClusterClient::open(&ctx.redis_cluster_url).map_err(err)?;
    let place = if offloop {
        Place::Tokio(measure::tokio_multi_thread(2)?)
    } else {
        Place::Loop(&*ctx.workers)
    };
    let tasks = workload.tasks();
    match workload {
        Workload::RedisClusterGetC64 => go(ctx.timing, place, tasks, |task| {
            let c = client.clone();
            let key = key_of(workload, task);
            move || {
                let call = c.get::<Option<Bytes>>(key.as_str());
                async move {
                    let v = call.await.map_err(err)?;
                    check(v.as_deref())?;
                    Ok(1)
                }
            }
        }),
        Workload::RedisClusterPipeP64 => go(ctx.timing, place, tasks, |_| {
            let c = client.clone();
            move || {
                let mut pipe = corelane_redis::cluster::ClusterPipeline::new();
                for _ in 0..PIPE {
                    pipe.get(KEY);
                }
                let call = c.pipeline::<Vec<corelane_redis::Value>>(&pipe);
                async move {
                    let replies = call.await.map_err(err)?;
                    check_values(&replies)
                }
            }
        }),
        _ => Err("not a Redis Cluster workload".into()),
    }
}

/// Checks corelane's replies to one pipeline of [`PIPE`] GETs of [`KEY`].
fn check_values(replies: &[corelane_redis::Value]) -> Result<u64, String> {
    if replies.len() != PIPE {
        return Err(format!(
            "wrong value: {} replies to {PIPE} GETs",
            replies.len()
        ));
    }
    for r in replies {
        match r {
            corelane_redis::Value::BulkString(b) => check(Some(b))?,
            other => return Err(format!("wrong value: GET returned {other:?}")),
        }
    }
    Ok(PIPE as u64)
}

fn redis_rs(ctx: &Ctx, workload: Workload, rt: tokio::runtime::Runtime) -> Result<Sample, String> {
    if workload.is_cluster() {
        let client =
            redis::cluster::ClusterClient::new(ctx.redis_cluster_seeds.clone()).map_err(err)?;
        // The cluster connection's driver task lives on this runtime.
        let conn = rt.block_on(client.get_async_connection()).map_err(err)?;
        return redis_rs_ops(ctx.timing, workload, Place::Tokio(rt), conn);
    }
    let client = match tls_of(ctx, workload)? {
        Some(tls) => redis::Client::build_with_tls(
            tls.url.as_str(),
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(tls.ca_pem.as_bytes().to_vec()),
            },
        )
        .map_err(err)?,
        None => redis::Client::open(ctx.redis_url.as_str()).map_err(err)?,
    };
    // The multiplexed connection's driver task lives on this runtime.
    let conn = rt
        .block_on(client.get_multiplexed_async_connection())
        .map_err(err)?;
    redis_rs_ops(ctx.timing, workload, Place::Tokio(rt), conn)
}

/// redis-rs' ops on a shared async connection (multiplexed, or the cluster's).
fn redis_rs_ops<C>(
    timing: Timing,
    workload: Workload,
    place: Place<'_>,
    conn: C,
) -> Result<Sample, String>
where
    C: redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
{
    use redis::AsyncCommands;
    let tasks = workload.tasks();
    match workload {
        Workload::RedisGetC1
        | Workload::RedisGetC64
        | Workload::RedisGetC64Tls
        | Workload::RedisClusterGetC64 => go(timing, place, tasks, |task| {
            let conn = conn.clone();
            let key = key_of(workload, task);
            move || {
                let mut c = conn.clone();
                let key = key.clone();
                async move {
                    let v: Option<Vec<u8>> = c.get(key).await.map_err(err)?;
                    check(v.as_deref())?;
                    Ok(1)
                }
            }
        }),
        Workload::RedisPipeP64 | Workload::RedisClusterPipeP64 => go(timing, place, tasks, |_| {
            let conn = conn.clone();
            move || {
                let mut c = conn.clone();
                async move {
                    let mut pipe = redis::pipe();
                    for _ in 0..PIPE {
                        pipe.get(KEY);
                    }
                    let replies: Vec<Option<Vec<u8>>> =
                        pipe.query_async(&mut c).await.map_err(err)?;
                    check_all(&replies)
                }
            }
        }),
        Workload::RedisSet1kC64 => {
            let value = set_value();
            go(timing, place, tasks, |task| {
                let conn = conn.clone();
                let key = format!("key:{task}");
                let value = value.clone();
                move || {
                    let mut c = conn.clone();
                    let key = key.clone();
                    let value = value.clone();
                    async move {
                        c.set::<_, _, ()>(key, &value[..]).await.map_err(err)?;
                        Ok(1)
                    }
                }
            })
        }
        _ => Err("not a Redis workload".into()),
    }
}

/// Checks the replies of one pipeline of [`PIPE`] GETs of [`KEY`].
fn check_all(replies: &[Option<Vec<u8>>]) -> Result<u64, String> {
    if replies.len() != PIPE {
        return Err(format!(
            "wrong value: {} replies to {PIPE} GETs",
            replies.len()
        ));
    }
    for r in replies {
        check(r.as_deref())?;
    }
    Ok(PIPE as u64)
}

/// redis-rs' plain blocking `Connection`: one per caller, each caller on a thread of its own
/// (the single-caller rows only, see [`RedisClient::applies`]).
fn redis_rs_sync(ctx: &Ctx, workload: Workload) -> Result<Sample, String> {
    let client = redis::Client::open(ctx.redis_url.as_str()).map_err(err)?;
    let mut ops = Vec::with_capacity(workload.tasks());
    for task in 0..workload.tasks() {
        let mut conn = client.get_connection().map_err(err)?;
        let key = key_of(workload, task);
        let op: Box<dyn FnMut() -> Result<u64, String> + Send> = match workload {
            Workload::RedisGetC1 => Box::new(move || {
                let v: Option<Vec<u8>> = redis::Commands::get(&mut conn, &key).map_err(err)?;
                check(v.as_deref())?;
                Ok(1)
            }),
            Workload::RedisPipeP64 => Box::new(move || {
                let mut pipe = redis::pipe();
                for _ in 0..PIPE {
                    pipe.get(KEY);
                }
                let replies: Vec<Option<Vec<u8>>> = pipe.query(&mut conn).map_err(err)?;
                check_all(&replies)
            }),
            _ => return Err("redis-rs-sync runs only the single-caller rows".into()),
        };
        ops.push(op);
    }
    measure::measure(ctx.timing, SERVER, move |window| {
        measure::launch_threads(window, ops)
    })
}

fn fred_client(ctx: &Ctx, workload: Workload, pool: Option<usize>) -> Result<Sample, String> {
    use fred::prelude::{Builder, ClientLike, Config};
    let rt = measure::tokio_multi_thread(2)?;
    let config = match tls_of(ctx, workload)? {
        Some(tls) => {
            let mut config = Config::from_url(&tls.url).map_err(err)?;
            config.tls =
                Some(fred::types::config::TlsConnector::from(rustls_config(&tls.ca_pem)?).into());
            config
        }
        None if workload.is_cluster() => {
            // Every node as a seed (fred discovers the rest with CLUSTER SLOTS anyway).
            let mut hosts = Vec::with_capacity(ctx.redis_cluster_seeds.len());
            for url in &ctx.redis_cluster_seeds {
                let addr = url.trim_start_matches("redis://");
                let (host, port) = addr
                    .rsplit_once(':')
                    .ok_or_else(|| format!("no port in seed {url:?}"))?;
                hosts.push((host.to_owned(), port.parse::<u16>().map_err(err)?));
            }
            Config {
                server: fred::types::config::ServerConfig::new_clustered(hosts),
                ..Config::default()
            }
        }
        None => Config::from_url(&ctx.redis_url).map_err(err)?,
    };
    let builder = Builder::from_config(config);
    let tasks = workload.tasks();
    match pool {
        None => {
            let client = builder.build().map_err(err)?;
            rt.block_on(client.init()).map_err(err)?;
            fred_ops(ctx.timing, workload, Place::Tokio(rt), tasks, move || {
                client.clone()
            })
        }
        Some(n) => {
            let pool = builder.build_pool(n).map_err(err)?;
            rt.block_on(pool.init()).map_err(err)?;
            // Each op (a command or a whole pipeline) goes to the pool's next client.
            fred_ops(ctx.timing, workload, Place::Tokio(rt), tasks, move || {
                pool.next().clone()
            })
        }
    }
}

/// fred's ops; `pick` gives the client for the next op (the one client, or the pool's next).
fn fred_ops<P>(
    timing: Timing,
    workload: Workload,
    place: Place<'_>,
    tasks: usize,
    pick: P,
) -> Result<Sample, String>
where
    P: Fn() -> fred::clients::Client + Clone + Send + 'static,
{
    use fred::prelude::{KeysInterface, Value};
    match workload {
        Workload::RedisGetC1
        | Workload::RedisGetC64
        | Workload::RedisGetC64Tls
        | Workload::RedisClusterGetC64 => go(timing, place, tasks, |task| {
            let pick = pick.clone();
            let key = key_of(workload, task);
            move || {
                let c = pick();
                let key = key.clone();
                async move {
                    let v: Option<Bytes> = c.get(key).await.map_err(err)?;
                    check(v.as_deref())?;
                    Ok(1)
                }
            }
        }),
        Workload::RedisPipeP64 | Workload::RedisClusterPipeP64 => go(timing, place, tasks, |_| {
            let pick = pick.clone();
            move || {
                let c = pick();
                async move {
                    let pipe = c.pipeline();
                    for _ in 0..PIPE {
                        let _: Value = pipe.get(KEY).await.map_err(err)?;
                    }
                    let replies: Vec<Option<Bytes>> = pipe.all().await.map_err(err)?;
                    if replies.len() != PIPE {
                        return Err(format!(
                            "wrong value: {} replies to {PIPE} GETs",
                            replies.len()
                        ));
                    }
                    for r in &replies {
                        check(r.as_deref())?;
                    }
                    Ok(PIPE as u64)
                }
            }
        }),
        Workload::RedisSet1kC64 => {
            let value = set_value();
            go(timing, place, tasks, |task| {
                let pick = pick.clone();
                let key = format!("key:{task}");
                let value = value.clone();
                move || {
                    let c = pick();
                    let key = key.clone();
                    let value = value.clone();
                    async move {
                        c.set::<(), _, _>(key, value, None, None, false)
                            .await
                            .map_err(err)?;
                        Ok(1)
                    }
                }
            })
        }
        _ => Err("not a Redis workload".into()),
    }
}
