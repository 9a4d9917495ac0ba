//! [`SessionLease`]: how long the agent's session is certainly alive, on the monotonic clock.
//! Consul starts a session's TTL again when it handles a renewal, so a renewal sent at `t`
//! and answered keeps the session alive at least until `t + TTL`, whatever any wall clock
//! says. An action that Consul cannot check inside a transaction (a call to Nomad's restart
//! API) is taken only while that point is more than a margin away: a paused or partitioned
//! agent whose session may have expired, and whose slot may already be someone else's,
//! restarts nothing.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// The latest renewal (or creation) of the current session: shared between the session's
/// keeper, which records it, and whoever must know the session is alive.
/// The margin is the TTL divided by this.
const MARGIN_DIVISOR: u32 = 4;

#[derive(Clone, Debug, Default)]
pub struct SessionLease(Arc<Mutex<Option<Term>>>);

#[derive(Clone, Debug)]
struct Term {
    session: String,
    /// When the request that created or renewed the session was sent.
    sent_at: Instant,
    ttl: Duration,
}

impl SessionLease {
    /// Consul created or renewed `session` with `ttl` in answer to a request sent at `sent_at`.
    pub fn renewed(&self, session: &str, sent_at: Instant, ttl: Duration) {
        let mut term = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // An answer to an older request never shortens what a newer one established.
        if term
            .as_ref()
            .is_some_and(|t| t.session == session && t.sent_at > sent_at)
        {
            return;
        }
        *term = Some(Term {
            session: session.to_owned(),
            sent_at,
            ttl,
        });
    }

    /// The session is gone or given up: nothing is certain any more.
    pub fn clear(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// How long `session` is certainly still alive, less a margin of a quarter of its TTL
    /// (for the action to reach its target after the check); `None` when it may not be.
    pub fn remaining(&self, session: &str) -> Option<Duration> {
        let term = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let term = term.as_ref().filter(|t| t.session == session)?;
        let until = term.sent_at + term.ttl - term.ttl / MARGIN_DIVISOR;
        until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_session_is_certain_until_its_ttl_less_the_margin_after_the_request() {
        let lease = SessionLease::default();
        assert_eq!(lease.remaining("s1"), None, "never renewed");
        let sent = Instant::now();
        tokio::time::advance(Duration::from_secs(2)).await;
        // TTL 40 s, margin 10 s: certain until 30 s after the request.
        lease.renewed("s1", sent, Duration::from_secs(40));
        assert_eq!(lease.remaining("s1"), Some(Duration::from_secs(28)));
        assert_eq!(lease.remaining("s2"), None, "another session");
        tokio::time::advance(Duration::from_secs(28)).await;
        assert_eq!(lease.remaining("s1"), None, "margin reached");
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_answer_to_an_older_renewal_does_not_shorten_the_lease() {
        let lease = SessionLease::default();
        let older = Instant::now();
        tokio::time::advance(Duration::from_secs(5)).await;
        lease.renewed("s1", Instant::now(), Duration::from_secs(40));
        lease.renewed("s1", older, Duration::from_secs(40));
        assert_eq!(lease.remaining("s1"), Some(Duration::from_secs(30)));
        lease.clear();
        assert_eq!(lease.remaining("s1"), None);
    }
}
