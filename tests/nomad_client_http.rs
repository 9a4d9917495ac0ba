//! `NomadClient` against a real local HTTP server (axum on a loopback port) that serves the
//! published Nomad samples with `X-Nomad-Index`, and Nomad's `text/plain` errors, and records
//! every request it gets: what the client sends (token, region, namespace, index, wait,
//! restart body) and how it maps answers to values and errors.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use prometheus::Registry;
use shepard::api_metrics::ApiMetrics;
use shepard::blocking::{BlockingParams, Indexed};
use shepard::nomad::models::{ClientStatus, NodeStatus};
use shepard::nomad::{NomadClient, NomadClientOptions, NomadError};
use shepard::secret::Secret;

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    /// Raw (still percent-encoded) path.
    path: String,
    query: Vec<(String, String)>,
    token: Option<String>,
    body: String,
}

impl Seen {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn refdata(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/refdata/nomad")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/nomad")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const ALLOC_ID: &str = "a8198d79-cfdb-6593-a999-1e9adabcba2e";

fn json(index: Option<u64>, body: String) -> Response {
    let mut resp = Response::builder().header("Content-Type", "application/json");
    if let Some(index) = index {
        resp = resp
            .header("X-Nomad-Index", index.to_string())
            .header("X-Nomad-KnownLeader", "true")
            .header("X-Nomad-LastContact", "0");
    }
    resp.body(Body::from(body)).unwrap()
}

/// Nomad's error form: a status and the bare message as `text/plain`.
fn text_error(status: u16, message: &str) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("Content-Type", "text/plain")
        .body(Body::from(message.to_string()))
        .unwrap()
}

/// A stand-in Nomad agent: the samples at their endpoints, and a few faults.
async fn nomad(State(log): State<Log>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, 1 << 20).await.unwrap();
    let query = reqwest::Url::parse(&format!("http://x{}", parts.uri))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let seen = Seen {
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        query,
        token: parts
            .headers
            .get("X-Nomad-Token")
            .map(|v| v.to_str().unwrap().to_string()),
        body: String::from_utf8(body.to_vec()).unwrap(),
    };
    log.lock().unwrap().push(seen.clone());

    if seen.token.as_deref() == Some("wrong") {
        return text_error(403, "Permission denied");
    }
    let segments: Vec<&str> = seen.path.trim_start_matches('/').split('/').collect();
    match (seen.method.as_str(), segments.as_slice()) {
        ("GET", ["v1", "agent", "self"]) => json(None, refdata("agent-self.json")),
        ("GET", ["v1", "node", _, "allocations"]) => {
            json(Some(2567), refdata("node-allocations.json"))
        }
        ("GET", ["v1", "node", _]) => json(Some(14), fixture("node.json")),
        ("GET", ["v1", "nodes"]) => json(Some(2526), refdata("nodes.json")),
        ("GET", ["v1", "allocation", id]) if *id == ALLOC_ID => {
            json(Some(57), refdata("allocation.json"))
        }
        // Nomad answers a missing alloc with the allocs table index and a 404.
        ("GET", ["v1", "allocation", _]) => text_error(404, "alloc not found"),
        ("GET", ["v1", "job", "broken"]) => text_error(500, "rpc error: eval broker disabled"),
        ("GET", ["v1", "job", "truncated"]) => {
            let full = refdata("job.json");
            json(Some(7), full[..full.len() / 2].to_string())
        }
        ("GET", ["v1", "job", "unindexed"]) => json(None, refdata("job.json")),
        ("GET", ["v1", "job", "hang"]) => std::future::pending().await,
        ("GET", ["v1", "job", _, "allocations"]) => json(Some(15), refdata("allocations.json")),
        ("GET", ["v1", "job", _]) => json(Some(7), refdata("job.json")),
        ("POST", ["v1", "client", "allocation", _, "restart"]) => {
            json(None, refdata("alloc-restart.response.json"))
        }
        ("POST", ["v1", "allocation", _, "stop"]) => json(
            None,
            r#"{"EvalID":"5456bd7a-9fc0-c0dd-6131-cbee77f57577","Index":54}"#.to_string(),
        ),
        // The Read Allocation docs' stat sample.
        ("GET", ["v1", "client", "fs", "stat", _]) => json(
            None,
            r#"{"IsDir":false,"ModTime":"2016-03-15T15:40:56.822238153-07:00",
                "Name":"redis-syslog-collector.out","Size":96,"FileMode":"-rw-rw-r--"}"#
                .to_string(),
        ),
        _ => text_error(404, "Invalid URL"),
    }
}

struct Server {
    address: String,
    log: Log,
}

impl Server {
    async fn start() -> Self {
        let log = Log::default();
        let app = axum::Router::new().fallback(nomad).with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { address, log }
    }

    fn options(&self) -> NomadClientOptions {
        NomadClientOptions::new(&self.address)
    }

