//! Choosing the server of a new connection among the configured hosts, as libpq 16 does.
//!
//! Every new connection of a client goes through [`connect`]: the worker's shared
//! connections, its exclusive (transaction) connections, their reconnects after a failure,
//! [`Client::check`](crate::Client::check) and listeners. So after a failover (the primary gone,
//! a standby promoted) the next connection of a `read-write` client finds the new primary.
//!
//! For each host, in order (shuffled per connection with `load_balance_hosts=random`):
//! connect, authenticate, then test the server against `target_session_attrs`. What moves on
//! to the next host, as in libpq: the host cannot be reached (name lookup, refused, no
//! socket), the attempt ran past `connect_timeout` (which bounds each host's attempt on its
//! own, so N hosts may take N times it), the server answers SQLSTATE 57P03 (`cannot connect
//! now`: starting up, shutting down, or a standby not yet accepting connections), or it is not
//! the wanted kind (or the query testing that fails). What ends the whole connect at once,
//! also as in libpq: any other server error (a wrong password, no such database), a TLS
//! failure, a configuration error — the next host would most likely say the same.
//!
//! `prefer-standby` makes two passes: the first accepts only a standby, the second any server.

use std::future::Future;

use crate::config::{Config, TargetSessionAttrs};
use crate::error::HostRejection;
use crate::hosts;
use crate::hosts::describe_host;
use crate::Error;

/// SQLSTATE 57P03, `cannot_connect_now`: libpq tries the next host.
const CANNOT_CONNECT_NOW: &str = "57P03";

/// What a connection reports about its server, for `target_session_attrs`.
pub(crate) trait Candidate {
    /// The session is read-only: `default_transaction_read_only` or `in_hot_standby` as the
    /// server reported them at startup, else `SHOW transaction_read_only`.
    fn read_only(&self) -> impl Future<Output = Result<bool, Error>>;
    /// The server is a hot standby: `in_hot_standby` as reported, else
    /// `SELECT pg_catalog.pg_is_in_recovery()`.
    fn in_hot_standby(&self) -> impl Future<Output = Result<bool, Error>>;
    /// Closes a connection that was not chosen.
    fn close(&self);
}

/// What one pass wants of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Any,
    ReadWrite,
    ReadOnly,
    Primary,
    Standby,
}

/// The passes over the hosts for `attrs`.
fn passes(attrs: TargetSessionAttrs) -> &'static [Want] {
    match attrs {
        TargetSessionAttrs::ReadWrite => &[Want::ReadWrite],
        TargetSessionAttrs::ReadOnly => &[Want::ReadOnly],
        TargetSessionAttrs::Primary => &[Want::Primary],
        TargetSessionAttrs::Standby => &[Want::Standby],
        TargetSessionAttrs::PreferStandby => &[Want::Standby, Want::Any],
        // `Any`, and any kind added later, accepts every server.
        _ => &[Want::Any],
    }
}

/// `Ok` when `conn`'s server is what `want` asks for, else libpq's reason.
async fn fits<C: Candidate>(conn: &C, want: Want) -> Result<(), String> {
    let failed = |what: &str, e: Error| format!("\"{what}\" failed: {e}");
    match want {
        Want::Any => Ok(()),
        Want::ReadWrite | Want::ReadOnly => {
            let read_only = conn
                .read_only()
                .await
                .map_err(|e| failed("SHOW transaction_read_only", e))?;
            match (want, read_only) {
                (Want::ReadWrite, true) => Err("session is read-only".to_owned()),
                (Want::ReadOnly, false) => Err("session is not read-only".to_owned()),
                _ => Ok(()),
            }
        }
        Want::Primary | Want::Standby => {
            let standby = conn
                .in_hot_standby()
                .await
                .map_err(|e| failed("SELECT pg_is_in_recovery()", e))?;
            match (want, standby) {
                (Want::Primary, true) => Err("server is in hot standby mode".to_owned()),
                (Want::Standby, false) => Err("server is not in hot standby mode".to_owned()),
                _ => Ok(()),
            }
        }
    }
}

/// How one host's attempt ended without a connection.
enum Failure {
    /// Not reached, timed out, or not accepting connections now: try the next host.
    Unreachable(Error),
    /// Reached, but not what `target_session_attrs` asks for: try the next host.
    Rejected(String),
    /// Stop: the whole connect fails with this.
    Fatal(Error),
}

/// Sorts an error of opening a connection (connect, TLS, startup, authentication).
fn classify(e: Error) -> Failure {
    if e.is_connect() || e.code().is_some_and(|c| c.code() == CANNOT_CONNECT_NOW) {
        Failure::Unreachable(e)
    } else {
        Failure::Fatal(e)
    }
}

/// The longest a [`connect`] may take: the connect timeout once per host and pass.
pub(crate) fn worst_case(config: &Config) -> std::time::Duration {
    let attempts = config
        .hosts
        .len()
        .saturating_mul(passes(config.target_session_attrs).len());
    config
        .connect_timeout
        .saturating_mul(u32::try_from(attempts).unwrap_or(u32::MAX))
}

