//! KV transactions against a real Consul dev agent: the index-checked lock, unlock and claim
//! writes the agent builds its slot discipline on. The case that matters most: one session
//! (one agent) cannot take over a slot it already holds for another allocation from an older
//! listing, although a plain `?acquire=` by the same session would succeed.

use std::time::Duration;

use shepard::api_metrics::ApiMetrics;
use shepard::consul::{Consistency, ConsulClient, ConsulError, SessionRequest, TxnOp};
use shepard::tls::TlsConfig;
use shepard_testkit::ConsulDev;

const SLOT: &str = "shepard/locks/default/web/web/server/restart_lock/0";
const RECORD: &str = "shepard/state/vm/a1/server";

fn client(consul: &ConsulDev) -> ConsulClient {
    ConsulClient::new(
        &consul.http_addr(),
        None,
        &TlsConfig::default(),
        ApiMetrics::unregistered(),
    )
    .unwrap()
}

async fn session(client: &ConsulClient) -> String {
    client
        .session_create(&SessionRequest {
            name: "txn-test".into(),
            ttl: Some(Duration::from_secs(30)),
            lock_delay: Some(Duration::ZERO),
            ..Default::default()
        })
        .await
        .unwrap()
}

fn lock(session: &str, holder: &str) -> TxnOp {
    TxnOp::Lock {
        key: SLOT.into(),
        session: session.into(),
        value: holder.as_bytes().to_vec(),
        flags: 7,
    }
}

async fn slot(client: &ConsulClient) -> (String, Option<String>, u64) {
    let pair = client
        .kv_get(SLOT, Consistency::Consistent)
        .await
        .unwrap()
        .unwrap();
    (
        String::from_utf8(pair.value).unwrap(),
        pair.session,
        pair.modify_index,
    )
}

