//! `NomadClient`: the shared plumbing of every Nomad API call: base URL, `X-Nomad-Token`,
//! `region`/`namespace` query parameters, per-request timeouts, blocking-query parameters,
//! `X-Nomad-Index`, error mapping, JSON decoding and request metrics. The endpoints
//! themselves are in `endpoints.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, Url};
use serde::de::DeserializeOwned;

use super::error::NomadError;
use crate::api_metrics::{Api, ApiMetrics};
use crate::blocking::{BlockingParams, Indexed};
use crate::secret::Secret;
use crate::tls::TlsConfig;

/// Nomad holds a blocking query at most this long (`structs.MaxBlockingRPCQueryTime`), and
/// this long when no `wait` is given (`DefaultBlockingRPCQueryTime`).
pub const MAX_WAIT: Duration = Duration::from_secs(300);

/// Default for [`NomadClientOptions::request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach and authenticate to the Nomad API (`NOMAD_ADDR`, `NOMAD_TOKEN`, …).
#[derive(Debug, Clone)]
pub struct NomadClientOptions {
    /// Base URL of the agent, e.g. `http://127.0.0.1:4646`.
    pub address: String,
    /// ACL token sent as `X-Nomad-Token`; `None` or empty sends none.
    pub token: Option<Secret>,
    pub tls: TlsConfig,
    /// `?region=` on every request; `None` lets the agent use its own.
    pub region: Option<String>,
    /// `?namespace=` on every request unless a call names its own; `None` means `default`.
    pub namespace: Option<String>,
    /// Timeout of a non-blocking request; also the margin a blocking request gets beyond its
    /// `wait` and the server's jitter.
    pub request_timeout: Duration,
}

impl NomadClientOptions {
    /// Options for `address` with no token, no TLS files, the agent's region and namespace.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            token: None,
            tls: TlsConfig::default(),
            region: None,
            namespace: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// A Nomad API client. Cloning is cheap; clones share connections and metrics.
#[derive(Clone)]
pub struct NomadClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// The address without a trailing `/`.
    base: String,
    token: Option<Secret>,
    region: Option<String>,
    namespace: Option<String>,
    request_timeout: Duration,
    metrics: ApiMetrics,
}

impl fmt::Debug for NomadClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NomadClient")
            .field("address", &self.inner.base)
            .field("token", &self.inner.token)
            .field("region", &self.inner.region)
            .field("namespace", &self.inner.namespace)
            .finish_non_exhaustive()
    }
}

/// Where a call's `?namespace=` comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Namespace<'a> {
    /// The client's configured namespace (if any).
    Default,
    /// The object's own namespace (jobs live in one); `None` falls back to the default.
    Of(Option<&'a str>),
}

impl NomadClient {
    /// A client for `options`, recording requests in `metrics`.
    pub fn new(options: NomadClientOptions, metrics: ApiMetrics) -> Result<Self, NomadError> {
        let base = options.address.trim_end_matches('/').to_string();
        let invalid = |reason: String| NomadError::InvalidAddress {
            address: options.address.clone(),
            reason,
        };
        let url = Url::parse(&base).map_err(|e| invalid(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(invalid(
                "expected http://host:port or https://host:port".into(),
            ));
        }
        let http = crate::http_client::build(&options.tls)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                token: options.token.filter(|t| !t.is_empty()),
                region: options.region.filter(|r| !r.is_empty()),
                namespace: options.namespace.filter(|n| !n.is_empty()),
                request_timeout: options.request_timeout,
                metrics,
            }),
        })
    }

    /// The base address requests go to.
    pub fn address(&self) -> &str {
        &self.inner.base
    }

    /// A request to `path` (already percent-encoded, starting with `/v1/`) carrying the
    /// token and the region and namespace parameters.
    pub(crate) fn request(&self, method: Method, path: &str, ns: Namespace<'_>) -> RequestBuilder {
        let inner = &self.inner;
        let mut req = inner
            .http
            .request(method, format!("{}{path}", inner.base))
            .timeout(inner.request_timeout);
        if let Some(token) = &inner.token {
            req = req.header("X-Nomad-Token", token.expose());
        }
        if let Some(region) = &inner.region {
            req = req.query(&[("region", region)]);
        }
        let namespace = match ns {
            Namespace::Of(Some(ns)) if !ns.is_empty() => Some(ns),
            _ => inner.namespace.as_deref(),
        };
        if let Some(namespace) = namespace {
            req = req.query(&[("namespace", namespace)]);
        }
        req
    }

    /// Sends `req`, records it as `op`, and returns the headers and body of a 2xx answer.
    pub(crate) async fn send(
        &self,
        op: &'static str,
        req: RequestBuilder,
    ) -> Result<(reqwest::header::HeaderMap, Vec<u8>), NomadError> {
        let started = Instant::now();
        let metrics = &self.inner.metrics;
        let resp = match req.send().await {
            Ok(resp) => resp,
            Err(source) => {
                metrics.observe_request(Api::Nomad, op, None, started.elapsed());
                return Err(NomadError::Transport { op, source });
            }
        };
        let status = resp.status();
        let headers = resp.headers().clone();
        // `Vec::from(Bytes)` takes over the buffer without copying when it is not shared.
        let body = resp.bytes().await.map(Vec::from);
        metrics.observe_request(Api::Nomad, op, Some(status.as_u16()), started.elapsed());
        let body = body.map_err(|source| NomadError::Transport { op, source })?;
        if !status.is_success() {
            return Err(NomadError::from_status(op, status.as_u16(), &body));
        }
        Ok((headers, body))
    }

    /// `GET` of a non-blocking JSON resource.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        op: &'static str,
        req: RequestBuilder,
    ) -> Result<T, NomadError> {
        let (_, body) = self.send(op, req).await?;
        decode(op, &body)
    }

    /// A blocking query: sends `index`/`wait` (wait capped at [`MAX_WAIT`]), allows for the
    /// server holding the request that long plus its jitter, and pairs the decoded body with
    /// `X-Nomad-Index`.
    pub(crate) async fn get_blocking<T: DeserializeOwned>(
        &self,
        op: &'static str,
        req: RequestBuilder,
        params: BlockingParams,
    ) -> Result<Indexed<T>, NomadError> {
        let params = BlockingParams {
            index: params.index,
            wait: params.wait.map(|w| w.min(MAX_WAIT)),
        };
        let req = req
            .query(&params.query_pairs())
            .timeout(blocking_timeout(params, self.inner.request_timeout));
        let (headers, body) = self.send(op, req).await?;
        let index = headers
            .get("X-Nomad-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or(NomadError::MissingIndex { op })?;
        Ok(Indexed {
            index,
            value: decode(op, &body)?,
        })
    }
}

