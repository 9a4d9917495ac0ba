//! TLS settings for an HTTP API client (Consul or Nomad), as HashiCorp's clients name them.

use std::path::PathBuf;

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
