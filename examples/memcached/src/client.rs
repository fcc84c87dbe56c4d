//! The client handle: `Clone + Send + Sync`, usable on the loop's workers and off them.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use corelane_runtime::client::PerWorker;
use corelane_runtime::{dispatch, resolve, task, Provider, ServerProvider};

use crate::conn::{self, Pipe, Pools};
use crate::outcome::{Options, Stored};
use crate::proto::encode::{self, check_key, InvalidRequest, Store};
use crate::proto::{key_hash, Expect, Item, Reply};
use crate::{Config, Error, Pipeline};

/// A memcached client. Cheap to clone; all clones share the per-worker connections.
///
/// On one of its workers a call uses that worker's own connection (no thread hop); anywhere
/// else (a plain thread, `block_on`, tokio) it runs on a worker through its mailbox.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    /// The pools on each worker; dropping it closes them everywhere.
    pools: PerWorker<Pools>,
    next_worker: AtomicUsize,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn unexpected(reply: Reply) -> Error {
    Error::Protocol(format!("unexpected reply {reply:?}"))
}

impl Client {
    /// A client on the shared standalone loop (started if needed). Connects lazily.
    pub fn new(config: Config) -> Result<Client, Error> {
        Self::with_workers(
            config,
            resolve(None).map_err(|e| Error::Runtime(e.to_string()))?,
        )
    }

    /// A client whose connections live on a thread-per-core server's workers.
    pub fn with_server(config: Config, server: &dyn ServerProvider) -> Result<Client, Error> {
        let workers = resolve(Some(server)).map_err(|e| Error::Runtime(e.to_string()))?;
        Self::with_workers(config, workers)
    }

    fn with_workers(config: Config, workers: Provider) -> Result<Client, Error> {
        let inner = Inner {
            config: Arc::new(config),
            pools: PerWorker::new(workers),
            next_worker: AtomicUsize::new(0),
        };
        Ok(Client {
            inner: Arc::new(inner),
        })
    }

    /// Runs `work` with a connection of the worker the call runs on (the caller's, or one
    /// picked round-robin for callers off the loop), within the command timeout.
    async fn on_worker<T, F, Fut>(&self, work: F) -> Result<T, Error>
    where
        F: FnOnce(Pipe) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + 'static,
        T: Send + 'static,
    {
        let inner = self.inner.clone();
        let fallback = inner.next_worker.fetch_add(1, Ordering::Relaxed);
        dispatch(
            &**self.inner.pools.workers(),
            fallback,
            move || async move {
                let config = &inner.config;
                let pipe = conn::connection(&inner.pools, config).await?;
                let Some(limit) = config.command_timeout else {
                    return work(pipe).await;
                };
                match task::timeout(limit, work(pipe.clone())).await {
                    Some(out) => out,
                    None => {
                        // The server stopped answering on it: every later reply would be late too.
                        pipe.close();
                        Err(Error::Timeout(limit))
                    }
                }
            },
        )
        .await?
    }

    /// One request, one reply; a server error becomes [`Error::Server`].
    async fn call(&self, expect: Expect, request: BytesMut) -> Result<Reply, Error> {
        let request = request.freeze();
        let reply = self
            .on_worker(move |pipe| async move {
                Ok(pipe.call(expect, |b| b.extend_from_slice(&request)).await?)
            })
            .await?;
        match reply {
            Reply::Error(e) => Err(Error::Server(e)),
            reply => Ok(reply),
        }
    }

    /// One request the server does not answer: done once its bytes are queued.
    async fn send_no_reply(&self, request: Bytes) -> Result<(), Error> {
        self.on_worker(move |pipe| async move {
            Ok(pipe.send_no_reply(|b| b.extend_from_slice(&request))?)
        })
        .await
    }