    fn client(&self, options: NomadClientOptions) -> NomadClient {
        NomadClient::new(options, ApiMetrics::unregistered()).unwrap()
    }

    fn last(&self) -> Seen {
        self.log
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("no request reached the server")
    }
}

fn blocking(index: u64, wait_secs: u64) -> BlockingParams {
    BlockingParams {
        index: Some(index),
        wait: Some(Duration::from_secs(wait_secs)),
    }
}

#[tokio::test]
async fn blocking_reads_send_index_and_wait_and_return_the_index() {
    let server = Server::start().await;
    let client = server.client(server.options());

    let allocs = client
        .node_allocations("node 1", blocking(2500, 30))
        .await
        .unwrap();
    assert_eq!(allocs.index, 2567);
    assert_eq!(allocs.value[0].client_status, ClientStatus::Running);
    let seen = server.last();
    assert_eq!(seen.path, "/v1/node/node%201/allocations");
    assert_eq!(
        (seen.param("index"), seen.param("wait")),
        (Some("2500"), Some("30000ms"))
    );

    // Nomad holds a query at most 300 s: a longer wait is capped before it is sent.
    let nodes = client.nodes(blocking(1, 3600)).await.unwrap();
    assert_eq!(
        (nodes.index, nodes.value[0].status.clone()),
        (2526, NodeStatus::Ready)
    );
    assert_eq!(server.last().param("wait"), Some("300000ms"));

    // The first read of a watch sends no index and so does not block.
    let job = client
        .job(None, "example", BlockingParams::default())
        .await
        .unwrap();
    assert_eq!((job.index, job.value.id.as_str()), (7, "example"));
    let seen = server.last();
    assert_eq!((seen.param("index"), seen.param("wait")), (None, None));

    let node = client.node("1ac61e33", blocking(3, 1)).await.unwrap();
    assert_eq!((node.index, node.value.name.as_str()), (14, "mew"));
    let alloc = client.allocation(ALLOC_ID, blocking(50, 1)).await.unwrap();
    assert_eq!((alloc.index, alloc.value.id.as_str()), (57, ALLOC_ID));
    let stubs = client
        .job_allocations(None, "example", blocking(1, 1))
        .await
        .unwrap();
    assert_eq!((stubs.index, stubs.value.len()), (15, 1));
}

#[tokio::test]
async fn token_region_and_namespace_are_sent() {
    let server = Server::start().await;
    let anonymous = server.client(server.options());
    anonymous.agent_self().await.unwrap();
    let seen = server.last();
    assert_eq!(
        (
            seen.token.as_deref(),
            seen.param("region"),
            seen.param("namespace")
        ),
        (None, None, None)
    );

    let mut options = server.options();
    options.token = Some(Secret::new("s3cret-token"));
    options.region = Some("eu-west".into());
    options.namespace = Some("apps".into());
    let client = server.client(options);

    let agent = client.agent_self().await.unwrap();
    assert_eq!(
        agent.node_id(),
        Some("fb2170a8-257d-3c64-b14d-bc06cc94e34c")
    );
    let seen = server.last();
    assert_eq!(seen.token.as_deref(), Some("s3cret-token"));
    assert_eq!(
        (seen.param("region"), seen.param("namespace")),
        (Some("eu-west"), Some("apps"))
    );

    // A job lives in its own namespace, which overrides the client's.
    client
        .job(Some("batch"), "web/api", blocking(1, 1))
        .await
        .unwrap();
    let seen = server.last();
    assert_eq!(seen.path, "/v1/job/web%2Fapi");
    assert_eq!(
        (seen.param("namespace"), seen.param("region")),
        (Some("batch"), Some("eu-west"))
    );
    client
        .job_allocations(None, "example", blocking(1, 1))
        .await
        .unwrap();
    assert_eq!(server.last().param("namespace"), Some("apps"));

    // The token never shows in the client's Debug output.
    assert!(!format!("{client:?}").contains("s3cret-token"));
}

#[tokio::test]
async fn restart_posts_the_task_name() {
    let server = Server::start().await;
    let client = server.client(server.options());
    client
        .restart_allocation_task(ALLOC_ID, "greet")
        .await
        .unwrap();
    let seen = server.last();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(
        seen.path,
        format!("/v1/client/allocation/{ALLOC_ID}/restart")
    );
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body, serde_json::json!({"TaskName": "greet"}));
}

