//! TLS options (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `sslnegotiation`,
//! `channel_binding`) with libpq's meanings, the [`TlsConfig`] they build, and the
//! `tls-server-end-point` channel binding data of a server certificate.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use corelane_runtime::conn::{TlsConfig, Verification};
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use crate::Error;

/// Whether and how TLS is used (libpq's `sslmode`). The default is [`SslMode::Prefer`], as in
/// libpq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// Plaintext first; TLS only when the server refuses the plaintext connection (an
    /// `ErrorResponse` during startup, e.g. a `hostssl`-only pg_hba.conf).
    Allow,
    /// TLS when the server supports it (`SSLRequest` answered `S`), plaintext otherwise: when
    /// it answers `N`, when the handshake fails, or when it refuses the TLS connection during
    /// startup (a `hostnossl` pg_hba.conf). Not protection against an active attacker.
    #[default]
    Prefer,
    /// TLS or nothing. The certificate is not verified — unless a root certificate is
    /// configured (`sslrootcert`, or `~/.postgresql/root.crt` exists), then it is as
    /// [`SslMode::VerifyCa`].
    Require,
    /// TLS, and the server's certificate must chain to a trusted root (its host name is not
    /// checked).
    VerifyCa,
    /// TLS, the certificate must chain to a trusted root and name the host connected to.
    VerifyFull,
}

impl SslMode {
    /// The libpq keyword (`disable`, `allow`, `prefer`, `require`, `verify-ca`, `verify-full`).
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(s: &str) -> Result<SslMode, Error> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => return Err(Error::config(format!("unknown sslmode {other:?}"))),
        })
    }

    /// TLS is mandatory.
    pub(crate) fn requires_tls(self) -> bool {
        matches!(
            self,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        )
    }
}

/// How TLS is started (libpq's `sslnegotiation`, PostgreSQL 17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SslNegotiation {
    /// `SSLRequest` first, TLS when the server answers `S` (every PostgreSQL version).
    #[default]
    Postgres,
    /// The TLS handshake at once, with ALPN `postgresql` (PostgreSQL 17 and later; saves a
    /// round trip). The server must select ALPN `postgresql`. Needs `sslmode=require` or
    /// stricter. Against an older server the connection fails with [`Error::is_tls`].
    Direct,
}

/// Whether SCRAM binds authentication to the TLS channel (libpq's `channel_binding`;
/// `SCRAM-SHA-256-PLUS` with `tls-server-end-point`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ChannelBinding {
    /// Never bind.
    Disable,
    /// Bind when the connection is TLS and the server offers `SCRAM-SHA-256-PLUS`.
    #[default]
    Prefer,
    /// Bind or fail ([`Error::is_channel_binding`]): the connection must be TLS, the server
    /// must authenticate with `SCRAM-SHA-256-PLUS` (not trust, a password or MD5).
    Require,
}

/// The root certificates trusted (libpq's `sslrootcert`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootCert {
    /// A PEM file.
    File(PathBuf),
    /// The operating system's roots (`sslrootcert=system`; implies `verify-full`).
    System,
}

/// The TLS part of a [`Config`](crate::Config).
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsOptions {
    /// `None`: not set (prefer, or verify-full with `sslrootcert=system`).
    pub(crate) mode: Option<SslMode>,
    pub(crate) negotiation: SslNegotiation,
    pub(crate) root_cert: Option<RootCert>,
    pub(crate) cert: Option<PathBuf>,
    pub(crate) key: Option<PathBuf>,
    /// `sslcertmode=disable`: never present a client certificate, even a configured one.
    pub(crate) no_client_cert: bool,
    pub(crate) channel_binding: ChannelBinding,
    /// The TLS configuration built from the above, once: connections share it.
    built: Arc<OnceLock<Resolved>>,
}

/// What the options resolve to.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) mode: SslMode,
    pub(crate) negotiation: SslNegotiation,
    /// `None` with [`SslMode::Disable`].
    pub(crate) tls: Option<TlsConfig>,
}

