//! Where a connection goes: a TCP address (from `hostaddr`, or `host` resolved) or a
//! Unix-domain socket (`host` starting with `/` names its directory; the socket file is
//! `<dir>/.s.PGSQL.<port>`), and opening the stream there.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use corelane_runtime::Stream;

use crate::config::Config;
use crate::hosts::{describe_host, is_socket_dir, socket_path};
use crate::Error;

/// The address a connection reached: where a `CancelRequest` for it must go too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServerAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl std::fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerAddr::Tcp(sa) => sa.fmt(f),
            ServerAddr::Unix(path) => path.display().fmt(f),
        }
    }
}

/// Where `config` connects, for messages: `host:port`, `hostaddr:port` or the socket path
/// (each host, comma-separated, when there are several).
pub(crate) fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config.get_hosts().iter().map(describe_host).collect();
    hosts.join(",")
}

/// Opens a plain stream to the (first) server of `config`: the Unix socket, `hostaddr` (no
/// name lookup), or the first address of `host` that accepts (in random order with
/// `load_balance_hosts=random`, as libpq). Each TCP attempt is bounded by the connect
/// timeout (the caller bounds the whole attempt on this host too).
pub(crate) async fn connect(config: &Config) -> Result<(Stream, ServerAddr), Error> {
    let target = config.target();
    let mut addrs: Vec<SocketAddr> = match (target.hostaddr, &target.host) {
        (Some(ip), _) => vec![SocketAddr::new(ip, target.port)],
        (None, host) if is_socket_dir(host) => {
            let path = socket_path(host, target.port);
            let stream = Stream::connect_unix(&path)
                .await
                .map_err(|e| Error::connect(path.display(), e))?;
            return Ok((stream, ServerAddr::Unix(path)));
        }
        (None, host) => corelane_runtime::task::resolve_host(host, target.port)
            .await
            .map_err(|e| Error::connect(describe_host(target), e))?,
    };
    if config.load_balance_hosts == crate::LoadBalanceHosts::Random {
        fastrand::shuffle(&mut addrs);
    }
    let mut last = None;
    for sa in addrs {
        match Stream::connect_tcp_timeout(sa, config.connect_timeout).await {
            Ok(stream) => {
                stream
                    .set_tcp_keepalive(config.get_keepalives())
                    .map_err(|e| Error::connect(sa, format!("setting TCP keepalive: {e}")))?;
                return Ok((stream, ServerAddr::Tcp(sa)));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(Error::connect(
        describe_host(target),
        last.map_or_else(|| "no address".to_owned(), |e| e.to_string()),
    ))
}

/// Opens a plain stream to an address a connection reached before (for a `CancelRequest`).
pub(crate) async fn reconnect(server: &ServerAddr, timeout: Duration) -> Result<Stream, Error> {
    let stream = match server {
        ServerAddr::Tcp(sa) => Stream::connect_tcp_timeout(*sa, timeout).await,
        ServerAddr::Unix(path) => {
            match corelane_runtime::task::timeout(timeout, Stream::connect_unix(path)).await {
                Some(result) => result,
                None => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connect timed out after {timeout:?}"),
                )),
            }
        }
    };
    stream.map_err(|e| Error::connect(server, e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use corelane_runtime::TcpKeepalive;

    /// Connects with `config` on a worker of the standalone loop; the stream's keepalive.
    fn keepalive_after_connect(config: Config) -> (Option<TcpKeepalive>, ServerAddr) {
        let workers = corelane_runtime::resolve(None).unwrap();
        let worker = workers.worker(0).unwrap().clone();
        let task = worker.spawn(move || async move {
            let (stream, server) = connect(&config).await.unwrap();
            (stream.tcp_keepalive().unwrap(), server)
        });
        futures_lite::future::block_on(task).unwrap()
    }

    #[test]
    fn tcp_connections_get_the_configured_keepalive() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let base = format!("hostaddr=127.0.0.1 port={port}");
        let parse =
            |extra: &str| Config::parse_with_env(&format!("{base} {extra}"), |_| None).unwrap();

        let (k, server) = keepalive_after_connect(parse(
            "keepalives_idle=41 keepalives_interval=6 keepalives_count=5",
        ));
        assert_eq!(
            server,
            ServerAddr::Tcp(SocketAddr::from(([127, 0, 0, 1], port)))
        );
        let k = k.expect("keepalive on");
        assert_eq!(k.idle, Some(Duration::from_secs(41)));
        assert_eq!(k.interval, Some(Duration::from_secs(6)));
        assert_eq!(k.count, Some(5));
        // On by default (libpq's default), off with keepalives=0.
        assert!(keepalive_after_connect(parse("")).0.is_some());
        assert_eq!(keepalive_after_connect(parse("keepalives=0")).0, None);
        drop(listener);
    }

    #[test]
    fn where_a_config_connects() {
        let parse = |s: &str| Config::parse_with_env(s, |_| None).unwrap();
        assert_eq!(describe(&parse("host=db port=6")), "db:6");
        assert_eq!(
            describe(&parse("host=/run/pg port=6")),
            "/run/pg/.s.PGSQL.6"
        );
        assert_eq!(describe(&parse("host=db hostaddr=::1 port=6")), "[::1]:6");
        assert_eq!(
            ServerAddr::Unix(PathBuf::from("/s/.s.PGSQL.1")).to_string(),
            "/s/.s.PGSQL.1"
        );
    }
}