#[tokio::test]
async fn stop_and_stat() {
    let server = Server::start().await;
    let client = server.client(server.options());
    let stopped = client.stop_allocation(ALLOC_ID).await.unwrap();
    assert_eq!(
        (stopped.eval_id.as_str(), stopped.index),
        ("5456bd7a-9fc0-c0dd-6131-cbee77f57577", 54)
    );
    let seen = server.last();
    assert_eq!(
        (seen.method, seen.path),
        (Method::POST, format!("/v1/allocation/{ALLOC_ID}/stop"))
    );

    let info = client
        .stat_file(ALLOC_ID, "greet/local/config yml")
        .await
        .unwrap();
    assert_eq!((info.size, info.is_dir), (96, false));
    assert_eq!(
        info.mod_time.map(|t| t.to_string()).as_deref(),
        Some("2016-03-15T22:40:56.822238153Z")
    );
    let seen = server.last();
    assert_eq!(seen.path, format!("/v1/client/fs/stat/{ALLOC_ID}"));
    assert_eq!(seen.param("path"), Some("greet/local/config yml"));
}

#[tokio::test]
async fn text_errors_become_their_variants() {
    let server = Server::start().await;
    let client = server.client(server.options());

    let err = client.allocation("0000", blocking(1, 1)).await.unwrap_err();
    assert!(
        matches!(&err, NomadError::NotFound { op: "allocation", message } if message == "alloc not found"),
        "{err:?}"
    );
    assert!(err.is_not_found());

    let err = client
        .job(None, "broken", blocking(1, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, NomadError::Http { status: 500, message, .. } if message == "rpc error: eval broker disabled"),
        "{err:?}"
    );

    let mut options = server.options();
    options.token = Some(Secret::new("wrong"));
    let err = server
        .client(options)
        .nodes(blocking(1, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, NomadError::PermissionDenied { message, .. } if message == "Permission denied"),
        "{err:?}"
    );
    assert_eq!(
        (err.status(), err.message()),
        (Some(403), Some("Permission denied"))
    );
}

#[tokio::test]
async fn truncated_json_is_a_decode_error_and_a_missing_index_is_refused() {
    let server = Server::start().await;
    let client = server.client(server.options());
    let err = client
        .job(None, "truncated", blocking(1, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, NomadError::Decode { op: "job", .. }),
        "{err:?}"
    );
    let err = client
        .job(None, "unindexed", blocking(1, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, NomadError::MissingIndex { op: "job" }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_blocking_query_may_take_wait_plus_jitter_before_timing_out() {
    let server = Server::start().await;
    let mut options = server.options();
    options.request_timeout = Duration::from_millis(100);
    let client = server.client(options);

    let started = Instant::now();
    let err = client.job(None, "hang", blocking(5, 1)).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(&err, NomadError::Transport { source, .. } if source.is_timeout()),
        "{err:?}"
    );
    // wait 1 s + jitter allowance 1/16 s + margin 0.1 s.
    assert!(
        elapsed >= Duration::from_millis(1162),
        "gave up after {elapsed:?}"
    );

    // Without an index the server answers at once: only the request timeout applies.
    let started = Instant::now();
    let err = client
        .job(None, "hang", BlockingParams::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, NomadError::Transport { source, .. } if source.is_timeout()),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn requests_are_counted_per_op_and_code() {
    let server = Server::start().await;
    let registry = Registry::new();
    let client =
        NomadClient::new(server.options(), ApiMetrics::register(&registry).unwrap()).unwrap();
    client.allocation(ALLOC_ID, blocking(1, 1)).await.unwrap();
    client.allocation("gone", blocking(1, 1)).await.unwrap_err();
    client.allocation("gone", blocking(1, 1)).await.unwrap_err();

    let count = |code: &str| -> u64 {
        let families = registry.gather();
        let family = families
            .iter()
            .find(|f| f.name() == "shepard_api_requests_total")
            .expect("requests counter registered");
        family
            .get_metric()
            .iter()
            .filter(|m| {
                let labels: Vec<(&str, &str)> = m
                    .get_label()
                    .iter()
                    .map(|l| (l.name(), l.value()))
                    .collect();
                labels.contains(&("api", "nomad"))
                    && labels.contains(&("op", "allocation"))
                    && labels.contains(&("code", code))
            })
            .map(|m| m.get_counter().get_value() as u64)
            .sum()
    };
    assert_eq!((count("200"), count("404")), (1, 2));
}

/// The blocking-query watch takes `FnMut(BlockingParams) -> impl Future<Output =
/// Result<Indexed<T>, E>>`; the endpoints must fit it, with a `Send + 'static` future.
fn watch_fetch<T, F, Fut>(mut fetch: F) -> Fut
where
    F: FnMut(BlockingParams) -> Fut,
    Fut: Future<Output = Result<Indexed<T>, NomadError>> + Send + 'static,
{
    fetch(BlockingParams::default())
}

#[tokio::test]
async fn blocking_endpoints_fit_the_watch_fetch_shape() {
    let server = Server::start().await;
    let client = server.client(server.options());
    let node_id = "f7476465".to_string();
    let fetched = tokio::spawn(watch_fetch(move |params| {
        let client = client.clone();
        let node_id = node_id.clone();
        async move { client.node_allocations(&node_id, params).await }
    }))
    .await
    .unwrap()
    .unwrap();
    assert_eq!(fetched.index, 2567);
}