impl TlsOptions {
    /// Sets one of the `ssl*` / `channel_binding` keys; `Ok(false)` for another key.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<bool, Error> {
        match key {
            "sslmode" => self.mode = Some(SslMode::parse(value)?),
            "sslrootcert" => {
                self.root_cert = Some(if value == "system" {
                    RootCert::System
                } else {
                    RootCert::File(PathBuf::from(value))
                })
            }
            "sslcert" => self.cert = Some(PathBuf::from(value)),
            "sslkey" => self.key = Some(PathBuf::from(value)),
            "sslcertmode" => {
                self.no_client_cert = match value {
                    "disable" => true,
                    "allow" => false,
                    // libpq fails when the server did not ask for the certificate; rustls does
                    // not tell us whether it asked, so this is refused rather than weakened.
                    "require" => {
                        return Err(Error::config(
                            "sslcertmode=require is not supported yet (use allow, the default)",
                        ))
                    }
                    other => return Err(Error::config(format!("unknown sslcertmode {other:?}"))),
                }
            }
            "sslnegotiation" => {
                self.negotiation = match value {
                    "postgres" => SslNegotiation::Postgres,
                    "direct" => SslNegotiation::Direct,
                    other => {
                        return Err(Error::config(format!("unknown sslnegotiation {other:?}")))
                    }
                }
            }
            "channel_binding" => {
                self.channel_binding = match value {
                    "disable" => ChannelBinding::Disable,
                    "prefer" => ChannelBinding::Prefer,
                    "require" => ChannelBinding::Require,
                    other => {
                        return Err(Error::config(format!("unknown channel_binding {other:?}")))
                    }
                }
            }
            _ => return Ok(false),
        }
        self.changed();
        Ok(true)
    }

    /// Forgets the built configuration after a change.
    pub(crate) fn changed(&mut self) {
        self.built = Arc::default();
    }

    /// The effective mode: the one set, else `verify-full` with `sslrootcert=system`, else
    /// `prefer`.
    pub(crate) fn effective_mode(&self) -> SslMode {
        match (self.mode, &self.root_cert) {
            (Some(mode), _) => mode,
            (None, Some(RootCert::System)) => SslMode::VerifyFull,
            (None, _) => SslMode::Prefer,
        }
    }

    /// Checks the options and builds the TLS configuration (once; later calls share it).
    pub(crate) fn resolve(&self) -> Result<Resolved, Error> {
        if let Some(resolved) = self.built.get() {
            return Ok(resolved.clone());
        }
        let resolved = self.build()?;
        Ok(self.built.get_or_init(|| resolved).clone())
    }

    fn build(&self) -> Result<Resolved, Error> {
        let mode = self.effective_mode();
        if self.root_cert == Some(RootCert::System) && mode != SslMode::VerifyFull {
            return Err(Error::config(format!(
                "weak sslmode \"{}\" may not be used with sslrootcert=system (use \"verify-full\")",
                mode.as_str()
            )));
        }
        if self.negotiation == SslNegotiation::Direct && !mode.requires_tls() {
            return Err(Error::config(format!(
                "weak sslmode \"{}\" may not be used with sslnegotiation=direct (use \"require\", \"verify-ca\", or \"verify-full\")",
                mode.as_str()
            )));
        }
        if mode == SslMode::Disable {
            // channel_binding=require fails at authentication (Error::is_channel_binding).
            return Ok(Resolved {
                mode,
                negotiation: self.negotiation,
                tls: None,
            });
        }
        let root = self.root_cert.clone().or_else(default_root_cert);
        let verification = match (mode, &root) {
            (SslMode::VerifyFull, _) => Verification::Full,
            (SslMode::VerifyCa, _) | (_, Some(_)) => Verification::ChainOnly,
            _ => Verification::DangerAcceptAnyCertificate,
        };
        let mut builder = TlsConfig::builder()
            .verification(verification)
            .alpn(&[b"postgresql"]);
        match &root {
            Some(RootCert::System) => builder = builder.system_roots(),
            Some(RootCert::File(path)) => {
                builder = builder.root_pem_file(path).map_err(Error::tls_config)?
            }
            None if verification != Verification::DangerAcceptAnyCertificate => {
                return Err(Error::config(format!(
                    "sslmode={} needs a root certificate: set sslrootcert to a PEM file, or to \
                     \"system\" for the system's trusted roots, or use sslmode=require to skip \
                     verifying the server",
                    mode.as_str()
                )))
            }
            None => {}
        }
        let (cert, key) = match (&self.cert, &self.key) {
            _ if self.no_client_cert => (None, None),
            (None, None) => default_client_cert().unzip(),
            (cert, key) => (cert.clone(), key.clone()),
        };
        match (&cert, &key) {
            (Some(cert), Some(key)) => {
                builder = builder
                    .client_cert_pem_files(cert, key)
                    .map_err(Error::tls_config)?
            }
            (None, None) => {}
            _ => {
                return Err(Error::config(
                    "a client certificate needs both sslcert and sslkey",
                ))
            }
        }
        let tls = builder.build().map_err(Error::tls_config)?;
        Ok(Resolved {
            mode,
            negotiation: self.negotiation,
            tls: Some(tls),
        })
    }
}

/// `~/.postgresql/postgresql.crt` and `.key` when both exist (libpq's default `sslcert` and
/// `sslkey`; without them no client certificate is presented).
fn default_client_cert() -> Option<(PathBuf, PathBuf)> {
    let dir = PathBuf::from(std::env::var_os("HOME")?).join(".postgresql");
    let (cert, key) = (dir.join("postgresql.crt"), dir.join("postgresql.key"));
    (cert.is_file() && key.is_file()).then_some((cert, key))
}

/// `~/.postgresql/root.crt` when it exists (libpq's default `sslrootcert`).
fn default_root_cert() -> Option<RootCert> {
    let home = std::env::var_os("HOME")?;
    let path = PathBuf::from(home).join(".postgresql").join("root.crt");
    path.is_file().then_some(RootCert::File(path))
}

