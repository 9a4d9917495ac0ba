//! [`Semaphore`]: shepard's restart-slot semaphore (the key layout in the README). Slot `n` of a task is the
//! key `<base>/<n>`, `n` in `0..limit`, held with a session lock whose value says who holds
//! it. Each slot is an ordinary Consul lock, so at most `limit` sessions can hold slots —
//! Consul's per-key acquire is the only arbiter, no shared counter is needed. (Unlike
//! `api/semaphore.go`, there is no contender key or `.lock` record to leave behind.)

use serde::{Deserialize, Serialize};

use crate::consul::client::{Consistency, ConsulClient};
use crate::consul::error::ConsulError;
use crate::consul::kv::KvPair;

/// Flags written on every slot key: ASCII `"shepslot"`, marking the key as a restart slot.
pub const SLOT_FLAG_VALUE: u64 = u64::from_be_bytes(*b"shepslot");

/// The value of a held slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotHolder {
    pub alloc_id: String,
    pub node: String,
    /// RFC 3339 time the slot was taken.
    pub acquired_at: String,
}

impl SlotHolder {
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing three strings cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// One slot key as read from Consul.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub n: u32,
    /// The session holding the slot, if any.
    pub holder: Option<String>,
    pub pair: KvPair,
}

/// The slots under one base key.
#[derive(Clone)]
pub struct Semaphore {
    client: ConsulClient,
    base_key: String,
    limit: u32,
}

impl Semaphore {
    /// Slots `<base_key>/0 .. <base_key>/<limit-1>`.
    pub fn new(client: ConsulClient, base_key: impl Into<String>, limit: u32) -> Self {
        let base_key = base_key.into().trim_end_matches('/').to_string();
        Self {
            client,
            base_key,
            limit,
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    pub fn slot_key(&self, n: u32) -> String {
        format!("{}/{n}", self.base_key)
    }

    /// Every slot key that exists, by a `?consistent` read, ordered by `n`. Slots at or
    /// above `limit` (left from a larger limit) are included.
    pub async fn slots(&self) -> Result<Vec<Slot>, ConsulError> {
        let prefix = format!("{}/", self.base_key);
        let pairs = self
            .client
            .kv_list(&prefix, Consistency::Consistent)
            .await?;
        let mut slots: Vec<Slot> = pairs
            .into_iter()
            .filter_map(|pair| {
                let n = pair.key.strip_prefix(&prefix)?.parse().ok()?;
                Some(Slot {
                    n,
                    holder: pair.session.clone(),
                    pair,
                })
            })
            .collect();
        slots.sort_by_key(|s| s.n);
        Ok(slots)
    }

    /// Takes a free slot for `session`, writing `value` into it. Returns the slot held —
    /// the one the session already holds, if any — or `None` when every slot is taken (or
    /// in lock-delay). Slots `>= limit` that are still held count against the limit, so
    /// lowering the limit never lets more than the old limit run.
    pub async fn try_acquire(
        &self,
        session: &str,
        value: &[u8],
    ) -> Result<Option<u32>, ConsulError> {
        let slots = self.slots().await?;
        if let Some(mine) = slots.iter().find(|s| s.holder.as_deref() == Some(session)) {
            return Ok(Some(mine.n));
        }
        let held = slots.iter().filter(|s| s.holder.is_some()).count();
        if held >= self.limit as usize {
            return Ok(None);
        }
        for n in 0..self.limit {
            if slots.iter().any(|s| s.n == n && s.holder.is_some()) {
                continue;
            }
            match self
                .client
                .kv_acquire(&self.slot_key(n), session, value, SLOT_FLAG_VALUE)
                .await
            {
                Ok(()) => return Ok(Some(n)),
                // Someone took it since our read, or its last holder's lock-delay runs.
                Err(e) if e.is_refused() => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Whether `session` holds slot `n`, by a `?consistent` read: the sequencer check to
    /// make right before acting on the slot.
    pub async fn holds(&self, session: &str, n: u32) -> Result<bool, ConsulError> {
        let pair = self
            .client
            .kv_get(&self.slot_key(n), Consistency::Consistent)
            .await?;
        Ok(pair.and_then(|p| p.session).as_deref() == Some(session))
    }

    /// Releases slot `n` if `session` holds it, keeping the slot's value and flags (the
    /// last holder stays readable). Returns whether it was held.
    pub async fn release(&self, session: &str, n: u32) -> Result<bool, ConsulError> {
        let key = self.slot_key(n);
        let Some(pair) = self.client.kv_get(&key, Consistency::Consistent).await? else {
            return Ok(false);
        };
        if pair.session.as_deref() != Some(session) {
            return Ok(false);
        }
        match self
            .client
            .kv_release(&key, session, &pair.value, pair.flags)
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if e.is_refused() => Ok(false),
            Err(e) => Err(e),
        }
    }
}
