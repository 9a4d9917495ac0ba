//! The guards of a restart, against a real Consul: a trigger key is written in one transaction
//! with its checks (slot locked by our session, rollout unchanged since it was read as
//! rolling), and a restart call to Nomad goes out only while the session is certainly alive.
//! Nomad is a real HTTP server here that counts restart calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use prometheus::Registry;
use shepard::agent::metrics::DomainMetrics;
use shepard::api_metrics::ApiMetrics;
use shepard::apply::{Applier, ApplyError};
use shepard::consul::{Consistency, ConsulClient, SessionLease, SessionRequest};
use shepard::nomad::{NomadClient, NomadClientOptions};
use shepard::tls::TlsConfig;
use shepard_reconcilers::model::{RolloutRecord, RolloutState, SessionId};
use shepard_reconcilers::{Action, LockGuard, RolloutGuard, Timestamp};
use shepard_testkit::ConsulDev;

const SLOT: &str = "shepard/locks/default/web/web/app/restart_lock/0";
const ROLLOUT: &str = "shepard/rollouts/default/web/web/app";
const TRIGGER: &str = "shepard/keys/n1/default/web/web/app/a1";

struct Setup {
    consul: ConsulClient,
    applier: Applier,
    session: String,
    restart_calls: Arc<AtomicUsize>,
    _dev: ConsulDev,
}

/// A Nomad stand-in answering every restart call with `{"Index":0}` after `delay` (Nomad
/// answers once the old process has exited), counting them.
async fn nomad_counting_restarts(delay: Duration) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = axum::Router::new().route(
        "/v1/client/allocation/{id}/restart",
        axum::routing::post(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(delay).await;
                axum::Json(serde_json::json!({"Index": 0}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), calls)
}

async fn setup(lease_ttl: Option<Duration>) -> Setup {
    setup_with(lease_ttl, Duration::ZERO).await
}

/// As `setup`; Nomad takes `restart_delay` to answer a restart call, and the client waits 500 ms.
async fn setup_with(lease_ttl: Option<Duration>, restart_delay: Duration) -> Setup {
    let dev = ConsulDev::start();
    let consul = ConsulClient::new(
        &dev.http_addr(),
        None,
        &TlsConfig::default(),
        ApiMetrics::unregistered(),
    )
    .unwrap();
    let (nomad_addr, restart_calls) = nomad_counting_restarts(restart_delay).await;
    let mut options = NomadClientOptions::new(&nomad_addr);
    options.request_timeout = Duration::from_millis(500);
    let nomad = NomadClient::new(options, ApiMetrics::unregistered()).unwrap();
    let session = consul
        .session_create(&SessionRequest {
            name: "guards".into(),
            ttl: Some(Duration::from_secs(30)),
            lock_delay: Some(Duration::ZERO),
            ..Default::default()
        })
        .await
        .unwrap();
    let lease = SessionLease::default();
    if let Some(ttl) = lease_ttl {
        lease.renewed(&session, tokio::time::Instant::now(), ttl);
    }
    let applier = Applier {
        consul: consul.clone(),
        nomad,
        metrics: DomainMetrics::register(&Registry::new()).unwrap(),
        lease,
    };
    consul.kv_acquire(SLOT, &session, b"a1", 0).await.unwrap();
    put_rollout(&consul, RolloutState::Rolling).await;
    Setup {
        consul,
        applier,
        session,
        restart_calls,
        _dev: dev,
    }
}

async fn put_rollout(consul: &ConsulClient, state: RolloutState) {
    let record = RolloutRecord {
        id: "r1".into(),
        generation: 1,
        state,
        max_parallel: 1,
        min_healthy_time: Duration::from_secs(1),
        healthy_deadline: Duration::from_secs(60),
        instance_count: 2,
        reason: String::new(),
        created_at: Timestamp::EPOCH,
        created_by: "n1".into(),
        updated_at: Timestamp::EPOCH,
        finished_at: None,
        skipped: Default::default(),
        aborted_targets: None,
        progress: None,
    };
    consul
        .kv_put(ROLLOUT, record.to_json().as_bytes(), 0)
        .await
        .unwrap();
}

fn guards(s: &Setup) -> (LockGuard, Option<RolloutGuard>) {
    let lock = LockGuard {
        key: SLOT.into(),
        session: SessionId(s.session.clone()),
    };
    let rollout = RolloutGuard {
        key: ROLLOUT.into(),
        generation: 1,
        also_stuck: false,
    };
    (lock, Some(rollout))
}

fn write_trigger(s: &Setup) -> Action {
    let (guard, rollout) = guards(s);
    Action::WriteTrigger {
        key: TRIGGER.into(),
        token: "tok-1".into(),
        guard,
        rollout,
    }
}

fn call_restart(s: &Setup) -> Action {
    let (guard, rollout) = guards(s);
    Action::CallRestartApi {
        alloc_id: "a1".into(),
        task: "app".into(),
        guard,
        rollout,
    }
}

async fn trigger_value(consul: &ConsulClient) -> Option<Vec<u8>> {
    consul
        .kv_get(TRIGGER, Consistency::Consistent)
        .await
        .unwrap()
        .map(|p| p.value)
}

#[tokio::test]
async fn a_trigger_is_written_while_the_slot_is_ours_and_the_rollout_rolls() {
    let s = setup(None).await;
    s.applier.apply(&[write_trigger(&s)]).await.unwrap();
    assert_eq!(trigger_value(&s.consul).await, Some(b"tok-1".to_vec()));
}

#[tokio::test]
async fn no_trigger_once_the_rollout_is_paused() {
    let s = setup(None).await;
    put_rollout(&s.consul, RolloutState::Paused).await;
    let result = s.applier.apply(&[write_trigger(&s)]).await;
    assert!(matches!(result, Err(ApplyError::Refused(_))), "{result:?}");
    assert_eq!(trigger_value(&s.consul).await, None);
}

#[tokio::test]
async fn no_trigger_once_the_slot_is_released() {
    let s = setup(None).await;
    s.consul.kv_release(SLOT, &s.session, b"", 0).await.unwrap();
    let result = s.applier.apply(&[write_trigger(&s)]).await;
    assert!(matches!(result, Err(ApplyError::Refused(_))), "{result:?}");
    assert_eq!(trigger_value(&s.consul).await, None);
}

#[tokio::test]
async fn a_restart_call_goes_out_only_while_the_session_is_certainly_alive() {
    let alive = setup(Some(Duration::from_secs(30))).await;
    alive.applier.apply(&[call_restart(&alive)]).await.unwrap();
    assert_eq!(alive.restart_calls.load(Ordering::SeqCst), 1);

    // The slot is held and the rollout rolls, but the agent has not seen a renewal for longer
    // than the lease allows (a paused process, a partition): no call.
    let stale = setup(Some(Duration::from_millis(1))).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let result = stale.applier.apply(&[call_restart(&stale)]).await;
    assert!(matches!(result, Err(ApplyError::Refused(_))), "{result:?}");
    assert_eq!(stale.restart_calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_restart_call_that_times_out_is_not_a_failed_restart() {
    // Nomad is still stopping the old process when the client gives up: the call was taken.
    let s = setup_with(Some(Duration::from_secs(30)), Duration::from_secs(3)).await;
    s.applier.apply(&[call_restart(&s)]).await.unwrap();
    assert_eq!(s.restart_calls.load(Ordering::SeqCst), 1);
}
