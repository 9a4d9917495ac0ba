//! Nomad's three encodings of time, and `UtcTime`, the one type they decode into:
//! `time.Time` as an RFC 3339 string (a zero time is `null`, or `"0001-01-01T00:00:00Z"` from
//! older servers), `int64` Unix nanoseconds (`TaskEvent.Time`, `Allocation.CreateTime`,
//! `Job.SubmitTime`) and Unix seconds (`Node.StatusUpdatedAt`).
//!
//! A hand-written parser instead of a date crate: shepard only needs to parse, compare and
//! print instants, which takes the two civil-date conversions below and nothing else.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// An instant in UTC with nanosecond precision: nanoseconds since the Unix epoch. Covers
/// 1677-09-21 to 2262-04-11, the range of Go's `UnixNano`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTime(i64);

/// Why a string is not an RFC 3339 time this module accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RFC 3339 time {input:?}: {reason}")]
pub struct TimeParseError {
    input: String,
    reason: &'static str,
}

impl UtcTime {
    pub const UNIX_EPOCH: UtcTime = UtcTime(0);

    pub const fn from_unix_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    pub const fn unix_nanos(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (saturating at the range ends).
    pub const fn from_unix_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(NANOS_PER_SEC))
    }

    pub fn to_system_time(self) -> SystemTime {
        let magnitude = Duration::from_nanos(self.0.unsigned_abs());
        if self.0 >= 0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH - magnitude
        }
    }

    /// `t`, saturated to the representable range.
    pub fn from_system_time(t: SystemTime) -> Self {
        let nanos = match t.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |n| -n),
        };
        Self(nanos)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, as Go's `time.RFC3339Nano` writes it.
    pub fn parse_rfc3339(input: &str) -> Result<Self, TimeParseError> {
        let err = |reason| TimeParseError {
            input: input.to_string(),
            reason,
        };
        let b = input.as_bytes();
        if b.len() < 20 {
            return Err(err("too short"));
        }
        let num = |range: std::ops::Range<usize>| -> Result<i64, TimeParseError> {
            let digits = &b[range];
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(err("expected digits"));
            }
            Ok(digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
        };
        let separators_ok = b[4] == b'-'
            && b[7] == b'-'
            && matches!(b[10], b'T' | b't')
            && b[13] == b':'
            && b[16] == b':';
        if !separators_ok {
            return Err(err("expected YYYY-MM-DDTHH:MM:SS"));
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return Err(err("date out of range"));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(err("time of day out of range"));
        }

        let mut pos = 19;
        let mut fraction_nanos = 0;
        if b[pos] == b'.' {
            pos += 1;
            let start = pos;
            while pos < b.len() && b[pos].is_ascii_digit() {
                pos += 1;
            }
            if pos == start {
                return Err(err("empty fraction"));
            }
            // Digits past nanoseconds are dropped, as Go's parser does.
            let kept = &b[start..pos.min(start + 9)];
            let value = kept.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0'));
            fraction_nanos = value * 10_i64.pow(9 - kept.len() as u32);
        }

        let offset_secs = match &b[pos..] {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let (h, m) = (num(pos + 1..pos + 3)?, num(pos + 4..pos + 6)?);
                if h > 23 || m > 59 {
                    return Err(err("offset out of range"));
                }
                let secs = h * 3600 + m * 60;
                if *sign == b'-' { -secs } else { secs }
            }
            _ => return Err(err("expected Z or ±HH:MM after the time")),
        };

        let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
            - offset_secs;
        // In i128: near the lower end, whole seconds alone can lie below i64::MIN nanoseconds.
        let nanos = i128::from(secs) * i128::from(NANOS_PER_SEC) + i128::from(fraction_nanos);
        i64::try_from(nanos)
            .map(Self)
            .map_err(|_| err("outside 1677..2262"))
    }
}

/// Go's `time.RFC3339Nano` in UTC: fraction without trailing zeros, `Z` for the zone.
impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(NANOS_PER_SEC);
        let nanos = self.0.rem_euclid(NANOS_PER_SEC);
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let of_day = secs.rem_euclid(86_400);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            of_day / 3600,
            of_day % 3600 / 60,
            of_day % 60
        )?;
        if nanos != 0 {
            let digits = format!("{nanos:09}");
            write!(f, ".{}", digits.trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant, `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`] (H. Hinnant, `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `Option<UtcTime>` ⇄ RFC 3339 string or `null`. Go's zero time is "not set": current
/// servers write it as `null`, older ones as `"0001-01-01T00:00:00Z"`; both decode to `None`.
pub mod rfc3339_or_null {
    use super::*;

    /// What Go's `time.Time{}` prints before go-msgpack started writing zero times as `null`.
    const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<UtcTime>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) if s.is_empty() || s == GO_ZERO_TIME => Ok(None),
            Some(s) => UtcTime::parse_rfc3339(&s)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }

    pub fn serialize<S: Serializer>(t: &Option<UtcTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.collect_str(t),
            None => s.serialize_none(),
        }
    }
}

/// `UtcTime` ⇄ integer Unix nanoseconds (`TaskEvent.Time`, `CreateTime`, `SubmitTime`).
/// `null` (never sent for these `int64` fields) decodes to the epoch, like a Go zero.
pub mod unix_nanos {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<UtcTime, D::Error> {
        Ok(UtcTime(Option::<i64>::deserialize(d)?.unwrap_or(0)))
    }

    pub fn serialize<S: Serializer>(t: &UtcTime, s: S) -> Result<S::Ok, S::Error> {
        t.0.serialize(s)
    }
}

/// `UtcTime` ⇄ integer Unix seconds (`Node.StatusUpdatedAt`).
pub mod unix_secs {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<UtcTime, D::Error> {
        Ok(UtcTime::from_unix_secs(
            Option::<i64>::deserialize(d)?.unwrap_or(0),
        ))
    }

    pub fn serialize<S: Serializer>(t: &UtcTime, s: S) -> Result<S::Ok, S::Error> {
        t.0.div_euclid(NANOS_PER_SEC).serialize(s)
    }
}

#[cfg(test)]
#[path = "time_tests.rs"]
mod tests;
