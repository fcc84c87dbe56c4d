//! The cluster client handle and its builder.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use corelane_redis_proto::{Cmd, ToArg, Value};
use corelane_runtime::{dispatch, resolve, Provider, ServerProvider};

use super::call::ClusterCall;
use super::discover::NodeAddr;
use super::pipeline::{run_pipeline, ClusterPipeline};
use super::read_from::ReadFrom;
use super::route::target;
use super::state::{Options, Shared};
use super::subscriber::ClusterSubscriber;
use super::transaction::{run_transaction, watch_slot};
use crate::call::Reply;
use crate::classify::{classify, refusal, Class};
use crate::{Config, Error, Exclusive, FromValue};

/// A Redis Cluster client. Cheap to clone; every clone shares the slot map and the node
/// connections.
///
/// ```no_run
/// # fn main() -> Result<(), corelane_redis::Error> {
/// use corelane_redis::cluster::{ClusterClient, ClusterPipeline};
///
/// let cluster = ClusterClient::open("redis+cluster://10.0.0.1:7000,10.0.0.2:7000")?;
/// futures_lite::future::block_on(async {
///     cluster.set::<()>("{user1}.name", "ada").await?;
///     cluster.set::<()>("{user1}.lang", "en").await?;
///     // One slot (a hash tag): fine. Keys in different slots fail with is_cross_slot().
///     let both: Vec<String> = cluster.mget(&["{user1}.name", "{user1}.lang"]).await?;
///
///     let mut pipe = ClusterPipeline::new();
///     pipe.incr("a").incr("b").get("a"); // keys on different nodes: split and put back in order
///     let (a, b, again): (i64, i64, i64) = cluster.pipeline(&pipe).await?;
///     println!("{both:?} {a} {b} {again}");
///     Ok(())
/// })
/// # }
/// ```
///
/// # Behavior
///
/// - **Routing.** A command goes to the master serving its key's slot ([`key_slot`](super::key_slot),
///   hash tags included). A command whose keys hash to different slots fails with
///   [`Error::is_cross_slot`] before it is sent. `PING`, `ECHO`, `TIME` and other key-less
///   commands go to any master; `DBSIZE` and `KEYS` go to every master (replies added /
///   concatenated); other commands about the whole keyspace or one server (`SCAN`,
///   `FLUSHALL`, `CONFIG`, `INFO`, `CLUSTER …`) fail with [`Error::is_unroutable`] (not yet:
///   fan-out for those).
/// - **Replicas.** Not read from unless asked: with [`ClusterBuilder::read_from`] (or
///   `?read_from=replica|prefer-replica` in the URL) read-only single commands go to the
///   slot's replicas in turn (see [`ReadFrom`]); writes, pipelines and transactions always
///   go to masters.
/// - **Slot map.** Read with `CLUSTER SHARDS` (falling back to `CLUSTER SLOTS`) from the
///   known masters, then the seeds, on first use; again after `MOVED`, after a connection
///   error and every [`refresh_interval`](ClusterBuilder::refresh_interval). One refresh
///   runs at a time; the map is shared read-only by the workers (each keeps its own
///   pipelined connections to each node, exactly as [`Client`](crate::Client) does).
/// - **Redirects.** `MOVED`: the command is sent to the named node and the map learns it.
///   `ASK`: `ASKING` and the command are sent together on one connection of the named node.
///   `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, or a node that refuses connections: the call
///   waits (doubling from 10 ms to 500 ms), and tries again, at most
///   [`max_attempts`](ClusterBuilder::max_attempts) times. A command whose connection broke
///   while it was out is not retried (it may have run): [`Error::is_closed`].
/// - **Transactions** on the master of one slot: [`transaction`](Self::transaction).
/// - **Sharded pub/sub** (`SSUBSCRIBE`): [`sharded_subscriber`](Self::sharded_subscriber).
/// - **Not yet:** blocking commands, classic `SUBSCRIBE`/`PSUBSCRIBE` and
///   `with_connection` on a cluster (refused with [`Error::is_refused`]); pipelines and
///   transactions reading from replicas.
#[derive(Clone)]
pub struct ClusterClient {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterClient")
            .field("config", &self.shared.config)
            .field("seeds", &self.shared.seeds)
            .finish_non_exhaustive()
    }
}

/// Options of a [`ClusterClient`]: seeds, the connection options every node shares, and
/// how redirects and refreshes behave.
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    config: Config,
    seeds: Vec<NodeAddr>,
    options: Options,
}

impl ClusterBuilder {
    /// Adds a seed node (any node of the cluster; more than one survives a dead one).
    pub fn seed(mut self, host: impl Into<String>, port: u16) -> Self {
        self.seeds.push((host.into(), port));
        self
    }

