//! The restart-slot semaphore under contention against a real Consul dev agent: five
//! contenders, limit 2, an observer that never sees more than two holders.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use shepard::api_metrics::ApiMetrics;
use shepard::consul::{Consistency, ConsulClient, Semaphore, SessionRequest, SlotHolder};
use shepard::tls::TlsConfig;
use shepard_testkit::ConsulDev;

const BASE: &str = "shepard/locks/default/web/web/server/restart_lock";
const LIMIT: u32 = 2;
const CONTENDERS: usize = 5;
const ROUNDS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_contenders_never_exceed_two_slots() {
    let consul = ConsulDev::start();
    let client = ConsulClient::new(
        &consul.http_addr(),
        None,
        &TlsConfig::default(),
        ApiMetrics::unregistered(),
    )
    .unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let observer = {
        let client = client.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let (mut reads, mut max_held) = (0usize, 0usize);
            while !done.load(Ordering::SeqCst) {
                let pairs = client
                    .kv_list(&format!("{BASE}/"), Consistency::Consistent)
                    .await
                    .unwrap();
                let held = pairs.iter().filter(|p| p.session.is_some()).count();
                max_held = max_held.max(held);
                reads += 1;
            }
            (reads, max_held)
        })
    };

    let mut contenders = Vec::new();
    for c in 0..CONTENDERS {
        let client = client.clone();
        contenders.push(tokio::spawn(async move {
            let session = client
                .session_create(&SessionRequest {
                    name: format!("contender-{c}"),
                    ttl: Some(Duration::from_secs(30)),
                    lock_delay: Some(Duration::ZERO),
                    ..Default::default()
                })
                .await
                .unwrap();
            let slots = Semaphore::new(client.clone(), BASE, LIMIT);
            let holder = SlotHolder {
                alloc_id: format!("alloc-{c}"),
                node: "vm".into(),
                acquired_at: "2026-01-01T00:00:00Z".into(),
            };
            let (mut acquired, mut attempts) = (0usize, 0usize);
            while acquired < ROUNDS {
                attempts += 1;
                assert!(attempts < 2000, "contender {c} starved");
                let Some(n) = slots
                    .try_acquire(&session, &holder.to_json())
                    .await
                    .unwrap()
                else {
                    // Polling stands in for the agent's watch of the slot keys.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                assert!(n < LIMIT);
                assert!(slots.holds(&session, n).await.unwrap());
                // The restart itself: hold the slot for a moment.
                tokio::time::sleep(Duration::from_millis(40)).await;
                assert!(slots.release(&session, n).await.unwrap());
                acquired += 1;
            }
            client.session_destroy(&session).await.unwrap();
            (c, acquired, attempts)
        }));
    }
    for contender in contenders {
        let (c, acquired, attempts) = contender.await.unwrap();
        println!("contender {c}: {acquired} slots in {attempts} attempts");
        assert_eq!(acquired, ROUNDS);
    }
    done.store(true, Ordering::SeqCst);
    let (reads, max_held) = observer.await.unwrap();
    println!("observer: {reads} consistent reads, at most {max_held} holders");
    assert!(reads > 10, "the observer must have looked");
    assert!(max_held <= LIMIT as usize, "{max_held} holders");
    assert_eq!(max_held, LIMIT as usize, "contention must fill both slots");
}
