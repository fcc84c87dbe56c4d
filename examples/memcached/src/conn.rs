//! Each worker's connections: the codec adapter, the pool manager, the per-worker pools
//! (the runtime's `PerWorker`: made on first use on each worker, closed everywhere on drop).

use std::sync::Arc;

use bytes::BytesMut;
use corelane_runtime::client::{PerWorker, WorkerState};
use corelane_runtime::pool::{Config as PoolConfig, Manager, SharedPool};
use corelane_runtime::roundtrip::{self, Codec};
use corelane_runtime::{task, Limits, Stream};

use crate::proto::{Decoder, Expect, ProtoError, Reply};
use crate::{Config, Error};

/// A pipelined connection to the server.
pub(crate) type Pipe = roundtrip::Pipe<Memcache>;

/// The protocol decoder as the round-trip toolkit's codec.
pub(crate) struct Memcache(Decoder);

impl Codec for Memcache {
    type Reply = Reply;
    type Expect = Expect;
    type Error = ProtoError;

    fn decode(
        &mut self,
        expect: &Expect,
        input: &mut BytesMut,
    ) -> Result<Option<Reply>, ProtoError> {
        self.0.decode(expect, input)
    }

    /// The text protocol has no pushes: any byte nobody waits for is out of step.
    fn unsolicited(&mut self, input: &mut BytesMut) -> Result<(), ProtoError> {
        match input.len() {
            0 => Ok(()),
            n => Err(ProtoError::Unsolicited(n)),
        }
    }
}

/// Opens connections of one client on one worker.
pub(crate) struct Connector(Arc<Config>);

impl Manager for Connector {
    type Conn = Pipe;
    type Error = Error;

    async fn connect(&self) -> Result<Pipe, Error> {
        let c = &self.0;
        let failed = |reason: String| Error::Connect {
            addr: format!("{}:{}", c.host, c.port),
            reason,
        };
        let addrs = task::resolve_host(&c.host, c.port)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let mut last = "the host name resolved to no address".to_owned();
        for addr in addrs {
            match Stream::connect_tcp_timeout(addr, c.connect_timeout).await {
                Ok(stream) => {
                    let codec = Memcache(Decoder::new(c.max_value));
                    return Pipe::new(stream, codec, Limits::default())
                        .map_err(|e| Error::Runtime(e.to_string()));
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(failed(last))
    }

    fn is_broken(&self, pipe: &Pipe) -> bool {
        pipe.is_closed()
    }

    /// Requests in flight (or a batch reading its own): spreads callers over the connections.
    fn load(&self, pipe: &Pipe) -> usize {
        pipe.in_flight().max(usize::from(!pipe.is_idle()))
    }
}

/// A client's pool on one worker (shared-nothing: no lock, no atomic).
pub(crate) struct Pools(SharedPool<Connector>);

impl WorkerState for Pools {
    fn close(&self) {
        self.0.close();
    }
}

/// A live connection of this worker's pool, opened if needed.
pub(crate) async fn connection(
    state: &PerWorker<Pools>,
    config: &Arc<Config>,
) -> Result<Pipe, Error> {
    let pools = state.local(|| {
        let settings = PoolConfig::shared()
            .with_max_size(config.connections_per_worker)
            .with_shared_target_load(1)
            .with_connect_timeout(Some(config.connect_timeout));
        SharedPool::new(Connector(config.clone()), settings)
            .map(Pools)
            .map_err(|e| Error::Runtime(e.to_string()))
    })?;
    if let Some(shared) = pools.0.try_get_shared() {
        return Ok((*shared).clone());
    }
    Ok((*pools.0.get_shared().await?).clone())
}
