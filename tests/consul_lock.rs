//! The lock recipe against a real Consul dev agent: one winner per race, lock-delay after
//! the winner's session is destroyed, and releases that keep the key's value and flags.

use std::time::{Duration, Instant};

use shepard::api_metrics::ApiMetrics;
use shepard::consul::{
    Consistency, ConsulClient, LOCK_FLAG_VALUE, Lock, LockAttempt, Semaphore, SessionRequest,
    SlotHolder,
};
use shepard::tls::TlsConfig;
use shepard_testkit::ConsulDev;

fn client(consul: &ConsulDev) -> ConsulClient {
    ConsulClient::new(
        &consul.http_addr(),
        None,
        &TlsConfig::default(),
        ApiMetrics::unregistered(),
    )
    .expect("client")
}

async fn session(client: &ConsulClient, name: &str, lock_delay: Duration) -> String {
    let request = SessionRequest {
        name: name.into(),
        ttl: Some(Duration::from_secs(30)),
        lock_delay: Some(lock_delay),
        ..Default::default()
    };
    client.session_create(&request).await.expect("session")
}

#[tokio::test]
async fn one_of_two_racing_sessions_wins_and_the_other_waits_out_the_lock_delay() {
    let consul = ConsulDev::start();
    let client = client(&consul);
    let lock_delay = Duration::from_secs(2);
    let a = session(&client, "a", lock_delay).await;
    let b = session(&client, "b", lock_delay).await;
    let lock_a = Lock::new(
        client.clone(),
        "shepard/locks/ns/job/group/task/task_lock",
        "a",
    );
    let lock_b = Lock::new(
        client.clone(),
        "shepard/locks/ns/job/group/task/task_lock",
        "b",
    );

    let (ra, rb) = tokio::join!(lock_a.try_acquire(&a), lock_b.try_acquire(&b));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let (winner, loser, loser_lock) = match (&ra, &rb) {
        (LockAttempt::Acquired, LockAttempt::HeldBy(h)) if *h == a => (&a, &b, &lock_b),
        (LockAttempt::HeldBy(h), LockAttempt::Acquired) if *h == b => (&b, &a, &lock_a),
        other => panic!("exactly one must win: {other:?}"),
    };
    assert!(lock_a.is_held_by(winner).await.unwrap());
    assert!(!lock_a.is_held_by(loser).await.unwrap());
    // Trying again changes nothing.
    assert_eq!(
        loser_lock.try_acquire(loser).await.unwrap(),
        LockAttempt::HeldBy(winner.clone())
    );

    let destroyed_at = Instant::now();
    client.session_destroy(winner).await.unwrap();
    let mut refusals = 0;
    let acquired_after = loop {
        match loser_lock.try_acquire(loser).await.unwrap() {
            LockAttempt::Acquired => break destroyed_at.elapsed(),
            LockAttempt::LockDelay => refusals += 1,
            LockAttempt::HeldBy(h) => panic!("held by {h} after its holder was destroyed"),
        }
        assert!(
            destroyed_at.elapsed() < lock_delay + Duration::from_secs(5),
            "lock-delay never ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("acquired {acquired_after:?} after destroy, {refusals} refusals (lock-delay)");
    assert!(refusals > 0, "the first attempt must meet the lock-delay");
    assert!(acquired_after >= lock_delay, "{acquired_after:?}");
    assert!(
        acquired_after < lock_delay + Duration::from_millis(1500),
        "{acquired_after:?}"
    );
    assert!(loser_lock.is_held_by(loser).await.unwrap());
}

#[tokio::test]
async fn release_keeps_value_and_flags() {
    let consul = ConsulDev::start();
    let client = client(&consul);
    let s = session(&client, "holder", Duration::from_secs(1)).await;

    // Plain kv_acquire/kv_release, resending what the key holds.
    let key = "shepard/pitfall/release";
    client.kv_acquire(key, &s, b"v", 7).await.unwrap();
    client.kv_release(key, &s, b"v", 7).await.unwrap();
    let pair = client
        .kv_get(key, Consistency::Consistent)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (pair.value.as_slice(), pair.flags, pair.session),
        (&b"v"[..], 7, None)
    );

    // The pitfall this guards against is real: a bare release wipes both.
    let bare = "shepard/pitfall/bare";
    client.kv_acquire(bare, &s, b"v", 7).await.unwrap();
    client.kv_release(bare, &s, b"", 0).await.unwrap();
    let pair = client
        .kv_get(bare, Consistency::Default)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((pair.value.len(), pair.flags), (0, 0));

    // The lock recipe.
    let lock = Lock::new(client.clone(), "shepard/locks/l", r#"{"holder":"vm"}"#);
    assert_eq!(lock.try_acquire(&s).await.unwrap(), LockAttempt::Acquired);
    assert!(lock.release(&s).await.unwrap());
    assert!(!lock.release(&s).await.unwrap(), "second release: not held");
    let pair = client
        .kv_get(lock.key(), Consistency::Default)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pair.value, br#"{"holder":"vm"}"#);
    assert_eq!(pair.flags, LOCK_FLAG_VALUE);
    assert_eq!(pair.session, None);

    // A restart slot keeps its last holder's record.
    let slots = Semaphore::new(client.clone(), "shepard/locks/ns/j/g/t/restart_lock", 2);
    let holder = SlotHolder {
        alloc_id: "9f3c".into(),
        node: "vm".into(),
        acquired_at: "2026-01-01T00:00:00Z".into(),
    };
    let n = slots
        .try_acquire(&s, &holder.to_json())
        .await
        .unwrap()
        .unwrap();
    assert!(slots.release(&s, n).await.unwrap());
    let pair = client
        .kv_get(&slots.slot_key(n), Consistency::Default)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<SlotHolder>(&pair.value).unwrap(),
        holder
    );
    assert_eq!(pair.flags, shepard::consul::SLOT_FLAG_VALUE);
    assert_eq!(pair.session, None);
}
