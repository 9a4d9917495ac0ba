//! The telemetry server over real HTTP on a free loopback port: `/metrics` passes
//! `promtool check metrics`, `/healthz` answers, `/readyz` follows the readiness conditions,
//! and shutdown closes the port.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use prometheus::Registry;
use shepard::api_metrics::{Api, ApiMetrics};
use shepard::telemetry::readiness::{CONSUL, NOMAD};
use shepard::telemetry::server::METRICS_CONTENT_TYPE;
use shepard::telemetry::{Readiness, TelemetryError, build_info, serve};

async fn get(url: String) -> (u16, String, String) {
    let response = reqwest::Client::new()
        .get(&url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, content_type, response.text().await.unwrap())
}

/// `promtool check metrics` on `exposition`: its exit status and everything it printed.
fn promtool_check(exposition: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("promtool not found ({e}): run `make test`, which installs it"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed)
}

#[tokio::test]
async fn metrics_are_valid_prometheus_exposition() {
    let registry = Registry::new();
    build_info::register(&registry).unwrap();
    let api = ApiMetrics::register(&registry).unwrap();
    api.observe_request(Api::Consul, "kv_get", Some(200), Duration::from_millis(3));
    api.observe_request(Api::Nomad, "allocations", None, Duration::from_secs(1));
    api.index_reset(Api::Consul, "kv");
    api.session_renew_failed();

    let server = serve("127.0.0.1:0".parse().unwrap(), registry, Readiness::new())
        .await
        .unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0, "the real port is reported");

    let (status, content_type, body) = get(format!("http://{addr}/metrics")).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, METRICS_CONTENT_TYPE);
    let version_line = format!(
        "shepard_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(body.contains(&version_line), "{body}");
    assert!(
        body.contains(
            "shepard_api_requests_total{api=\"nomad\",code=\"error\",op=\"allocations\"} 1"
        )
    );

    let (clean, printed) = promtool_check(&body);
    assert!(
        clean && printed.trim().is_empty(),
        "promtool: {printed}\n{body}"
    );
    // The check can fail: a metric without HELP and with a bad counter name is reported.
    let (clean, printed) = promtool_check("# TYPE bad_counter counter\nbad_counter 1\n");
    assert!(
        !clean && !printed.trim().is_empty(),
        "promtool accepted a bad exposition"
    );

    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn healthz_and_readyz_follow_the_conditions() {
    let readiness = Readiness::new();
    let server = serve(
        "127.0.0.1:0".parse().unwrap(),
        Registry::new(),
        readiness.clone(),
    )
    .await
    .unwrap();
    let base = format!("http://{}", server.local_addr());

    assert_eq!(get(format!("{base}/healthz")).await.0, 200);

    let consul = readiness.register(CONSUL);
    let (status, _, body) = get(format!("{base}/readyz")).await;
    assert_eq!(status, 503);
    assert_eq!(body, "not ready\nconsul: not ready (not checked yet)\n");

    consul.set_ready();
    let (status, _, body) = get(format!("{base}/readyz")).await;
    assert_eq!(status, 200);
    assert_eq!(body, "ready\nconsul: ok\n");

    let nomad = readiness.register(NOMAD);
    nomad.set_not_ready("connection refused");
    let (status, _, body) = get(format!("{base}/readyz")).await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        "not ready\nconsul: ok\nnomad: not ready (connection refused)\n"
    );
    nomad.set_ready();
    assert_eq!(get(format!("{base}/readyz")).await.0, 200);
    assert_eq!(get(format!("{base}/healthz")).await.0, 200);
    assert_eq!(get(format!("{base}/nope")).await.0, 404);

    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_closes_the_port_and_bind_errors_name_the_address() {
    let server = serve(
        "127.0.0.1:0".parse().unwrap(),
        Registry::new(),
        Readiness::new(),
    )
    .await
    .unwrap();
    let addr = server.local_addr();

    // The port is taken while the server runs.
    let err = serve(addr, Registry::new(), Readiness::new())
        .await
        .unwrap_err();
    assert!(matches!(err, TelemetryError::Bind { .. }));
    assert!(
        err.to_string()
            .starts_with(&format!("cannot listen on {addr}: ")),
        "{err}"
    );

    server.shutdown().await.unwrap();
    let refused = tokio::net::TcpStream::connect(addr).await;
    assert!(refused.is_err(), "port still open after shutdown");
}
