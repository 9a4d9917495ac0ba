//! Go `time.Duration` on the wire: an integer count of nanoseconds (`Splay: 5000000000`).
//! `*time.Duration` fields (`TaskGroup.ShutdownDelay`, `Template.Wait.Min`) may be `null`.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Go durations are signed; a negative one never means anything for the fields shepard
/// reads, so it decodes as zero rather than failing the whole document.
fn from_go_nanos(nanos: i64) -> Duration {
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}

fn to_go_nanos(d: &Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// `Duration` ⇄ integer nanoseconds; `null` decodes as zero.
pub mod nanos {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(from_go_nanos(Option::<i64>::deserialize(d)?.unwrap_or(0)))
    }

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(to_go_nanos(d))
    }
}

/// `Option<Duration>` ⇄ integer nanoseconds or `null` (a Go `*time.Duration`).
pub mod nanos_or_null {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<i64>::deserialize(d)?.map(from_go_nanos))
    }

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_i64(to_go_nanos(d)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    struct Timers {
        #[serde(with = "nanos")]
        splay: Duration,
        #[serde(with = "nanos_or_null")]
        delay: Option<Duration>,
    }

    #[test]
    fn integer_nanoseconds_and_null() {
        let t: Timers = serde_json::from_str(r#"{"splay":5000000000,"delay":null}"#).unwrap();
        assert_eq!(t.splay, Duration::from_secs(5));
        assert_eq!(t.delay, None);
        let t: Timers = serde_json::from_str(r#"{"splay":null,"delay":1500}"#).unwrap();
        assert_eq!(
            (t.splay, t.delay),
            (Duration::ZERO, Some(Duration::from_nanos(1500)))
        );
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"splay":0,"delay":1500}"#
        );
    }

    #[test]
    fn negative_is_zero_and_strings_are_refused() {
        let t: Timers = serde_json::from_str(r#"{"splay":-1,"delay":-5}"#).unwrap();
        assert_eq!((t.splay, t.delay), (Duration::ZERO, Some(Duration::ZERO)));
        assert!(serde_json::from_str::<Timers>(r#"{"splay":"5s","delay":null}"#).is_err());
    }
}
