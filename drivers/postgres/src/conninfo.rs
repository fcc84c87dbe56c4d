//! libpq connection strings: the `key=value` form and `postgres://` URLs, split into
//! `(keyword, value)` pairs (in order); libpq's keywords and what this driver does with each;
//! and the `PG*` environment variables that supply defaults.
//!
//! Turning pairs into settings is [`Config::set`](crate::Config)'s job: this module only
//! parses and classifies.

use crate::Error;

/// libpq keywords this driver accepts without acting on them: each one is recorded in
/// [`Config::ignored_keys`](crate::Config::ignored_keys). Some get a value check in
/// `Config::set` first (a value that would change what the connection is, such as
/// `gssencmode=require`, is refused there instead of ignored).
pub(crate) const IGNORED: &[&str] = &[
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "gssencmode",
    "requirepeer",
    "require_auth",
    "tcp_user_timeout",
    "sslcompression",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
];

/// The environment variables libpq reads for defaults, with the keyword each one sets. They
/// go through the same `Config::set` as the connection string's pairs.
pub(crate) const ENV_VARS: &[(&str, &str)] = &[
    ("PGHOST", "host"),
    ("PGHOSTADDR", "hostaddr"),
    ("PGPORT", "port"),
    ("PGDATABASE", "dbname"),
    ("PGUSER", "user"),
    ("PGPASSWORD", "password"),
    ("PGPASSFILE", "passfile"),
    ("PGAPPNAME", "application_name"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGOPTIONS", "options"),
    ("PGCLIENTENCODING", "client_encoding"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
    ("PGSERVICE", "service"),
    ("PGSSLMODE", "sslmode"),
    ("PGSSLNEGOTIATION", "sslnegotiation"),
    ("PGSSLCERT", "sslcert"),
    ("PGSSLKEY", "sslkey"),
    ("PGSSLCERTMODE", "sslcertmode"),
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGCHANNELBINDING", "channel_binding"),
    ("PGSSLCOMPRESSION", "sslcompression"),
    ("PGSSLCRL", "sslcrl"),
    ("PGSSLCRLDIR", "sslcrldir"),
    ("PGSSLSNI", "sslsni"),
    ("PGSSLMINPROTOCOLVERSION", "ssl_min_protocol_version"),
    ("PGSSLMAXPROTOCOLVERSION", "ssl_max_protocol_version"),
    ("PGREQUIREPEER", "requirepeer"),
    ("PGREQUIREAUTH", "require_auth"),
    ("PGGSSENCMODE", "gssencmode"),
    ("PGKRBSRVNAME", "krbsrvname"),
    ("PGGSSLIB", "gsslib"),
    ("PGGSSDELEGATION", "gssdelegation"),
    ("PGLOADBALANCEHOSTS", "load_balance_hosts"),
];

/// Splits a connection string (URL or `key=value` form) into `(keyword, value)` pairs, in
/// the order written. Keywords are not checked here.
pub(crate) fn parse(s: &str) -> Result<Vec<(String, String)>, Error> {
    let s = s.trim();
    if let Some(rest) = s
        .strip_prefix("postgres://")
        .or_else(|| s.strip_prefix("postgresql://"))
    {
        parse_url(rest)
    } else {
        parse_kv(s)
    }
}

/// `key=value key2='quoted \' value' ...` with libpq's rules: whitespace around `=` is
/// allowed, a value is either single-quoted (a backslash escapes any character, `\'` and
/// `\\` in particular) or runs to the next whitespace (a backslash escapes there too), and
/// an empty value is written `key=''` (as in libpq, whitespace after `=` is skipped, so
/// `a= b=1` gives `a` the value `b=1`).
fn parse_kv(s: &str) -> Result<Vec<(String, String)>, Error> {
    let mut pairs = Vec::new();
    let mut chars = s.chars().peekable();
    let skip_ws = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
    };
    loop {
        skip_ws(&mut chars);
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        skip_ws(&mut chars);
        if chars.next() != Some('=') {
            return Err(Error::config(format!(
                "missing \"=\" after {key:?} in connection string"
            )));
        }
        if key.is_empty() {
            return Err(Error::config(
                "missing key before \"=\" in connection string",
            ));
        }
        skip_ws(&mut chars);
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(Error::config(format!(
                    "unterminated quoted value for {key}"
                )));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

/// `[user[:password]@][host][:port][,host[:port]...][/dbname][?key=value&...]` (after the
/// scheme), percent-decoded. Hosts and ports become `host`/`port` pairs (comma-separated when
/// there are several, as libpq lists them: `a:1,b` gives `host=a,b port=1,`), query
/// parameters come after them. libpq's
/// `ssl=true` (for JDBC URLs) becomes `sslmode=require`.
fn parse_url(rest: &str) -> Result<Vec<(String, String)>, Error> {
    let mut pairs = Vec::new();
    let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = main.split_once('/').unwrap_or((main, ""));
    let hosts = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            if !user.is_empty() {
                pairs.push(("user".to_owned(), decode(user)?));
            }
            if userinfo.contains(':') {
                pairs.push(("password".to_owned(), decode(pass)?));
            }
            hosts
        }
        None => authority,
    };
    if !hosts.is_empty() {
        let mut host_list = Vec::new();
        let mut port_list = Vec::new();
        for host_port in hosts.split(',') {
            let (host, port) = match host_port.strip_prefix('[') {
                Some(v6) => {
                    let (h, after) = v6
                        .split_once(']')
                        .ok_or_else(|| Error::config("bad IPv6 host in URL (no \"]\")"))?;
                    let port = match after {
                        "" => None,
                        p => Some(p.strip_prefix(':').ok_or_else(|| {
                            Error::config(format!("unexpected {after:?} after an IPv6 host in URL"))
                        })?),
                    };
                    (h, port)
                }
                None => match host_port.rsplit_once(':') {
                    Some((h, p)) => (h, Some(p)),
                    None => (host_port, None),
                },
            };
            host_list.push(decode(host)?);
            port_list.push(port.map(decode).transpose()?.unwrap_or_default());
        }
        // As libpq: a list is kept when its text is not empty, so `:1,:2` is two default
        // hosts with ports 1 and 2, and `a,b` gives `port=,` (two default ports).
        let hosts = host_list.join(",");
        if !hosts.is_empty() {
            pairs.push(("host".to_owned(), hosts));
        }
        let ports = port_list.join(",");
        if !ports.is_empty() {
            pairs.push(("port".to_owned(), ports));
        }
    }
    if !path.is_empty() {
        pairs.push(("dbname".to_owned(), decode(path)?));
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            Error::config(format!("missing \"=\" in URL query parameter {pair:?}"))
        })?;
        let (k, v) = (decode(k)?, decode(v)?);
        if k == "ssl" && v == "true" {
            pairs.push(("sslmode".to_owned(), "require".to_owned()));
        } else {
            pairs.push((k, v));
        }
    }
    Ok(pairs)
}