    /// How many times one command may be sent (redirects and retries included) before the
    /// call fails (default 16).
    pub fn max_attempts(mut self, attempts: usize) -> Self {
        self.options.max_attempts = attempts.max(1);
        self
    }

    /// How old the slot map may get before a call starts a refresh in the background
    /// (default 30 s; `None`: only on `MOVED` and connection errors).
    pub fn refresh_interval(mut self, every: Option<Duration>) -> Self {
        self.options.refresh_interval = every;
        self
    }

    /// The wait before the first retry, doubled for each next one, and its cap (defaults
    /// 10 ms and 500 ms).
    pub fn retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.options.retry_base = first;
        self.options.retry_max = max.max(first);
        self
    }

    /// Which nodes serve read-only commands (default [`ReadFrom::Master`]; see [`ReadFrom`]).
    /// With replicas, every node connection sends `READONLY` once after its handshake.
    pub fn read_from(mut self, read_from: ReadFrom) -> Self {
        self.options.read_from = read_from;
        self
    }

    /// The client, on the shared standalone loop.
    pub fn build(self) -> Result<ClusterClient, Error> {
        let workers = resolve(None).map_err(Error::runtime)?;
        self.build_on(workers)
    }

    /// The client, on a thread-per-core server's own workers.
    pub fn build_with_server(self, server: &dyn ServerProvider) -> Result<ClusterClient, Error> {
        let workers = resolve(Some(server)).map_err(Error::runtime)?;
        self.build_on(workers)
    }

    fn build_on(self, workers: Provider) -> Result<ClusterClient, Error> {
        if self.seeds.is_empty() {
            return Err(Error::config(
                "a cluster client needs at least one seed node",
            ));
        }
        if self.config.db != 0 {
            return Err(Error::config("a cluster has only database 0"));
        }
        // Checked once here (TLS files readable, …); each node client prepares its copy.
        let mut checked = self.config.clone();
        checked.prepare()?;
        Ok(ClusterClient {
            shared: Arc::new(Shared::new(self.config, self.seeds, workers, self.options)),
        })
    }
}

impl ClusterClient {
    /// A client for a `redis+cluster://[user:pass@]host:port,host:port[?options]` URL
    /// (`rediss+cluster://` for TLS; the options of a `redis://` URL apply to every node).
    /// Nothing connects until the first call.
    pub fn open(url: &str) -> Result<ClusterClient, Error> {
        let (config, seeds, read_from) = super::url::parse(url)?;
        let mut builder = ClusterClient::builder(config);
        builder.seeds = seeds;
        if let Some(read_from) = read_from {
            builder = builder.read_from(read_from);
        }
        builder.build()
    }

    /// A builder: `config` gives the options every node connection uses (its address is
    /// ignored: add seeds with [`ClusterBuilder::seed`]).
    pub fn builder(config: Config) -> ClusterBuilder {
        ClusterBuilder {
            config,
            seeds: Vec::new(),
            options: Options::default(),
        }
    }

    /// Sends any command to the node of its key and converts the reply.
    ///
    /// Refused before sending: commands that would change a shared connection's state (as
    /// with [`Client::query`](crate::Client::query)), blocking commands (not yet on a
    /// cluster), keys in different slots ([`Error::is_cross_slot`]), and cluster-wide
    /// commands ([`Error::is_unroutable`]).
    pub fn query<T: FromValue>(&self, cmd: Cmd) -> ClusterCall<T> {
        match classify(&cmd) {
            Class::Shared => self.typed(cmd, Reply::Any),
            class => ClusterCall::failed(refusal(&cmd, class)),
        }
    }

    pub(crate) fn typed<T>(&self, cmd: Cmd, reply: Reply) -> ClusterCall<T> {
        let target = match target(&cmd) {
            Ok(t) => t,
            Err(e) => return ClusterCall::failed(e),
        };
        ClusterCall::command(&self.shared, cmd, target, reply)
    }

    /// Sends a pipeline: its commands split by node (each node's share in one write, all
    /// nodes at once), the replies put back in order and converted to `T` (a tuple, a
    /// `Vec`, or `Vec<Value>` to see server errors one by one). A command redirected inside
    /// it is retried alone. A connection lost while a node's share was out fails the call.
    pub fn pipeline<T: FromValue>(&self, pipeline: &ClusterPipeline) -> ClusterCall<T> {
        let targets = match pipeline.targets() {
            Ok(t) => t,
            Err(e) => return ClusterCall::failed(e),
        };
        let commands = pipeline.commands.clone();
        let shared = self.shared.clone();
        let run = dispatch(
            &*self.shared.workers.as_arc(),
            self.fallback(),
            move || async move { run_pipeline(&shared, &commands, &targets).await },
        );
        ClusterCall::new(run, Reply::Any)
    }

