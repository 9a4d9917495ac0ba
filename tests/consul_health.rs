//! Health reads and service maintenance against a real Consul dev agent.

use std::time::{Duration, Instant};

use serde_json::json;
use shepard::api_metrics::ApiMetrics;
use shepard::blocking::BlockingParams;
use shepard::consul::{CheckStatus, ConsulClient, HealthCheck};
use shepard::tls::TlsConfig;
use shepard_testkit::ConsulDev;

fn find<'a>(checks: &'a [HealthCheck], id: &str) -> Option<&'a HealthCheck> {
    checks.iter().find(|c| c.check_id == id)
}

#[tokio::test]
async fn node_and_service_checks_follow_maintenance_mode() {
    let consul = ConsulDev::start();
    let client = ConsulClient::new(
        &consul.http_addr(),
        None,
        &TlsConfig::default(),
        ApiMetrics::unregistered(),
    )
    .unwrap();
    assert!(
        client
            .status_leader()
            .await
            .unwrap()
            .starts_with("127.0.0.1:")
    );

    let http = reqwest::Client::new();
    let service = json!({"ID": "web-1", "Name": "web", "Port": 8080,
        "Check": {"CheckID": "web-1-ttl", "TTL": "60s"}});
    let registered = http
        .put(format!("{}/v1/agent/service/register", consul.http_addr()))
        .json(&service)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 200);
    let passed = http
        .put(format!(
            "{}/v1/agent/check/pass/web-1-ttl",
            consul.http_addr()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(passed.status(), 200);

    let node = client
        .health_node(consul.node_name(), BlockingParams::default())
        .await
        .unwrap();
    assert!(find(&node.value, "serfHealth").unwrap().is_passing());
    let web = find(&node.value, "web-1-ttl").unwrap();
    assert!(web.is_passing());
    assert_eq!(
        (web.service_id.as_str(), web.service_name.as_str()),
        ("web-1", "web")
    );
    let service_checks = client
        .health_service_checks("web", BlockingParams::default())
        .await
        .unwrap();
    assert_eq!(service_checks.value.len(), 1);

    // A blocking read of the node's health wakes when maintenance starts.
    let watcher = {
        let client = client.clone();
        let node_name = consul.node_name().to_string();
        let index = node.index;
        tokio::spawn(async move {
            let params = BlockingParams {
                index: Some(index),
                wait: Some(Duration::from_secs(30)),
            };
            let result = client.health_node(&node_name, params).await;
            (Instant::now(), result)
        })
    };
    client
        .agent_service_maintenance("web-1", true, Some("restart by shepard"))
        .await
        .unwrap();
    let enabled_at = Instant::now();
    let (woke, result) = watcher.await.unwrap();
    let during = result.unwrap();
    assert!(during.index > node.index);
    assert!(woke.saturating_duration_since(enabled_at) < Duration::from_secs(1));
    let maintenance = find(&during.value, "_service_maintenance:web-1").unwrap();
    assert_eq!(maintenance.status, CheckStatus::Critical);
    assert_eq!(maintenance.notes, "restart by shepard");

    client
        .agent_service_maintenance("web-1", false, None)
        .await
        .unwrap();
    let after = client
        .health_node(consul.node_name(), BlockingParams::default())
        .await
        .unwrap();
    assert!(find(&after.value, "_service_maintenance:web-1").is_none());
}