/// Percent-decoding (`+` stays a plus, as in libpq); `%00` and a `%` not followed by two hex
/// digits are refused (the crate would pass them through, libpq refuses them).
fn decode(s: &str) -> Result<String, Error> {
    check_escapes(s)?;
    if s.contains("%00") {
        return Err(Error::config("forbidden %00 in URL"));
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| Error::config("URL component is not UTF-8"))
}

/// Every `%` starts two hex digits.
fn check_escapes(s: &str) -> Result<(), Error> {
    let bytes = s.as_bytes();
    for (i, _) in s.match_indices('%') {
        let hex = bytes.get(i + 1..i + 3).unwrap_or_default();
        if hex.len() != 2 || !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err(Error::config("bad percent-escape in URL"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pairs(s: &str) -> Vec<(String, String)> {
        parse(s).unwrap()
    }

    fn p(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn key_value_quoting() {
        assert_eq!(
            pairs(r"host = h  password='a b\'c\\d' user=\ x dbname='' port= a=b"),
            p(&[
                ("host", "h"),
                ("password", r"a b'c\d"),
                ("user", " x"),
                ("dbname", ""),
                ("port", "a=b")
            ])
        );
        assert_eq!(pairs("  "), p(&[]));
        assert!(parse("host").unwrap_err().is_config());
        assert!(parse("host h").unwrap_err().is_config());
        assert!(parse("=x").unwrap_err().is_config());
        assert!(parse("password='open").unwrap_err().is_config());
    }

    #[test]
    fn urls() {
        assert_eq!(
            pairs("postgresql://u%40x:p%3Aw@h:5433/d%20b?application_name=a%26b&connect_timeout=3"),
            p(&[
                ("user", "u@x"),
                ("password", "p:w"),
                ("host", "h"),
                ("port", "5433"),
                ("dbname", "d b"),
                ("application_name", "a&b"),
                ("connect_timeout", "3")
            ])
        );
        assert_eq!(
            pairs("postgres://%2Fvar%2Frun%2Fpostgresql/db"),
            p(&[("host", "/var/run/postgresql"), ("dbname", "db")])
        );
        assert_eq!(
            pairs("postgres:///db?host=/var/run/postgresql"),
            p(&[("dbname", "db"), ("host", "/var/run/postgresql")])
        );
        assert_eq!(
            pairs("postgres://[::1]:6000,b/x"),
            p(&[("host", "::1,b"), ("port", "6000,"), ("dbname", "x")])
        );
        assert_eq!(pairs("postgres://"), p(&[]));
        assert_eq!(pairs("postgres://:7/"), p(&[("port", "7")]));
        assert_eq!(
            pairs("postgres://:1,:2/"),
            p(&[("host", ","), ("port", "1,2")])
        );
        assert_eq!(
            pairs("postgres://a,b:5/"),
            p(&[("host", "a,b"), ("port", ",5")])
        );
        assert_eq!(
            pairs("postgres://h?ssl=true"),
            p(&[("host", "h"), ("sslmode", "require")])
        );
        assert_eq!(
            pairs("postgres://a+b@h"),
            p(&[("user", "a+b"), ("host", "h")])
        );
        assert!(parse("postgres://h/%00").is_err());
        assert!(parse("postgres://h/%zz").is_err());
        assert!(parse("postgres://[::1/").is_err());
        assert!(parse("postgres://h/d?novalue").is_err());
    }

    #[test]
    fn tables_do_not_overlap() {
        for (var, _) in ENV_VARS {
            assert!(var.starts_with("PG"), "{var}");
        }
    }
}
