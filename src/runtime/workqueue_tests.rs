//! Work queue semantics, in tokio's virtual time.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::*;

fn queue() -> (WorkQueue<&'static str>, QueueMetrics) {
    let metrics = QueueMetrics::unregistered("task");
    (WorkQueue::new(metrics.clone(), Backoff::default()), metrics)
}

/// `get`, or `None` if nothing became ready within `within` (virtual time).
async fn get_within(q: &WorkQueue<&'static str>, within: Duration) -> Option<&'static str> {
    tokio::time::timeout(within, q.get()).await.ok().flatten()
}

#[tokio::test(start_paused = true)]
async fn a_key_added_twice_is_handed_out_once() {
    let (q, metrics) = queue();
    q.add("a");
    q.add("a");
    assert_eq!(q.len(), 1);
    assert_eq!(metrics.adds.get(), 2);
    assert_eq!(metrics.depth.get(), 1);
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(metrics.depth.get(), 0);
    assert_eq!(get_within(&q, Duration::from_secs(60)).await, None);
}

#[tokio::test(start_paused = true)]
async fn keys_come_out_in_the_order_they_were_added() {
    let (q, _) = queue();
    for key in ["c", "a", "b"] {
        q.add(key);
    }
    assert_eq!(q.get().await, Some("c"));
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(q.get().await, Some("b"));
}

#[tokio::test(start_paused = true)]
async fn a_key_being_processed_is_not_handed_out_again_until_done() {
    let (q, _) = queue();
    q.add("a");
    assert_eq!(q.get().await, Some("a"));
    q.add("a");
    q.add("a");
    assert_eq!(get_within(&q, Duration::from_secs(60)).await, None);
    q.done(&"a");
    assert_eq!(q.get().await, Some("a"));
    q.done(&"a");
    assert_eq!(get_within(&q, Duration::from_secs(60)).await, None);
}

#[tokio::test(start_paused = true)]
async fn add_after_hands_the_key_out_when_due() {
    let (q, _) = queue();
    let start = Instant::now();
    q.add_after("a", Duration::from_secs(5));
    assert!(q.is_empty());
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn the_earliest_schedule_wins() {
    let (q, _) = queue();
    let start = Instant::now();
    q.add_after("a", Duration::from_secs(10));
    q.add_after("a", Duration::from_secs(3));
    q.add_after("a", Duration::from_secs(7));
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    q.done(&"a");
    assert_eq!(get_within(&q, Duration::from_secs(60)).await, None);
}

#[tokio::test(start_paused = true)]
async fn a_schedule_made_while_a_worker_waits_wakes_it_in_time() {
    let (q, _) = queue();
    q.add_after("late", Duration::from_secs(30));
    let waiter = tokio::spawn({
        let q = q.clone();
        async move {
            let key = q.get().await;
            (key, Instant::now())
        }
    });
    tokio::task::yield_now().await;
    let start = Instant::now();
    q.add_after("soon", Duration::from_secs(2));
    let (key, at) = waiter.await.unwrap();
    assert_eq!(key, Some("soon"));
    assert_eq!(at - start, Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn handing_a_key_out_cancels_its_schedule() {
    let (q, _) = queue();
    q.add_after("a", Duration::from_secs(10));
    q.add("a");
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(q.scheduled_at(&"a"), None);
    q.done(&"a");
    assert_eq!(get_within(&q, Duration::from_secs(60)).await, None);
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_exponentially_up_to_the_cap_and_forget_resets() {
    let metrics = QueueMetrics::unregistered("task");
    let backoff = Backoff {
        base: Duration::from_millis(100),
        cap: Duration::from_secs(1),
    };
    let q = WorkQueue::new(metrics.clone(), backoff);
    let mut delays = Vec::new();
    for _ in 0..6 {
        let start = Instant::now();
        let promised = q.add_rate_limited("a");
        assert_eq!(q.get().await, Some("a"));
        assert_eq!(start.elapsed(), promised);
        delays.push(promised.as_millis());
        q.done(&"a");
    }
    assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000]);
    assert_eq!(metrics.retries.get(), 6);
    q.forget(&"a");
    assert_eq!(q.failures(&"a"), 0);
    assert_eq!(q.add_rate_limited("a"), Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn shutting_down_releases_waiting_workers() {
    let (q, _) = queue();
    let waiter = tokio::spawn({
        let q = q.clone();
        async move { q.get().await }
    });
    tokio::task::yield_now().await;
    q.shut_down();
    assert_eq!(waiter.await.unwrap(), None);
    q.add("a");
    assert_eq!(q.get().await, None);
}

#[tokio::test(start_paused = true)]
async fn queue_duration_is_the_time_a_key_waited() {
    let (q, metrics) = queue();
    q.add("a");
    tokio::time::advance(Duration::from_millis(250)).await;
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(metrics.queue_duration.get_sample_count(), 1);
    let waited = metrics.queue_duration.get_sample_sum();
    assert!((waited - 0.25).abs() < 1e-6, "waited {waited}");
}

/// Several workers and a stream of adds: no key is ever held by two workers at once, and every
/// key added is reconciled after its last add.
#[tokio::test(start_paused = true)]
async fn concurrent_workers_never_share_a_key() {
    let q: WorkQueue<u32> = WorkQueue::new(QueueMetrics::unregistered("task"), Backoff::default());
    let in_flight = Arc::new(Mutex::new(HashSet::new()));
    let reconciled = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (q, in_flight, reconciled) = (q.clone(), in_flight.clone(), reconciled.clone());
        workers.push(tokio::spawn(async move {
            while let Some(key) = q.get().await {
                assert!(in_flight.lock().unwrap().insert(key), "{key} held twice");
                tokio::time::sleep(Duration::from_millis(u64::from(key % 3) + 1)).await;
                in_flight.lock().unwrap().remove(&key);
                reconciled.lock().unwrap().push((key, Instant::now()));
                q.done(&key);
            }
        }));
    }
    let mut last_add = std::collections::HashMap::new();
    for round in 0..200u32 {
        let key = round.wrapping_mul(7) % 5;
        q.add(key);
        last_add.insert(key, Instant::now());
        tokio::time::sleep(Duration::from_micros(700)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    q.shut_down();
    for worker in workers {
        worker.await.unwrap();
    }
    let reconciled = reconciled.lock().unwrap();
    for (key, added) in last_add {
        assert!(
            reconciled.iter().any(|(k, at)| *k == key && *at >= added),
            "key {key} was not reconciled after its last add"
        );
    }
}
