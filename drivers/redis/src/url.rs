//! `redis://`, `rediss://` (TLS) and `redis+unix://` URLs.

use std::path::PathBuf;
use std::time::Duration;

impl Config {
    /// Parses `redis://[user:pass@]host[:port][/db][?protocol=resp2|resp3&client_name=..&
    /// connections_per_worker=N&connect_timeout_ms=N&command_timeout_ms=N&max_connections=N&
    /// exclusive_per_worker=N&acquire_timeout_ms=N&client_cache=true&client_cache_max_entries=N&
    /// client_cache_max_bytes=N&client_cache_ttl_ms=N&client_cache_bcast=p1,p2]`,
    /// `rediss://…` (the same over TLS) or `redis+unix:///path/to/socket[?db=N&...]`.
    /// `valkey://` and `valkeys://` are accepted as `redis://` and `rediss://`.
    ///
    /// A `rediss://` URL verifies the server's certificate against the operating system's
    /// roots and the URL's host (an IP literal is matched against the certificate's IP
    /// addresses), and takes these extra query parameters (paths percent-encoded):
    ///
    /// - `ca_file=/path/ca.pem`: also trust the CA certificate(s) in this PEM file (what
    ///   Redis' `tls-ca-cert-file` signed the server with);
    /// - `system_roots=false`: trust only `ca_file`, not the operating system's roots;
    /// - `cert_file=/path/client.crt&key_file=/path/client.key`: present this client
    ///   certificate (mutual TLS, for `tls-auth-clients yes`); both or neither;
    /// - `insecure=true`: **dangerous**: accept any server certificate (expired, self-signed,
    ///   for another host). The traffic is encrypted but anyone on the path can read and
    ///   change it. The same as [`danger_accept_invalid_certs`](Self::danger_accept_invalid_certs).
    ///
    /// These parameters are refused on a `redis://` URL, so that a typo in the scheme cannot
    /// silently send traffic in clear.
    ///
    /// ```
    /// # fn main() -> Result<(), corelane_redis::Error> {
    /// let config = corelane_redis::Config::from_url(
    ///     "rediss://:secret@cache.internal:6380/0?ca_file=%2Fetc%2Fredis%2Fca.pem",
    /// )?;
    /// assert!(config.is_tls());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_url(url: &str) -> Result<Config, Error> {
        parse(url)
    }
}

use crate::addr::Addr;
use crate::config::{Config, Protocol};
use crate::tls::{ClientCert, TlsSettings};
use crate::url_text::{boolean, percent_decode, redact, split_host_port};
use crate::Error;