/// The `tls-server-end-point` channel binding data of a server certificate (RFC 5929 section
/// 4.1): its DER hashed with the hash of its signature algorithm, SHA-256 when that is MD5 or
/// SHA-1. `None` when the certificate cannot be parsed or its signature algorithm has no
/// single hash (Ed25519, RSA-PSS): PostgreSQL cannot bind those either.
pub(crate) fn tls_server_end_point(cert_der: &[u8]) -> Option<Vec<u8>> {
    use x509_parser::oid_registry as oids;
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let alg = &cert.signature_algorithm.algorithm;
    let sha256 = [
        oids::OID_PKCS1_MD5WITHRSAENC,
        oids::OID_PKCS1_SHA1WITHRSA,
        oids::OID_PKCS1_SHA256WITHRSA,
        oids::OID_SIG_ECDSA_WITH_SHA256,
        oids::OID_SIG_DSA_WITH_SHA1,
        oids::OID_SHA1_WITH_RSA,
        oids::OID_MD5_WITH_RSA,
        x509_parser::der_parser::oid!(1.2.840 .10045 .4 .1), // ecdsa-with-SHA1
    ];
    let sha224 = [
        oids::OID_PKCS1_SHA224WITHRSA,
        oids::OID_SIG_ECDSA_WITH_SHA224,
    ];
    let sha384 = [
        oids::OID_PKCS1_SHA384WITHRSA,
        oids::OID_SIG_ECDSA_WITH_SHA384,
    ];
    let sha512 = [
        oids::OID_PKCS1_SHA512WITHRSA,
        oids::OID_SIG_ECDSA_WITH_SHA512,
    ];
    if sha256.contains(alg) {
        Some(Sha256::digest(cert_der).to_vec())
    } else if sha224.contains(alg) {
        Some(Sha224::digest(cert_der).to_vec())
    } else if sha384.contains(alg) {
        Some(Sha384::digest(cert_der).to_vec())
    } else if sha512.contains(alg) {
        Some(Sha512::digest(cert_der).to_vec())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(pem: &str) -> Vec<u8> {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64_decode(&body)
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u32, 0);
        for c in s.bytes().filter(|&c| c != b'=') {
            let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        out
    }

    /// P-256 certificates are signed with ECDSA-SHA256 (SHA-256 binding), P-384 ones with
    /// ECDSA-SHA384 (SHA-384 binding).
    #[test]
    fn end_point_hash_follows_the_signature_algorithm() {
        let p256 = corelane_testkit::TestCerts::generate().unwrap();
        let cert = der(&p256.server().cert_pem);
        let hash = tls_server_end_point(&cert).unwrap();
        assert_eq!(hash, Sha256::digest(&cert).to_vec());
        let p384 =
            corelane_testkit::TestCerts::generate_with(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let cert = der(&p384.server().cert_pem);
        let hash = tls_server_end_point(&cert).unwrap();
        assert_eq!(hash.len(), 48);
        assert_eq!(hash, Sha384::digest(&cert).to_vec());
        let ed = corelane_testkit::TestCerts::generate_with(&rcgen::PKCS_ED25519).unwrap();
        assert_eq!(tls_server_end_point(&der(&ed.server().cert_pem)), None);
        assert_eq!(tls_server_end_point(b"not a certificate"), None);
    }

    #[test]
    fn options_resolve_like_libpq() {
        let mut o = TlsOptions::default();
        assert_eq!(o.effective_mode(), SslMode::Prefer);
        o.set("sslrootcert", "system").unwrap();
        assert_eq!(o.effective_mode(), SslMode::VerifyFull);
        o.set("sslmode", "require").unwrap();
        assert!(o.resolve().unwrap_err().is_config());
        let mut o = TlsOptions::default();
        o.set("sslnegotiation", "direct").unwrap();
        assert!(o.resolve().unwrap_err().is_config());
        o.set("sslmode", "require").unwrap();
        let r = o.resolve().unwrap();
        assert_eq!(r.negotiation, SslNegotiation::Direct);
        let mut o = TlsOptions::default();
        o.set("sslmode", "verify-ca").unwrap();
        o.set("sslrootcert", "/nonexistent/ca.pem").unwrap();
        assert!(o.resolve().unwrap_err().is_tls());
        let mut o = TlsOptions::default();
        o.set("sslmode", "disable").unwrap();
        o.set("channel_binding", "require").unwrap();
        assert!(o.resolve().unwrap().tls.is_none());
        assert!(o.set("sslmode", "bogus").is_err());
        assert!(o.set("channel_binding", "bogus").is_err());
        assert!(o.set("sslnegotiation", "bogus").is_err());
        assert!(!o.set("host", "x").unwrap());
        let mut o = TlsOptions::default();
        o.set("sslcert", "/a").unwrap();
        assert!(o.resolve().unwrap_err().is_config());
    }
}
