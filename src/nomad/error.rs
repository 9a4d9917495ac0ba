//! `NomadError`: everything a Nomad API call can fail with. Nomad answers errors with an HTTP
//! status and a `text/plain` body holding the bare message (`alloc not found`,
//! `Permission denied`); the message is kept as sent.

use crate::http_client::HttpClientError;

/// Why a Nomad API call (or building the client) failed.
#[derive(Debug, thiserror::Error)]
pub enum NomadError {
    /// The configured Nomad address is not an `http://` or `https://` URL.
    #[error("invalid Nomad address {address:?}: {reason}")]
    InvalidAddress { address: String, reason: String },
    /// The HTTP client could not be built from the TLS settings.
    #[error("Nomad client: {0}")]
    HttpClient(#[from] HttpClientError),
    /// 404: the object does not exist, e.g. `alloc not found`, `job not found`.
    #[error("Nomad {op}: not found: {message}")]
    NotFound { op: &'static str, message: String },
    /// 403: the token is unknown or lacks a capability, e.g. `Permission denied`.
    #[error("Nomad {op}: permission denied: {message}")]
    PermissionDenied { op: &'static str, message: String },
    /// Any other non-2xx answer (400 `Invalid index`, 500 …), with Nomad's message.
    #[error("Nomad {op}: HTTP {status}: {message}")]
    Http {
        op: &'static str,
        status: u16,
        message: String,
    },
    /// No complete response: connection, TLS, timeout, or the body broke off.
    #[error("Nomad {op}: request failed: {source}")]
    Transport {
        op: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// A 2xx answer whose body is not the JSON document expected (truncated, wrong shape).
    #[error("Nomad {op}: cannot decode the response: {source}")]
    Decode {
        op: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// The agent at `address` runs no Nomad client: `/v1/agent/self` has no `client.node_id`.
    #[error("the Nomad agent at {address} runs no client (no stats.client.node_id)")]
    NotAClient { address: String },
    /// A blocking endpoint answered without a numeric `X-Nomad-Index` header.
    #[error("Nomad {op}: response has no valid X-Nomad-Index header")]
    MissingIndex { op: &'static str },
}

impl NomadError {
    /// Maps a non-2xx status and its body to the matching variant.
    pub(crate) fn from_status(op: &'static str, status: u16, body: &[u8]) -> Self {
        let message = String::from_utf8_lossy(body).trim_end().to_string();
        match status {
            404 => Self::NotFound { op, message },
            403 => Self::PermissionDenied { op, message },
            _ => Self::Http {
                op,
                status,
                message,
            },
        }
    }

    /// The HTTP status Nomad answered with, if it answered with an error status.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::NotFound { .. } => Some(404),
            Self::PermissionDenied { .. } => Some(403),
            Self::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Nomad's own error text, if it answered with an error status.
    pub fn message(&self) -> Option<&str> {
        match self {
            Self::NotFound { message, .. }
            | Self::PermissionDenied { message, .. }
            | Self::Http { message, .. } => Some(message),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}
