//! What a client trusts and shows when it starts TLS: [`TlsConfig`] and its builder.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

use super::verify::{AnyCertificate, ChainOnly};
use super::TlsError;

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Verification {
    /// The chain must lead to a trusted root and the certificate must name the host connected
    /// to (libpq's `verify-full`, and what every HTTPS client does). The default.
    #[default]
    Full,
    /// The chain must lead to a trusted root; the host name is not checked (libpq's
    /// `verify-ca`).
    ChainOnly,
    /// Anything the server shows is accepted: the connection is encrypted but the server is not
    /// authenticated, so anyone on the path can read and change the traffic. libpq's
    /// `sslmode=require` without a root certificate; never a sane choice on an untrusted
    /// network. The handshake's signatures are still checked.
    DangerAcceptAnyCertificate,
}

/// A TLS client configuration, ready to start connections with
/// ([`Stream::start_tls`](crate::conn::Stream::start_tls)). Cheap to clone: the rustls
/// configuration is shared.
///
/// `Debug` shows what is verified and how many roots are trusted, never key material.
#[derive(Clone)]
pub struct TlsConfig {
    pub(crate) rustls: Arc<rustls::ClientConfig>,
    verification: Verification,
    roots: usize,
    client_auth: bool,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("verification", &self.verification)
            .field("roots", &self.roots)
            .field("client_auth", &self.client_auth)
            .field("alpn", &self.rustls.alpn_protocols.len())
            .finish()
    }
}

impl TlsConfig {
    /// A builder that trusts nothing yet: add roots (or the system's) before connecting.
    pub fn builder() -> TlsConfigBuilder {
        TlsConfigBuilder::default()
    }

    /// Trusts the operating system's roots and verifies fully: what `rediss://` and
    /// `sslmode=verify-full` mean when no root file is given.
    pub fn with_system_roots() -> Result<TlsConfig, TlsError> {
        TlsConfig::builder().system_roots().build()
    }

    /// Wraps a rustls configuration built by hand, for what the builder does not offer (custom
    /// verifiers, session caches, key logging). It must use a crypto provider rustls can find.
    pub fn from_rustls(config: Arc<rustls::ClientConfig>) -> TlsConfig {
        TlsConfig {
            rustls: config,
            verification: Verification::Full,
            roots: 0,
            client_auth: false,
        }
    }

    /// How the server's certificate is checked.
    pub fn verification(&self) -> Verification {
        self.verification
    }

    /// The underlying rustls configuration.
    pub fn rustls(&self) -> &Arc<rustls::ClientConfig> {
        &self.rustls
    }
}

/// Builds a [`TlsConfig`]. `Debug` never shows the client key.
#[derive(Default)]
pub struct TlsConfigBuilder {
    system_roots: bool,
    roots: Vec<CertificateDer<'static>>,
    verification: Verification,
    client_auth: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    alpn: Vec<Vec<u8>>,
}

impl fmt::Debug for TlsConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfigBuilder")
            .field("system_roots", &self.system_roots)
            .field("roots", &self.roots.len())
            .field("verification", &self.verification)
            .field("client_auth", &self.client_auth.is_some())
            .finish_non_exhaustive()
    }
}

fn read_file(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Config {
        what,
        reason: format!("cannot read {}: {e}", path.display()),
    })
}

fn pem_certs(pem: &[u8], what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Config {
            what,
            reason: format!("not a PEM certificate list: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Config {
            what,
            reason: "no certificate in the PEM data".to_owned(),
        });
    }
    Ok(certs)
}

impl TlsConfigBuilder {
    /// Also trusts the operating system's roots (read when [`build`](Self::build) runs).
    pub fn system_roots(mut self) -> Self {
        self.system_roots = true;
        self
    }

    /// Trusts the certificates in PEM data (one or more `CERTIFICATE` blocks).
    pub fn root_pem(mut self, pem: &[u8]) -> Result<Self, TlsError> {
        self.roots.extend(pem_certs(pem, "root certificate")?);
        Ok(self)
    }

