//! `Timestamp`: a point in time as Unix nanoseconds, the one clock type of the decision core.
//! The caller passes `now` in; nothing here reads a clock. Records store timestamps as RFC 3339
//! strings so an operator reading Consul KV sees dates, not integers.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, nanoseconds since the Unix epoch (what Nomad's `TaskEvent.Time` carries).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

/// A timestamp string that is not RFC 3339.
#[derive(Debug, thiserror::Error)]
#[error("not an RFC 3339 timestamp: {0:?}")]
pub struct TimestampError(String);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// From Unix nanoseconds (Nomad `TaskEvent.Time`, `Allocation.ModifyTime`).
    pub const fn from_unix_nanos(nanos: u64) -> Self {
        Timestamp(nanos)
    }

    /// From Unix seconds (Nomad `Node.StatusUpdatedAt`).
    pub const fn from_unix_secs(secs: u64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000))
    }

    /// From a `SystemTime` (a file's mtime); times before the epoch become the epoch.
    pub fn from_system_time(time: SystemTime) -> Self {
        let nanos = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        Timestamp(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Parses RFC 3339 (Nomad `TaskState.StartedAt`, and our own records).
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimestampError> {
        humantime::parse_rfc3339_weak(text)
            .map(Self::from_system_time)
            .map_err(|_| TimestampError(text.to_owned()))
    }

    /// Nanoseconds since the Unix epoch.
    pub const fn unix_nanos(self) -> u64 {
        self.0
    }

    /// As a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.0)
    }

    /// `self + d`, saturating.
    pub fn plus(self, d: Duration) -> Self {
        Timestamp(
            self.0
                .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        )
    }

    /// How long after `earlier` this is; zero if it is not after it.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// Where a duration that began at `self` counts from, at `now`, given the host's last
    /// wall-clock step (`None`: none seen). No duration spans a step: a time before the step
    /// counts as the step. After a forward step such times are earlier than it; after a
    /// backward one they may also lie in the future, and one that does is from before the
    /// step too. (One from before a backward step that `now` has caught up with cannot be told
    /// from a later one; it counts from itself, later than the step: durations only grow.)
    pub fn counted_from(self, clock_stepped_at: Option<Timestamp>, now: Timestamp) -> Timestamp {
        match clock_stepped_at {
            None => self,
            Some(step) if self > now => step,
            Some(step) => self.max(step),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            humantime::format_rfc3339_nanos(self.to_system_time())
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_keeps_nanoseconds() {
        let t = Timestamp::from_unix_nanos(1_700_000_000_123_456_789);
        assert_eq!(t.to_string(), "2023-11-14T22:13:20.123456789Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.to_string()).ok(), Some(t));
    }

    #[test]
    fn since_saturates_at_zero() {
        let a = Timestamp::from_unix_secs(10);
        let b = Timestamp::from_unix_secs(12);
        assert_eq!(b.since(a), Duration::from_secs(2));
        assert_eq!(a.since(b), Duration::ZERO);
    }

    #[test]
    fn durations_count_from_the_last_clock_step() {
        let t = |s| Timestamp::from_unix_secs(s);
        assert_eq!(t(10).counted_from(None, t(20)), t(10));
        // Forward step at 100: what came before counts from the step.
        assert_eq!(t(10).counted_from(Some(t(100)), t(120)), t(100));
        assert_eq!(t(110).counted_from(Some(t(100)), t(120)), t(110));
        // Backward step, seen at 50: a time in the future is from before it.
        assert_eq!(t(90).counted_from(Some(t(50)), t(60)), t(50));
    }
}
