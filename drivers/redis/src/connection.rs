//! One connection: connect to an address, handshake (HELLO / AUTH / SETNAME / SELECT), then
//! pipelined calls. Where the address comes from (the config, or the sentinels) is `connect`'s
//! business: this module knows nothing of Sentinel, so the sentinel lookup can use it.

use std::net::SocketAddr;

use corelane_redis_proto::{Cmd, Value};
use corelane_runtime::conn::TlsError;
use corelane_runtime::roundtrip::Pipe;
use corelane_runtime::{Limits, Stream};

use crate::addr::Addr;
use crate::codec::{PushSink, RespCodec};
use crate::config::{Config, Protocol};
use crate::{Error, FromValue};

/// A handshaken connection on the current worker. Cheap to clone (one connection).
#[derive(Clone, Debug)]
pub(crate) struct Connection {
    pub(crate) pipe: Pipe<RespCodec>,
    /// The protocol the server agreed to.
    pub(crate) protocol: Protocol,
    /// Exclusive use may have left state behind (WATCH, an open MULTI): reset before reuse.
    pub(crate) needs_reset: std::rc::Rc<std::cell::Cell<bool>>,
    /// `CLIENT TRACKING` is on: replies read here may fill the worker's client-side cache.
    pub(crate) tracking: bool,
    /// With Sentinel: the master the sentinels named (checked against `+switch-master`).
    pub(crate) master: Option<Addr>,
    /// The [`SwitchHint`](crate::switch_hint::SwitchHint) generation `master` was last
    /// compared at.
    pub(crate) switch_seen: std::cell::Cell<u64>,
}

impl Connection {
    /// Connects to `config.addr` as it is (no Sentinel lookup: see `connect::open`) and
    /// authenticates, all within `config.connect_timeout`. The sentinels themselves are
    /// reached this way.
    pub(crate) async fn open_direct(
        config: &Config,
        on_push: Option<PushSink>,
    ) -> Result<Self, Error> {
        let timeout = config.connect_timeout;
        let open = async {
            let stream = connect_to(config, &config.addr).await?;
            Self::handshake(config, stream, None, on_push).await
        };
        match corelane_runtime::task::timeout(timeout, open).await {
            Some(result) => result,
            None => Err(timed_out(config)),
        }
    }

    /// Runs the handshake on `stream` (the caller bounds it by the connect timeout). `master`:
    /// the master the sentinels named, when that is where `stream` goes.
    pub(crate) async fn handshake(
        config: &Config,
        stream: Stream,
        master: Option<Addr>,
        on_push: Option<PushSink>,
    ) -> Result<Self, Error> {
        let limits = corelane_redis_proto::Limits::default()
            .with_max_aggregate_len(config.max_aggregate_len);
        let pipe = Pipe::new(stream, RespCodec::new(on_push, limits), Limits::default())
            .map_err(Error::runtime)?;
        let mut conn = Connection {
            pipe,
            protocol: Protocol::Resp2,
            needs_reset: std::rc::Rc::default(),
            tracking: false,
            master,
            switch_seen: std::cell::Cell::new(0),
        };
        conn.protocol = crate::handshake::run(&mut PipeExchange(&conn.pipe), config)
            .await
            .map_err(|e| tls_refusal(config, e))?;
        if config.readonly {
            // A cluster client reading from replicas. Once per connection: it lasts until the
            // connection closes (the exclusive pool's reset sends only `DISCARD`/`UNWATCH`).
            conn.query::<()>(&Cmd::new("READONLY")).await?;
        }
        Ok(conn)
    }

    /// Sends one command and converts its reply.
    pub(crate) async fn query<T: FromValue>(&self, cmd: &Cmd) -> Result<T, Error> {
        let value = self.pipe.call((), |buf| cmd.write_to(buf)).await?;
        T::from_value(value)
    }

    /// Turns on `CLIENT TRACKING` for client-side caching (RESP3 only: the invalidations come
    /// as pushes on this connection). `Ok(false)`: caching stays off on this connection — it
    /// speaks RESP2, or the server refused (an ACL, an old server).
    pub(crate) async fn enable_tracking(
        &mut self,
        cache: &crate::cache::CacheConfig,
    ) -> Result<bool, Error> {
        if self.protocol != Protocol::Resp3 {
            return Ok(false);
        }
        let mut cmd = Cmd::new("CLIENT").arg("TRACKING").arg("on");
        if let Some(prefixes) = &cache.broadcast {
            cmd = cmd.arg("BCAST");
            for prefix in prefixes {
                cmd = cmd.arg("PREFIX").arg(prefix.as_str());
            }
        }
        let reply: Value = self.pipe.call((), |buf| cmd.write_to(buf)).await?;
        self.tracking = !matches!(reply, Value::Error(_) | Value::BlobError(_));
        Ok(self.tracking)
    }

