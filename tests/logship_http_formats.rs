//! The requests of the `loki` and `http` sinks, captured by a real HTTP receiver, against the
//! documented formats (insta snapshots). Timestamps come from a fixed clock.
//!
//! - Loki: `POST /loki/api/v1/push`, `{"streams":[{"stream":{labels},"values":[["<ns>","<line>"]]}]}`
//!   with the low-cardinality tags as labels and `{"line":…,"tags":{rest}}` as the line.
//! - HTTP: `POST <url>`, `application/x-ndjson`, one `{"ts":…,"line":…,"tags":{…}}` per line.

#[path = "logship_support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use shepard::config::{ApiAddress, HttpSink, LokiSink};
use shepard::logship::{LogMetrics, LogShipper, sinks};
use shepard::secret::Secret;
use shepard::tls::TlsConfig;
use support::receiver::{Captured, Receiver};

const LOKI_PATH: &str = "/loki/api/v1/push";
const HTTP_PATH: &str = "/ingest";

fn headers(request: &Captured) -> Value {
    let pick = ["content-type", "x-scope-orgid", "authorization"];
    let headers: BTreeMap<&str, &str> = pick
        .iter()
        .filter_map(|name| request.headers.get(*name).map(|v| (*name, v.as_str())))
        .collect();
    json!(headers)
}

/// All pushes merged into one body: streams by label set (sorted), values in arrival order.
fn merged_loki(requests: &[&Captured]) -> Value {
    let mut streams: BTreeMap<String, (Value, Vec<Value>)> = BTreeMap::new();
    for request in requests {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        for stream in body["streams"].as_array().unwrap() {
            let labels = stream["stream"].clone();
            let entry = streams
                .entry(labels.to_string())
                .or_insert_with(|| (labels, Vec::new()));
            entry
                .1
                .extend(stream["values"].as_array().unwrap().iter().cloned());
        }
    }
    let streams: Vec<Value> = streams
        .into_values()
        .map(|(labels, values)| json!({"stream": labels, "values": values}))
        .collect();
    json!({ "streams": streams })
}

/// All NDJSON lines, stdout's first, each stream in arrival order.
fn merged_ndjson(requests: &[&Captured]) -> Vec<Value> {
    let mut lines: Vec<Value> = requests
        .iter()
        .flat_map(|r| {
            String::from_utf8(r.body.clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort_by_key(|l| l["tags"]["stream"].as_str().unwrap() == "stderr");
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_and_http_requests_match_the_documented_formats() {
    let receiver = Receiver::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("alloc/logs");
    std::fs::create_dir_all(&log_dir).unwrap();
    let long = format!("{}{}", "a".repeat(256), "b".repeat(44));
    std::fs::write(
        log_dir.join("web.stdout.0"),
        format!("hello \"world\"\ntab\there, é ✓\n{long}\nno newline at the end"),
    )
    .unwrap();
    std::fs::write(log_dir.join("web.stderr.0"), "boom\n").unwrap();

    let mut config = support::logs_config();
    config.max_line_bytes = 256;
    config.loki = Some(LokiSink {
        url: ApiAddress::parse(&receiver.url(LOKI_PATH)).unwrap(),
        tenant_id: Some("tenant-1".into()),
        token: Some(Secret::new("loki-token")),
        labels: ["node", "namespace", "job", "group", "task", "stream"]
            .map(String::from)
            .to_vec(),
        tls: TlsConfig::default(),
    });
    config.http = Some(HttpSink {
        url: ApiAddress::parse(&receiver.url(HTTP_PATH)).unwrap(),
        token: Some(Secret::new("http-token")),
        tls: TlsConfig::default(),
    });
    let metrics = LogMetrics::unregistered();
    let handle = LogShipper::start_with_clock(
        support::settings(config.clone(), &dir.path().join("state")),
        sinks::build(&config).unwrap(),
        metrics.clone(),
        Arc::new(support::FixedClock),
    )
    .unwrap();
    handle.track(support::task_logs(&log_dir, "alloc-1", "web"));
    tokio::time::timeout(
        Duration::from_secs(30),
        handle.untrack("alloc-1", "web", true),
    )
    .await
    .expect("drained to both sinks");
    handle.shutdown().await;

    let accepted = receiver.accepted();
    let loki: Vec<&Captured> = accepted.iter().filter(|r| r.path == LOKI_PATH).collect();
    let http: Vec<&Captured> = accepted.iter().filter(|r| r.path == HTTP_PATH).collect();
    assert!(!loki.is_empty() && !http.is_empty());
    insta::assert_json_snapshot!(
        "loki_push",
        json!({
            "headers": headers(loki[0]),
            "body": merged_loki(&loki),
        })
    );
    insta::assert_json_snapshot!(
        "http_ndjson",
        json!({
            "headers": headers(http[0]),
            "lines": merged_ndjson(&http),
        })
    );
    assert_eq!(metrics.lines_shipped("loki"), 6);
    assert_eq!(metrics.lines_shipped("http"), 6);
}
