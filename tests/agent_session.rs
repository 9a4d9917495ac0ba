//! The agent's session against a real Consul: created and registered, replaced when Consul
//! invalidates it, destroyed (locks released) on shutdown.

use std::time::Duration;

use shepard::agent::session::{AgentSession, Registration, SessionSettings};
use shepard::api_metrics::ApiMetrics;
use shepard::consul::{Consistency, ConsulClient};
use shepard::telemetry::{Readiness, readiness};
use shepard::tls::TlsConfig;
use shepard_testkit::{ConsulDev, poll};

const REGISTRATION: &str = "shepard/agents/node-a";

fn client(consul: &ConsulDev) -> ConsulClient {
    ConsulClient::new(
        &consul.http_addr(),
        None,
        &TlsConfig::default(),
        ApiMetrics::unregistered(),
    )
    .unwrap()
}

/// The session holding the registration key, once it is `expected` (or not held, for `None`).
async fn registration_holder(consul: &ConsulClient, expected: Option<&str>) {
    poll::until_async(
        "the registration to be held by the expected session",
        Duration::from_secs(15),
        Duration::from_millis(20),
        || async {
            let pair = consul
                .kv_get(REGISTRATION, Consistency::Consistent)
                .await
                .ok()??;
            (pair.session.as_deref() == expected).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn session_is_created_replaced_when_lost_and_destroyed_on_shutdown() {
    let dev = ConsulDev::start();
    let consul = client(&dev);
    let readiness = Readiness::new();
    let settings = SessionSettings {
        name: "shepard-agent node-a".into(),
        ttl: Duration::from_secs(10),
        lock_delay: Duration::from_millis(500),
    };
    let registration = Registration {
        key: REGISTRATION.into(),
        value: br#"{"version":"test"}"#.to_vec(),
    };
    let session = AgentSession::spawn(
        consul.clone(),
        settings,
        registration,
        readiness.register(readiness::SESSION),
    );
    let mut current = session.current();

    let first = current
        .wait_for(Option::is_some)
        .await
        .unwrap()
        .clone()
        .unwrap();
    registration_holder(&consul, Some(&first)).await;
    assert!(readiness.is_ready());
    let value = consul.kv_get_raw(REGISTRATION).await.unwrap().unwrap();
    assert_eq!(value, br#"{"version":"test"}"#);

    // Consul invalidates the session (an operator, or a failed node check): the agent notices
    // at its next renewal, publishes "no session", and makes a new one that registers again
    // once the lock delay has passed.
    consul.session_destroy(&first).await.unwrap();
    let second = current
        .wait_for(|s| s.as_deref().is_some_and(|id| id != first))
        .await
        .unwrap()
        .clone()
        .unwrap();
    registration_holder(&consul, Some(&second)).await;

    session.shutdown().await;
    assert_eq!(consul.session_info(&second).await.unwrap(), None);
    registration_holder(&consul, None).await;
}
