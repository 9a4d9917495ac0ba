//! The last guard on KV keys, checked before any KV request is sent: a key with an empty, `.`
//! or `..` segment is refused (an HTTP client normalises dot segments away, so such a key could
//! address another key than its text says), and, once the client is given the agent's prefix
//! ([`ConsulClient::with_key_prefix`]), so is every key outside it: writes and deletes (plain,
//! CAS, lock, and every operation of a transaction) as well as reads, which the agent and its
//! commands only ever make under the prefix.
//!
//! [`ConsulClient::with_key_prefix`]: super::ConsulClient::with_key_prefix

/// How a request uses its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyUse {
    /// One key.
    Key,
    /// A folder (`?recurse`, `?keys`, a tree delete): the key may end in `/`, and may be the
    /// prefix itself.
    Folder,
}

/// Why a key was refused before its request was sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeKey {
    /// The key is not under the configured prefix.
    #[error("key {key:?} is outside the prefix {prefix:?}")]
    OutsidePrefix {
        /// The key.
        key: String,
        /// The prefix.
        prefix: String,
    },
    /// The key has a `.` or `..` segment.
    #[error("key {key:?} has a {segment:?} segment")]
    DotSegment {
        /// The key.
        key: String,
        /// The segment.
        segment: String,
    },
    /// The key is empty, starts with `/` or holds `//`.
    #[error("key {key:?} has an empty segment")]
    EmptySegment {
        /// The key.
        key: String,
    },
}

/// Checks `key` for a request that uses it as `used`, under `prefix` if one is set.
pub(crate) fn check(prefix: Option<&str>, key: &str, used: KeyUse) -> Result<(), UnsafeKey> {
    let path = match used {
        KeyUse::Key => key,
        KeyUse::Folder => key.strip_suffix('/').unwrap_or(key),
    };
    // The root of the store, as a folder: only a prefix can refuse it.
    if !(used == KeyUse::Folder && path.is_empty()) {
        for segment in path.split('/') {
            match segment {
                "" => return Err(UnsafeKey::EmptySegment { key: key.into() }),
                "." | ".." => {
                    return Err(UnsafeKey::DotSegment {
                        key: key.into(),
                        segment: segment.into(),
                    });
                }
                _ => {}
            }
        }
    }
    if let Some(prefix) = prefix {
        let under = match key.strip_prefix(prefix) {
            Some(rest) => !rest.is_empty() || used == KeyUse::Folder,
            None => false,
        };
        if !under {
            return Err(UnsafeKey::OutsidePrefix {
                key: key.into(),
                prefix: prefix.into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: Option<&str> = Some("shepard/");

    #[test]
    fn keys_under_the_prefix_pass() {
        for key in [
            "shepard/keys/n1/default/batch/dispatch-1/g/t/5f1c",
            "shepard/state/n1/a%2Fb/%2E%2E",
            "shepard/a b/…/%",
        ] {
            assert_eq!(check(PREFIX, key, KeyUse::Key), Ok(()), "{key}");
        }
        assert_eq!(check(PREFIX, "shepard/", KeyUse::Folder), Ok(()));
        assert_eq!(check(PREFIX, "shepard/locks/x/", KeyUse::Folder), Ok(()));
    }

    #[test]
    fn keys_outside_the_prefix_are_refused() {
        for (key, used) in [
            ("other/x", KeyUse::Key),
            ("shepard", KeyUse::Key),
            ("shepardx/y", KeyUse::Key),
            ("", KeyUse::Folder),
            ("other/", KeyUse::Folder),
        ] {
            assert!(
                matches!(
                    check(PREFIX, key, used),
                    Err(UnsafeKey::OutsidePrefix { .. })
                ),
                "{key:?}"
            );
        }
    }

    #[test]
    fn dot_and_empty_segments_are_refused_anywhere() {
        for key in [
            "shepard/keys/n1/../../other",
            "shepard/keys/./x",
            "shepard/keys/..",
            "../shepard/x",
        ] {
            assert!(
                matches!(
                    check(PREFIX, key, KeyUse::Key),
                    Err(UnsafeKey::DotSegment { .. })
                ),
                "{key}"
            );
            assert!(
                matches!(
                    check(None, key, KeyUse::Key),
                    Err(UnsafeKey::DotSegment { .. })
                ),
                "{key} without a prefix"
            );
        }
        for key in ["shepard//x", "shepard/x/", "/shepard/x", ""] {
            assert!(
                matches!(
                    check(PREFIX, key, KeyUse::Key),
                    Err(UnsafeKey::EmptySegment { .. })
                ),
                "{key:?}"
            );
        }
        assert!(matches!(
            check(PREFIX, "shepard//", KeyUse::Folder),
            Err(UnsafeKey::EmptySegment { .. })
        ));
    }

    #[test]
    fn without_a_prefix_only_segments_are_checked() {
        assert_eq!(check(None, "anything/at/all", KeyUse::Key), Ok(()));
        assert_eq!(check(None, "", KeyUse::Folder), Ok(()));
    }
}
