//! Opening a connection where a config points: its address, or, in Sentinel mode, the master
//! (or a replica) the sentinels name, checked with `ROLE` once connected.
//!
//! Above both `connection` (which knows nothing of Sentinel) and `sentinel::resolve` (which
//! reaches the sentinels through `connection`), so that neither depends on the other.

use corelane_runtime::Stream;

use crate::addr::Addr;
use crate::codec::PushSink;
use crate::config::Config;
use crate::connection::{connect_to, timed_out, Connection};
use crate::sentinel::resolve;
use crate::Error;

/// Connects and authenticates, all within `config.connect_timeout`.
pub(crate) async fn open(config: &Config, on_push: Option<PushSink>) -> Result<Connection, Error> {
    match corelane_runtime::task::timeout(config.connect_timeout, open_inner(config, on_push)).await
    {
        Some(result) => result,
        None => Err(timed_out(config)),
    }
}

async fn open_inner(config: &Config, on_push: Option<PushSink>) -> Result<Connection, Error> {
    let (stream, master) = connect_master(config).await?;
    let conn = Connection::handshake(config, stream, master, on_push).await?;
    if let (Some(settings), Some(master)) = (&config.sentinel, &conn.master) {
        if let Err(e) = resolve::check_master(&conn, master, settings).await {
            conn.pipe.close();
            return Err(e);
        }
    }
    if let Some(settings) = config.sentinel.as_ref().filter(|s| s.to_replica) {
        if let Err(e) = resolve::check_replica(&conn, settings).await {
            conn.pipe.close();
            return Err(e);
        }
    }
    Ok(conn)
}

/// Opens the transport every connection of `config` runs over (command, exclusive, blocking,
/// pub/sub): see [`connect_to`]. The caller bounds the whole (connect and handshake) by the
/// connect timeout.
pub(crate) async fn connect_stream(config: &Config) -> Result<Stream, Error> {
    connect_master(config).await.map(|(stream, _)| stream)
}

/// [`connect_stream`], with the master's address when the sentinels named it.
async fn connect_master(config: &Config) -> Result<(Stream, Option<Addr>), Error> {
    match &config.sentinel {
        None => Ok((connect_to(config, &config.addr).await?, None)),
        Some(settings) if settings.to_replica => {
            let addr = resolve::replica_addr(config, settings).await?;
            Ok((connect_to(config, &addr).await?, None))
        }
        Some(settings) => {
            let addr = resolve::master_addr(config, settings).await?;
            let stream = connect_to(config, &addr).await?;
            Ok((stream, Some(addr)))
        }
    }
}