    /// The value of `key` (with its flags), or `None` on a miss.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Item>, Error> {
        self.retrieve(key.as_ref(), false).await
    }

    /// Like [`get`](Self::get), with the item's CAS unique for [`cas`](Self::cas).
    pub async fn gets(&self, key: impl AsRef<[u8]>) -> Result<Option<Item>, Error> {
        self.retrieve(key.as_ref(), true).await
    }

    async fn retrieve(&self, key: &[u8], cas: bool) -> Result<Option<Item>, Error> {
        check_key(key)?;
        let mut request = BytesMut::new();
        encode::retrieve(&mut request, cas, &[key]);
        let expect = Expect::Values {
            keys: 1,
            cas,
            key_hash: Some(key_hash(key)),
        };
        match self.call(expect, request).await? {
            Reply::Values(mut items) => Ok(items.pop()),
            other => Err(unexpected(other)),
        }
    }

    /// The values of those `keys` that exist, in `keys` order: one `get` (or `gets` with
    /// `cas`) request for them all.
    pub async fn get_multi<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        cas: bool,
    ) -> Result<Vec<Item>, Error> {
        if keys.is_empty() {
            return Err(InvalidRequest::NoKeys.into());
        }
        keys.iter().try_for_each(|k| check_key(k.as_ref()))?;
        let mut request = BytesMut::new();
        encode::retrieve(&mut request, cas, keys);
        let expect = Expect::Values {
            keys: keys.len(),
            cas,
            key_hash: None,
        };
        match self.call(expect, request).await? {
            Reply::Values(items) => Ok(items),
            other => Err(unexpected(other)),
        }
    }

    fn store_request(
        &self,
        cmd: Store,
        key: &[u8],
        value: &[u8],
        opts: Options,
        noreply: bool,
    ) -> Result<BytesMut, Error> {
        check_key(key)?;
        let limit = self.inner.config.max_value;
        if value.len() > limit {
            return Err(InvalidRequest::ValueTooLarge {
                len: value.len(),
                limit,
            }
            .into());
        }
        let mut request = BytesMut::new();
        encode::store(
            &mut request,
            cmd,
            key,
            opts.flags,
            opts.exptime,
            value,
            noreply,
        );
        Ok(request)
    }

    /// A storage command: `set`, `add`, `replace` or `cas` (see [`Store`]).
    pub async fn store(
        &self,
        cmd: Store,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: Options,
    ) -> Result<Stored, Error> {
        let request = self.store_request(cmd, key.as_ref(), value.as_ref(), opts, false)?;
        match self.call(Expect::Store, request).await? {
            Reply::Stored => Ok(Stored::Stored),
            Reply::NotStored => Ok(Stored::NotStored),
            Reply::Exists => Ok(Stored::Exists),
            Reply::NotFound => Ok(Stored::NotFound),
            other => Err(unexpected(other)),
        }
    }

    /// A storage command with `noreply`: returns once the request is queued for writing; the
    /// server sends nothing back, so its outcome is not known. Later calls from a task on the
    /// same worker go over the same connection and see its effect; off the loop, calls are
    /// spread over the workers' connections, so a later call may overtake it.
    pub async fn store_no_reply(
        &self,
        cmd: Store,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: Options,
    ) -> Result<(), Error> {
        let request = self.store_request(cmd, key.as_ref(), value.as_ref(), opts, true)?;
        self.send_no_reply(request.freeze()).await
    }

    /// `set` with default [`Options`].
    pub async fn set(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<Stored, Error> {
        self.store(Store::Set, key, value, Options::default()).await
    }

    /// `set … noreply` with default [`Options`].
    pub async fn set_no_reply(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<(), Error> {
        self.store_no_reply(Store::Set, key, value, Options::default())
            .await
    }

    /// `add`: stores only if `key` does not exist.
    pub async fn add(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<Stored, Error> {
        self.store(Store::Add, key, value, Options::default()).await
    }

    /// `replace`: stores only if `key` exists.
    pub async fn replace(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<Stored, Error> {
        self.store(Store::Replace, key, value, Options::default())
            .await
    }

    /// `cas`: stores only if the item is unchanged since the [`gets`](Self::gets) that gave
    /// `unique`.
    pub async fn cas(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        unique: u64,
    ) -> Result<Stored, Error> {
        self.store(Store::Cas(unique), key, value, Options::default())
            .await
    }

    async fn keyed(
        &self,
        key: &[u8],
        expect: Expect,
        encode: impl FnOnce(&mut BytesMut),
    ) -> Result<Reply, Error> {
        check_key(key)?;
        let mut request = BytesMut::new();
        encode(&mut request);
        self.call(expect, request).await
    }

    /// `delete`: `true` when the key existed.
    pub async fn delete(&self, key: impl AsRef<[u8]>) -> Result<bool, Error> {
        let key = key.as_ref();
        match self
            .keyed(key, Expect::Delete, |b| encode::delete(b, key, false))
            .await?
        {
            Reply::Deleted => Ok(true),
            Reply::NotFound => Ok(false),
            other => Err(unexpected(other)),
        }
    }

    /// `incr`: the new value, or `None` when the key does not exist.
    pub async fn incr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<Option<u64>, Error> {
        self.arith(true, key.as_ref(), delta).await
    }

    /// `decr` (stops at 0): the new value, or `None` when the key does not exist.
    pub async fn decr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<Option<u64>, Error> {
        self.arith(false, key.as_ref(), delta).await
    }

    async fn arith(&self, incr: bool, key: &[u8], delta: u64) -> Result<Option<u64>, Error> {
        match self
            .keyed(key, Expect::Arith, |b| {
                encode::arith(b, incr, key, delta, false)
            })
            .await?
        {
            Reply::Number(n) => Ok(Some(n)),
            Reply::NotFound => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// `touch`: sets a new expiry; `true` when the key existed.
    pub async fn touch(&self, key: impl AsRef<[u8]>, exptime: u32) -> Result<bool, Error> {
        let key = key.as_ref();
        match self
            .keyed(key, Expect::Touch, |b| {
                encode::touch(b, key, exptime, false)
            })
            .await?
        {
            Reply::Touched => Ok(true),
            Reply::NotFound => Ok(false),
            other => Err(unexpected(other)),
        }
    }

    /// The server's version string.
    pub async fn version(&self) -> Result<String, Error> {
        let mut request = BytesMut::new();
        encode::version(&mut request);
        match self.call(Expect::Version, request).await? {
            Reply::Version(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    /// `flush_all`: invalidates every item now.
    pub async fn flush_all(&self) -> Result<(), Error> {
        let mut request = BytesMut::new();
        encode::flush_all(&mut request, None);
        match self.call(Expect::Ok, request).await? {
            Reply::Ok => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Sends every request of `pipeline` in one write and returns their replies in order
    /// (server errors as [`Reply::Error`] values). On an idle connection the replies are read
    /// by the caller itself, straight into their slots (direct index).
    pub async fn pipeline(&self, pipeline: &Pipeline) -> Result<Vec<Reply>, Error> {
        let (bytes, expects) = pipeline.prepared(self.inner.config.max_value)?;
        self.on_worker(
            move |pipe| async move { crate::pipeline::run(&pipe, &bytes, &expects).await },
        )
        .await
    }
}
