//! Pieces of connection-URL text every URL parser shares (`url`, `sentinel::url`,
//! `cluster::url`): host and port, booleans, percent-escapes, and the URL with its passwords
//! hidden. A leaf, so that the parsers do not depend on each other for them.

use crate::config::DEFAULT_PORT;
use crate::Error;

/// `host:port`, `[v6]:port`, or a host alone (the default port).
pub(crate) fn split_host_port(s: &str) -> Option<(&str, u16)> {
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

/// A boolean query value (`true`/`1`/`yes`/`on` or their opposites).
pub(crate) fn boolean(key: &str, value: &str) -> Result<bool, Error> {
    match value {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(Error::config(format!(
            "bad {key} {value:?} in URL query (true or false)"
        ))),
    }
}

/// Percent-decoding; a `%` not followed by two hex digits is refused (the crate would pass
/// it through).
pub(crate) fn percent_decode(s: &str) -> Result<String, Error> {
    let bytes = s.as_bytes();
    for (i, _) in s.match_indices('%') {
        let hex = bytes.get(i + 1..i + 3).unwrap_or_default();
        if hex.len() != 2 || !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err(Error::config("bad percent-escape in URL"));
        }
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| Error::config("URL component is not UTF-8"))
}

/// The URL with any password replaced (in the user info, and `password=` /
/// `sentinel_password=` query values), for error messages.
pub(crate) fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &base[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &base[..s + 3], user, &base[at..]),
                None => base.to_owned(),
            }
        }
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.ends_with("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}
