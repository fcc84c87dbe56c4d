//! Connecting to the server: TCP, then TLS as `sslmode` and `sslnegotiation` say. Every
//! connection of the crate goes through here: pooled connections, listener sessions and the
//! side connections of `CancelRequest`.

use std::future::Future;
use std::time::Duration;

use bytes::BytesMut;
use corelane_pg_proto::message::frontend;
use corelane_pg_proto::startup::{BindingPolicy, TlsEndPoint};
use corelane_runtime::conn::TlsConfig;
use corelane_runtime::Stream;
use futures_lite::{AsyncReadExt, AsyncWriteExt};

use crate::config::Config;
use crate::endpoint::ServerAddr;
use crate::tls::{tls_server_end_point, ChannelBinding, Resolved, SslMode, SslNegotiation};
use crate::Error;

/// How a connection reached its server: where a `CancelRequest` for it must go, and over what.
#[derive(Clone, Debug)]
pub(crate) struct Route {
    /// The address connected to (TCP or a Unix socket).
    pub(crate) server: ServerAddr,
    /// TLS as it was started, `None` for plaintext.
    pub(crate) tls: Option<TlsRoute>,
}

/// How TLS was started on a connection (the same again for its cancel requests).
#[derive(Clone, Debug)]
pub(crate) struct TlsRoute {
    config: TlsConfig,
    server_name: String,
    negotiation: SslNegotiation,
}

/// A connected stream, ready for the startup message.
pub(crate) struct Transport {
    pub(crate) stream: Stream,
    pub(crate) route: Route,
    /// The `tls-server-end-point` data of a TLS connection (`Some(None)`: TLS, but the
    /// certificate's signature algorithm gives no binding); `None` for plaintext.
    end_point: Option<Option<Vec<u8>>>,
    channel_binding: ChannelBinding,
}

/// What one attempt wants.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Plain,
    /// TLS or an error ([`Error::is_ssl_not_supported`] when the server refuses).
    Tls,
    /// TLS, or plaintext on the same connection when the server answers `N`.
    TlsOrPlain,
}

/// Connects as the configuration's TLS options say and runs `startup` on the connection,
/// retrying as libpq does:
///
/// - `disable`: plaintext.
/// - `allow`: plaintext; when the server refuses it during startup (an `ErrorResponse`), once
///   more with TLS.
/// - `prefer`: TLS when the server accepts `SSLRequest`, plaintext on the same connection when
///   it answers `N`; when the handshake fails, or the server refuses the TLS connection during
///   startup, once more in plaintext.
/// - `require`, `verify-ca`, `verify-full`: TLS or nothing.
pub(crate) async fn establish<T, F, Fut>(config: &Config, mut startup: F) -> Result<T, Error>
where
    F: FnMut(Transport) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let resolved = config.tls.resolve()?;
    match resolved.mode {
        SslMode::Disable => startup(connect(config, &resolved, Want::Plain).await?).await,
        SslMode::Allow => match startup(connect(config, &resolved, Want::Plain).await?).await {
            Err(first) if first.is_db() => {
                let retry = async { startup(connect(config, &resolved, Want::Tls).await?).await };
                retry.await.map_err(|again| more_telling(first, again))
            }
            other => other,
        },
        SslMode::Prefer => match connect(config, &resolved, Want::TlsOrPlain).await {
            Ok(transport) => {
                let tls = transport.route.tls.is_some();
                match startup(transport).await {
                    Err(first) if tls && first.is_db() => {
                        let retry =
                            async { startup(connect(config, &resolved, Want::Plain).await?).await };
                        retry.await.map_err(|again| more_telling(first, again))
                    }
                    other => other,
                }
            }
            Err(e) if e.is_tls() => startup(connect(config, &resolved, Want::Plain).await?).await,
            Err(e) => Err(e),
        },
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            startup(connect(config, &resolved, Want::Tls).await?).await
        }
    }
}

/// Of the errors of a first attempt and of the retry in the other transport, the one to
/// report: the retry's, unless it only says that transport is not available (no pg_hba.conf
/// entry for it, SQLSTATE 28000, or no TLS on the server) — then the first attempt's (say, a
/// wrong password) tells more.
fn more_telling(first: Error, retry: Error) -> Error {
    let unavailable =
        retry.is_ssl_not_supported() || retry.code().is_some_and(|c| c.code() == "28000");
    if unavailable {
        first
    } else {
        retry
    }
}