fn assert_refused(result: Result<(), ConsulError>, key: &str) {
    match result {
        Err(ConsulError::Refused { key: k, .. }) => assert_eq!(k, key),
        other => panic!("expected a refused transaction on {key}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cannot_take_over_its_own_slot_from_an_old_listing() {
    let consul = ConsulDev::start();
    let client = client(&consul);
    let s = session(&client).await;

    // a1 takes the free slot: the listing showed no key.
    let absent = TxnOp::CheckNotExists { key: SLOT.into() };
    client
        .kv_txn(&[absent.clone(), lock(&s, "a1")])
        .await
        .unwrap();
    let (value, holder, index) = slot(&client).await;
    assert_eq!(
        (value.as_str(), holder.as_deref()),
        ("a1", Some(s.as_str()))
    );

    // a2 decided from the same old listing (no key): refused, a1 keeps the slot. A plain
    // acquire by the same session would have overwritten the holder.
    assert_refused(client.kv_txn(&[absent, lock(&s, "a2")]).await, SLOT);
    assert_eq!(slot(&client).await.0, "a1");

    // With the current index the same session may re-acquire (a1 renewing its holder).
    let current = TxnOp::CheckIndex {
        key: SLOT.into(),
        index,
    };
    client
        .kv_txn(&[current.clone(), lock(&s, "a1-again")])
        .await
        .unwrap();
    let (value, _, moved) = slot(&client).await;
    assert_eq!(value, "a1-again");
    assert!(moved > index);

    // A release from the listing before that write is refused too; from the current one
    // it clears holder and value and keeps the flags.
    let unlock = TxnOp::Unlock {
        key: SLOT.into(),
        session: s.clone(),
        value: Vec::new(),
        flags: 7,
    };
    assert_refused(client.kv_txn(&[current, unlock.clone()]).await, SLOT);
    let now = TxnOp::CheckIndex {
        key: SLOT.into(),
        index: moved,
    };
    client.kv_txn(&[now, unlock]).await.unwrap();
    let pair = client
        .kv_get(SLOT, Consistency::Consistent)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (pair.session, pair.value.len(), pair.flags),
        (None, 0usize, 7)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_is_written_only_while_its_lock_is_as_observed() {
    let consul = ConsulDev::start();
    let client = client(&consul);
    let s = session(&client).await;
    client
        .kv_txn(&[TxnOp::CheckNotExists { key: SLOT.into() }, lock(&s, "a1")])
        .await
        .unwrap();
    let (_, _, index) = slot(&client).await;
    let claim = |value: &str, cas: u64| TxnOp::Cas {
        key: RECORD.into(),
        value: value.as_bytes().to_vec(),
        flags: 0,
        index: cas,
    };
    let lock_at = |index: u64| TxnOp::CheckIndex {
        key: SLOT.into(),
        index,
    };

    client
        .kv_txn(&[lock_at(index), claim("claim-1", 0)])
        .await
        .unwrap();
    let record = client
        .kv_get(RECORD, Consistency::Consistent)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.value, b"claim-1");

    // The lock moves (another allocation of the node took it over): the claim from the old
    // listing rolls back as a whole, the record keeps its value.
    client
        .kv_txn(&[lock_at(index), lock(&s, "a2")])
        .await
        .unwrap();
    assert_refused(
        client
            .kv_txn(&[lock_at(index), claim("claim-2", record.modify_index)])
            .await,
        SLOT,
    );
    let after = client
        .kv_get(RECORD, Consistency::Consistent)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (after.value, after.modify_index),
        (b"claim-1".to_vec(), record.modify_index)
    );

    // A stale CAS index on the record is refused with the record's key.
    let (_, _, current) = slot(&client).await;
    assert_refused(
        client
            .kv_txn(&[lock_at(current), claim("claim-3", 1)])
            .await,
        RECORD,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_in_a_transaction_reports_held_locks_and_invalid_sessions() {
    let consul = ConsulDev::start();
    let client = client(&consul);
    let s1 = session(&client).await;
    let s2 = session(&client).await;
    client.kv_txn(&[lock(&s1, "a1")]).await.unwrap();
    assert_refused(client.kv_txn(&[lock(&s2, "b1")]).await, SLOT);

    client.session_destroy(&s2).await.unwrap();
    match client.kv_txn(&[lock(&s2, "b1")]).await {
        Err(ConsulError::InvalidSession { session, .. }) => assert_eq!(session, s2),
        other => panic!("expected an invalid session, got {other:?}"),
    }
    assert_eq!(slot(&client).await.0, "a1");
}

/// The trigger's transaction when the agent stalls between reading the rollout as rolling and
/// writing: an operator's pause in between makes Consul refuse the whole write.
#[tokio::test]
async fn a_trigger_is_refused_when_the_rollout_changed_after_it_was_read() {
    const ROLLOUT: &str = "shepard/rollouts/default/web/web/server";
    const TRIGGER: &str = "shepard/keys/vm/default/web/web/server/a1";
    let consul = ConsulDev::start();
    let client = client(&consul);
    let s = session(&client).await;
    client.kv_txn(&[lock(&s, "a1")]).await.unwrap();
    client.kv_put(ROLLOUT, b"rolling", 0).await.unwrap();
    let read = client
        .kv_get(ROLLOUT, Consistency::Consistent)
        .await
        .unwrap()
        .unwrap()
        .modify_index;
    let trigger = |index| {
        vec![
            TxnOp::CheckSession {
                key: SLOT.into(),
                session: s.clone(),
            },
            TxnOp::unchanged(ROLLOUT, Some(index)),
            TxnOp::Set {
                key: TRIGGER.into(),
                value: b"tok".to_vec(),
                flags: 0,
            },
        ]
    };
    // The stall: the operator pauses the rollout.
    client.kv_put(ROLLOUT, b"paused", 0).await.unwrap();
    assert_refused(client.kv_txn(&trigger(read)).await, ROLLOUT);
    let written = client
        .kv_get(TRIGGER, Consistency::Consistent)
        .await
        .unwrap();
    assert!(written.is_none(), "{written:?}");

    // At the current index but without the slot: refused on the slot.
    let current = client
        .kv_get(ROLLOUT, Consistency::Consistent)
        .await
        .unwrap()
        .unwrap()
        .modify_index;
    client
        .kv_txn(&[TxnOp::Unlock {
            key: SLOT.into(),
            session: s.clone(),
            value: Vec::new(),
            flags: 7,
        }])
        .await
        .unwrap();
    let result = client.kv_txn(&trigger(current)).await;
    assert!(result.is_err(), "{result:?}");
    assert!(
        client
            .kv_get(TRIGGER, Consistency::Consistent)
            .await
            .unwrap()
            .is_none()
    );
}
