//! [`SessionKeeper`]: the task that keeps one Consul session alive. It renews every TTL/2,
//! retries failed renewals with a short backoff, and declares the session **lost** — a
//! terminal state, published on a `tokio::sync::watch` channel — when Consul says the
//! session is gone (404 / `invalid session`) or when no renewal succeeded within one TTL.
//! Consul itself may keep an unrenewed session for up to 2×TTL, so "lost" errs on the safe
//! side: whoever holds locks with the session stops acting on them first.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout_at};

use crate::api_metrics::ApiMetrics;
use crate::consul::client::ConsulClient;
use crate::consul::error::ConsulError;
use crate::consul::session_lease::SessionLease;

/// Whether the session can still be relied on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionHealth {
    /// The last renewal succeeded less than one TTL ago.
    Held,
    /// The session must be treated as gone, with every lock it held. Terminal.
    Lost(LostReason),
}

/// Why a session was declared lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LostReason {
    /// Consul reported the session unknown or invalidated.
    Invalidated,
    /// No renewal succeeded within one TTL (Consul unreachable or failing).
    Expired,
}

/// Keeps a session renewed in a background task; stops the task when dropped.
pub struct SessionKeeper {
    id: String,
    health: watch::Receiver<SessionHealth>,
    task: JoinHandle<()>,
}

