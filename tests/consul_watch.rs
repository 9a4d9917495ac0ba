//! Blocking queries and the generic watch against a real Consul dev agent: wake-up latency,
//! timeouts that keep the index, and the reset when the index goes backwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use shepard::api_metrics::{Api, ApiMetrics};
use shepard::blocking::{BlockingParams, Indexed};
use shepard::consul::{ConsulClient, ConsulError, KvPair};
use shepard::tls::TlsConfig;
use shepard::watch::{WatchConfig, WatchError, watch};
use shepard_testkit::{ConsulDev, poll};

fn client(consul: &ConsulDev, metrics: &ApiMetrics) -> ConsulClient {
    ConsulClient::new(
        &consul.http_addr(),
        None,
        &TlsConfig::default(),
        metrics.clone(),
    )
    .expect("client")
}

type Snapshot = Result<Indexed<Vec<KvPair>>, WatchError<ConsulError>>;

/// A watch of `prefix`; `started` records the index of each call as it begins.
fn watch_prefix(
    client: &ConsulClient,
    metrics: &ApiMetrics,
    prefix: &str,
    wait: Duration,
    started: Arc<AtomicU64>,
) -> impl futures::Stream<Item = Snapshot> + Send + use<> {
    let mut config = WatchConfig::new(Api::Consul, format!("kv:{prefix}"), wait);
    config.backoff_min = Duration::from_millis(100);
    config.backoff_max = Duration::from_secs(1);
    let client = client.clone();
    let prefix = prefix.to_string();
    Box::pin(watch(
        config,
        metrics.clone(),
        move |params: BlockingParams| {
            started.store(params.index.unwrap_or(0), Ordering::SeqCst);
            let client = client.clone();
            let prefix = prefix.clone();
            async move { client.kv_list_blocking(&prefix, params).await }
        },
    ))
}

fn values(snapshot: &Indexed<Vec<KvPair>>) -> Vec<String> {
    snapshot
        .value
        .iter()
        .map(|p| String::from_utf8_lossy(&p.value).into_owned())
        .collect()
}

#[tokio::test]
async fn a_blocking_watch_wakes_within_100ms_of_a_write() {
    let consul = ConsulDev::start();
    let metrics = ApiMetrics::unregistered();
    let client = client(&consul, &metrics);
    client.kv_put("shepard/w/key", b"v1", 0).await.unwrap();

    let started = Arc::new(AtomicU64::new(0));
    let mut stream = watch_prefix(
        &client,
        &metrics,
        "shepard/w/",
        Duration::from_secs(30),
        started.clone(),
    );
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(values(&first), vec!["v1"]);

    // The watch blocks: nothing arrives while nothing changes.
    let next = tokio::spawn(async move {
        let snapshot = stream.next().await;
        (Instant::now(), snapshot)
    });
    poll::until_async(
        "the watch's blocking call to start",
        Duration::from_secs(5),
        Duration::from_millis(5),
        || async { (started.load(Ordering::SeqCst) == first.index).then_some(()) },
    )
    .await;
    assert!(!next.is_finished());

    client.kv_put("shepard/w/key", b"v2", 0).await.unwrap();
    let written = Instant::now();
    let (arrived, snapshot) = next.await.unwrap();
    let snapshot = snapshot.unwrap().unwrap();
    let latency = arrived.saturating_duration_since(written);
    println!("watch wake-up after write: {latency:?}");
    assert!(latency < Duration::from_millis(100), "{latency:?}");
    assert!(snapshot.index > first.index);
    assert_eq!(values(&snapshot), vec!["v2"]);
}

#[tokio::test]
async fn a_short_wait_times_out_with_the_same_index() {
    let consul = ConsulDev::start();
    let metrics = ApiMetrics::unregistered();
    let client = client(&consul, &metrics);
    client.kv_put("shepard/t/key", b"v", 0).await.unwrap();
    let first = client
        .kv_get_blocking("shepard/t/key", BlockingParams::default())
        .await
        .unwrap();

    let wait = Duration::from_millis(500);
    let started = Instant::now();
    let again = client
        .kv_get_blocking(
            "shepard/t/key",
            BlockingParams {
                index: Some(first.index),
                wait: Some(wait),
            },
        )
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(again.index, first.index);
    assert_eq!(again.value, first.value);
    assert!(elapsed >= wait, "returned before the wait: {elapsed:?}");
    assert!(elapsed < wait * 2, "held too long: {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_going_backwards_resets_the_watch() {
    let mut consul = ConsulDev::start();
    let metrics = ApiMetrics::unregistered();
    let client = client(&consul, &metrics);
    let source = "kv:shepard/r/";
    for i in 0..3 {
        client
            .kv_put(&format!("shepard/r/{i}"), format!("old{i}").as_bytes(), 0)
            .await
            .unwrap();
    }
    let started = Arc::new(AtomicU64::new(0));
    let mut stream = watch_prefix(
        &client,
        &metrics,
        "shepard/r/",
        Duration::from_secs(2),
        started,
    );
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.value.len(), 3);

    // Consul 1.8.7 keeps a tombstone for a deleted key and reports its index for the
    // prefix, so deleting the newest key moves the index forward, not backwards
    // (refdata/consul/kv-list-after-delete-newest.http): no reset.
    client.kv_delete("shepard/r/2").await.unwrap();
    let after_delete = stream.next().await.unwrap().unwrap();
    assert!(after_delete.index > first.index);
    assert_eq!(after_delete.value.len(), 2);
    assert_eq!(metrics.index_resets(Api::Consul, source), 0);

    // Raise the index well above what a fresh agent reaches, then lose the whole state:
    // the restarted dev agent starts from an empty in-memory store.
    for i in 0..40 {
        client
            .kv_put(&format!("shepard/filler/{i}"), b"x", 0)
            .await
            .unwrap();
    }
    client.kv_put("shepard/r/0", b"newest", 0).await.unwrap();
    let high = stream.next().await.unwrap().unwrap();
    assert!(high.index > 40);
    tokio::task::block_in_place(|| consul.restart());
    // A pooled connection to the old process may fail once; retry until the write lands.
    poll::until_async(
        "a write to the restarted agent",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async { client.kv_put("shepard/r/0", b"after-restart", 0).await.ok() },
    )
    .await;

    let deadline = Instant::now() + Duration::from_secs(30);
    let reset = loop {
        let item = tokio::time::timeout_at(deadline.into(), stream.next())
            .await
            .expect("a snapshot from the restarted agent");
        match item.unwrap() {
            Ok(snapshot) if values(&snapshot) == vec!["after-restart"] => break snapshot,
            Ok(snapshot) => assert!(snapshot.value.is_empty(), "{snapshot:?}"),
            Err(e) => println!("while the agent restarts: {e}"),
        }
    };
    assert!(
        reset.index < high.index,
        "{} !< {}",
        reset.index,
        high.index
    );
    assert_eq!(metrics.index_resets(Api::Consul, source), 1);
}
