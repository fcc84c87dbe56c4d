//! `redis+sentinel://` URLs: the sentinels, the master's name, then the usual options.

use crate::config::Config;
use crate::read_from::ReadFrom;
use crate::url_text::{boolean, percent_decode, redact, split_host_port};
use crate::Error;

/// The port sentinels listen on by default.
pub(crate) const SENTINEL_PORT: u16 = 26379;

/// Parses `redis+sentinel://[user:pass@]host[:port],host[:port]/master[/db][?options]`
/// (`rediss+sentinel://`: TLS to the master). The credentials and options are the master's,
/// but for `sentinel_username=`, `sentinel_password=`, `sentinel_tls=true` and
/// `sentinel_ca_file=`, the sentinels' own.
pub(crate) fn parse(url: &str) -> Result<Config, Error> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| Error::config(format!("not a URL (no scheme): {}", redact(url))))?;
    let single = match scheme {
        "redis+sentinel" => "redis",
        "rediss+sentinel" => "rediss",
        other => {
            return Err(Error::config(format!(
                "unsupported sentinel URL scheme {other:?}"
            )))
        }
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((user, hosts)) => (Some(user), hosts),
        None => (None, authority),
    };
    let mut sentinels = Vec::new();
    for host in hosts.split(',').filter(|h| !h.is_empty()) {
        let with_port = if host.contains(':') && !host.ends_with(']') {
            host.to_owned()
        } else {
            format!("{host}:{SENTINEL_PORT}")
        };
        let (name, port) = split_host_port(&with_port)
            .ok_or_else(|| Error::config(format!("bad sentinel host in {}", redact(url))))?;
        sentinels.push((name.to_owned(), port));
    }
    if sentinels.is_empty() {
        return Err(Error::config(format!(
            "no sentinel host in {}",
            redact(url)
        )));
    }
    // `/master[/db]` then `?options`.
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let master = parts.next().unwrap_or_default();
    if master.is_empty() {
        return Err(Error::config(format!(
            "no master name in {} (redis+sentinel://host:port/mymaster)",
            redact(url)
        )));
    }
    let db = parts.next().filter(|d| !d.is_empty());
    let (mut sentinel_username, mut sentinel_password) = (None, None);
    let (mut sentinel_tls, mut sentinel_ca_files) = (None, Vec::new());
    let mut read_from = None;
    let mut rest_query = Vec::new();
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=') {
            Some(("sentinel_username", v)) => sentinel_username = Some(percent_decode(v)?),
            Some(("sentinel_password", v)) => sentinel_password = Some(percent_decode(v)?),
            Some(("sentinel_tls", v)) => {
                sentinel_tls = Some(boolean("sentinel_tls", &percent_decode(v)?)?)
            }
            Some(("sentinel_ca_file", v)) => sentinel_ca_files.push(percent_decode(v)?),
            Some(("read_from", v)) => read_from = Some(ReadFrom::parse(&percent_decode(v)?)?),
            _ => rest_query.push(pair),
        }
    }
    let query = (!rest_query.is_empty()).then(|| rest_query.join("&"));
    let userinfo = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    let single_url = format!(
        "{single}://{userinfo}sentinel-master{}{}",
        db.map(|d| format!("/{d}")).unwrap_or_default(),
        query.map(|q| format!("?{q}")).unwrap_or_default()
    );
    let mut config = Config::from_url(&single_url)?.sentinel(master, sentinels);
    config.sentinel_username = sentinel_username;
    config.sentinel_password = sentinel_password.map(Into::into);
    if let Some(enabled) = sentinel_tls {
        config = config.sentinel_tls(enabled);
    }
    for file in sentinel_ca_files {
        config = config.sentinel_tls_ca_file(file);
    }
    if let Some(read_from) = read_from {
        config = config.sentinel_read_from(read_from);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn sentinels_master_and_options() {
        let config =
            parse("redis+sentinel://:pw@10.0.0.1,10.0.0.2:26380/mymaster/2?protocol=resp2")
                .unwrap();
        let s = config.sentinel.as_ref().unwrap();
        assert_eq!(s.master, "mymaster");
        assert_eq!(
            s.sentinels,
            [
                ("10.0.0.1".to_owned(), 26379),
                ("10.0.0.2".to_owned(), 26380)
            ]
        );
        assert_eq!(config.db, 2);
        assert_eq!(config.password.as_ref().map(|p| p.expose()), Some("pw"));
        assert!(!format!("{config:?}").contains("pw\""));
    }

    #[test]
    fn sentinel_credentials_are_the_sentinels_own() {
        let config = parse(
            "redis+sentinel://:master-pw@h1/m?sentinel_password=s%40cret&sentinel_username=sen&db=3",
        )
        .unwrap();
        assert_eq!(
            config.sentinel_password.as_ref().map(|p| p.expose()),
            Some("s@cret")
        );
        assert_eq!(config.sentinel_username.as_deref(), Some("sen"));
        assert_eq!(
            config.password.as_ref().map(|p| p.expose()),
            Some("master-pw")
        );
        assert_eq!(config.db, 3);
        let read = parse("redis+sentinel://h1/m?read_from=prefer-replica").unwrap();
        assert_eq!(
            read.sentinel.as_ref().map(|s| s.read_from),
            Some(crate::read_from::ReadFrom::PreferReplica)
        );
        assert!(parse("redis+sentinel://h1/m?read_from=nearest")
            .unwrap_err()
            .is_config());
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("s@cret") && !debug.contains("master-pw"),
            "{debug}"
        );
        // A bad option elsewhere: the error does not show the sentinel password.
        let e = parse("redis+sentinel://h1/m?sentinel_password=hunter2&bogus=1").unwrap_err();
        assert!(e.is_config() && !e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn refuses_incomplete_urls() {
        assert!(parse("redis+sentinel://h:1").unwrap_err().is_config());
        assert!(parse("redis+sentinel:///m").unwrap_err().is_config());
        assert!(parse("redis+sentinel://h:x/m").unwrap_err().is_config());
    }
}