    /// An optimistic transaction on the master of the keys' slot, as
    /// [`Client::transaction`](crate::Client::transaction) on one server: `WATCH keys`, then
    /// `build` reads what it needs through the exclusive connection it is given (an
    /// [`Exclusive`] to that master, with the typed commands) and returns the commands to run
    /// atomically, as a [`ClusterPipeline`]; they run as `MULTI … EXEC`. The reply of `EXEC`
    /// is converted to `T`.
    ///
    /// - Every key (and every key of the returned commands) must hash to one slot (use a hash
    ///   tag: `{user1}.balance`). Otherwise: [`Error::is_cross_slot`], before anything is sent
    ///   (for the returned commands: before `MULTI`). No key at all: [`Error::is_refused`].
    /// - A watched key changed (`EXEC` aborted): `build` runs again after a short random pause,
    ///   at most [`MAX_TRANSACTION_ATTEMPTS`](crate::MAX_TRANSACTION_ATTEMPTS) times, then
    ///   [`Error::is_exec_aborted`].
    /// - The slot moved (`MOVED` on `WATCH` or a read, or a command refused with `MOVED`
    ///   while queued, which makes `EXEC` discard the whole transaction): the map learns the
    ///   new node and the whole transaction (`build` included) starts over there. `ASK` (the
    ///   slot is being migrated), `TRYAGAIN`, `CLUSTERDOWN` and an unreachable node: the
    ///   transaction waits (as a command does) and starts over. At most
    ///   [`max_attempts`](ClusterBuilder::max_attempts) such restarts, then a cluster error.
    ///   `EXEC` is atomic on the server, so a transaction is never half-applied; a connection
    ///   lost while `EXEC` was out fails with [`Error::is_closed`] (it may have committed).
    ///
    /// ```no_run
    /// # async fn demo(cluster: corelane_redis::cluster::ClusterClient) -> Result<(), corelane_redis::Error> {
    /// use corelane_redis::cluster::ClusterPipeline;
    /// let (_, balance): ((), i64) = cluster
    ///     .transaction(&["{acct1}.balance"], |conn| async move {
    ///         let balance: Option<i64> = conn.get("{acct1}.balance").await?;
    ///         let mut pipe = ClusterPipeline::new();
    ///         pipe.set("{acct1}.balance", balance.unwrap_or(0) + 10)
    ///             .get("{acct1}.balance");
    ///         Ok(pipe)
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn transaction<T, F, Fut>(&self, keys: &[impl ToArg], build: F) -> Result<T, Error>
    where
        T: FromValue + Send + 'static,
        F: FnMut(Exclusive) -> Fut + Send + 'static,
        Fut: Future<Output = Result<ClusterPipeline, Error>> + 'static,
    {
        let mut watch = Cmd::new("WATCH");
        for key in keys {
            watch = watch.arg(key);
        }
        let slot = watch_slot(&watch)?;
        let shared = self.shared.clone();
        dispatch(
            &*self.shared.workers.as_arc(),
            self.fallback(),
            move || async move { run_transaction(&shared, watch, slot, build).await },
        )
        .await
        .map_err(Error::from)?
    }

    /// A subscriber to shard channels (`SSUBSCRIBE` / `SPUBLISH`, Redis 7+), each at the
    /// master of its slot, with default [`SubscriberOptions`](crate::SubscriberOptions) and
    /// [`DEFAULT_RESYNC_INTERVAL`](super::DEFAULT_RESYNC_INTERVAL). Publish with
    /// `cluster.query::<i64>(Cmd::new("SPUBLISH").arg(channel).arg(payload))` (routed by the
    /// channel's slot). Nothing connects until the first
    /// [`ssubscribe`](ClusterSubscriber::ssubscribe).
    pub fn sharded_subscriber(&self) -> ClusterSubscriber {
        self.sharded_subscriber_with(
            crate::SubscriberOptions::default(),
            super::DEFAULT_RESYNC_INTERVAL,
        )
    }

    /// A sharded subscriber with `options` for each master's connection, checking every
    /// `resync` that each channel is subscribed at its slot's master (each check reads the
    /// slot map, one `CLUSTER SHARDS`).
    pub fn sharded_subscriber_with(
        &self,
        options: crate::SubscriberOptions,
        resync: Duration,
    ) -> ClusterSubscriber {
        ClusterSubscriber::new(self.shared.clone(), options, resync)
    }

    /// Reads the slot map again now (also done on first use, on `MOVED`, on connection
    /// errors and periodically). Returns at once when a refresh is already running.
    pub fn refresh_slots(&self) -> ClusterCall<()> {
        let shared = self.shared.clone();
        let run = dispatch(
            &*self.shared.workers.as_arc(),
            self.fallback(),
            move || async move {
                shared
                    .refresh()
                    .await
                    .map(|()| Value::Null(corelane_redis_proto::NullKind::Null))
            },
        );
        ClusterCall::new(run, Reply::Any)
    }

    fn fallback(&self) -> usize {
        self.shared
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}
