//! `redis+cluster://` and `rediss+cluster://` URLs: several seed nodes, one set of options.

use super::read_from::ReadFrom;
use crate::config::{Config, DEFAULT_PORT};
use crate::url_text::{redact, split_host_port};
use crate::Error;

/// What a cluster URL says: the options every node connection shares, the seeds, and
/// `read_from` when given.
pub(crate) type Parsed = (Config, Vec<(String, u16)>, Option<ReadFrom>);

/// Parses `redis+cluster://[user:pass@]host:port,host:port[/0][?options]` into the options
/// every node connection shares (those of `redis://`, from the first host), the seeds, and
/// the cluster's own option `read_from=master|replica|prefer-replica`.
pub(crate) fn parse(url: &str) -> Result<Parsed, Error> {
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
    let (tail, read_from) = take_read_from(tail)?;
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
    Ok((config, seeds, read_from))
}

/// `tail` (`/0?a=1&read_from=replica`) without its `read_from` option (not a `redis://`
/// option), and that option's value.
fn take_read_from(tail: &str) -> Result<(String, Option<ReadFrom>), Error> {
    let Some((path, query)) = tail.split_once('?') else {
        return Ok((tail.to_owned(), None));
    };
    let mut read_from = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("read_from", value)) => read_from = Some(ReadFrom::parse(value)?),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    Ok((rest, read_from))
}

#[cfg(test)]
mod tests {
    use super::{parse, ReadFrom};

    #[test]
    fn seeds_and_options() {
        let (config, seeds, read_from) =
            parse("redis+cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002?protocol=resp2")
                .unwrap();
        assert_eq!(read_from, None);
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
        let (config, _, _) = parse("rediss+cluster://h:1").unwrap();
        assert!(config.is_tls());
        let (config, _, read_from) =
            parse("redis+cluster://h:1?read_from=prefer-replica&protocol=resp2").unwrap();
        assert_eq!(read_from, Some(ReadFrom::PreferReplica));
        assert_eq!(config.protocol, crate::Protocol::Resp2);
        let (_, _, read_from) = parse("redis+cluster://h:1/0?read_from=replica").unwrap();
        assert_eq!(read_from, Some(ReadFrom::Replica));
        assert!(parse("redis+cluster://h:1?read_from=any")
            .unwrap_err()
            .is_config());
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