pub(crate) fn parse(url: &str) -> Result<Config, Error> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| Error::config(format!("not a URL (no scheme): {}", redact(url))))?;
    let mut config = Config::default();
    let rest = match scheme {
        "redis" | "valkey" => parse_tcp(rest, &mut config, url)?,
        "redis+unix" | "unix" => parse_unix(rest, &mut config)?,
        "redis+sentinel" | "rediss+sentinel" => return crate::sentinel::url::parse(url),
        "rediss" | "valkeys" => {
            config.tls = Some(TlsSettings::default());
            parse_tcp(rest, &mut config, url)?
        }
        other => {
            return Err(Error::config(format!(
                "unsupported URL scheme {other:?} (expected redis://, rediss:// or redis+unix://)"
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

/// The TLS parameters of a `rediss://` URL's query.
const TLS_KEYS: [&str; 5] = [
    "ca_file",
    "cert_file",
    "key_file",
    "insecure",
    "system_roots",
];

fn apply_query(query: &str, config: &mut Config) -> Result<(), Error> {
    let (mut cert_file, mut key_file) = (None, None);
    let mut cache_off = false;
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
            "max_connections" => config.max_connections = Some(number(key)? as usize),
            "exclusive_per_worker" => config.exclusive_per_worker = (number(key)? as usize).max(1),
            "acquire_timeout_ms" => {
                let ms = number(key)?;
                config.acquire_timeout = (ms > 0).then(|| Duration::from_millis(ms));
            }
            "connect_timeout_ms" => config.connect_timeout = Duration::from_millis(number(key)?),
            "command_timeout_ms" => {
                config.command_timeout = Some(Duration::from_millis(number(key)?))
            }
            "username" | "user" => config.username = Some(value),
            "password" => config.password = Some(value.into()),
            tls_key if TLS_KEYS.contains(&tls_key) => {
                let Some(tls) = config.tls.as_mut() else {
                    return Err(Error::config(format!(
                        "URL parameter {tls_key:?} needs TLS: use a rediss:// URL"
                    )));
                };
                match tls_key {
                    "ca_file" => tls.ca_files.push(PathBuf::from(value)),
                    "cert_file" => cert_file = Some(PathBuf::from(value)),
                    "key_file" => key_file = Some(PathBuf::from(value)),
                    "insecure" => tls.insecure = boolean(key, &value)?,
                    _ => tls.system_roots = boolean(key, &value)?,
                }
            }
            other if crate::cache::url::apply(other, &value, config, &mut cache_off)? => {}
            other => {
                return Err(Error::config(format!("unknown URL parameter {other:?}")));
            }
        }
    }
    crate::cache::url::finish(config, cache_off);
    match (cert_file, key_file, config.tls.as_mut()) {
        (None, None, _) => {}
        (Some(cert), Some(key), Some(tls)) => {
            tls.client_cert = Some(ClientCert::Files { cert, key })
        }
        _ => {
            return Err(Error::config(
                "URL parameters cert_file and key_file go together (mutual TLS)",
            ))
        }
    }
    Ok(())
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
    fn garbage_is_a_clear_error() {
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

    fn tls(c: &Config) -> &TlsSettings {
        c.tls.as_ref().expect("TLS settings")
    }

    #[test]
    fn rediss_and_valkeys_turn_tls_on_with_full_verification() {
        let c = parse("rediss://u:pw@cache.example.com:6380/2").unwrap();
        assert!(c.is_tls());
        assert_eq!(
            c.addr,
            Addr::Tcp {
                host: "cache.example.com".into(),
                port: 6380
            }
        );
        assert_eq!(c.db, 2);
        let t = tls(&c);
        assert!(t.system_roots && !t.insecure);
        assert!(t.ca_files.is_empty() && t.client_cert.is_none());
        let c = parse("valkeys://[::1]").unwrap();
        assert!(c.is_tls());
        assert_eq!(
            c.addr,
            Addr::Tcp {
                host: "::1".into(),
                port: 6379
            }
        );
        assert!(!parse("redis://h").unwrap().is_tls());
        assert!(!parse("valkey://h").unwrap().is_tls());
    }

    #[test]
    fn tls_query_keys() {
        let c = parse(
            "rediss://h?ca_file=%2Fetc%2Fca.pem&cert_file=/c/client.crt&key_file=/c/client.key\
             &system_roots=false&db=1",
        )
        .unwrap();
        let t = tls(&c);
        assert_eq!(t.ca_files, vec![PathBuf::from("/etc/ca.pem")]);
        assert!(!t.system_roots);
        assert!(!t.insecure);
        match &t.client_cert {
            Some(ClientCert::Files { cert, key }) => {
                assert_eq!(cert, &PathBuf::from("/c/client.crt"));
                assert_eq!(key, &PathBuf::from("/c/client.key"));
            }
            other => panic!("client cert {other:?}"),
        }
        assert_eq!(c.db, 1);
        let c = parse("rediss://h?insecure=true&ca_file=a&ca_file=b").unwrap();
        assert!(tls(&c).insecure);
        assert_eq!(tls(&c).ca_files.len(), 2);
        assert!(!tls(&parse("rediss://h?insecure=0").unwrap()).insecure);
    }

    #[test]
    fn tls_query_mistakes_are_config_errors() {
        for url in [
            "redis://h?ca_file=/ca.pem",
            "redis://h?insecure=true",
            "valkey://h?cert_file=a&key_file=b",
            "redis+unix:///s?ca_file=x",
        ] {
            let e = parse(url).unwrap_err();
            assert!(e.is_config(), "{url}: {e}");
            assert!(e.to_string().contains("rediss://"), "{url}: {e}");
        }
        for url in [
            "rediss://h?cert_file=a",
            "rediss://h?key_file=b",
            "rediss://h?insecure=maybe",
            "rediss://h?system_roots=",
        ] {
            assert!(parse(url).unwrap_err().is_config(), "{url}");
        }
    }

    #[test]
    fn tls_settings_never_show_keys_or_passwords() {
        let c = Config::default()
            .host("h", 1)
            .password("hunter2")
            .tls_client_cert_pem("CERT", "-----BEGIN PRIVATE KEY-----\nsupersecretkey");
        let debug = format!("{c:?}");
        assert!(!debug.contains("supersecretkey"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(c.is_tls());
    }

    #[test]
    fn builder_tls_switches() {
        let c = Config::default().danger_accept_invalid_certs(true);
        assert!(c.is_tls() && tls(&c).insecure);
        let c = c.danger_accept_invalid_certs(false);
        assert!(c.is_tls() && !tls(&c).insecure);
        assert!(!c.tls(false).is_tls());
        assert!(!Config::default()
            .danger_accept_invalid_certs(false)
            .is_tls());
        let c = Config::default().tls_ca_file("/x");
        assert!(c.is_tls());
        let mut unix = Config::default().addr(Addr::Unix("/s".into())).tls(true);
        assert!(unix.prepare().unwrap_err().is_config());
        // An unreadable CA file is a typed TLS configuration error when the client is made.
        let mut c = Config::default().tls_ca_file("/nonexistent/ca.pem");
        let e = c.prepare().unwrap_err();
        assert!(e.is_tls() && e.is_config(), "{e}");
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }
}
