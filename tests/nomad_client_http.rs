//! `NomadClient` against a real local HTTP server (`stub_nomad`: axum on a loopback port
//! serving the published Nomad samples with `X-Nomad-Index`, and Nomad's `text/plain` errors,
//! recording every request): what the client sends (token, region, namespace, index, wait,
//! restart body) and how it maps answers to values and errors.

#[path = "nomad_client_http/stub_nomad.rs"]
mod stub_nomad;

use std::future::Future;
use std::time::{Duration, Instant};

use axum::http::Method;
use prometheus::Registry;
use shepard::api_metrics::ApiMetrics;
use shepard::blocking::{BlockingParams, Indexed};
use shepard::nomad::models::{ClientStatus, NodeStatus};
use shepard::nomad::{NomadClient, NomadError};
use shepard::secret::Secret;
use stub_nomad::{ALLOC_ID, Server};

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

#[tokio::test]
async fn local_node_falls_back_to_the_node_record_for_its_name() {
    let server = Server::start().await;
    let client = server.client(server.options());
    // The agent-self sample configures no NodeName, so the name comes from the node.
    let local = client.local_node().await.unwrap();
    assert_eq!(local.id, "fb2170a8-257d-3c64-b14d-bc06cc94e34c");
    assert_eq!(local.name, "mew");
    assert_eq!(
        (local.datacenter.as_str(), local.region.as_str()),
        ("dc1", "global")
    );
    assert_eq!(local.alloc_dir, None);
    let seen = server.last();
    assert_eq!(seen.path, "/v1/node/fb2170a8-257d-3c64-b14d-bc06cc94e34c");
    assert_eq!(seen.param("index"), None);
}
