//! Why TLS could not be configured or started.

use rustls::{AlertDescription, CertificateError, InvalidMessage};

/// A TLS configuration or handshake failure. Messages name what failed and never quote key
/// material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The configuration could not be built: an unreadable or invalid file, nothing trusted.
    #[error("TLS configuration: {what}: {reason}")]
    Config {
        /// What was being configured (`root certificate`, `client key`, …).
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// The host to verify against is neither a DNS name nor an IP address.
    #[error("`{0}` is not a valid TLS server name")]
    InvalidServerName(String),
    /// The server's certificate (or one in its chain) has expired or is not yet valid.
    #[error("the server's certificate is expired or not yet valid")]
    CertificateExpired,
    /// The server's certificate does not name the host connected to.
    #[error("the server's certificate is not valid for `{0}`")]
    NameMismatch(String),
    /// The server's certificate does not chain up to a trusted root.
    #[error("the server's certificate is not signed by a trusted root")]
    UnknownIssuer,
    /// The server's certificate was rejected for another reason.
    #[error("the server's certificate was rejected: {0}")]
    BadCertificate(String),
    /// The first bytes from the server were not a TLS record: the port does not speak TLS.
    #[error("the server did not answer with TLS (is TLS enabled on that port?)")]
    NotTls,
    /// The server ended the handshake with an alert (a client certificate it does not accept,
    /// no protocol version or cipher in common, …).
    #[error("the server refused the TLS handshake: {0}")]
    PeerAlert(String),
    /// The handshake failed in another way.
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
    /// The server closed the connection before the handshake finished.
    #[error("the server closed the connection during the TLS handshake")]
    ClosedDuringHandshake,
    /// The socket failed during the handshake.
    #[error("I/O error during the TLS handshake: {0}")]
    Io(#[from] std::io::Error),
}

impl TlsError {
    /// Classifies a rustls error met while talking to `server_name`.
    pub(crate) fn from_rustls(error: rustls::Error, server_name: &str) -> TlsError {
        match error {
            rustls::Error::InvalidCertificate(cert) => match cert {
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => TlsError::CertificateExpired,
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    TlsError::NameMismatch(server_name.to_owned())
                }
                CertificateError::UnknownIssuer => TlsError::UnknownIssuer,
                other => TlsError::BadCertificate(format!("{other:?}")),
            },
            rustls::Error::InvalidMessage(
                InvalidMessage::InvalidContentType | InvalidMessage::UnknownProtocolVersion,
            ) => TlsError::NotTls,
            rustls::Error::AlertReceived(alert) => TlsError::PeerAlert(describe_alert(alert)),
            other => TlsError::Handshake(other.to_string()),
        }
    }
}

fn describe_alert(alert: AlertDescription) -> String {
    match alert {
        AlertDescription::CertificateRequired => {
            "it requires a client certificate (certificate_required)".to_owned()
        }
        AlertDescription::UnknownCA => {
            "it does not trust the client certificate's issuer (unknown_ca)".to_owned()
        }
        AlertDescription::BadCertificate => {
            "it rejected the client certificate (bad_certificate)".to_owned()
        }
        AlertDescription::HandshakeFailure => {
            "no protocol version or cipher suite in common (handshake_failure)".to_owned()
        }
        AlertDescription::NoApplicationProtocol => {
            "it supports none of the offered ALPN protocols (no_application_protocol)".to_owned()
        }
        other => format!("alert {other:?}"),
    }
}
