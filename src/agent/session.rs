//! The agent's Consul session, kept for its whole life: created with the configured TTL,
//! lock delay and `Behavior = release`, renewed by a [`SessionKeeper`], and replaced by a new
//! one when it is lost. The current session (or none) is published on a watch channel: the
//! reconcilers take no action that needs a session while there is none. The agent's
//! registration key `agents/<node>` is acquired with each new session, so it shows who is
//! alive. On shutdown the session is destroyed, which releases every lock it holds at once
//! instead of after a TTL.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::consul::{
    ConsulClient, SessionBehavior, SessionHealth, SessionKeeper, SessionLease, SessionRequest,
};
use crate::telemetry::readiness::Condition;

/// How the agent's sessions are created.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Session name, e.g. `shepard-agent sim-node-0`.
    pub name: String,
    pub ttl: Duration,
    pub lock_delay: Duration,
}

/// The key and value that register the agent (acquired with every new session).
#[derive(Debug, Clone)]
pub struct Registration {
    pub key: String,
    pub value: Vec<u8>,
}

/// The running session task. The current session id is on [`AgentSession::current`].
pub struct AgentSession {
    current: watch::Receiver<Option<String>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    consul: ConsulClient,
    lease: SessionLease,
}

impl AgentSession {
    /// Starts keeping a session; `condition` is the `session` readiness condition.
    pub fn spawn(
        consul: ConsulClient,
        settings: SessionSettings,
        registration: Registration,
        condition: Condition,
    ) -> Self {
        let (current_tx, current) = watch::channel(None);
        let (stop, stop_rx) = watch::channel(false);
        let lease = SessionLease::default();
        let task = tokio::spawn(keep(
            consul.clone(),
            settings,
            registration,
            condition,
            current_tx,
            stop_rx,
            lease.clone(),
        ));
        Self {
            current,
            stop,
            task,
            consul,
            lease,
        }
    }

    /// How long the current session is certainly alive (monotonic clock).
    pub fn lease(&self) -> SessionLease {
        self.lease.clone()
    }

    /// The session currently held, if any; `changed()` wakes on every new or lost session.
    pub fn current(&self) -> watch::Receiver<Option<String>> {
        self.current.clone()
    }

    /// Stops renewing and destroys the current session, releasing its locks (slots, the
    /// registration, leader locks) for other agents at once.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let held = self.current.borrow().clone();
        // The task is stopped before the destroy so that it cannot create a new session.
        let _ = self.task.await;
        if let Some(id) = held {
            match self.consul.session_destroy(&id).await {
                Ok(()) => tracing::info!(session = %id, "session destroyed"),
                Err(e) => tracing::warn!(session = %id, error = %e, "cannot destroy session"),
            }
        }
    }
}

/// Backoff between failed attempts to create a session or acquire the registration.
fn retry_delays() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .with_jitter()
        .without_max_times()
        .build()
}

async fn keep(
    consul: ConsulClient,
    settings: SessionSettings,
    registration: Registration,
    condition: Condition,
    current: watch::Sender<Option<String>>,
    mut stop: watch::Receiver<bool>,
    lease: SessionLease,
) {
    let request = SessionRequest {
        name: settings.name.clone(),
        ttl: Some(settings.ttl),
        lock_delay: Some(settings.lock_delay),
        behavior: SessionBehavior::Release,
        ..SessionRequest::default()
    };
    let mut delays = retry_delays();
    loop {
        if *stop.borrow() {
            return;
        }
        let sent_at = tokio::time::Instant::now();
        let id = match consul.session_create(&request).await {
            Ok(id) => id,
            Err(e) => {
                condition.set_not_ready(format!("cannot create a session: {e}"));
                let delay = delays.next().unwrap_or(Duration::from_secs(10));
                tracing::warn!(error = %e, retry_in = ?delay, "cannot create a session");
                if wait_or_stop(&mut stop, delay).await {
                    return;
                }
                continue;
            }
        };
        delays = retry_delays();
        tracing::info!(session = %id, ttl = ?settings.ttl, "session created");
        lease.renewed(&id, sent_at, settings.ttl);
        let keeper = SessionKeeper::spawn(consul.clone(), id.clone(), settings.ttl, lease.clone());
        let mut health = keeper.subscribe();
        current.send_replace(Some(id.clone()));
        condition.set_ready();
        let stopped = tokio::select! {
            () = register(&consul, &registration, &id) => {
                wait_for_loss(&mut health, &mut stop).await
            }
            stopped = wait_for_loss(&mut health, &mut stop) => stopped,
        };
        keeper.stop();
        lease.clear();
        if stopped {
            // `shutdown` destroys the session; it stays published until then.
            return;
        }
        current.send_replace(None);
        condition.set_not_ready("session lost; creating a new one");
        tracing::warn!(session = %id, "session lost: every lock it held is treated as gone");
    }
}

/// Acquires the registration key with session `id`, retrying until it succeeds (a previous
/// session of this node may still hold it, or its lock delay may still run). The caller stops
/// it when the session is lost.
async fn register(consul: &ConsulClient, registration: &Registration, id: &str) {
    let mut delays = retry_delays();
    loop {
        match consul
            .kv_acquire(&registration.key, id, &registration.value, 0)
            .await
        {
            Ok(()) => {
                tracing::info!(key = %registration.key, "agent registered");
                return;
            }
            Err(e) => {
                let delay = delays.next().unwrap_or(Duration::from_secs(10));
                tracing::debug!(key = %registration.key, error = %e, retry_in = ?delay,
                    "cannot acquire the registration yet");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Waits until the session is lost (`false`) or the agent stops (`true`).
async fn wait_for_loss(
    health: &mut watch::Receiver<SessionHealth>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    loop {
        if *stop.borrow() {
            return true;
        }
        if *health.borrow() != SessionHealth::Held {
            return false;
        }
        tokio::select! {
            changed = health.changed() => if changed.is_err() { return false },
            changed = stop.changed() => if changed.is_err() { return true },
        }
    }
}

/// Sleeps for `delay`; returns `true` early if the agent stops meanwhile.
async fn wait_or_stop(stop: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}
