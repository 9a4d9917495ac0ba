//! [`ConsulClient`]: the request/response plumbing every Consul endpoint shares — base URL,
//! ACL token header, per-request timeouts, request metrics, `X-Consul-Index`, status-to-error
//! mapping and JSON decoding. The endpoint files (`kv`, `session`, `health`, ...) add
//! `impl ConsulClient` blocks on top of it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};

use crate::api_metrics::{Api, ApiMetrics};
use crate::blocking::BlockingParams;
use crate::consul::error::{ConsulError, from_status};
use crate::consul::key_guard::{self, KeyUse};
use crate::consul::reply::Reply;
use crate::secret::Secret;
use crate::tls::TlsConfig;

/// Time allowed for an ordinary (non-blocking) request, unless changed with
/// [`ConsulClient::with_request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Consul's longest blocking `wait`; longer waits are silently capped by the server.
pub const MAX_WAIT: Duration = Duration::from_secs(600);
/// The `wait` Consul applies when a blocking query names none.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(300);

/// Characters escaped in a KV key when it becomes a URL path: everything that would end
/// or alter the path (`?`, `#`, `%`, spaces, controls, and `\`, which URL parsers read as `/`
/// in an http URL). `/` is kept: it is Consul's separator.
const KEY_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// [`KEY_PATH`] plus `/`: for a single path segment.
const SEGMENT: &AsciiSet = &KEY_PATH.add(b'/');

/// How a read may be served (Consul's consistency modes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Consistency {
    /// The leader answers from its state without a quorum check.
    #[default]
    Default,
    /// `?consistent`: the leader confirms its leadership with a quorum first. Use it before
    /// acting on a lock you believe you hold.
    Consistent,
    /// `?stale`: any server answers, possibly behind.
    Stale,
}

impl Consistency {
    fn query_pair(self) -> Option<(&'static str, String)> {
        match self {
            Consistency::Default => None,
            Consistency::Consistent => Some(("consistent", String::new())),
            Consistency::Stale => Some(("stale", String::new())),
        }
    }
}

/// A typed client for the Consul HTTP API. Cheap to clone: clones share the connection pool
/// and metrics.
#[derive(Clone)]
pub struct ConsulClient {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    http: reqwest::Client,
    /// `scheme://host:port`, without a trailing slash.
    base: String,
    /// The ACL token header, marked sensitive so no HTTP layer prints it.
    auth: Option<HeaderValue>,
    metrics: ApiMetrics,
    request_timeout: Duration,
    /// Every KV key must be under it (see `key_guard`); `None` until set.
    key_prefix: Option<String>,
}

/// One request, described by the endpoint code.
pub(crate) struct Call<'a> {
    pub op: &'static str,
    pub method: Method,
    /// Path starting with `/v1/`, already percent-encoded.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
    /// Overrides the client's request timeout (blocking queries).
    pub timeout: Option<Duration>,
    /// The session the request acts for, so `invalid session` errors can name it.
    pub session: Option<&'a str>,
}

impl<'a> Call<'a> {
    pub fn new(op: &'static str, method: Method, path: String) -> Self {
        Self {
            op,
            method,
            path,
            query: Vec::new(),
            body: None,
            timeout: None,
            session: None,
        }
    }

    pub fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    pub fn consistency(mut self, consistency: Consistency) -> Self {
        self.query.extend(consistency.query_pair());
        self
    }

    /// Adds `?index=&wait=` and a client timeout that outlasts the server's hold.
    pub fn blocking(mut self, params: BlockingParams) -> Self {
        let wait = params.wait.unwrap_or(DEFAULT_WAIT).min(MAX_WAIT);
        let params = BlockingParams {
            index: params.index,
            wait: Some(wait),
        };
        self.query.extend(params.query_pairs());
        // Without an index the server answers at once: keep the ordinary timeout.
        if params.index.is_some_and(|i| i > 0) {
            self.timeout = Some(crate::watch::request_timeout(wait));
        }
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }

