//! Asking the sentinels where the master is, and checking what we reached.

use corelane_redis_proto::hello::is_auth_failure;
use corelane_redis_proto::Cmd;

use crate::addr::Addr;
use crate::config::{Config, Protocol};
use crate::connection::{describe, Connection};
use crate::sentinel_settings::SentinelSettings;
use crate::Error;

/// The master's address according to the first sentinel that knows it (each sentinel gets
/// the connect timeout; one that is down or does not know the name is skipped). A sentinel
/// naming the master a `+switch-master` said was replaced lags behind the others: the next
/// one is asked, and that answer is taken only when no sentinel gives another.
pub(crate) async fn master_addr(
    config: &Config,
    settings: &SentinelSettings,
) -> Result<Addr, Error> {
    let mut why = Vec::new();
    let mut lagging = None;
    let mut failures = Vec::new();
    for (host, port) in &settings.sentinels {
        let sentinel = sentinel_config(config, host, *port);
        let fut = ask(&sentinel, &settings.master);
        let asked = corelane_runtime::task::timeout(config.connect_timeout, fut).await;
        match asked {
            Some(Ok(addr)) if settings.switch.is_replaced(&addr) => {
                why.push(format!(
                    "{host}:{port}: still names the replaced master {}",
                    describe(&addr)
                ));
                lagging = Some(addr);
            }
            Some(Ok(addr)) => return Ok(addr),
            Some(Err(e)) => {
                why.push(format!("{host}:{port}: {e}"));
                failures.push(e);
            }
            None => why.push(format!("{host}:{port}: timed out")),
        }
    }
    if let Some(addr) = lagging {
        settings.switch.forget(&addr);
        return Ok(addr);
    }
    // Every sentinel refused our credentials, or its certificate: say so with the typed
    // error (the server's text for AUTH, which never holds the password).
    if failures.len() == settings.sentinels.len() {
        let same = |kind: fn(&Error) -> bool| failures.iter().all(kind);
        if same(Error::is_auth) || same(Error::is_tls) {
            if let Some(e) = failures.into_iter().next() {
                return Err(e);
            }
        }
    }
    Err(Error::connect(
        format!("master `{}` via sentinels", settings.master),
        format!("no sentinel gave its address ({})", why.join("; ")),
    ))
}

/// How to reach one sentinel: RESP2, the sentinels' own credentials and TLS settings (the
/// config's are the master's).
pub(crate) fn sentinel_config(config: &Config, host: &str, port: u16) -> Config {
    let mut sentinel = Config::default()
        .host(host, port)
        .protocol(Protocol::Resp2)
        .connect_timeout(config.connect_timeout);
    sentinel.username = config.sentinel_username.clone();
    sentinel.password = config.sentinel_password.clone();
    sentinel.tls = config.sentinel_tls.clone();
    sentinel.sentinel = None;
    sentinel
}

