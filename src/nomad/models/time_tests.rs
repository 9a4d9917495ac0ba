//! Tests of the RFC 3339 parser and printer against known instants and by round trip.

use super::*;
use proptest::prelude::*;

fn parse(s: &str) -> UtcTime {
    UtcTime::parse_rfc3339(s).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn parses_nanosecond_utc_times() {
    // 2017-07-25T23:36:26.106431265Z, cross-checked with `date -d ... +%s%N`.
    assert_eq!(
        parse("2017-07-25T23:36:26.106431265Z").unix_nanos(),
        1_501_025_786_106_431_265
    );
    assert_eq!(parse("1970-01-01T00:00:00Z"), UtcTime::UNIX_EPOCH);
}

#[test]
fn offsets_are_applied() {
    // The allocations sample's DeploymentStatus.Timestamp and the same instant in UTC.
    assert_eq!(
        parse("2021-11-04T10:14:22.054814+01:00"),
        parse("2021-11-04T09:14:22.054814Z")
    );
    assert_eq!(
        parse("2020-10-15T10:07:37-04:00"),
        parse("2020-10-15T14:07:37Z")
    );
}

#[test]
fn short_fractions_are_scaled_and_long_ones_truncated() {
    assert_eq!(parse("1970-01-01T00:00:00.5Z").unix_nanos(), 500_000_000);
    assert_eq!(
        parse("1970-01-01T00:00:00.1234567891Z").unix_nanos(),
        123_456_789
    );
}

#[test]
fn before_the_epoch() {
    assert_eq!(parse("1969-12-31T23:59:59.5Z").unix_nanos(), -500_000_000);
    assert_eq!(
        UtcTime::from_unix_nanos(-500_000_000).to_string(),
        "1969-12-31T23:59:59.5Z"
    );
}

#[test]
fn prints_like_go_rfc3339nano() {
    assert_eq!(
        UtcTime::from_unix_nanos(1_636_017_252_049_960_000).to_string(),
        "2021-11-04T09:14:12.04996Z"
    );
    assert_eq!(
        UtcTime::from_unix_secs(1_566_814_982).to_string(),
        "2019-08-26T10:23:02Z"
    );
}

#[test]
fn rejects_malformed_times() {
    for bad in [
        "",
        "2021-11-04",
        "2021-11-04T09:14:12",
        "2021-13-04T09:14:12Z",
        "2021-02-29T09:14:12Z",
        "2021-11-04T24:00:00Z",
        "2021-11-04T09:14:12.Z",
        "2021-11-04T09:14:12+0100",
        "2021-11-04 09:14:12Z",
        "0001-01-01T00:00:00Z",
    ] {
        assert!(UtcTime::parse_rfc3339(bad).is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn system_time_round_trip() {
    for nanos in [0, 1, -1, 1_501_025_786_106_431_265, -1_000_000_007] {
        let t = UtcTime::from_unix_nanos(nanos);
        assert_eq!(UtcTime::from_system_time(t.to_system_time()), t);
    }
}

#[derive(Debug, Deserialize, Serialize)]
struct Times {
    #[serde(with = "rfc3339_or_null")]
    at: Option<UtcTime>,
    #[serde(with = "unix_nanos")]
    event: UtcTime,
    #[serde(with = "unix_secs")]
    status: UtcTime,
}

#[test]
fn serde_null_and_go_zero_time_mean_unset() {
    for zero in [r#"null"#, r#""0001-01-01T00:00:00Z""#] {
        let json = format!(r#"{{"at":{zero},"event":5,"status":7}}"#);
        let t: Times = serde_json::from_str(&json).unwrap();
        assert_eq!(t.at, None);
        assert_eq!(t.event.unix_nanos(), 5);
        assert_eq!(t.status, UtcTime::from_unix_secs(7));
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"at":null,"event":5,"status":7}"#
        );
    }
}

proptest! {
    #[test]
    fn print_then_parse_is_identity(nanos in any::<i64>()) {
        let t = UtcTime::from_unix_nanos(nanos);
        prop_assert_eq!(UtcTime::parse_rfc3339(&t.to_string()), Ok(t));
    }

    #[test]
    fn civil_days_round_trip(days in -200_000i64..200_000) {
        let (y, m, d) = civil_from_days(days);
        prop_assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
        prop_assert_eq!(days_from_civil(y, m, d), days);
    }
}