/// Opens a connection to the first host (in the configured order) that accepts one and is
/// what `target_session_attrs` asks for. `open` opens one on the host of the configuration it
/// is given (made by [`Config::for_host`]).
///
/// With one host that cannot be reached, its own error comes back (as with a single-host
/// configuration always); otherwise, when no host could be used, an error listing each host
/// tried and why ([`Error::is_no_suitable_host`]).
pub(crate) async fn connect<C, F, Fut>(config: &Config, open: F) -> Result<C, Error>
where
    C: Candidate,
    F: Fn(Config) -> Fut,
    Fut: Future<Output = Result<C, Error>>,
{
    let order = hosts::order(config.hosts.len(), config.load_balance_hosts);
    let limit = config.connect_timeout;
    let mut tried = Vec::new();
    let mut rejected = false;
    let mut last_unreachable = None;
    for &want in passes(config.target_session_attrs) {
        for &i in &order {
            let Some(host) = config.hosts.get(i) else {
                continue;
            };
            let one = config.for_host(host);
            let attempt = async {
                let conn = open(one).await.map_err(classify)?;
                match fits(&conn, want).await {
                    Ok(()) => Ok(conn),
                    Err(why) => {
                        conn.close();
                        Err(Failure::Rejected(why))
                    }
                }
            };
            let why = match corelane_runtime::task::timeout(limit, attempt).await {
                Some(Ok(conn)) => return Ok(conn),
                Some(Err(Failure::Fatal(e))) => return Err(e),
                Some(Err(Failure::Rejected(why))) => {
                    rejected = true;
                    why
                }
                Some(Err(Failure::Unreachable(e))) => {
                    let why = e
                        .connect_reason()
                        .map_or_else(|| e.to_string(), str::to_owned);
                    last_unreachable = Some(e);
                    why
                }
                None => {
                    let why = format!("timed out after {limit:?} (connect + authentication)");
                    last_unreachable = Some(Error::connect(describe_host(host), &why));
                    why
                }
            };
            tried.push(HostRejection::new(describe_host(host), why));
        }
    }
    match last_unreachable {
        // A single host that could not be reached: its error as it always was.
        Some(e) if tried.len() == 1 && !rejected => Err(e),
        _ => Err(Error::no_suitable_host(config.target_session_attrs, tried)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn prefer_standby_makes_two_passes() {
        assert_eq!(
            passes(TargetSessionAttrs::PreferStandby),
            [Want::Standby, Want::Any]
        );
        assert_eq!(passes(TargetSessionAttrs::Any), [Want::Any]);
        assert_eq!(passes(TargetSessionAttrs::ReadWrite), [Want::ReadWrite]);
    }

    /// A server as a candidate reports it.
    struct Fake {
        read_only: Result<bool, ()>,
        standby: Result<bool, ()>,
    }

    impl Candidate for Fake {
        async fn read_only(&self) -> Result<bool, Error> {
            self.read_only.map_err(|()| Error::protocol("boom"))
        }
        async fn in_hot_standby(&self) -> Result<bool, Error> {
            self.standby.map_err(|()| Error::protocol("boom"))
        }
        fn close(&self) {}
    }

    #[test]
    fn libpq_decisions() {
        let check = |read_only, standby, want| {
            futures_lite::future::block_on(fits(&Fake { read_only, standby }, want))
        };
        let primary = (Ok(false), Ok(false));
        let standby = (Ok(true), Ok(true));
        // A primary with default_transaction_read_only=on: read-only, but not a standby.
        let ro_primary = (Ok(true), Ok(false));
        for (server, want, expected) in [
            (primary, Want::ReadWrite, Ok(())),
            (standby, Want::ReadWrite, Err("session is read-only")),
            (ro_primary, Want::ReadWrite, Err("session is read-only")),
            (primary, Want::ReadOnly, Err("session is not read-only")),
            (ro_primary, Want::ReadOnly, Ok(())),
            (primary, Want::Primary, Ok(())),
            (ro_primary, Want::Primary, Ok(())),
            (standby, Want::Primary, Err("server is in hot standby mode")),
            (standby, Want::Standby, Ok(())),
            (
                primary,
                Want::Standby,
                Err("server is not in hot standby mode"),
            ),
            (standby, Want::Any, Ok(())),
        ] {
            let got = check(server.0, server.1, want);
            assert_eq!(got, expected.map_err(str::to_owned), "{want:?}");
        }
        // A failing test query rejects the host (libpq moves on).
        let e = check(Err(()), Ok(false), Want::ReadWrite).unwrap_err();
        assert!(
            e.starts_with("\"SHOW transaction_read_only\" failed"),
            "{e}"
        );
        let e = check(Ok(false), Err(()), Want::Standby).unwrap_err();
        assert!(
            e.starts_with("\"SELECT pg_is_in_recovery()\" failed"),
            "{e}"
        );
    }

    /// The query fallback (servers before PostgreSQL 14 report neither parameter), against a
    /// real server.
    #[test]
    fn queries_when_the_server_reports_nothing() {
        let server = corelane_testkit::PgServer::start().unwrap();
        let url = format!(
            "{}?options=-c%20default_transaction_read_only%3Don",
            server.url()
        );
        let workers = corelane_runtime::resolve(None).unwrap();
        let worker = workers.worker(0).unwrap().clone();
        let task = worker.spawn(move || async move {
            let config = Config::parse_with_env(&url, |_| None).unwrap();
            let conn = crate::connection::Connection::open(&config).await.unwrap();
            let reported = conn.session.reported_read_only();
            conn.session.forget_reported();
            let queried = (
                conn.read_only().await.unwrap(),
                conn.in_hot_standby().await.unwrap(),
            );
            conn.close();
            (reported, queried)
        });
        let (reported, queried) = futures_lite::future::block_on(task).unwrap();
        assert_eq!(reported, (Some(true), Some(false)));
        assert_eq!(queried, (true, false));
    }

    #[test]
    fn what_moves_on() {
        assert!(matches!(
            classify(Error::connect("h:1", "refused")),
            Failure::Unreachable(_)
        ));
        assert!(matches!(classify(Error::auth("wrong")), Failure::Fatal(_)));
        assert!(matches!(classify(Error::config("x")), Failure::Fatal(_)));
    }
}