    /// Trusts the certificates in a PEM file.
    pub fn root_pem_file(self, path: impl AsRef<Path>) -> Result<Self, TlsError> {
        let pem = read_file(path.as_ref(), "root certificate")?;
        self.root_pem(&pem)
    }

    /// Trusts one DER-encoded certificate.
    pub fn root_der(mut self, der: Vec<u8>) -> Self {
        self.roots.push(CertificateDer::from(der));
        self
    }

    /// Presents a client certificate (mutual TLS): a PEM chain, leaf first, and its PEM
    /// private key (PKCS#8, PKCS#1 or SEC1).
    pub fn client_cert_pem(mut self, chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        let chain = pem_certs(chain_pem, "client certificate")?;
        // The key's parse error is not shown: it could quote key material.
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| TlsError::Config {
            what: "client key",
            reason: "no unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1) found".to_owned(),
        })?;
        self.client_auth = Some((chain, key));
        Ok(self)
    }

    /// [`client_cert_pem`](Self::client_cert_pem) from files.
    pub fn client_cert_pem_files(
        self,
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        let chain = read_file(chain.as_ref(), "client certificate")?;
        let key = read_file(key.as_ref(), "client key")?;
        self.client_cert_pem(&chain, &key)
    }

    /// How much of the server's certificate to check (default [`Verification::Full`]).
    pub fn verification(mut self, verification: Verification) -> Self {
        self.verification = verification;
        self
    }

    /// Application protocols offered in ALPN, most preferred first (PostgreSQL's direct TLS
    /// needs `postgresql`).
    pub fn alpn(mut self, protocols: &[&[u8]]) -> Self {
        self.alpn = protocols.iter().map(|p| p.to_vec()).collect();
        self
    }

    /// Builds the configuration. Fails when nothing is trusted and the server is to be
    /// verified, when a root is not a usable certificate, or when the client key does not
    /// match a supported algorithm.
    pub fn build(self) -> Result<TlsConfig, TlsError> {
        // ring, deprecated in rustls 0.23.48 for lacking post-quantum key exchange, is still
        // the provider that builds on a bare machine (aws-lc-rs needs cmake); see the README.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut store = RootCertStore::empty();
        if self.system_roots {
            let found = rustls_native_certs::load_native_certs();
            // Unreadable entries are skipped, as every client using the system store does;
            // an empty store with nothing else added is reported below.
            for cert in found.certs {
                let _ = store.add(cert);
            }
        }
        for cert in self.roots {
            store.add(cert).map_err(|e| TlsError::Config {
                what: "root certificate",
                reason: e.to_string(),
            })?;
        }
        let roots = store.len();
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config {
                what: "protocol versions",
                reason: e.to_string(),
            })?;
        let no_roots = || TlsError::Config {
            what: "root certificates",
            reason: "nothing is trusted: add a root certificate or the system roots, \
                     or choose Verification::DangerAcceptAnyCertificate"
                .to_owned(),
        };
        let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = match self.verification
        {
            Verification::DangerAcceptAnyCertificate => {
                Arc::new(AnyCertificate::new(provider.clone()))
            }
            Verification::Full | Verification::ChainOnly => {
                if roots == 0 {
                    return Err(no_roots());
                }
                let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(store),
                    provider.clone(),
                )
                .build()
                .map_err(|e| TlsError::Config {
                    what: "root certificates",
                    reason: e.to_string(),
                })?;
                if self.verification == Verification::Full {
                    webpki
                } else {
                    Arc::new(ChainOnly::new(webpki))
                }
            }
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let client_auth = self.client_auth.is_some();
        let mut config = match self.client_auth {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => {
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| TlsError::Config {
                        what: "client certificate",
                        reason: e.to_string(),
                    })?
            }
        };
        config.alpn_protocols = self.alpn;
        Ok(TlsConfig {
            rustls: Arc::new(config),
            verification: self.verification,
            roots,
            client_auth,
        })
    }
}
