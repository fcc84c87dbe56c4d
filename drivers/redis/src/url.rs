//! `redis://` and `redis+unix://` URLs.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Addr, Config, Protocol, DEFAULT_PORT};
use crate::Error;

pub(crate) fn parse(url: &str) -> Result<Config, Error> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| Error::config(format!("not a URL (no scheme): {}", redact(url))))?;
    let mut config = Config::default();
    let rest = match scheme {
        "redis" | "valkey" => parse_tcp(rest, &mut config, url)?,
        "redis+unix" | "unix" => parse_unix(rest, &mut config)?,
        "rediss" | "valkeys" => {
            return Err(Error::config(
                "TLS (rediss://) is not yet supported by corelane-redis; use redis:// on a trusted network or a TLS tunnel",
            ))
        }
        other => {
            return Err(Error::config(format!(
                "unsupported URL scheme {other:?} (expected redis:// or redis+unix://)"
            )))
        }
    };
    if let Some(query) = rest {
        apply_query(query, &mut config)?;
    }
    Ok(config)
}

/// Parses `[user:pass@]host[:port][/db]`, returning the query string if any.
fn parse_tcp<'a>(rest: &'a str, config: &mut Config, url: &str) -> Result<Option<&'a str>, Error> {
    let (before_query, query) = split_query(rest);
    let (authority, path) = match before_query.find('/') {
        Some(i) => (&before_query[..i], &before_query[i + 1..]),
        None => (before_query, ""),
    };
    let host_port = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => {
            let (user, pass) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            let user = percent_decode(user)?;
            if !user.is_empty() {
                config.username = Some(user);
            }
            if let Some(pass) = pass {
                config.password = Some(percent_decode(pass)?.into());
            }
            host_port
        }
        None => authority,
    };
    let (host, port) = split_host_port(host_port)
        .ok_or_else(|| Error::config(format!("bad host or port in {}", redact(url))))?;
    if host.is_empty() {
        return Err(Error::config(format!("no host in {}", redact(url))));
    }
    config.addr = Addr::Tcp {
        host: host.to_owned(),
        port,
    };
    if !path.is_empty() {
        config.db = path
            .parse()
            .map_err(|_| Error::config(format!("bad database index {path:?} in URL path")))?;
    }
    Ok(query)
}

fn parse_unix<'a>(rest: &'a str, config: &mut Config) -> Result<Option<&'a str>, Error> {
    let (path, query) = split_query(rest);
    if path.is_empty() {
        return Err(Error::config("redis+unix:// needs a socket path"));
    }
    config.addr = Addr::Unix(PathBuf::from(percent_decode(path)?));
    Ok(query)
}

fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (s, None),
    }
}

fn split_host_port(s: &str) -> Option<(&str, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        // [v6]:port
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host, port.parse().ok()?)),
            None if after.is_empty() => Some((host, DEFAULT_PORT)),
            None => None,
        };
    }
    match s.rsplit_once(':') {
        Some((host, port)) => Some((host, port.parse().ok()?)),
        None => Some((s, DEFAULT_PORT)),
    }
}

fn apply_query(query: &str, config: &mut Config) -> Result<(), Error> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value)?;
        let number = |what: &str| -> Result<u64, Error> {
            value
                .parse()
                .map_err(|_| Error::config(format!("bad {what} {value:?} in URL query")))
        };
        match key {
            "protocol" => {
                config.protocol = match value.as_str() {
                    "resp3" | "3" => Protocol::Resp3,
                    "resp2" | "2" => Protocol::Resp2,
                    _ => {
                        return Err(Error::config(format!(
                            "bad protocol {value:?} (resp2 or resp3)"
                        )))
                    }
                }
            }
            "db" => {
                config.db = value
                    .parse()
                    .map_err(|_| Error::config(format!("bad db {value:?} in URL query")))?
            }
            "client_name" | "name" => config.client_name = Some(value),
            "connections_per_worker" => {
                config.connections_per_worker = (number(key)? as usize).max(1)
            }
            "connect_timeout_ms" => config.connect_timeout = Duration::from_millis(number(key)?),
            "command_timeout_ms" => {
                config.command_timeout = Some(Duration::from_millis(number(key)?))
            }
            "username" | "user" => config.username = Some(value),
            "password" => config.password = Some(value.into()),
            other => {
                return Err(Error::config(format!("unknown URL parameter {other:?}")));
            }
        }
    }
    Ok(())
}

fn percent_decode(s: &str) -> Result<String, Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::config("bad percent-escape in URL"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::config("URL component is not UTF-8"))
}

/// The URL with any password replaced, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_tcp_url() {
        let c = parse("redis://al%40ice:p%3Ass@example.com:6380/3?protocol=resp2&client_name=app")
            .unwrap();
        assert_eq!(
            c.addr,
            Addr::Tcp {
                host: "example.com".into(),
                port: 6380
            }
        );
        assert_eq!(c.username.as_deref(), Some("al@ice"));
        assert_eq!(c.password.as_ref().map(|p| p.expose()), Some("p:ss"));
        assert_eq!(c.db, 3);
        assert_eq!(c.protocol, Protocol::Resp2);
        assert_eq!(c.client_name.as_deref(), Some("app"));
    }

    #[test]
    fn defaults_and_legacy_password() {
        let c = parse("redis://:secret@localhost").unwrap();
        assert_eq!(c.username, None);
        assert_eq!(c.password.as_ref().map(|p| p.expose()), Some("secret"));
        assert_eq!(
            c.addr,
            Addr::Tcp {
                host: "localhost".into(),
                port: 6379
            }
        );
        assert_eq!(c.db, 0);
        assert_eq!(c.protocol, Protocol::Resp3);
    }

    #[test]
    fn ipv6_and_unix() {
        let c = parse("redis://[::1]:7000").unwrap();
        assert_eq!(
            c.addr,
            Addr::Tcp {
                host: "::1".into(),
                port: 7000
            }
        );
        let c = parse("redis+unix:///tmp/redis.sock?db=2").unwrap();
        assert_eq!(c.addr, Addr::Unix("/tmp/redis.sock".into()));
        assert_eq!(c.db, 2);
    }

    #[test]
    fn tls_and_garbage_are_clear_errors() {
        let e = parse("rediss://h").unwrap_err().to_string();
        assert!(e.contains("TLS"), "{e}");
        assert!(parse("http://h")
            .unwrap_err()
            .to_string()
            .contains("scheme"));
        assert!(parse("redis://h:notaport").is_err());
        assert!(parse("redis://h/x").is_err());
        assert!(parse("redis://h?bogus=1")
            .unwrap_err()
            .to_string()
            .contains("bogus"));
        assert!(parse("nourl").is_err());
    }

    #[test]
    fn passwords_never_reach_errors_or_debug() {
        let e = parse("redis://u:hunter2@h:bad").unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
        let c = parse("redis://u:hunter2@h").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
