//! The Consul client's key guard against a real Consul dev agent: a client given the agent's
//! prefix refuses every KV request for a key outside it or with a `.`, `..` or empty segment
//! before sending it (Consul's store is unchanged afterwards), and serves keys under it as
//! before.

use shepard::api_metrics::ApiMetrics;
use shepard::consul::{Consistency, ConsulClient, ConsulError, TxnOp, UnsafeKey};
use shepard::tls::TlsConfig;
use shepard_testkit::ConsulDev;

const PREFIX: &str = "shepard/";

fn client(consul: &ConsulDev) -> ConsulClient {
    ConsulClient::new(
        &consul.http_addr(),
        None,
        &TlsConfig::default(),
        ApiMetrics::unregistered(),
    )
    .unwrap()
}

fn refused<T: std::fmt::Debug>(result: Result<T, ConsulError>, what: &str) -> UnsafeKey {
    match result {
        Err(ConsulError::UnsafeKey { source, .. }) => source,
        other => panic!("{what}: expected a refused key, got {other:?}"),
    }
}

/// Every key of the store.
async fn store(plain: &ConsulClient) -> Vec<(String, Vec<u8>)> {
    let mut pairs: Vec<_> = plain
        .kv_list("", Consistency::Consistent)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.key, p.value))
        .collect();
    pairs.sort();
    pairs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefixed_client_sends_no_request_for_an_unsafe_key() {
    let consul = ConsulDev::start();
    let plain = client(&consul);
    let guarded = plain.with_key_prefix(PREFIX);
    plain.kv_put("elsewhere/config", b"keep", 0).await.unwrap();
    guarded
        .kv_put("shepard/keys/n1/web/web/app/0", b"t", 0)
        .await
        .unwrap();
    let before = store(&plain).await;

    let escaping = "shepard/keys/n1/../../elsewhere/config";
    let outside = "elsewhere/config";
    for key in [escaping, outside, "shepard//x", "shepard/keys/./x"] {
        refused(guarded.kv_put(key, b"x", 0).await, key);
        refused(guarded.kv_cas(key, b"x", 0, 0).await, key);
        refused(guarded.kv_acquire(key, "s", b"x", 0).await, key);
        refused(guarded.kv_release(key, "s", b"x", 0).await, key);
        refused(guarded.kv_delete(key).await, key);
        refused(guarded.kv_delete_cas(key, 1).await, key);
        refused(guarded.kv_get(key, Consistency::Default).await, key);
        refused(guarded.kv_get_raw(key).await, key);
    }
    assert!(matches!(
        refused(guarded.kv_put(outside, b"x", 0).await, outside),
        UnsafeKey::OutsidePrefix { .. }
    ));
    assert!(matches!(
        refused(guarded.kv_put(escaping, b"x", 0).await, escaping),
        UnsafeKey::DotSegment { .. }
    ));
    refused(guarded.kv_delete_tree("elsewhere/").await, "tree");
    refused(
        guarded.kv_list("", Consistency::Default).await,
        "whole store",
    );
    refused(guarded.kv_keys("elsewhere/", None).await, "keys");

    // One unsafe operation keeps the whole transaction from being sent.
    let ops = [
        TxnOp::Cas {
            key: "shepard/state/n1/a1/app".into(),
            value: b"r".to_vec(),
            flags: 0,
            index: 0,
        },
        TxnOp::CheckNotExists {
            key: escaping.into(),
        },
    ];
    refused(guarded.kv_txn(&ops).await, "transaction");

    assert_eq!(store(&plain).await, before, "nothing reached Consul");

    // Keys under the prefix work as before.
    guarded.kv_txn(&ops[..1]).await.unwrap();
    let listed = guarded.kv_list(PREFIX, Consistency::Default).await.unwrap();
    assert_eq!(listed.len(), 2);
    guarded
        .kv_delete("shepard/keys/n1/web/web/app/0")
        .await
        .unwrap();
}
