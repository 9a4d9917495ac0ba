//! Fresh unique values for trigger tokens and rollout IDs. They only need to differ from every
//! earlier value (a trigger must change the key's content); they are not secrets. A per-process
//! random seed (from the standard library's randomly keyed hasher) plus a counter and the time
//! gives 128 bits that no two agents or restarts share.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of unique hex IDs.
pub struct IdSource {
    seed: RandomState,
    counter: AtomicU64,
}

impl Default for IdSource {
    fn default() -> Self {
        Self::new()
    }
}

impl IdSource {
    pub fn new() -> Self {
        Self {
            seed: RandomState::new(),
            counter: AtomicU64::new(0),
        }
    }

    /// A new 32-hex-digit ID.
    pub fn next(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let half = |salt: u64| {
            let mut h = self.seed.build_hasher();
            h.write_u64(salt);
            h.write_u64(n);
            h.write_u128(nanos);
            h.finish()
        };
        format!("{:016x}{:016x}", half(1), half(2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_hex() {
        let ids = IdSource::new();
        let other = IdSource::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            assert!(seen.insert(ids.next()));
            assert!(seen.insert(other.next()));
        }
        assert!(
            seen.iter()
                .all(|id| id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()))
        );
    }
}
