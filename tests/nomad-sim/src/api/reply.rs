//! HTTP replies the way Nomad's `wrap` writes them: JSON with sorted keys (indented with
//! `?pretty`), `text/plain` errors holding the bare message, and the query-meta headers
//! `X-Nomad-Index`, `X-Nomad-KnownLeader`, `X-Nomad-LastContact` on read endpoints.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::encode;

/// A reply body plus the optional blocking-query index.
#[derive(Debug)]
pub struct Reply {
    status: StatusCode,
    body: String,
    json: bool,
    index: Option<u64>,
}

impl Reply {
    pub fn json(value: &Value, pretty: bool) -> Self {
        let body = if pretty {
            encode::to_pretty_string(value)
        } else {
            encode::to_string(value)
        };
        Self {
            status: StatusCode::OK,
            body,
            json: true,
            index: None,
        }
    }

    /// A `text/plain` error, e.g. `404 alloc not found`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: message.into(),
            json: false,
            index: None,
        }
    }

    /// Adds the query-meta headers with this index.
    pub fn with_index(mut self, index: u64) -> Self {
        self.index = Some(index);
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let content_type = if self.json {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        let mut response = (self.status, self.body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        if let Some(index) = self.index {
            if let Ok(v) = HeaderValue::from_str(&index.to_string()) {
                headers.insert("X-Nomad-Index", v);
            }
            headers.insert("X-Nomad-KnownLeader", HeaderValue::from_static("true"));
            headers.insert("X-Nomad-LastContact", HeaderValue::from_static("0"));
        }
        response
    }
}