/// One attempt: TCP, then TLS as `want` says.
async fn connect(config: &Config, resolved: &Resolved, want: Want) -> Result<Transport, Error> {
    let (stream, server) = crate::endpoint::connect(config).await?;
    // libpq never requests TLS over a Unix-domain socket, whatever sslmode says: the socket
    // does not leave the machine.
    let unix = matches!(server, ServerAddr::Unix(_));
    let plain = |stream, server| Transport {
        stream,
        route: Route { server, tls: None },
        end_point: None,
        channel_binding: config.tls.channel_binding,
    };
    let tls = match (&resolved.tls, want) {
        (_, Want::Plain) => return Ok(plain(stream, server)),
        _ if unix => return Ok(plain(stream, server)),
        (Some(tls), _) => tls,
        (None, _) => return Err(Error::config("TLS wanted with sslmode=disable")),
    };
    let route = TlsRoute {
        config: tls.clone(),
        server_name: config.target().tls_name(),
        negotiation: resolved.negotiation,
    };
    match start_tls(stream, &route).await? {
        Negotiated::Tls(stream) => {
            let end_point = stream
                .tls_info()
                .and_then(|info| info.peer_certificates.into_iter().next())
                .and_then(|leaf| tls_server_end_point(&leaf));
            Ok(Transport {
                stream,
                route: Route {
                    server,
                    tls: Some(route),
                },
                end_point: Some(end_point),
                channel_binding: config.tls.channel_binding,
            })
        }
        Negotiated::Refused(stream) if want == Want::TlsOrPlain => Ok(plain(stream, server)),
        Negotiated::Refused(_) => Err(Error::ssl_not_supported(resolved.mode.as_str())),
    }
}

enum Negotiated {
    Tls(Stream),
    /// The server answered `N` to `SSLRequest`: the stream is still usable in plaintext.
    Refused(Stream),
}

/// Starts TLS on a fresh connection: `SSLRequest` and the handshake on `S`, or the handshake
/// at once (direct, ALPN `postgresql` required).
async fn start_tls(mut stream: Stream, route: &TlsRoute) -> Result<Negotiated, Error> {
    match route.negotiation {
        SslNegotiation::Postgres => {
            let mut request = BytesMut::with_capacity(8);
            frontend::ssl_request(&mut request);
            let io = |e: std::io::Error| Error::connect(&route.server_name, e);
            stream.write_all(&request).await.map_err(io)?;
            stream.flush().await.map_err(io)?;
            // One byte only: anything the server sent after it (it must send nothing) stays in
            // the socket and fails the handshake, never passes for a reply (CVE-2021-23222).
            let mut answer = [0u8; 1];
            stream.read_exact(&mut answer).await.map_err(io)?;
            match answer {
                [b'S'] => {
                    let stream = stream
                        .start_tls(&route.config, &route.server_name)
                        .await
                        .map_err(|e| Error::tls("handshake", e))?;
                    Ok(Negotiated::Tls(stream))
                }
                [b'N'] => Ok(Negotiated::Refused(stream)),
                [b'E'] => Err(Error::protocol(
                    "the server answered SSLRequest with an error (a server older than 7.0?)",
                )),
                [other] => Err(Error::protocol(format!(
                    "unexpected answer {other:#04x} to SSLRequest"
                ))),
            }
        }
        SslNegotiation::Direct => {
            let stream = stream
                .start_tls(&route.config, &route.server_name)
                .await
                .map_err(|e| {
                    Error::tls(
                        "direct TLS handshake (sslnegotiation=direct needs PostgreSQL 17 or later)",
                        e,
                    )
                })?;
            let alpn = stream.tls_info().and_then(|info| info.alpn_protocol);
            if alpn.as_deref() != Some(b"postgresql".as_slice()) {
                return Err(Error::tls_other(
                    "direct TLS: the server did not select ALPN \"postgresql\" (sslnegotiation=direct needs PostgreSQL 17 or later)",
                ));
            }
            Ok(Negotiated::Tls(stream))
        }
    }
}

/// Connects for a `CancelRequest` the way the cancelled connection was connected (TLS when it
/// used TLS, with the same configuration and negotiation), within `limit`.
pub(crate) async fn connect_for_cancel(route: &Route, limit: Duration) -> Result<Stream, Error> {
    let stream = crate::endpoint::reconnect(&route.server, limit).await?;
    let Some(tls) = &route.tls else {
        return Ok(stream);
    };
    match start_tls(stream, tls).await? {
        Negotiated::Tls(stream) => Ok(stream),
        Negotiated::Refused(_) => Err(Error::ssl_not_supported("(cancel over TLS)")),
    }
}

impl Transport {
    /// What SCRAM needs from the transport, for after the stream went into a connection.
    pub(crate) fn binding(&self) -> BindingChoice {
        BindingChoice {
            mode: self.channel_binding,
            end_point: self.end_point.clone(),
        }
    }
}

/// Channel binding as the transport allows it.
#[derive(Clone)]
pub(crate) struct BindingChoice {
    mode: ChannelBinding,
    end_point: Option<Option<Vec<u8>>>,
}

impl BindingChoice {
    /// The policy and the end point for the startup machine, which picks the SCRAM mechanism
    /// and refuses unbound methods under `channel_binding=require`.
    pub(crate) fn for_startup(&self) -> (BindingPolicy, TlsEndPoint) {
        let policy = match self.mode {
            ChannelBinding::Disable => BindingPolicy::Disable,
            ChannelBinding::Prefer => BindingPolicy::Prefer,
            ChannelBinding::Require => BindingPolicy::Require,
        };
        let end_point = match &self.end_point {
            None => TlsEndPoint::Plaintext,
            Some(None) => TlsEndPoint::NoHash,
            Some(Some(hash)) => TlsEndPoint::Hash(hash.clone()),
        };
        (policy, end_point)
    }
}
