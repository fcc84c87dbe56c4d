//! TLS for registered connections, over TCP, a Unix socket or any transport: rustls' client
//! connection between the socket and the handler, so codecs and the round trip never know.
//!
//! Build a [`TlsConfig`] once (it is shared by every connection that uses it), connect a
//! plain [`Stream`](crate::conn::Stream), and upgrade it with
//! [`Stream::start_tls`](crate::conn::Stream::start_tls) before registering it:
//!
//! ```no_run
//! # async fn demo(addr: std::net::SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
//! use corelane_runtime::conn::{Stream, TlsConfig};
//!
//! let tls = TlsConfig::builder().root_pem_file("ca.pem")?.build()?;
//! let stream = Stream::connect_tcp(addr).await?.start_tls(&tls, "db.example.com").await?;
//! # let _ = stream;
//! # Ok(())
//! # }
//! ```
//!
//! The crypto provider is rustls' `ring`: it builds with a C compiler alone, where `aws-lc-rs`
//! also needs cmake.

mod config;
mod error;
pub(crate) mod stream;
mod verify;

pub use self::config::{TlsConfig, TlsConfigBuilder, Verification};
pub use self::error::TlsError;

/// What a TLS handshake negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The server's certificate chain, leaf first, DER-encoded (the leaf is what
    /// `tls-server-end-point` channel binding hashes).
    pub peer_certificates: Vec<Vec<u8>>,
    /// The ALPN protocol the server picked, if any.
    pub alpn_protocol: Option<Vec<u8>>,
    /// The protocol version (`TLSv1_3`, `TLSv1_2`).
    pub protocol_version: String,
}
