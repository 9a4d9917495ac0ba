//! The Consul and Nomad clients, built from the resolved configuration. Token files are read
//! here, when a client is built, so a rotated token is picked up by the next build.

use crate::api_metrics::ApiMetrics;
use crate::config::{Config, TokenFileError};
use crate::consul::{ConsulClient, ConsulError};
use crate::nomad::{NomadClient, NomadClientOptions, NomadError};

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The token file named in the configuration could not be read.
    #[error(transparent)]
    TokenFile(#[from] TokenFileError),
    /// The Consul client rejected its settings (address, TLS files).
    #[error("consul client: {0}")]
    Consul(#[from] ConsulError),
    /// The Nomad client rejected its settings (address, TLS files).
    #[error("nomad client: {0}")]
    Nomad(#[from] NomadError),
}

/// The Consul client of `config.consul`, restricted to keys under `consul.prefix`.
pub fn consul(config: &Config, metrics: ApiMetrics) -> Result<ConsulClient, ClientError> {
    let consul = &config.consul;
    let token = consul.token.load()?;
    let client = ConsulClient::new(consul.address.url().as_str(), token, &consul.tls, metrics)?;
    Ok(client.with_key_prefix(&consul.prefix))
}

/// The Nomad client of `config.nomad`.
pub fn nomad(config: &Config, metrics: ApiMetrics) -> Result<NomadClient, ClientError> {
    let nomad = &config.nomad;
    let mut options = NomadClientOptions::new(nomad.address.url().as_str());
    options.token = nomad.token.load()?;
    options.tls = nomad.tls.clone();
    options.region = nomad.region.clone();
    options.namespace = nomad.namespace.clone();
    Ok(NomadClient::new(options, metrics)?)
}
