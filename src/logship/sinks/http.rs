//! The `http` sink: a batch is POSTed as newline-delimited JSON (`application/x-ndjson`), one
//! line per log line in the same form as the `file` sink — what Vector's `http_server` and
//! Fluent Bit's `http` inputs take. Any 2xx acknowledges the batch.

use std::sync::Arc;

use super::{SEND_TIMEOUT, SinkBuildError, SinkError};
use crate::config::HttpSink as HttpConfig;
use crate::logship::batch::Batch;
use crate::logship::encode::{TsCache, write_json_chunk};
use crate::secret::Secret;

pub struct HttpSink {
    client: reqwest::Client,
    url: reqwest::Url,
    token: Option<Secret>,
    ts: TsCache,
}

impl HttpSink {
    pub fn new(config: &HttpConfig) -> Result<Self, SinkBuildError> {
        let client = crate::http_client::build(&config.tls).map_err(|source| {
            SinkBuildError::HttpClient {
                sink: "http",
                source,
            }
        })?;
        Ok(Self {
            client,
            url: config.url.url().clone(),
            token: config.token.clone(),
            ts: TsCache::nanos(),
        })
    }

    pub async fn send(&mut self, batch: &Arc<Batch>) -> Result<(), SinkError> {
        let mut body = Vec::with_capacity(batch.text_bytes * 2 + 256);
        for chunk in &batch.chunks {
            write_json_chunk(&mut body, chunk, &mut self.ts);
        }
        let mut request = self
            .client
            .post(self.url.clone())
            .timeout(SEND_TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        post(request, &self.url).await
    }
}

/// Sends `request`; any 2xx is an acknowledgement, anything else an error with the start of
/// the answer's body.
pub(super) async fn post(
    request: reqwest::RequestBuilder,
    url: &reqwest::Url,
) -> Result<(), SinkError> {
    let response = request.send().await.map_err(|source| SinkError::Request {
        url: url.to_string(),
        source,
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(SinkError::Status {
        url: url.to_string(),
        status: status.as_u16(),
        body: body.chars().take(200).collect(),
    })
}
