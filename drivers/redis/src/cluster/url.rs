//! `redis+cluster://` and `rediss+cluster://` URLs: several seed nodes, one set of options.

use crate::config::{Config, DEFAULT_PORT};
use crate::url::{redact, split_host_port};
use crate::Error;

/// Parses `redis+cluster://[user:pass@]host:port,host:port[/0][?options]` into the options
/// every node connection shares (those of `redis://`, from the first host) and the seeds.
pub(crate) fn parse(url: &str) -> Result<(Config, Vec<(String, u16)>), Error> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| Error::config(format!("not a URL (no scheme): {}", redact(url))))?;
    let single = match scheme {
        "redis+cluster" | "valkey+cluster" => "redis",
        "rediss+cluster" | "valkeys+cluster" => "rediss",
        other => {
            return Err(Error::config(format!(
                "unsupported cluster URL scheme {other:?} (expected redis+cluster:// or \
                 rediss+cluster://)"
            )))
        }
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((user, hosts)) => (Some(user), hosts),
        None => (None, authority),
    };
    let mut seeds = Vec::new();
    for host in hosts.split(',').filter(|h| !h.is_empty()) {
        let (name, port) = split_host_port(host)
            .ok_or_else(|| Error::config(format!("bad host or port in {}", redact(url))))?;
        seeds.push((name.to_owned(), if port == 0 { DEFAULT_PORT } else { port }));
    }
    let Some((first, port)) = seeds.first() else {
        return Err(Error::config(format!("no seed host in {}", redact(url))));
    };
    let userinfo = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    let host = if first.contains(':') {
        format!("[{first}]")
    } else {
        first.clone()
    };
    let config = Config::from_url(&format!("{single}://{userinfo}{host}:{port}{tail}"))?;
    if config.db != 0 {
        return Err(Error::config(
            "a cluster has only database 0: drop the /N from the cluster URL",
        ));
    }
    Ok((config, seeds))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn seeds_and_options() {
        let (config, seeds) =
            parse("redis+cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002?protocol=resp2")
                .unwrap();
        assert_eq!(
            seeds,
            [
                ("10.0.0.1".to_owned(), 7000),
                ("10.0.0.2".to_owned(), 7001),
                ("::1".to_owned(), 7002)
            ]
        );
        assert_eq!(config.username.as_deref(), Some("u"));
        assert_eq!(config.password.as_ref().map(|p| p.expose()), Some("p@ss"));
        assert!(!format!("{config:?}").contains("p@ss"));
        let (config, _) = parse("rediss+cluster://h:1").unwrap();
        assert!(config.is_tls());
    }

    #[test]
    fn refuses_what_a_cluster_cannot_do() {
        assert!(parse("redis+cluster://h:1/2").unwrap_err().is_config());
        assert!(parse("redis+cluster://").unwrap_err().is_config());
        assert!(parse("redis://h:1").unwrap_err().is_config());
        let e = parse("redis+cluster://user:secret@h:x").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
    }
}
