//! TLS settings for an HTTP API client (Consul or Nomad), as HashiCorp's clients name them,
//! and the rustls configuration for the one setting reqwest cannot express by itself:
//! verifying the server certificate against a configured name (`*_TLS_SERVER_NAME`) rather
//! than the host in the URL — e.g. connecting to `https://127.0.0.1:8501` while the agent's
//! certificate is issued for `server.dc1.consul`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// TLS options of one API client. Built by `config` from file, environment and flags; turned
/// into a `reqwest` client by `http_client`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM CA bundle used to verify the server (`CONSUL_CACERT` / `NOMAD_CACERT`).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (`*_CLIENT_CERT`); requires `client_key`.
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert` (`*_CLIENT_KEY`).
    pub client_key: Option<PathBuf>,
    /// Name to verify the server certificate against instead of the URL's host
    /// (`*_TLS_SERVER_NAME`).
    pub server_name: Option<String>,
    /// Skip server certificate verification (`CONSUL_HTTP_SSL_VERIFY=false`, `NOMAD_SKIP_VERIFY`).
    pub insecure_skip_verify: bool,
}

/// Why a rustls configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or held no usable item.
    #[error("{what} {path}: {reason}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// `server_name` is not a valid DNS name or IP address.
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    /// No CA file was given and the system has no usable root certificates.
    #[error("no CA file given and no system root certificates found")]
    NoRoots,
    /// rustls refused the assembled configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A rustls client configuration that verifies the server's chain against the CA file (or
/// the system roots) and its name against `server_name`, and presents the client
/// certificate if one is configured.
pub fn client_config_with_server_name(
    tls: &TlsConfig,
    server_name: &str,
) -> Result<rustls::ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|_| TlsError::ServerName(server_name.to_string()))?;
    let roots = Arc::new(root_store(tls.ca_file.as_deref())?);
    let inner = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?;
    let verifier = Arc::new(PinnedNameVerifier { inner, name });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|items| items.collect::<Result<Vec<_>, _>>())
                .map_err(|e| pem_error("client certificate", cert, e))?;
            let key_der =
                PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error("client key", key, e))?;
            builder.with_client_auth_cert(chain, key_der)?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(config)
}

fn root_store(ca_file: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|items| items.collect::<Result<Vec<_>, _>>())
                .map_err(|e| pem_error("CA file", path, e))?;
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(TlsError::Pem {
                    what: "CA file",
                    path: path.to_path_buf(),
                    reason: "no usable certificate".into(),
                });
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if roots.is_empty() {
                return Err(TlsError::NoRoots);
            }
        }
    }
    Ok(roots)
}

fn pem_error(what: &'static str, path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::Pem {
        what,
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Full WebPKI verification, except that the certificate must match `name` whatever host
/// the connection was opened to (Go's `tls.Config.ServerName` semantics).
#[derive(Debug)]
struct PinnedNameVerifier {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for PinnedNameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _url_host: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
