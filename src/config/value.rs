//! Turning a [`Raw`] value into its option's type, with the error text an operator reads, and
//! back into the canonical text `config check` prints.
//!
//! File values are typed by HCL, so `max_parallel = "2"` is a wrong type; environment and flag
//! values are untyped text and are parsed (`SHEPARD_DEFAULT_MAX_PARALLEL=2` is fine).

use std::net::SocketAddr;
use std::time::Duration;

use super::address::{ApiAddress, SyslogAddress};
use super::catalog::Kind;
use super::source::Raw;

/// Checks that `raw` is a valid value of `kind`, without keeping it.
pub fn check(kind: Kind, raw: &Raw) -> Result<(), String> {
    match kind {
        Kind::Text | Kind::Secret | Kind::Path => text(raw).map(drop),
        Kind::Duration => duration(raw).map(drop),
        Kind::Bool => boolean(raw).map(drop),
        Kind::Count => count(raw).map(drop),
        Kind::Size => size(raw).map(drop),
        Kind::ApiAddress => api_address(raw).map(drop),
        Kind::SocketAddr => socket_addr(raw).map(drop),
        Kind::SyslogAddress => syslog_address(raw).map(drop),
        Kind::List => list(raw).map(drop),
        Kind::Choice(words) => choice(raw, words).map(drop),
    }
}

fn expected(what: &str, raw: &Raw) -> String {
    format!("expected {what}, found {}", raw.describe())
}

/// Text, paths and tokens: an empty value is refused (leave the option out instead).
pub fn text(raw: &Raw) -> Result<String, String> {
    match raw {
        Raw::Text(s) | Raw::Str(s) if s.trim().is_empty() => {
            Err("must not be empty (leave the option out to use its default)".into())
        }
        Raw::Text(s) | Raw::Str(s) => Ok(s.clone()),
        other => Err(expected("a string", other)),
    }
}

pub fn duration(raw: &Raw) -> Result<Duration, String> {
    match raw {
        Raw::Text(s) | Raw::Str(s) => humantime::parse_duration(s.trim()).map_err(|e| {
            format!("invalid duration {s:?} ({e}); write it like \"15s\", \"5m\" or \"24h\"")
        }),
        other => Err(expected("a duration string such as \"15s\"", other)),
    }
}

/// HCL bools; from the environment and flags, the forms Go's `strconv.ParseBool` takes, as
/// HashiCorp's tools read `CONSUL_HTTP_SSL_VERIFY` and `NOMAD_SKIP_VERIFY`.
pub fn boolean(raw: &Raw) -> Result<bool, String> {
    match raw {
        Raw::Bool(b) => Ok(*b),
        Raw::Str(s) if matches!(s.as_str(), "true" | "false") => {
            Err(unquote_hint("true or false", s))
        }
        Raw::Text(s) => match s.trim() {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            other => Err(format!("invalid bool {other:?}: write true or false")),
        },
        other => Err(expected("true or false", other)),
    }
}

pub fn count(raw: &Raw) -> Result<u32, String> {
    let n = match raw {
        Raw::Number(n) => n.as_u64(),
        Raw::Text(s) => s.trim().parse::<u64>().ok(),
        Raw::Str(s) if s.parse::<u64>().is_ok() => {
            return Err(unquote_hint("a whole number", s));
        }
        other => return Err(expected("a whole number", other)),
    };
    n.and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| match raw {
            Raw::Text(s) => format!("invalid number {s:?}: expected a whole number"),
            _ => "expected a whole number from 0 to 4294967295".to_string(),
        })
}

/// For a quoted HCL string that would be right without the quotes.
fn unquote_hint(what: &str, s: &str) -> String {
    format!("expected {what}, found the string \"{s}\"; write it without quotes")
}

const SIZE_UNITS: &[(&str, u64)] = &[
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("KB", 1_000),
    ("B", 1),
];