    /// Undoes what exclusive use may have left: an open `MULTI` (`DISCARD`; its "without
    /// MULTI" error is expected and ignored) and `WATCH`ed keys (`UNWATCH`).
    pub(crate) async fn reset(&self) -> Result<(), Error> {
        let mut batch = self.pipe.take_batch();
        batch.push((), |buf| Cmd::new("DISCARD").write_to(buf));
        batch.push((), |buf| Cmd::new("UNWATCH").write_to(buf));
        self.pipe.run(&mut batch).await?;
        let unwatch = batch.take(1);
        self.pipe.recycle_batch(batch);
        match unwatch {
            Some(Ok(reply)) => <()>::from_value(reply),
            Some(Err(e)) => Err(e.into()),
            None => Err(Error::runtime("reset lost its reply")),
        }
    }
}

/// The handshake's commands go through the connection's pipe like any call.
struct PipeExchange<'a>(&'a Pipe<RespCodec>);

impl crate::handshake::Exchange for PipeExchange<'_> {
    async fn exchange(&mut self, command: &[u8]) -> Result<Value, Error> {
        let reply = self.0.call((), |buf| buf.extend_from_slice(command)).await;
        reply.map_err(Error::from)
    }
}

/// Closes the connection when dropped while armed: the blocked command was abandoned.
pub(crate) struct CloseUnlessDone<'a> {
    pub(crate) conn: &'a Connection,
    pub(crate) armed: bool,
}

impl Drop for CloseUnlessDone<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.conn.pipe.close();
        }
    }
}

pub(crate) fn describe(addr: &Addr) -> String {
    match addr {
        Addr::Tcp { host, port } => format!("{host}:{port}"),
        Addr::Unix(path) => path.display().to_string(),
    }
}

/// The connect timeout passed while connecting or handshaking.
pub(crate) fn timed_out(config: &Config) -> Error {
    let timeout = config.connect_timeout;
    Error::connect(
        describe(&config.addr),
        format!("timed out after {timeout:?} (connect + handshake)"),
    )
}

/// Opens the transport to `addr`: TCP (trying each resolved address) or a Unix socket, then
/// TLS when `config` has it, with the host from the address as the name to verify and send in
/// SNI. The caller bounds the whole (connect and handshake) by the connect timeout.
pub(crate) async fn connect_to(config: &Config, addr: &Addr) -> Result<Stream, Error> {
    let timeout = config.connect_timeout;
    let stream = match addr {
        Addr::Tcp { host, port } => {
            let addrs: Vec<SocketAddr> = corelane_runtime::task::resolve_host(host, *port)
                .await
                .map_err(|e| Error::connect(describe(addr), e))?;
            let mut last = None;
            let mut connected = None;
            for sa in addrs {
                match Stream::connect_tcp_timeout(sa, timeout).await {
                    Ok(stream) => {
                        connected = Some(stream);
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            match connected {
                Some(stream) => stream,
                None => {
                    return Err(Error::connect(
                        describe(addr),
                        last.map_or_else(
                            || "the host name resolved to no address".to_owned(),
                            |e| e.to_string(),
                        ),
                    ))
                }
            }
        }
        Addr::Unix(path) => Stream::connect_unix(path)
            .await
            .map_err(|e| Error::connect(describe(addr), e))?,
    };
    match (&config.tls, addr) {
        (None, _) => Ok(stream),
        (Some(tls), Addr::Tcp { host, .. }) => {
            let tls_config = tls.config()?;
            stream
                .start_tls(&tls_config, host)
                .await
                .map_err(|e| Error::tls(describe(addr), e))
        }
        (Some(_), Addr::Unix(_)) => Err(Error::config(
            "TLS runs over TCP only: a Unix socket address cannot use TLS",
        )),
    }
}

/// Under TLS 1.3 the server checks the client's certificate after the client's side of the
/// handshake is done: its refusal (an alert) arrives as the first read of the connection's
/// setup fails. Such a failure is reported as the TLS error it is.
pub(crate) fn tls_refusal(config: &Config, error: Error) -> Error {
    match error.tls_alert() {
        Some(why) => Error::tls(describe(&config.addr), TlsError::PeerAlert(why.to_owned())),
        None => error,
    }
}
