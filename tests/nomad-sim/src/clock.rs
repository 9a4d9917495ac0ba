//! Time as Nomad's Go code writes it: Unix nanoseconds, RFC 3339 with trimmed nanoseconds
//! (`time.RFC3339Nano`), `time.Duration.String()`, and `time.ParseDuration` for `?wait=`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, now.
pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A client node's wall clock: the machine's clock shifted by an offset. Nomad clients stamp
/// task events, `StartedAt`/`FinishedAt` and rendered files with their own host's clock, while
/// the servers stamp allocations and node status with theirs; a test puts one node's clock
/// minutes off (or steps it) through `PUT /sim/node/:node/clock` and the servers keep true time.
#[derive(Clone, Debug, Default)]
pub struct NodeClock(Arc<AtomicI64>);

impl NodeClock {
    /// The node's time in Unix nanoseconds.
    pub fn now_nanos(&self) -> i64 {
        now_nanos().saturating_add(self.offset_nanos())
    }

    /// The node's time as a `SystemTime` (for file modification times).
    pub fn now(&self) -> SystemTime {
        let nanos = self.now_nanos();
        if nanos >= 0 {
            UNIX_EPOCH + Duration::from_nanos(nanos.unsigned_abs())
        } else {
            UNIX_EPOCH
        }
    }

    /// How far the node's clock is ahead of the machine's (negative: behind).
    pub fn offset_nanos(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Moves the node's clock: every later reading is `offset` ahead of the machine's.
    pub fn set_offset_nanos(&self, offset: i64) {
        self.0.store(offset, Ordering::Relaxed);
    }
}

/// `time.Time.Format(time.RFC3339Nano)` of a UTC instant given in Unix nanoseconds,
/// e.g. `2021-11-04T09:14:12.04996Z` (trailing zeros of the fraction dropped).
pub fn rfc3339_nano(nanos: i64) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    if frac != 0 {
        let digits = format!("{frac:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Go's `time.Duration.String()`: `0s`, `250ms`, `1.5µs`, `16.769843104s`, `5m0s`, `1h0m0s`.
pub fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    let body = if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        format!("{}µs", fixed_point(u, 3))
    } else if u < 1_000_000_000 {
        format!("{}ms", fixed_point(u, 6))
    } else {
        let hours = u / 3_600_000_000_000;
        let minutes = (u / 60_000_000_000) % 60;
        let secs = fixed_point(u % 60_000_000_000, 9);
        match (hours, minutes) {
            (0, 0) => format!("{secs}s"),
            (0, m) => format!("{m}m{secs}s"),
            (h, m) => format!("{h}h{m}m{secs}s"),
        }
    };
    format!("{sign}{body}")
}

/// `value / 10^places` printed with its fractional digits, trailing zeros removed.
fn fixed_point(value: u64, places: u32) -> String {
    let scale = 10u64.pow(places);
    let (int, frac) = (value / scale, value % scale);
    if frac == 0 {
        return int.to_string();
    }
    let digits = format!("{frac:0width$}", width = places as usize);
    format!("{int}.{}", digits.trim_end_matches('0'))
}

/// Go's `time.ParseDuration` for non-negative values: `1s`, `1500ms`, `1m30s`, `0`.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    Some(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(
            rfc3339_nano(1_636_017_252_049_960_000),
            "2021-11-04T09:14:12.04996Z"
        );
        assert_eq!(rfc3339_nano(0), "1970-01-01T00:00:00Z");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(16_769_843_104), "16.769843104s");
        assert_eq!(go_duration(300_000_000_000), "5m0s");
        assert_eq!(go_duration(1_800_000_000_000), "30m0s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(250_000_000), "250ms");
        assert_eq!(go_duration(1_500), "1.5µs");
    }

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_go_duration("1500ms"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("abc"), None);
    }
}
