//! [`Lock`]: a mutual-exclusion lock on one KV key, after Consul's recipe (`api/lock.go`),
//! reshaped for a level-triggered caller: `try_acquire` never blocks, it tells who holds
//! the lock instead. Used for the rollout leader's `task_lock` (the key layout in the README).

use crate::consul::client::{Consistency, ConsulClient};
use crate::consul::error::ConsulError;

/// The flags value `api/lock.go` writes on a lock key (`LockFlagValue`), so `consul lock`
/// and shepard recognise each other's locks.
pub const LOCK_FLAG_VALUE: u64 = 0x2ddc_cbc0_58a5_0c18;

/// Result of one acquisition attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockAttempt {
    /// The session holds the lock now (or already did).
    Acquired,
    /// Another session holds it.
    HeldBy(String),
    /// Nobody holds it, but the previous holder's session was invalidated less than its
    /// LockDelay ago, so Consul refuses every acquire for now.
    LockDelay,
}

/// A lock on `key`, written with `value` and [`LOCK_FLAG_VALUE`].
#[derive(Clone)]
pub struct Lock {
    client: ConsulClient,
    key: String,
    value: Vec<u8>,
}

impl Lock {
    pub fn new(client: ConsulClient, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            client,
            key: key.into(),
            value: value.into(),
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Tries once to take the lock for `session`.
    pub async fn try_acquire(&self, session: &str) -> Result<LockAttempt, ConsulError> {
        // Look first: re-acquiring a lock we hold would rewrite the key and wake every
        // watcher of the prefix for nothing.
        if let Some(pair) = self.client.kv_get(&self.key, Consistency::Default).await? {
            match pair.session {
                Some(holder) if holder == session => return Ok(LockAttempt::Acquired),
                Some(holder) => return Ok(LockAttempt::HeldBy(holder)),
                None => {}
            }
        }
        match self
            .client
            .kv_acquire(&self.key, session, &self.value, LOCK_FLAG_VALUE)
            .await
        {
            Ok(()) => Ok(LockAttempt::Acquired),
            Err(e) if e.is_refused() => {
                // As lock.go: a refused acquire on a key with a holder lost a race; on a
                // key without one, a lock-delay is running.
                let pair = self.client.kv_get(&self.key, Consistency::Default).await?;
                Ok(match pair.and_then(|p| p.session) {
                    Some(holder) if holder == session => LockAttempt::Acquired,
                    Some(holder) => LockAttempt::HeldBy(holder),
                    None => LockAttempt::LockDelay,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Whether `session` holds the lock, by a `?consistent` read: the check to make right
    /// before acting as the holder.
    pub async fn is_held_by(&self, session: &str) -> Result<bool, ConsulError> {
        let pair = self
            .client
            .kv_get(&self.key, Consistency::Consistent)
            .await?;
        Ok(pair.and_then(|p| p.session).as_deref() == Some(session))
    }

    /// Releases the lock if `session` holds it, keeping the key's value and flags. Returns
    /// whether it was held.
    pub async fn release(&self, session: &str) -> Result<bool, ConsulError> {
        match self
            .client
            .kv_release(&self.key, session, &self.value, LOCK_FLAG_VALUE)
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if e.is_refused() => Ok(false),
            Err(e) => Err(e),
        }
    }
}
