//! A reconciler's work queue, with the semantics of controller-runtime's rate-limited queue:
//!
//! - a key is queued at most once, however often it is added before a worker takes it;
//! - a key is never handed to two workers at once: added while being processed, it is marked
//!   dirty and queued again when the worker calls [`WorkQueue::done`];
//! - [`WorkQueue::add_after`] schedules a key for later; of several schedules the earliest wins,
//!   and handing the key out cancels its schedule, because the reconcile that runs now decides
//!   its own next requeue (level-triggered: the latest pass is the only one that counts);
//! - [`WorkQueue::add_rate_limited`] schedules a failed key with per-key exponential backoff,
//!   reset by [`WorkQueue::forget`] after a success.
//!
//! Time comes from `tokio::time`, so tests drive the queue in virtual time.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::metrics::QueueMetrics;

/// Per-key exponential backoff for failed reconciles: `base × 2^(failures-1)`, capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(50),
            cap: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// Delay before retry number `failures` (1 for the first retry).
    pub fn delay(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(31);
        self.base.saturating_mul(1u32 << exponent).min(self.cap)
    }
}

/// A cloneable handle to one queue; all clones share it.
pub struct WorkQueue<K> {
    shared: Arc<Shared<K>>,
}

impl<K> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

struct Shared<K> {
    state: Mutex<State<K>>,
    /// Wakes waiting workers after anything that may make a key ready sooner.
    changed: Notify,
    metrics: QueueMetrics,
    backoff: Backoff,
}

struct State<K> {
    /// Keys ready to hand out, in order.
    ready: VecDeque<K>,
    /// The keys in `ready`, with when each became ready (for the queue-duration metric).
    ready_since: HashMap<K, Instant>,
    /// Keys a worker holds right now.
    processing: HashSet<K>,
    /// Keys added while being processed: queued again on `done`.
    dirty: HashSet<K>,
    /// Keys scheduled for later, with their (earliest) due time.
    scheduled: HashMap<K, Instant>,
    /// Consecutive failures per key, for backoff.
    failures: HashMap<K, u32>,
    shut_down: bool,
}

impl<K: Clone + Eq + Hash> State<K> {
    fn enqueue(&mut self, key: K, now: Instant) {
        if self.processing.contains(&key) {
            self.dirty.insert(key);
        } else if !self.ready_since.contains_key(&key) {
            self.ready_since.insert(key.clone(), now);
            self.ready.push_back(key);
        }
    }

    /// Moves every schedule that is due into the ready queue.
    fn promote_due(&mut self, now: Instant) {
        let due: Vec<K> = self
            .scheduled
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            self.scheduled.remove(&key);
            self.enqueue(key, now);
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.scheduled.values().min().copied()
    }
}

impl<K: Clone + Eq + Hash> WorkQueue<K> {
    pub fn new(metrics: QueueMetrics, backoff: Backoff) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    ready: VecDeque::new(),
                    ready_since: HashMap::new(),
                    processing: HashSet::new(),
                    dirty: HashSet::new(),
                    scheduled: HashMap::new(),
                    failures: HashMap::new(),
                    shut_down: false,
                }),
                changed: Notify::new(),
                metrics,
                backoff,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<K>> {
        // The state stays consistent even if a holder panicked: every mutation is a single
        // collection operation, so a poisoned lock is still safe to use.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn publish_depth(&self, state: &State<K>) {
        let depth = i64::try_from(state.ready.len()).unwrap_or(i64::MAX);
        self.shared.metrics.depth.set(depth);
    }

    /// Queues `key` now.
    pub fn add(&self, key: K) {
        let mut state = self.lock();
        if state.shut_down {
            return;
        }
        self.shared.metrics.adds.inc();
        state.enqueue(key, Instant::now());
        self.publish_depth(&state);
        drop(state);
        self.shared.changed.notify_waiters();
    }

    /// Queues `key` after `delay`; an earlier schedule of the same key is kept.
    pub fn add_after(&self, key: K, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let mut state = self.lock();
        if state.shut_down {
            return;
        }
        let at = Instant::now() + delay;
        let entry = state.scheduled.entry(key).or_insert(at);
        *entry = (*entry).min(at);
        drop(state);
        // A waiting worker may be sleeping towards a later deadline.
        self.shared.changed.notify_waiters();
    }

    /// Queues a key whose reconcile failed, after its backoff; returns that delay.
    pub fn add_rate_limited(&self, key: K) -> Duration {
        let delay = {
            let mut state = self.lock();
            let failures = state.failures.entry(key.clone()).or_insert(0);
            *failures = failures.saturating_add(1);
            self.shared.backoff.delay(*failures)
        };
        self.shared.metrics.retries.inc();
        self.add_after(key, delay);
        delay
    }

    /// Clears the failure count of `key` (after a successful reconcile).
    pub fn forget(&self, key: &K) {
        self.lock().failures.remove(key);
    }

    /// Consecutive failures recorded for `key`.
    pub fn failures(&self, key: &K) -> u32 {
        self.lock().failures.get(key).copied().unwrap_or(0)
    }

    /// Waits for the next ready key and marks it as being processed. Returns `None` once the
    /// queue is shut down.
    pub async fn get(&self) -> Option<K> {
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            // Registered before the state is inspected, so a wake-up between the check and the
            // wait below is not lost.
            changed.as_mut().enable();
            let next_due = {
                let mut state = self.lock();
                if state.shut_down {
                    return None;
                }
                let now = Instant::now();
                state.promote_due(now);
                if let Some(key) = state.ready.pop_front() {
                    if let Some(since) = state.ready_since.remove(&key) {
                        self.shared
                            .metrics
                            .queue_duration
                            .observe(now.saturating_duration_since(since).as_secs_f64());
                    }
                    state.scheduled.remove(&key);
                    state.processing.insert(key.clone());
                    self.publish_depth(&state);
                    return Some(key);
                }
                state.next_due()
            };
            match next_due {
                Some(at) => {
                    tokio::select! {
                        () = &mut changed => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    /// Marks `key` as processed; if it was added meanwhile it is queued again.
    pub fn done(&self, key: &K) {
        let mut state = self.lock();
        state.processing.remove(key);
        if state.dirty.remove(key) && !state.shut_down {
            state.enqueue(key.clone(), Instant::now());
            self.publish_depth(&state);
            drop(state);
            self.shared.changed.notify_waiters();
        }
    }

    /// Keys ready to be handed out now.
    pub fn len(&self) -> usize {
        self.lock().ready.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When `key` is scheduled to become ready, if it is.
    pub fn scheduled_at(&self, key: &K) -> Option<Instant> {
        self.lock().scheduled.get(key).copied()
    }

    pub fn is_shut_down(&self) -> bool {
        self.lock().shut_down
    }

    /// Stops handing out keys: every `get` returns `None` from now on.
    pub fn shut_down(&self) {
        self.lock().shut_down = true;
        self.shared.changed.notify_waiters();
    }
}

#[cfg(test)]
#[path = "workqueue_tests.rs"]
mod tests;