    pub fn session(mut self, session: &'a str) -> Self {
        self.session = Some(session);
        self
    }
}

impl ConsulClient {
    /// A client for the agent at `address` (`http://host:port`, `https://host:port`, or a
    /// bare `host:port`, which means http as in `CONSUL_HTTP_ADDR`).
    pub fn new(
        address: &str,
        token: Option<Secret>,
        tls: &TlsConfig,
        metrics: ApiMetrics,
    ) -> Result<Self, ConsulError> {
        let http =
            crate::http_client::build(tls).map_err(|e| ConsulError::Config(e.to_string()))?;
        Self::with_http(address, token, http, metrics)
    }

    /// Like [`ConsulClient::new`], with an already built `reqwest` client.
    pub fn with_http(
        address: &str,
        token: Option<Secret>,
        http: reqwest::Client,
        metrics: ApiMetrics,
    ) -> Result<Self, ConsulError> {
        let base = normalize_address(address)?;
        let auth = match token.filter(|t| !t.is_empty()) {
            Some(token) => {
                let mut value = HeaderValue::from_str(token.expose()).map_err(|_| {
                    ConsulError::Config("the ACL token contains invalid characters".into())
                })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                auth,
                metrics,
                request_timeout: DEFAULT_REQUEST_TIMEOUT,
                key_prefix: None,
            }),
        })
    }

    /// The same client with another timeout for non-blocking requests.
    pub fn with_request_timeout(&self, timeout: Duration) -> Self {
        let mut inner = (*self.inner).clone();
        inner.request_timeout = timeout;
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The same client restricted to KV keys under `prefix` (a folder, ending in `/`): a
    /// request for any other key fails with [`ConsulError::UnsafeKey`] without being sent.
    pub fn with_key_prefix(&self, prefix: &str) -> Self {
        let mut inner = (*self.inner).clone();
        inner.key_prefix = Some(prefix.to_owned());
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Refuses `key` for `op` unless the key guard lets it through.
    pub(crate) fn check_key(
        &self,
        op: &'static str,
        key: &str,
        used: KeyUse,
    ) -> Result<(), ConsulError> {
        key_guard::check(self.inner.key_prefix.as_deref(), key, used)
            .map_err(|source| ConsulError::UnsafeKey { op, source })
    }

    /// `scheme://host:port` of the agent.
    pub fn address(&self) -> &str {
        &self.inner.base
    }

    pub fn metrics(&self) -> &ApiMetrics {
        &self.inner.metrics
    }

    /// Sends `call`, records its metrics and reads the whole body. Any status is returned;
    /// only a missing response is an error.
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Reply, ConsulError> {
        let url = format!("{}{}", self.inner.base, call.path);
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), &url)
            .timeout(call.timeout.unwrap_or(self.inner.request_timeout));
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(auth) = &self.inner.auth {
            let mut headers = HeaderMap::with_capacity(1);
            headers.insert("X-Consul-Token", auth.clone());
            request = request.headers(headers);
        }
        if let Some(body) = call.body {
            request = request.body(body);
        }

        let started = Instant::now();
        let result = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let index_header = response
                .headers()
                .get("X-Consul-Index")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let body = response.bytes().await;
            Ok::<_, reqwest::Error>((status, index_header, body))
        }
        .await;
        let elapsed = started.elapsed();

        let (status, index_header, body) = match result {
            Ok(parts) => parts,
            Err(source) => {
                self.inner
                    .metrics
                    .observe_request(Api::Consul, call.op, None, elapsed);
                tracing::debug!(op = call.op, method = %call.method, path = %call.path,
                    elapsed_ms = elapsed.as_millis() as u64, error = %source, "consul request failed");
                return Err(ConsulError::Transport {
                    op: call.op,
                    source,
                });
            }
        };
        self.inner
            .metrics
            .observe_request(Api::Consul, call.op, Some(status), elapsed);
        tracing::debug!(op = call.op, method = %call.method, path = %call.path, status,
            elapsed_ms = elapsed.as_millis() as u64, "consul request");
        // The status arrived but the body was cut off: no usable response.
        let body = body.map_err(|source| ConsulError::Transport {
            op: call.op,
            source,
        })?;
        Ok(Reply {
            op: call.op,
            status,
            index: index_header.as_deref().and_then(|v| v.trim().parse().ok()),
            index_header,
            body: body.to_vec(),
        })
    }

    /// Sends `call` and turns every non-2xx status into its error.
    pub(crate) async fn send_ok(&self, call: Call<'_>) -> Result<Reply, ConsulError> {
        let session = call.session.map(str::to_string);
        let reply = self.send(call).await?;
        if reply.is_success() {
            Ok(reply)
        } else {
            Err(from_status(
                reply.op,
                reply.status,
                &reply.text(),
                session.as_deref(),
            ))
        }
    }
}

