//! GC deletes are CAS on the index listed, against a real Consul: a key rewritten between the
//! listing and the delete survives with its new value, while the untouched garbage of the same
//! pass goes. The interleaving is forced: the pass is decided from a listing, the key is
//! rewritten, then the decided deletes are applied. Keys outside the prefix never get a delete.

use prometheus::{Encoder, Registry, TextEncoder};
use shepard::agent::gc::delete_all;
use shepard::agent::gc_snapshot;
use shepard::agent::metrics::DomainMetrics;
use shepard::agent::snapshot;
use shepard::api_metrics::ApiMetrics;
use shepard::apply::Applier;
use shepard::consul::{Consistency, ConsulClient, SessionLease};
use shepard::nomad::{NomadClient, NomadClientOptions};
use shepard::tls::TlsConfig;
use shepard_reconcilers::gc::{GcPass, GcScope, reconcile_gc_pass};
use shepard_reconcilers::{Action, Context, ProblemKind, Timestamp};
use shepard_testkit::ConsulDev;

const TRIGGER: &str = "shepard/keys/n1/web/web/app/0";
const RECORD: &str = "shepard/state/n1/a1/app";
const OUTSIDE: &str = "elsewhere/keys/n1/web/web/app/0";

fn applier(consul: &ConsulDev, registry: &Registry) -> Applier {
    let client = ConsulClient::new(
        &consul.http_addr(),
        None,
        &TlsConfig::default(),
        ApiMetrics::unregistered(),
    )
    .unwrap();
    // Never called: GC only talks to Consul.
    let nomad = NomadClient::new(
        NomadClientOptions::new("http://127.0.0.1:9"),
        ApiMetrics::unregistered(),
    )
    .unwrap();
    Applier {
        consul: client,
        nomad,
        metrics: DomainMetrics::register(registry).unwrap(),
        lease: SessionLease::default(),
    }
}

/// A node pass of agent `n1`, which runs no allocation any more, over the whole KV store.
async fn decide(client: &ConsulClient) -> shepard_reconcilers::gc::GcDecision {
    let pairs = client.kv_list("", Consistency::Consistent).await.unwrap();
    let kv = snapshot::kv_view(&pairs.into_iter().map(|p| (p.key.clone(), p)).collect());
    let obs = gc_snapshot::observation(&kv, Vec::new(), None);
    let pass = GcPass {
        scope: GcScope::Node,
        rollout_history: None,
    };
    reconcile_gc_pass(&obs, &pass, &Context::new("n1"), Timestamp::EPOCH)
}

fn deleted_samples(registry: &Registry) -> String {
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut text)
        .unwrap();
    String::from_utf8(text)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("shepard_gc_deleted_keys_total{"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_key_rewritten_after_the_listing_survives_its_delete() {
    let consul = ConsulDev::start();
    let registry = Registry::new();
    let applier = applier(&consul, &registry);
    let client = &applier.consul;
    client.kv_put(TRIGGER, b"token-1", 0).await.unwrap();
    client.kv_put(RECORD, b"{}", 0).await.unwrap();

    let decided = decide(client).await;
    let keys: Vec<&str> = decided.deletions.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, [TRIGGER, RECORD], "both are garbage in the listing");

    // The rewrite lands between the listing and the delete.
    client.kv_put(TRIGGER, b"token-2", 0).await.unwrap();
    let outcome = delete_all(&applier, &decided.deletions).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let kept: Vec<&str> = outcome.kept.iter().map(|d| d.key.as_str()).collect();
    let deleted: Vec<&str> = outcome.deleted.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(kept, [TRIGGER]);
    assert_eq!(deleted, [RECORD]);
    let survivor = client
        .kv_get(TRIGGER, Consistency::Consistent)
        .await
        .unwrap();
    assert_eq!(survivor.unwrap().value, b"token-2");
    assert!(
        client
            .kv_get(RECORD, Consistency::Consistent)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        deleted_samples(&registry),
        "shepard_gc_deleted_keys_total{kind=\"state\"} 1"
    );

    // The next pass sees the new index and deletes the key, which is still garbage.
    let again = decide(client).await;
    let outcome = delete_all(&applier, &again.deletions).await;
    let deleted: Vec<&str> = outcome.deleted.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(deleted, [TRIGGER]);
}

#[tokio::test]
async fn keys_outside_the_prefix_are_reported_and_never_deleted() {
    let consul = ConsulDev::start();
    let registry = Registry::new();
    let applier = applier(&consul, &registry);
    let client = &applier.consul;
    client.kv_put(OUTSIDE, b"token", 0).await.unwrap();
    client.kv_put("shepard/notes", b"hello", 0).await.unwrap();

    let decided = decide(client).await;
    assert!(decided.deletions.is_empty(), "{:?}", decided.deletions);
    let problems: Vec<(ProblemKind, &str)> = decided
        .decision
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::ReportProblem(p) => Some((p.kind, p.subject.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        problems,
        [
            (ProblemKind::KeyOutsidePrefix, OUTSIDE),
            (ProblemKind::UnknownKey, "shepard/notes"),
        ]
    );
    delete_all(&applier, &decided.deletions).await;
    for key in [OUTSIDE, "shepard/notes"] {
        let pair = client.kv_get(key, Consistency::Consistent).await.unwrap();
        assert!(pair.is_some(), "{key} survives");
    }
}
