//! Several servers in one configuration (libpq's multi-host connection strings): the
//! comma-separated `host`, `hostaddr` and `port` lists matched up as libpq 16 does, and the
//! order a new connection tries them in (`load_balance_hosts`).
//!
//! libpq's rules (`pqConnectOptions2`):
//! - the number of hosts is the number of `hostaddr` elements when `hostaddr` is given, else
//!   of `host` elements, else one;
//! - when both are given they must have the same number of elements;
//! - one `port` applies to every host, otherwise there must be one port per host;
//! - an empty element means the default (host `127.0.0.1` here, port 5432); a host given only
//!   by its `hostaddr` has an empty name.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use crate::password::Password;
use crate::Error;

/// The host used when none is given.
pub(crate) const DEFAULT_HOST: &str = "127.0.0.1";

/// The port used when none is given.
pub(crate) const DEFAULT_PORT: u16 = 5432;

/// One server a connection may go to: a host name, IP address or Unix-socket directory, or a
/// numeric `hostaddr` (connected to without a name lookup), and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// A name, an IP address, or (starting with `/`) a Unix-socket directory. Empty when the
    /// host was given only by its `hostaddr`.
    pub(crate) host: String,
    pub(crate) hostaddr: Option<IpAddr>,
    pub(crate) port: u16,
    /// The password file's password for this host (looked up when none was given).
    pub(crate) pgpass: Option<Password>,
}

impl Host {
    /// A host by name, IP address or Unix-socket directory, and port.
    pub(crate) fn named(host: String, port: u16) -> Host {
        Host {
            host,
            hostaddr: None,
            port,
            pgpass: None,
        }
    }

    /// The host name, IP address or Unix-socket directory (empty when only a `hostaddr` was
    /// given).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The numeric address connected to instead of looking the name up (`hostaddr`).
    pub fn hostaddr(&self) -> Option<IpAddr> {
        self.hostaddr
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The name TLS verifies the server against: the host name, else the `hostaddr`.
    pub(crate) fn tls_name(&self) -> String {
        match (self.host.is_empty(), self.hostaddr) {
            (true, Some(ip)) => ip.to_string(),
            _ => self.host.clone(),
        }
    }
}

impl std::fmt::Display for Host {
    /// `host:port`, `hostaddr:port` or the socket path: where a connection to it goes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&describe_host(self))
    }
}

/// The order in which a new connection tries the hosts (libpq's `load_balance_hosts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LoadBalanceHosts {
    /// In the order given (the default).
    #[default]
    Disable,
    /// In a random order, shuffled again for every new connection, so the connections of a
    /// client spread over the hosts. The addresses a host name resolves to are tried in
    /// random order too.
    Random,
}

impl LoadBalanceHosts {
    pub(crate) fn parse(value: &str) -> Result<Self, Error> {
        match value {
            "disable" => Ok(LoadBalanceHosts::Disable),
            "random" => Ok(LoadBalanceHosts::Random),
            other => Err(Error::config(format!(
                "invalid load_balance_hosts value {other:?} (disable, random)"
            ))),
        }
    }

    /// The libpq spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadBalanceHosts::Disable => "disable",
            LoadBalanceHosts::Random => "random",
        }
    }
}

/// The `host`, `hostaddr` and `port` values as given (a later value of a keyword replaces an
/// earlier one), each element checked; [`HostLists::resolve`] matches them up.
#[derive(Debug, Default)]
pub(crate) struct HostLists {
    host: Option<String>,
    hostaddr: Option<String>,
    port: Option<String>,
}

/// libpq's `parse_comma_separated_list`: elements as written, empty ones included.
fn elements(value: &str) -> impl Iterator<Item = &str> {
    value.split(',')
}

/// One `port` element: empty is the default.
fn parse_port(value: &str) -> Result<u16, Error> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(DEFAULT_PORT);
    }
    v.parse()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| Error::config(format!("bad port {value:?}")))
}

