//! Builds the `reqwest` client shared by the Consul and Nomad API clients from their TLS
//! settings, with connect and request timeouts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::tls::TlsConfig;

/// Why an HTTP client could not be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    /// A CA, certificate or key file could not be read.
    #[error("cannot read {what} file {path}: {source}")]
    ReadFile {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A PEM file did not hold what it should.
    #[error("invalid {what} in {path}: {source}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        source: reqwest::Error,
    },
    /// A client certificate was given without its key, or the other way round.
    #[error("client_cert and client_key must be set together")]
    IncompleteIdentity,
    /// The TLS configuration for a server-name override could not be built.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// reqwest refused the assembled settings.
    #[error("cannot build HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

/// Time allowed to open a TCP (and TLS) connection before a request fails.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A client honouring `tls`. There is no overall request timeout on the client, because
/// blocking queries legitimately last minutes: each request sets its own with
/// `RequestBuilder::timeout`.
pub fn build(tls: &TlsConfig) -> Result<reqwest::Client, HttpClientError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("shepard/", env!("CARGO_PKG_VERSION")));

    // reqwest always checks the certificate against the URL's host; a different expected
    // name needs our own rustls configuration (which then also carries CA and identity).
    if let (Some(name), false) = (&tls.server_name, tls.insecure_skip_verify) {
        let config = crate::tls::client_config_with_server_name(tls, name)?;
        return builder
            .tls_backend_preconfigured(config)
            .build()
            .map_err(HttpClientError::Build);
    }

    if let Some(ca) = &tls.ca_file {
        let pem = read(ca, "CA")?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| HttpClientError::Pem {
                what: "CA certificate",
                path: ca.clone(),
                source,
            })?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }

    match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            // reqwest's rustls identity takes certificate chain and key in one PEM buffer.
            let mut pem = read(cert, "client certificate")?;
            pem.push(b'\n');
            pem.extend(read(key, "client key")?);
            let identity =
                reqwest::Identity::from_pem(&pem).map_err(|source| HttpClientError::Pem {
                    what: "client certificate or key",
                    path: cert.clone(),
                    source,
                })?;
            builder = builder.identity(identity);
        }
        (None, None) => {}
        _ => return Err(HttpClientError::IncompleteIdentity),
    }

    if tls.insecure_skip_verify {
        builder = builder.danger_accept_invalid_certs(true);
    }

    builder.build().map_err(HttpClientError::Build)
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, HttpClientError> {
    std::fs::read(path).map_err(|source| HttpClientError::ReadFile {
        what,
        path: path.to_path_buf(),
        source,
    })
}
