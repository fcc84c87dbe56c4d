//! TLS settings of a [`Config`](crate::Config): what to trust, what to show, how much to
//! verify; turned into one shared [`TlsConfig`] when the client is made.

use std::path::PathBuf;

use corelane_runtime::conn::{TlsConfig, Verification};

use crate::Error;

/// A client certificate and its key, as files or PEM data. `Debug` never shows the key.
#[derive(Clone)]
pub(crate) enum ClientCert {
    Files { cert: PathBuf, key: PathBuf },
    Pem { cert: Vec<u8>, key: Vec<u8> },
}

impl std::fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientCert::Files { cert, key } => f
                .debug_struct("Files")
                .field("cert", cert)
                .field("key", key)
                .finish(),
            ClientCert::Pem { .. } => f.write_str("Pem { cert: .., key: *** }"),
        }
    }
}

/// How connections run TLS. `Debug` shows what is trusted and verified, never key material.
#[derive(Clone, Debug)]
pub(crate) struct TlsSettings {
    /// Trust the operating system's roots (default true; never read when `insecure`).
    pub(crate) system_roots: bool,
    /// Extra trusted roots: PEM files.
    pub(crate) ca_files: Vec<PathBuf>,
    /// Extra trusted roots: PEM data.
    pub(crate) ca_pems: Vec<Vec<u8>>,
    /// Mutual TLS.
    pub(crate) client_cert: Option<ClientCert>,
    /// Accept any server certificate (`danger_accept_invalid_certs`).
    pub(crate) insecure: bool,
    /// A configuration given whole by the caller: the settings above are ignored.
    pub(crate) custom: Option<TlsConfig>,
    /// The configuration built from the settings, once per client.
    pub(crate) built: Option<TlsConfig>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            system_roots: true,
            ca_files: Vec::new(),
            ca_pems: Vec::new(),
            client_cert: None,
            insecure: false,
            custom: None,
            built: None,
        }
    }
}

impl TlsSettings {
    /// The shared runtime configuration: the one built by [`prepare`](Self::prepare), or a
    /// fresh one when the settings were never prepared.
    pub(crate) fn config(&self) -> Result<TlsConfig, Error> {
        match (&self.custom, &self.built) {
            (Some(config), _) | (None, Some(config)) => Ok(config.clone()),
            (None, None) => self.build(),
        }
    }

    /// Builds the runtime configuration once (when the client is made): every connection of
    /// the client shares it.
    pub(crate) fn prepare(&mut self) -> Result<(), Error> {
        if self.custom.is_none() && self.built.is_none() {
            self.built = Some(self.build()?);
        }
        Ok(())
    }

    fn build(&self) -> Result<TlsConfig, Error> {
        let mut builder = TlsConfig::builder();
        if self.insecure {
            builder = builder.verification(Verification::DangerAcceptAnyCertificate);
        } else if self.system_roots {
            builder = builder.system_roots();
        }
        for file in &self.ca_files {
            builder = builder.root_pem_file(file).map_err(Error::tls_config)?;
        }
        for pem in &self.ca_pems {
            builder = builder.root_pem(pem).map_err(Error::tls_config)?;
        }
        builder = match &self.client_cert {
            None => builder,
            Some(ClientCert::Files { cert, key }) => builder
                .client_cert_pem_files(cert, key)
                .map_err(Error::tls_config)?,
            Some(ClientCert::Pem { cert, key }) => builder
                .client_cert_pem(cert, key)
                .map_err(Error::tls_config)?,
        };
        builder.build().map_err(Error::tls_config)
    }
}
