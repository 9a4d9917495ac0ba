//! Session expiry and the renewal task against a real Consul dev agent: a session that
//! stops renewing expires after TTL..2×TTL and frees its slots, and the renewal task
//! reports the session lost.

use std::time::{Duration, Instant};

use prometheus::Registry;
use shepard::api_metrics::ApiMetrics;
use shepard::consul::{
    ConsulClient, LostReason, Semaphore, SessionHealth, SessionKeeper, SessionLease, SessionRequest,
};
use shepard::tls::TlsConfig;
use shepard_testkit::{ConsulDev, TcpProxy, poll};

const TTL: Duration = Duration::from_secs(10); // Consul's minimum
const BASE: &str = "shepard/locks/default/web/web/server/restart_lock";

fn client(addr: &str, metrics: ApiMetrics) -> ConsulClient {
    ConsulClient::new(addr, None, &TlsConfig::default(), metrics).unwrap()
}

async fn ttl_session(client: &ConsulClient, name: &str) -> String {
    let request = SessionRequest {
        name: name.into(),
        ttl: Some(TTL),
        lock_delay: Some(Duration::ZERO),
        ..Default::default()
    };
    client.session_create(&request).await.unwrap()
}

/// `shepard_api_requests_total{api="consul",op,code}` from `registry`.
fn requests(registry: &Registry, op: &str, code: &str) -> u64 {
    let labels = [("api", "consul"), ("op", op), ("code", code)];
    registry
        .gather()
        .iter()
        .filter(|family| family.name() == "shepard_api_requests_total")
        .flat_map(|family| family.get_metric())
        .filter(|metric| {
            labels.iter().all(|(name, value)| {
                metric
                    .get_label()
                    .iter()
                    .any(|l| l.name() == *name && l.value() == *value)
            })
        })
        .map(|metric| metric.get_counter().get_value() as u64)
        .sum()
}

#[tokio::test]
async fn a_session_that_stops_renewing_expires_and_frees_its_slots() {
    let consul = ConsulDev::start();
    let direct = client(&consul.http_addr(), ApiMetrics::unregistered());
    let slots = Semaphore::new(direct.clone(), BASE, 2);

    // A is kept alive through a proxy that the test will cut; B is never renewed.
    let proxy = TcpProxy::start(consul.http_port()).await;
    let registry = Registry::new();
    let keeper_metrics = ApiMetrics::register(&registry).unwrap();
    let through_proxy = client(&proxy.http_addr(), keeper_metrics.clone())
        .with_request_timeout(Duration::from_secs(2));
    let a = ttl_session(&direct, "renewed").await;
    let keeper = SessionKeeper::spawn(through_proxy, a.clone(), TTL, SessionLease::default());
    let b = ttl_session(&direct, "never-renewed").await;
    let b_created = Instant::now();
    assert_eq!(slots.try_acquire(&a, b"a").await.unwrap(), Some(0));
    assert_eq!(slots.try_acquire(&b, b"b").await.unwrap(), Some(1));

    poll::until_async(
        "a successful renewal",
        TTL,
        Duration::from_millis(100),
        || async { (requests(&registry, "session_renew", "200") > 0).then_some(()) },
    )
    .await;
    assert!(keeper.is_held());

    proxy.block();
    let blocked = Instant::now();
    let mut health = keeper.subscribe();
    tokio::time::timeout(TTL + Duration::from_secs(2), health.changed())
        .await
        .expect("the keeper must report the session lost within one TTL")
        .unwrap();
    let lost_after = blocked.elapsed();
    println!("keeper reported the session lost {lost_after:?} after the cut");
    assert_eq!(*health.borrow(), SessionHealth::Lost(LostReason::Expired));
    // The last renewal succeeded at most TTL/2 before the cut.
    assert!(
        lost_after >= TTL / 2 - Duration::from_millis(500),
        "{lost_after:?}"
    );
    assert!(
        lost_after <= TTL + Duration::from_millis(500),
        "{lost_after:?}"
    );
    assert!(keeper_metrics.session_renew_failures() > 0);

    // Consul invalidates each session TTL..2×TTL after its last renewal; Behavior=release
    // leaves the slot keys in place without a holder.
    let (mut a_free, mut b_free) = (None, None);
    let deadline = blocked + 2 * TTL + Duration::from_secs(5);
    while a_free.is_none() || b_free.is_none() {
        assert!(
            Instant::now() < deadline,
            "slots still held: a {a_free:?} b {b_free:?}"
        );
        for slot in slots.slots().await.unwrap() {
            let freed = if slot.n == 0 {
                &mut a_free
            } else {
                &mut b_free
            };
            if slot.holder.is_none() && freed.is_none() {
                *freed = Some(Instant::now());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let b_expired = b_free.unwrap() - b_created;
    let a_expired = a_free.unwrap() - blocked;
    println!(
        "never-renewed session expired after {b_expired:?}; renewed one {a_expired:?} after the cut"
    );
    assert!(b_expired >= TTL, "{b_expired:?}");
    assert!(
        b_expired <= 2 * TTL + Duration::from_secs(2),
        "{b_expired:?}"
    );
    assert!(
        a_expired <= 2 * TTL + Duration::from_secs(2),
        "{a_expired:?}"
    );
    assert_eq!(direct.session_info(&a).await.unwrap(), None);
    assert_eq!(direct.session_info(&b).await.unwrap(), None);
    // The freed slots can be taken again.
    let c = ttl_session(&direct, "next").await;
    assert_eq!(slots.try_acquire(&c, b"c").await.unwrap(), Some(0));
}

#[tokio::test]
async fn a_destroyed_session_is_reported_lost_at_the_next_renewal() {
    let consul = ConsulDev::start();
    let metrics = ApiMetrics::unregistered();
    let client = client(&consul.http_addr(), metrics.clone());
    let id = ttl_session(&client, "destroyed").await;
    let lease = SessionLease::default();
    let keeper = SessionKeeper::spawn(client.clone(), id.clone(), TTL, lease.clone());
    let mut health = keeper.subscribe();
    client.session_destroy(&id).await.unwrap();
    let destroyed = Instant::now();
    tokio::time::timeout(TTL, health.changed())
        .await
        .expect("lost at the next renewal")
        .unwrap();
    assert_eq!(
        *health.borrow(),
        SessionHealth::Lost(LostReason::Invalidated)
    );
    assert!(destroyed.elapsed() <= TTL / 2 + Duration::from_secs(1));
    assert!(!keeper.is_held());
    assert_eq!(
        lease.remaining(&id),
        None,
        "a lost session is never certain"
    );
    assert_eq!(metrics.session_renew_failures(), 1);
}