impl SessionKeeper {
    /// Starts renewing session `id`, which was created (or renewed) just now with `ttl`,
    /// recording every renewal in `lease` (cleared when the session is lost).
    /// Must be called inside a tokio runtime.
    pub fn spawn(client: ConsulClient, id: String, ttl: Duration, lease: SessionLease) -> Self {
        let (tx, health) = watch::channel(SessionHealth::Held);
        let metrics = client.metrics().clone();
        let session = id.clone();
        let renew = move || {
            let client = client.clone();
            let session = session.clone();
            async move { client.session_renew(&session).await.map(|info| info.ttl) }
        };
        let session = id.clone();
        let renewed = move |sent_at: Option<Instant>, ttl: Duration| match sent_at {
            Some(sent_at) => lease.renewed(&session, sent_at, ttl),
            None => lease.clear(),
        };
        let task = tokio::spawn(renew_loop(renew, ttl, metrics, tx, renewed));
        Self { id, health, task }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The session's health; `changed()` on it wakes when the session is lost.
    pub fn subscribe(&self) -> watch::Receiver<SessionHealth> {
        self.health.clone()
    }

    pub fn is_held(&self) -> bool {
        *self.health.borrow() == SessionHealth::Held
    }

    /// Stops renewing (the session then expires on its own after TTL..2×TTL).
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for SessionKeeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Shortest and longest pause before retrying a failed renewal.
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// The renewal loop. `renew` renews once and returns the TTL Consul now reports (`None`:
/// keep the current one). `renewed` hears of every success (when its request was sent, and
/// the TTL) and of the loss (`None`). Generic so it can run against a scripted renewer in
/// virtual time.
pub(crate) async fn renew_loop<F, Fut>(
    mut renew: F,
    mut ttl: Duration,
    metrics: ApiMetrics,
    health: watch::Sender<SessionHealth>,
    mut renewed: impl FnMut(Option<Instant>, Duration),
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<Duration>, ConsulError>>,
{
    let mut last_success = Instant::now();
    let mut next_attempt = last_success + ttl / 2;
    let retry_builder = ExponentialBuilder::default()
        .with_min_delay(RETRY_MIN)
        .with_max_delay(RETRY_MAX)
        .with_jitter()
        .without_max_times();
    let mut retry = retry_builder.build();
    loop {
        sleep_until(next_attempt).await;
        // A renewal that is still in flight when the TTL runs out cannot save the session.
        let deadline = last_success + ttl;
        let sent_at = Instant::now();
        match timeout_at(deadline, renew()).await {
            Ok(Ok(reported_ttl)) => {
                last_success = Instant::now();
                if let Some(reported) = reported_ttl.filter(|t| !t.is_zero()) {
                    if reported != ttl {
                        tracing::info!(ttl = ?reported, "consul changed the session TTL");
                    }
                    ttl = reported;
                }
                renewed(Some(sent_at), ttl);
                next_attempt = last_success + ttl / 2;
                retry = retry_builder.build();
                continue;
            }
            Ok(Err(error)) if error.is_invalid_session() => {
                metrics.session_renew_failed();
                tracing::warn!(%error, "consul session invalidated");
                renewed(None, ttl);
                let _ = health.send(SessionHealth::Lost(LostReason::Invalidated));
                return;
            }
            Ok(Err(error)) => {
                metrics.session_renew_failed();
                tracing::warn!(%error, "consul session renewal failed; retrying");
            }
            Err(_deadline_passed) => {
                metrics.session_renew_failed();
                tracing::warn!("consul session renewal did not finish within the TTL");
            }
        }
        let now = Instant::now();
        if now >= deadline {
            tracing::warn!(
                ?ttl,
                "no session renewal succeeded within the TTL; session lost"
            );
            renewed(None, ttl);
            let _ = health.send(SessionHealth::Lost(LostReason::Expired));
            return;
        }
        let pause = retry.next().unwrap_or(RETRY_MAX).min(RETRY_MAX);
        next_attempt = (now + pause).min(deadline);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    type Script = Arc<Mutex<Vec<(Instant, bool)>>>;

    /// A renewer that succeeds while `fail_after` has not passed and records each call.
    fn scripted(
        start: Instant,
        fail_after: Duration,
        calls: Script,
    ) -> impl FnMut() -> std::future::Ready<Result<Option<Duration>, ConsulError>> {
        move || {
            let now = Instant::now();
            let ok = now < start + fail_after;
            calls.lock().unwrap().push((now, ok));
            std::future::ready(if ok {
                Ok(None)
            } else {
                Err(ConsulError::Server {
                    op: "session_renew",
                    status: 500,
                    body: "rpc error".into(),
                })
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn renews_every_half_ttl() {
        let start = Instant::now();
        let calls: Script = Arc::default();
        let (tx, rx) = watch::channel(SessionHealth::Held);
        let ttl = Duration::from_secs(10);
        let renew = scripted(start, Duration::from_secs(3600), calls.clone());
        let task = tokio::spawn(renew_loop(
            renew,
            ttl,
            ApiMetrics::unregistered(),
            tx,
            |_, _| {},
        ));
        tokio::time::sleep(Duration::from_secs(21)).await;
        let times: Vec<u64> = calls
            .lock()
            .unwrap()
            .iter()
            .map(|(t, _)| (*t - start).as_secs())
            .collect();
        assert_eq!(times, vec![5, 10, 15, 20]);
        assert_eq!(*rx.borrow(), SessionHealth::Held);
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn lost_one_ttl_after_the_last_success() {
        let start = Instant::now();
        let calls: Script = Arc::default();
        let (tx, mut rx) = watch::channel(SessionHealth::Held);
        let metrics = ApiMetrics::unregistered();
        let ttl = Duration::from_secs(10);
        // Renewals at 5 s and 10 s succeed; from 12 s on every renewal fails.
        let renew = scripted(start, Duration::from_secs(12), calls.clone());
        tokio::spawn(renew_loop(renew, ttl, metrics.clone(), tx, |_, _| {}));
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow(), SessionHealth::Lost(LostReason::Expired));
        // Last success at 10 s, so lost at exactly 20 s.
        assert_eq!(Instant::now() - start, Duration::from_secs(20));
        let failures = calls.lock().unwrap().iter().filter(|(_, ok)| !ok).count();
        assert!(failures >= 3, "retries in between: {failures}");
        assert_eq!(metrics.session_renew_failures(), failures as u64);
    }

    #[tokio::test(start_paused = true)]
    async fn invalid_session_is_lost_at_once() {
        let start = Instant::now();
        let (tx, mut rx) = watch::channel(SessionHealth::Held);
        let renew = || {
            std::future::ready(Err(ConsulError::InvalidSession {
                op: "session_renew",
                session: "s".into(),
                message: "Session id 's' not found".into(),
            }))
        };
        tokio::spawn(renew_loop(
            renew,
            Duration::from_secs(10),
            ApiMetrics::unregistered(),
            tx,
            |_, _| {},
        ));
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow(), SessionHealth::Lost(LostReason::Invalidated));
        assert_eq!(Instant::now() - start, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn adopts_the_ttl_consul_reports() {
        let start = Instant::now();
        let calls: Script = Arc::default();
        let recorded = calls.clone();
        let (tx, _rx) = watch::channel(SessionHealth::Held);
        let renew = move || {
            recorded.lock().unwrap().push((Instant::now(), true));
            std::future::ready(Ok(Some(Duration::from_secs(30))))
        };
        let task = tokio::spawn(renew_loop(
            renew,
            Duration::from_secs(10),
            ApiMetrics::unregistered(),
            tx,
            |_, _| {},
        ));
        tokio::time::sleep(Duration::from_secs(36)).await;
        let times: Vec<u64> = calls
            .lock()
            .unwrap()
            .iter()
            .map(|(t, _)| (*t - start).as_secs())
            .collect();
        // First renewal at TTL/2 of the requested 10 s, then every 15 s.
        assert_eq!(times, vec![5, 20, 35]);
        task.abort();
    }
}
