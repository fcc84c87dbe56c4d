//! Asking the sentinels where the master is, and checking what we reached.

use corelane_redis_proto::Cmd;

use super::SentinelSettings;
use crate::config::{Addr, Config, Protocol};
use crate::connection::{describe, Connection};
use crate::Error;

/// The master's address according to the first sentinel that knows it (each sentinel gets
/// the connect timeout; one that is down or does not know the name is skipped).
pub(crate) async fn master_addr(
    config: &Config,
    settings: &SentinelSettings,
) -> Result<Addr, Error> {
    let mut why = Vec::new();
    for (host, port) in &settings.sentinels {
        let sentinel = sentinel_config(config, host, *port);
        let fut = ask(&sentinel, &settings.master);
        let asked = corelane_runtime::task::timeout(config.connect_timeout, fut).await;
        match asked {
            Some(Ok(addr)) => return Ok(addr),
            Some(Err(e)) => why.push(format!("{host}:{port}: {e}")),
            None => why.push(format!("{host}:{port}: timed out")),
        }
    }
    Err(Error::connect(
        format!("master `{}` via sentinels", settings.master),
        format!("no sentinel gave its address ({})", why.join("; ")),
    ))
}

/// How to reach one sentinel: plain TCP, RESP2, no credentials (those are the master's).
fn sentinel_config(config: &Config, host: &str, port: u16) -> Config {
    let mut sentinel = Config::default()
        .host(host, port)
        .protocol(Protocol::Resp2)
        .connect_timeout(config.connect_timeout);
    sentinel.sentinel = None;
    sentinel
}

async fn ask(sentinel: &Config, master: &str) -> Result<Addr, Error> {
    // Boxed: opening a connection may ask the sentinels, which opens a connection.
    let open: std::pin::Pin<Box<dyn std::future::Future<Output = Result<Connection, Error>>>> =
        Box::pin(Connection::open(sentinel, None));
    let conn = open.await?;
    let reply = conn
        .query::<Option<(String, u16)>>(
            &Cmd::new("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(master),
        )
        .await;
    conn.pipe.close();
    match reply? {
        Some((host, port)) => Ok(Addr::Tcp { host, port }),
        None => Err(Error::connect(
            describe(&sentinel.addr),
            format!("the sentinel does not know master `{master}`"),
        )),
    }
}

/// Checks that `conn` (just opened to what the sentinels named) is a master: during a
/// failover a sentinel may still name the old master, now a replica.
pub(crate) async fn check_master(
    conn: &Connection,
    settings: &SentinelSettings,
) -> Result<(), Error> {
    let role: Vec<corelane_redis_proto::Value> = conn.query(&Cmd::new("ROLE")).await?;
    let is_master = matches!(
        role.first(),
        Some(corelane_redis_proto::Value::BulkString(r) | corelane_redis_proto::Value::SimpleString(r))
            if &r[..] == b"master"
    );
    if is_master {
        Ok(())
    } else {
        Err(Error::connect(
            format!("master `{}` via sentinels", settings.master),
            "the sentinels named a server whose ROLE is not master (a failover is under way)",
        ))
    }
}
