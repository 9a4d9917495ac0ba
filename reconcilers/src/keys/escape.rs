//! Percent-escaping of Nomad names used as key path segments (the key layout in the README): every byte that is
//! not `[A-Za-z0-9._-]` is escaped, so a name holding `/` stays one segment. A name that is
//! exactly `.` or `..` has its dots escaped too, so no key ever holds a dot segment that an
//! HTTP client could normalise away, and the empty name is `%` (which no other name escapes
//! to), so no key holds an empty segment.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Everything except `[A-Za-z0-9._-]`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'_').remove(b'-');

/// The escaped path segment for a name.
pub fn escape(name: &str) -> String {
    match name {
        "" => "%".to_owned(),
        "." => "%2E".to_owned(),
        ".." => "%2E%2E".to_owned(),
        _ => utf8_percent_encode(name, SEGMENT).to_string(),
    }
}

/// The name an escaped segment stands for, if the segment is exactly what `escape` produces
/// for it (anything else is not a key shepard wrote).
pub fn unescape(segment: &str) -> Option<String> {
    if segment == "%" {
        return Some(String::new());
    }
    let name = percent_decode_str(segment).decode_utf8().ok()?.into_owned();
    (escape(&name) == segment).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_slash_percent_space_and_unicode() {
        assert_eq!(escape("a/b%c d"), "a%2Fb%25c%20d");
        assert_eq!(escape("web-1.v2_x"), "web-1.v2_x");
        assert_eq!(escape("ö"), "%C3%B6");
        assert_eq!(escape(".."), "%2E%2E");
        assert_eq!(escape("..."), "...");
        assert_eq!(escape(""), "%");
        assert_eq!(unescape("%").as_deref(), Some(""));
        assert_eq!(unescape("%2E%2E").as_deref(), Some(".."));
    }

    #[test]
    fn unescape_rejects_non_canonical_segments() {
        assert_eq!(unescape("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(unescape("%61"), None);
        assert_eq!(unescape("a%2fb"), None);
        assert_eq!(unescape("a b"), None);
        assert_eq!(unescape("%FF"), None);
    }
}