impl HostLists {
    /// Records `host`, `hostaddr` or `port` (false for any other keyword), checking each
    /// element now so an error names the value (and its environment variable).
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<bool, Error> {
        match key {
            "host" => {
                for host in elements(value) {
                    if host.starts_with('@') {
                        return Err(Error::config(format!(
                            "host={host:?}: abstract Unix sockets are not supported"
                        )));
                    }
                }
                self.host = Some(value.to_owned());
            }
            "hostaddr" => {
                for addr in elements(value).filter(|a| !a.is_empty()) {
                    parse_hostaddr(addr)?;
                }
                self.hostaddr = Some(value.to_owned());
            }
            "port" => {
                for port in elements(value) {
                    parse_port(port)?;
                }
                self.port = Some(value.to_owned());
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The hosts, matched up as libpq does; a count mismatch is a configuration error.
    pub(crate) fn resolve(&self) -> Result<Vec<Host>, Error> {
        let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        let (host, hostaddr, port) = (given(&self.host), given(&self.hostaddr), given(&self.port));
        let addrs: Option<Vec<&str>> = hostaddr.as_deref().map(|a| elements(a).collect());
        let names: Option<Vec<&str>> = host.as_deref().map(|h| elements(h).collect());
        let count = match (&addrs, &names) {
            (Some(a), Some(n)) if a.len() != n.len() => {
                return Err(Error::config(format!(
                    "could not match {} host names to {} hostaddr values",
                    n.len(),
                    a.len()
                )))
            }
            (Some(a), _) => a.len(),
            (None, Some(n)) => n.len(),
            (None, None) => 1,
        };
        let ports: Vec<u16> = match port.as_deref() {
            None => vec![DEFAULT_PORT; count],
            Some(p) => {
                let list = elements(p).map(parse_port).collect::<Result<Vec<_>, _>>()?;
                match list.as_slice() {
                    [one] => vec![*one; count],
                    _ if list.len() == count => list,
                    _ => {
                        return Err(Error::config(format!(
                            "could not match {} port numbers to {count} hosts",
                            list.len()
                        )))
                    }
                }
            }
        };
        let mut hosts = Vec::with_capacity(count);
        for (i, port) in ports.into_iter().enumerate() {
            let addr = addrs.as_ref().and_then(|a| a.get(i)).copied();
            let hostaddr = match addr.filter(|a| !a.is_empty()) {
                Some(a) => Some(parse_hostaddr(a)?),
                None => None,
            };
            let name = names.as_ref().and_then(|n| n.get(i)).copied().unwrap_or("");
            let host = match (name, hostaddr) {
                ("", None) => DEFAULT_HOST.to_owned(),
                (name, _) => name.to_owned(),
            };
            hosts.push(Host {
                host,
                hostaddr,
                port,
                pgpass: None,
            });
        }
        Ok(hosts)
    }
}

/// The indexes of `count` hosts in the order a new connection tries them: as given, or (with
/// [`LoadBalanceHosts::Random`]) shuffled, as libpq shuffles its host list per connection.
pub(crate) fn order(count: usize, balance: LoadBalanceHosts) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    if balance == LoadBalanceHosts::Random {
        fastrand::shuffle(&mut order);
    }
    order
}

/// True when `host` names a Unix-socket directory rather than a host.
pub(crate) fn is_socket_dir(host: &str) -> bool {
    host.starts_with('/')
}

/// The socket file in directory `dir` for `port`, as libpq names it.
pub(crate) fn socket_path(dir: &str, port: u16) -> PathBuf {
    PathBuf::from(dir).join(format!(".s.PGSQL.{port}"))
}

/// Where a connection to `host` goes, for messages.
pub(crate) fn describe_host(host: &Host) -> String {
    match (&host.hostaddr, &host.host) {
        (Some(ip), _) => SocketAddr::new(*ip, host.port).to_string(),
        (None, name) if is_socket_dir(name) => socket_path(name, host.port).display().to_string(),
        (None, name) => format!("{name}:{}", host.port),
    }
}

/// Parses a `hostaddr` value: a numeric IPv4 or IPv6 address.
pub(crate) fn parse_hostaddr(value: &str) -> Result<IpAddr, Error> {
    value
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| Error::config(format!("bad hostaddr {value:?}: not a numeric IP address")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn resolve(pairs: &[(&str, &str)]) -> Result<Vec<(String, Option<IpAddr>, u16)>, Error> {
        let mut lists = HostLists::default();
        for (k, v) in pairs {
            assert!(lists.set(k, v)?);
        }
        Ok(lists
            .resolve()?
            .into_iter()
            .map(|h| (h.host, h.hostaddr, h.port))
            .collect())
    }

    fn h(host: &str, port: u16) -> (String, Option<IpAddr>, u16) {
        (host.to_owned(), None, port)
    }

    #[test]
    fn lists_match_up_as_in_libpq() {
        assert_eq!(resolve(&[]).unwrap(), [h(DEFAULT_HOST, DEFAULT_PORT)]);
        assert_eq!(
            resolve(&[("host", "a,b,c"), ("port", "5432,5433,5434")]).unwrap(),
            [h("a", 5432), h("b", 5433), h("c", 5434)]
        );
        // One port applies to every host.
        assert_eq!(
            resolve(&[("host", "a,b"), ("port", "7")]).unwrap(),
            [h("a", 7), h("b", 7)]
        );
        // Empty elements are the defaults.
        assert_eq!(
            resolve(&[("host", "a,,/run/pg"), ("port", "1,,")]).unwrap(),
            [
                h("a", 1),
                h(DEFAULT_HOST, DEFAULT_PORT),
                h("/run/pg", DEFAULT_PORT)
            ]
        );
        // hostaddr decides the count; a host name per address, or none.
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(
            resolve(&[("hostaddr", "10.0.0.1,::1"), ("port", "1,2")]).unwrap(),
            [
                (String::new(), ip("10.0.0.1"), 1),
                (String::new(), ip("::1"), 2)
            ]
        );
        assert_eq!(
            resolve(&[("host", "a,b"), ("hostaddr", "10.0.0.1,")]).unwrap(),
            [
                ("a".to_owned(), ip("10.0.0.1"), DEFAULT_PORT),
                h("b", DEFAULT_PORT)
            ]
        );
        // A later value replaces an earlier one; empty is not given.
        assert_eq!(
            resolve(&[("host", "x,y"), ("host", "a"), ("port", "")]).unwrap(),
            [h("a", DEFAULT_PORT)]
        );
    }

    #[test]
    fn mismatched_counts_are_config_errors() {
        for (pairs, message) in [
            (
                &[("host", "a,b,c"), ("port", "1,2")][..],
                "could not match 2 port numbers to 3 hosts",
            ),
            (
                &[("host", "a"), ("port", "1,2")][..],
                "could not match 2 port numbers to 1 hosts",
            ),
            (
                &[("host", "a,b"), ("hostaddr", "10.0.0.1")][..],
                "could not match 2 host names to 1 hostaddr values",
            ),
            (
                &[("hostaddr", "10.0.0.1,10.0.0.2"), ("port", "1,2,3")][..],
                "could not match 3 port numbers to 2 hosts",
            ),
        ] {
            let e = resolve(pairs).unwrap_err();
            assert!(e.is_config(), "{pairs:?}: {e}");
            assert!(e.to_string().contains(message), "{pairs:?}: {e}");
        }
        let mut lists = HostLists::default();
        assert!(lists.set("port", "1,x").unwrap_err().is_config());
        assert!(lists.set("port", "0").unwrap_err().is_config());
        assert!(lists
            .set("hostaddr", "10.0.0.1,db")
            .unwrap_err()
            .is_config());
        assert!(lists.set("host", "a,@abstract").unwrap_err().is_config());
        assert!(!lists.set("dbname", "x").unwrap());
    }

    #[test]
    fn load_balancing_orders() {
        assert_eq!(order(3, LoadBalanceHosts::Disable), [0, 1, 2]);
        let mut seen_first = [false; 3];
        for _ in 0..200 {
            let o = order(3, LoadBalanceHosts::Random);
            let mut sorted = o.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2]);
            seen_first[o[0]] = true;
        }
        assert_eq!(seen_first, [true; 3]);
        assert!(LoadBalanceHosts::parse("random").is_ok());
        assert!(LoadBalanceHosts::parse("bogus").unwrap_err().is_config());
    }
}