/// A byte size: bytes as a number, or `"<n><unit>"` with B, KB, MB, GB (powers of 1000) or
/// KiB, MiB, GiB (powers of 1024).
pub fn size(raw: &Raw) -> Result<u64, String> {
    let s = match raw {
        Raw::Number(n) => {
            return n
                .as_u64()
                .ok_or_else(|| "expected a whole number of bytes".to_string());
        }
        Raw::Text(s) | Raw::Str(s) => s.trim(),
        other => return Err(expected("a size such as \"64MiB\"", other)),
    };
    let bad = || {
        format!("invalid size {s:?}: write bytes, or a number with B, KB, MB, GB, KiB, MiB or GiB")
    };
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(digits_end);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let unit = unit.trim();
    let factor = if unit.is_empty() {
        1
    } else {
        SIZE_UNITS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(unit))
            .map(|(_, f)| *f)
            .ok_or_else(bad)?
    };
    number.checked_mul(factor).ok_or_else(bad)
}

pub fn list(raw: &Raw) -> Result<Vec<String>, String> {
    match raw {
        Raw::List(items) => Ok(items.clone()),
        Raw::Text(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()),
        other => Err(expected("a list of strings such as [\"a\", \"b\"]", other)),
    }
}

pub fn choice(raw: &Raw, words: &'static [&'static str]) -> Result<&'static str, String> {
    let s = match raw {
        Raw::Text(s) | Raw::Str(s) => s.trim(),
        other => return Err(expected(&format!("one of {}", words.join(", ")), other)),
    };
    words
        .iter()
        .find(|w| **w == s)
        .copied()
        .ok_or_else(|| format!("invalid value {s:?}: expected one of {}", words.join(", ")))
}

pub fn socket_addr(raw: &Raw) -> Result<SocketAddr, String> {
    let s = text(raw)?;
    s.trim()
        .parse()
        .map_err(|_| format!("invalid address {s:?}: expected IP:port, such as 127.0.0.1:9464"))
}

pub fn api_address(raw: &Raw) -> Result<ApiAddress, String> {
    ApiAddress::parse(&text(raw)?)
}

pub fn syslog_address(raw: &Raw) -> Result<SyslogAddress, String> {
    SyslogAddress::parse(&text(raw)?)
}

/// A duration as an operator writes it: `15s`, `5m`, `24h`, `1500ms`.
pub fn show_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return humantime::format_duration(d).to_string().replace(' ', "");
    }
    if d.subsec_nanos() != 0 {
        return format!("{}ms", d.as_millis());
    }
    match secs {
        0 => "0s".to_string(),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// A size in the largest binary unit that divides it exactly.
pub fn show_size(bytes: u64) -> String {
    for (name, factor) in &SIZE_UNITS[..3] {
        if bytes != 0 && bytes.is_multiple_of(*factor) {
            return format!("{}{name}", bytes / factor);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Raw {
        Raw::Text(s.into())
    }

    #[test]
    fn sizes() {
        assert_eq!(size(&t("64MiB")), Ok(64 << 20));
        assert_eq!(size(&t("16 kb")), Ok(16_000));
        assert_eq!(size(&t("512")), Ok(512));
        assert!(size(&t("12XB")).is_err());
        assert!(size(&t("MiB")).is_err());
        assert_eq!(show_size(64 << 20), "64MiB");
        assert_eq!(show_size(1000), "1000B");
    }

    #[test]
    fn durations_round_trip() {
        for s in ["15s", "5m", "24h", "90s", "1500ms", "0s"] {
            assert_eq!(show_duration(duration(&t(s)).unwrap()), s);
        }
        assert!(
            duration(&Raw::Number(15.into()))
                .unwrap_err()
                .contains("found a number")
        );
    }

    #[test]
    fn bools_and_counts() {
        assert_eq!(boolean(&t("T")), Ok(true));
        assert_eq!(boolean(&t("0")), Ok(false));
        assert!(boolean(&Raw::Str("true".into())).is_err());
        assert_eq!(count(&t("3")), Ok(3));
        assert!(count(&Raw::Str("3".into())).is_err());
        assert!(count(&t("-1")).is_err());
        assert_eq!(list(&t("a, b,,c")).unwrap(), ["a", "b", "c"]);
    }
}