/// `/v1/kv/<key>` with the key's characters escaped for a URL path.
pub(crate) fn kv_path(key: &str) -> String {
    format!("/v1/kv/{}", utf8_percent_encode(key, KEY_PATH))
}

/// One path segment (session id, node or service name), fully escaped.
pub(crate) fn segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

fn normalize_address(address: &str) -> Result<String, ConsulError> {
    let address = address.trim();
    let with_scheme = if address.contains("://") {
        address.to_string()
    } else {
        format!("http://{address}")
    };
    let url = reqwest::Url::parse(&with_scheme)
        .map_err(|e| ConsulError::Config(format!("invalid consul address {address:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConsulError::Config(format!(
            "consul address {address:?} must be an http:// or https:// URL with a host"
        )));
    }
    Ok(with_scheme.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalized() {
        assert_eq!(
            normalize_address("127.0.0.1:8500").ok().as_deref(),
            Some("http://127.0.0.1:8500")
        );
        assert_eq!(
            normalize_address("https://consul.example:8501/")
                .ok()
                .as_deref(),
            Some("https://consul.example:8501")
        );
        assert!(normalize_address("unix:///tmp/consul.sock").is_err());
        assert!(normalize_address("http://").is_err());
    }

    #[test]
    fn blocking_calls_get_a_timeout_beyond_the_capped_wait() {
        let call = Call::new("kv_get", Method::GET, kv_path("k")).blocking(BlockingParams {
            index: Some(9),
            wait: Some(Duration::from_secs(3600)),
        });
        assert_eq!(
            call.query,
            vec![("index", "9".to_string()), ("wait", "600000ms".to_string())]
        );
        assert_eq!(call.timeout, Some(crate::watch::request_timeout(MAX_WAIT)));
        let first = Call::new("kv_get", Method::GET, kv_path("k")).blocking(BlockingParams {
            index: None,
            wait: Some(Duration::from_secs(60)),
        });
        assert_eq!(
            first.timeout, None,
            "a non-blocking read keeps the ordinary timeout"
        );
    }

    #[test]
    fn keys_keep_slashes_and_escape_the_rest() {
        assert_eq!(
            kv_path("shepard/a b/c?d#e%f"),
            "/v1/kv/shepard/a%20b/c%3Fd%23e%25f"
        );
        assert_eq!(segment("web/1"), "web%2F1");
    }

    #[test]
    fn a_key_stays_under_its_folder_once_it_is_a_url() {
        // `\` would be a separator and `%2E%2E` a dot segment to the URL parser.
        for (key, path) in [
            ("shepard/a\\..\\..\\x", "/v1/kv/shepard/a%5C..%5C..%5Cx"),
            (
                "shepard/%2E%2E/%2e./x",
                "/v1/kv/shepard/%252E%252E/%252e./x",
            ),
        ] {
            let url = reqwest::Url::parse(&format!("http://h{}", kv_path(key))).unwrap();
            assert_eq!(url.path(), path, "{key}");
        }
    }
}