/// How long to wait for a blocking query's answer: the server holds it up to `wait` (300 s
/// when unset) and adds a random jitter of up to `wait/16` (`lib.RandomStagger(wait /
/// JitterFraction)`); `margin` covers the answer itself. Without an index the server answers
/// at once, so `margin` alone applies.
pub fn blocking_timeout(params: BlockingParams, margin: Duration) -> Duration {
    if params.index.unwrap_or(0) == 0 {
        return margin;
    }
    let wait = params.wait.map_or(MAX_WAIT, |w| w.min(MAX_WAIT));
    wait + wait / 16 + margin
}

/// Decodes a JSON body. A key sent twice takes its last value, as in Go's decoders, instead
/// of failing the document (serde's derived structs reject duplicates; the published Read
/// Allocation sample has one): a document that is valid JSON but does not decode directly is
/// decoded again through `serde_json::Value`, which keeps the last value. Only that fallback
/// pays for the intermediate tree (about 4x the direct decode). If both fail, the direct
/// error is reported, as it carries the line and column.
pub fn decode<T: DeserializeOwned>(op: &'static str, body: &[u8]) -> Result<T, NomadError> {
    serde_json::from_slice::<T>(body).or_else(|direct| {
        if !direct.is_data() {
            return Err(NomadError::Decode { op, source: direct });
        }
        serde_json::from_slice::<serde_json::Value>(body)
            .and_then(T::deserialize)
            .map_err(|_| NomadError::Decode { op, source: direct })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARGIN: Duration = Duration::from_secs(10);

    #[test]
    fn blocking_timeout_adds_jitter_and_margin() {
        let p = |index, wait| BlockingParams { index, wait };
        assert_eq!(blocking_timeout(p(None, Some(MAX_WAIT)), MARGIN), MARGIN);
        assert_eq!(
            blocking_timeout(p(Some(5), Some(Duration::from_secs(160))), MARGIN),
            Duration::from_secs(160 + 10 + 10)
        );
        // No wait: the server's 300 s default; more than 300 s: capped.
        let capped = Duration::from_millis(300_000 + 18_750) + MARGIN;
        assert_eq!(blocking_timeout(p(Some(5), None), MARGIN), capped);
        assert_eq!(
            blocking_timeout(p(Some(5), Some(Duration::from_secs(900))), MARGIN),
            capped
        );
    }

    #[test]
    fn addresses_must_be_http_urls() {
        for bad in ["127.0.0.1:4646", "ftp://nomad:21", "http://", "not a url"] {
            let err = NomadClient::new(NomadClientOptions::new(bad), ApiMetrics::unregistered());
            assert!(
                matches!(err, Err(NomadError::InvalidAddress { .. })),
                "{bad}: {err:?}"
            );
        }
        let ok = NomadClient::new(
            NomadClientOptions::new("https://nomad.example:4646/"),
            ApiMetrics::unregistered(),
        );
        assert_eq!(
            ok.map(|c| c.address().to_string()).ok().as_deref(),
            Some("https://nomad.example:4646")
        );
    }

    #[test]
    fn a_wrong_type_is_reported_with_its_position() {
        let err = decode::<crate::nomad::models::TaskState>("test", b"{\n\"Restarts\": \"x\"}")
            .unwrap_err();
        assert!(
            matches!(&err, NomadError::Decode { source, .. } if source.line() == 2),
            "{err}"
        );
    }

    #[test]
    fn duplicate_keys_take_the_last_value() {
        #[derive(serde::Deserialize)]
        struct A {
            #[serde(rename = "PreviousAllocation")]
            previous: String,
        }
        let a: A = decode(
            "test",
            br#"{"PreviousAllocation":"x","PreviousAllocation":""}"#,
        )
        .unwrap();
        assert_eq!(a.previous, "");
    }
}
