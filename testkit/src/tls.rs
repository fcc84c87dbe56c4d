//! Certificates made at test time: a CA, server certificates (good, expired, for the wrong
//! host, from an untrusted CA) and a client certificate, written as PEM files into a temp dir.
//!
//! ```no_run
//! # fn main() -> Result<(), corelane_testkit::Error> {
//! let certs = corelane_testkit::TestCerts::generate()?;
//! let ca = certs.ca_file(); // trust this in the client
//! let server = certs.server(); // cert + key for redis-server / postgres
//! # let _ = (ca, server);
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SignatureAlgorithm,
};

use crate::{Error, Result, TempDir};

/// A certificate and its private key, as PEM text and as files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The certificate file (PEM).
    pub cert: PathBuf,
    /// The private key file (PEM, PKCS#8).
    pub key: PathBuf,
    /// The certificate as PEM text.
    pub cert_pem: String,
    /// The key as PEM text.
    pub key_pem: String,
}

/// A set of test certificates in a temp dir removed on drop.
#[derive(Debug)]
pub struct TestCerts {
    dir: TempDir,
    ca_pem: String,
    ca_file: PathBuf,
    server: CertFiles,
    expired_server: CertFiles,
    wrong_host_server: CertFiles,
    untrusted_server: CertFiles,
    client: CertFiles,
    untrusted_client: CertFiles,
}

/// The names every good server certificate carries.
const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

fn rcgen_err(what: &str) -> impl FnOnce(rcgen::Error) -> Error + '_ {
    move |e| Error::Config(format!("generating {what}: {e}"))
}

/// A self-signed CA whose key is of `alg`, so the certificates it signs carry `alg`'s signature
/// algorithm (what `tls-server-end-point` channel binding hashes with).
fn new_ca(
    name: &str,
    alg: &'static SignatureAlgorithm,
) -> Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_err(name))?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate_for(alg).map_err(rcgen_err(name))?;
    CertifiedIssuer::self_signed(params, key).map_err(rcgen_err(name))
}

struct Leaf<'a> {
    names: &'a [&'a str],
    common_name: &'a str,
    client: bool,
    expired: bool,
    alg: &'static SignatureAlgorithm,
}

fn leaf(
    dir: &Path,
    file: &str,
    spec: Leaf<'_>,
    issuer: &CertifiedIssuer<'_, KeyPair>,
) -> Result<CertFiles> {
    let names: Vec<String> = spec.names.iter().map(|s| (*s).to_owned()).collect();
    let mut params = CertificateParams::new(names).map_err(rcgen_err(file))?;
    params
        .distinguished_name
        .push(DnType::CommonName, spec.common_name);
    params.extended_key_usages = vec![if spec.client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    if spec.expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    let key = KeyPair::generate_for(spec.alg).map_err(rcgen_err(file))?;
    let cert = params.signed_by(&key, issuer).map_err(rcgen_err(file))?;
    let files = CertFiles {
        cert: dir.join(format!("{file}.crt")),
        key: dir.join(format!("{file}.key")),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    };
    write(&files.cert, &files.cert_pem)?;
    write(&files.key, &files.key_pem)?;
    Ok(files)
}

fn write(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    // Servers refuse key files others can read; certificates do not mind.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io(format!("chmod {}", path.display()), e))
}

impl TestCerts {
    /// Generates a fresh CA and certificates signed with ECDSA P-256 / SHA-256.
    pub fn generate() -> Result<TestCerts> {
        Self::generate_with(&rcgen::PKCS_ECDSA_P256_SHA256)
    }

    /// Generates a fresh set whose server certificates are signed with `alg` (channel binding
    /// hashes with the certificate's signature hash, so tests vary it).
    pub fn generate_with(alg: &'static SignatureAlgorithm) -> Result<TestCerts> {
        let dir = TempDir::new("certs")?;
        let path = dir.path().to_owned();
        let ca = new_ca("corelane test CA", alg)?;
        let other_ca = new_ca("corelane untrusted CA", alg)?;
        let ca_pem = ca.pem();
        let ca_file = path.join("ca.crt");
        write(&ca_file, &ca_pem)?;
        let server_spec = |expired| Leaf {
            names: &SERVER_NAMES,
            common_name: "localhost",
            client: false,
            expired,
            alg,
        };
        let client_spec = Leaf {
            names: &[],
            common_name: "corelane-client",
            client: true,
            expired: false,
            alg,
        };
        Ok(TestCerts {
            server: leaf(&path, "server", server_spec(false), &ca)?,
            expired_server: leaf(&path, "expired", server_spec(true), &ca)?,
            wrong_host_server: leaf(
                &path,
                "wrong-host",
                Leaf {
                    names: &["wrong.example.invalid"],
                    common_name: "wrong.example.invalid",
                    client: false,
                    expired: false,
                    alg,
                },
                &ca,
            )?,
            untrusted_server: leaf(&path, "untrusted", server_spec(false), &other_ca)?,
            untrusted_client: leaf(
                &path,
                "untrusted-client",
                Leaf {
                    names: &[],
                    common_name: "corelane-client",
                    client: true,
                    expired: false,
                    alg,
                },
                &other_ca,
            )?,
            client: leaf(&path, "client", client_spec, &ca)?,
            ca_pem,
            ca_file,
            dir,
        })
    }

    /// The directory holding every file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate as PEM text.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate file: what clients trust.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// A server certificate for `localhost`, `127.0.0.1` and `::1`, signed by the CA.
    pub fn server(&self) -> &CertFiles {
        &self.server
    }

    /// Like [`server`](Self::server) but valid only in the year 2000.
    pub fn expired_server(&self) -> &CertFiles {
        &self.expired_server
    }

    /// Signed by the CA, for `wrong.example.invalid` only.
    pub fn wrong_host_server(&self) -> &CertFiles {
        &self.wrong_host_server
    }

    /// For the right names, signed by a CA nobody trusts.
    pub fn untrusted_server(&self) -> &CertFiles {
        &self.untrusted_server
    }

    /// A client certificate (CN `corelane-client`) signed by the CA, for mutual TLS.
    pub fn client(&self) -> &CertFiles {
        &self.client
    }

    /// A client certificate signed by a CA the servers do not trust.
    pub fn untrusted_client(&self) -> &CertFiles {
        &self.untrusted_client
    }

    /// A rustls server configuration presenting `cert`; with `require_client_cert`, clients
    /// must present a certificate signed by the CA. For fake TLS servers in tests.
    pub fn server_config(
        &self,
        cert: &CertFiles,
        require_client_cert: bool,
    ) -> Result<Arc<rustls::ServerConfig>> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let bad = |e: &dyn std::fmt::Display| Error::Config(format!("server TLS config: {e}"));
        // ring, deprecated in rustls 0.23.48 for lacking post-quantum key exchange, is still
        // the provider that builds on a bare machine (aws-lc-rs needs cmake); see the README.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = CertificateDer::pem_slice_iter(cert.cert_pem.as_bytes())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad(&e))?;
        let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).map_err(|e| bad(&e))?;
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(&e))?;
        let builder = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            for ca in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
                roots.add(ca.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| bad(&e))?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let config = builder.with_single_cert(chain, key).map_err(|e| bad(&e))?;
        Ok(Arc::new(config))
    }
}
