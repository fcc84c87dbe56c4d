//! Channel binding as the client's policy and the connection allow it: which SCRAM mechanism
//! and GS2 header to use, and whether an unbound method (trust, a password, MD5) is acceptable.

use crate::auth::scram::{ChannelBinding, SCRAM_SHA_256, SCRAM_SHA_256_PLUS};

use super::error::{BindingError, StartupError};

/// What the client asks of channel binding (libpq's `channel_binding`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindingPolicy {
    /// Never bind (`SCRAM-SHA-256` with `n,,`).
    Disable,
    /// Bind when the server offers `SCRAM-SHA-256-PLUS` on a TLS connection.
    #[default]
    Prefer,
    /// Bind or fail: every method other than `SCRAM-SHA-256-PLUS` is refused.
    Require,
}

/// What the connection offers channel binding: the transport under the startup.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq, Default)]
pub enum TlsEndPoint {
    /// Plaintext (or a Unix socket): nothing to bind to.
    #[default]
    Plaintext,
    /// TLS, but the server certificate's signature algorithm gives no `tls-server-end-point`
    /// hash (RFC 5929 section 4.1).
    NoHash,
    /// TLS, with the `tls-server-end-point` hash of the server's leaf certificate.
    Hash(Vec<u8>),
}

impl std::fmt::Debug for TlsEndPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsEndPoint::Plaintext => f.write_str("Plaintext"),
            TlsEndPoint::NoHash => f.write_str("NoHash"),
            TlsEndPoint::Hash(h) => write!(f, "Hash({} bytes)", h.len()),
        }
    }
}

/// Fails under [`BindingPolicy::Require`]: the server authenticates with `method`, which has
/// no channel binding.
pub(crate) fn check_unbound(
    policy: BindingPolicy,
    method: &'static str,
) -> Result<(), StartupError> {
    match policy {
        BindingPolicy::Require => Err(BindingError::Unbound(method).into()),
        BindingPolicy::Disable | BindingPolicy::Prefer => Ok(()),
    }
}

/// The GS2 choice for the server's offered `mechanisms`: `SCRAM-SHA-256-PLUS` when it is
/// offered on a TLS connection with a hash and binding is not disabled; else `SCRAM-SHA-256`
/// (with `y,,` when the connection could have bound but the server did not offer it).
pub(crate) fn choose<M: std::ops::Deref<Target = str>>(
    policy: BindingPolicy,
    end_point: &TlsEndPoint,
    mechanisms: &[M],
) -> Result<ChannelBinding, StartupError> {
    let offers = |name: &str| mechanisms.iter().any(|m| &**m == name);
    let binding = match (end_point, policy) {
        (_, BindingPolicy::Disable) => ChannelBinding::Unsupported,
        (TlsEndPoint::Hash(data), _) if offers(SCRAM_SHA_256_PLUS) => {
            ChannelBinding::TlsServerEndPoint(data.clone())
        }
        (TlsEndPoint::Plaintext, BindingPolicy::Require) => return Err(BindingError::NoTls.into()),
        (TlsEndPoint::NoHash, BindingPolicy::Require) => return Err(BindingError::NoHash.into()),
        (TlsEndPoint::Hash(_), BindingPolicy::Require) => {
            return Err(BindingError::NotOffered.into())
        }
        (TlsEndPoint::Hash(_), BindingPolicy::Prefer) => ChannelBinding::NotOffered,
        (_, BindingPolicy::Prefer) => ChannelBinding::Unsupported,
    };
    if binding.mechanism() == SCRAM_SHA_256 && !offers(SCRAM_SHA_256) {
        return Err(StartupError::NoMechanism);
    }
    Ok(binding)
}