async fn ask(sentinel: &Config, master: &str) -> Result<Addr, Error> {
    // Straight to the sentinel: its config has no Sentinel settings of its own.
    let conn = Connection::open_direct(sentinel, None).await?;
    let reply = conn
        .query::<Option<(String, u16)>>(
            &Cmd::new("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(master),
        )
        .await;
    conn.pipe.close();
    // Without `sentinel_password`, a sentinel with `requirepass` answers NOAUTH here.
    let reply = reply.map_err(|e| match e.server_error() {
        Some(server) if is_auth_failure(e.code()) => Error::auth(server.clone()),
        _ => e,
    });
    match reply? {
        Some((host, port)) => Ok(Addr::Tcp { host, port }),
        None => Err(Error::connect(
            describe(&sentinel.addr),
            format!("the sentinel does not know master `{master}`"),
        )),
    }
}

/// Checks that `conn` (just opened to what the sentinels named) is a master: during a
/// failover a sentinel may still name the old master, now a replica (or, right after a
/// `SENTINEL FAILOVER`, still a master for a few seconds: one a `+switch-master` replaced is
/// refused too).
pub(crate) async fn check_master(
    conn: &Connection,
    master: &Addr,
    settings: &SentinelSettings,
) -> Result<(), Error> {
    let role: Vec<corelane_redis_proto::Value> = conn.query(&Cmd::new("ROLE")).await?;
    let is_master = matches!(
        role.first(),
        Some(corelane_redis_proto::Value::BulkString(r) | corelane_redis_proto::Value::SimpleString(r))
            if &r[..] == b"master"
    );
    if is_master && !settings.switch.is_replaced(master) {
        Ok(())
    } else {
        Err(Error::connect(
            format!("master `{}` via sentinels", settings.master),
            "the sentinels named a server whose ROLE is not master (a failover is under way)",
        ))
    }
}

/// For reads from replicas: one of the master's replicas the first answering sentinel
/// reports healthy (`SENTINEL REPLICAS`), at random; with `PreferReplica` and none healthy,
/// the master.
pub(crate) async fn replica_addr(
    config: &Config,
    settings: &SentinelSettings,
) -> Result<Addr, Error> {
    let mut why = Vec::new();
    for (host, port) in &settings.sentinels {
        let sentinel = sentinel_config(config, host, *port);
        let fut = ask_replicas(&sentinel, &settings.master);
        match corelane_runtime::task::timeout(config.connect_timeout, fut).await {
            Some(Ok(replicas)) if !replicas.is_empty() => {
                let pick = fastrand::usize(..replicas.len());
                if let Some(addr) = replicas.into_iter().nth(pick) {
                    return Ok(addr);
                }
            }
            Some(Ok(_)) => why.push(format!("{host}:{port}: no healthy replica")),
            Some(Err(e)) => why.push(format!("{host}:{port}: {e}")),
            None => why.push(format!("{host}:{port}: timed out")),
        }
    }
    if settings.read_from == crate::read_from::ReadFrom::PreferReplica {
        return master_addr(config, settings).await;
    }
    Err(Error::connect(
        format!("a replica of `{}` via sentinels", settings.master),
        format!("no sentinel named a healthy replica ({})", why.join("; ")),
    ))
}

/// The replicas a sentinel reports up and linked to their master.
async fn ask_replicas(sentinel: &Config, master: &str) -> Result<Vec<Addr>, Error> {
    // Straight to the sentinel: its config has no Sentinel settings of its own.
    let conn = Connection::open_direct(sentinel, None).await?;
    let reply = conn
        .query::<Vec<corelane_redis_proto::Value>>(
            &Cmd::new("SENTINEL").arg("REPLICAS").arg(master),
        )
        .await;
    conn.pipe.close();
    Ok(reply?.iter().filter_map(healthy_replica).collect())
}

/// One entry of `SENTINEL REPLICAS` (a flat field list, or a map in RESP3) when the replica
/// is neither down nor disconnected and its link to the master is up.
fn healthy_replica(entry: &corelane_redis_proto::Value) -> Option<Addr> {
    use corelane_redis_proto::Value;
    let text = |v: &Value| match v {
        Value::BulkString(b) | Value::SimpleString(b) => {
            std::str::from_utf8(b).ok().map(str::to_owned)
        }
        _ => None,
    };
    let pairs: Vec<(String, String)> = match entry {
        Value::Array(items) => items
            .chunks_exact(2)
            .filter_map(|kv| Some((text(kv.first()?)?, text(kv.get(1)?)?)))
            .collect(),
        Value::Map(items) => items
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
            .collect(),
        _ => return None,
    };
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let flags = field("flags")?;
    let down = flags
        .split(',')
        .any(|f| matches!(f, "s_down" | "o_down" | "disconnected"));
    if down || field("master-link-status")? != "ok" {
        return None;
    }
    Some(Addr::Tcp {
        host: field("ip")?.to_owned(),
        port: field("port")?.parse().ok()?,
    })
}

/// Checks that a connection for reads reached a replica (or, with `PreferReplica`, the
/// master it fell back to).
pub(crate) async fn check_replica(
    conn: &Connection,
    settings: &SentinelSettings,
) -> Result<(), Error> {
    let role: Vec<corelane_redis_proto::Value> = conn.query(&Cmd::new("ROLE")).await?;
    let role = match role.first() {
        Some(
            corelane_redis_proto::Value::BulkString(r)
            | corelane_redis_proto::Value::SimpleString(r),
        ) => &r[..],
        _ => &b""[..],
    };
    let fallback = settings.read_from == crate::read_from::ReadFrom::PreferReplica;
    if role == b"slave" || (fallback && role == b"master") {
        Ok(())
    } else {
        Err(Error::connect(
            format!("a replica of `{}` via sentinels", settings.master),
            "the sentinels named a server whose ROLE is not replica (a failover is under way)",
        ))
    }
}
