//! [`ConsulError`]: every way a Consul call can fail, and the mapping of Consul 1.8.7's
//! status codes and `text/plain` error bodies onto it (see `refdata/consul/error-*.http`).

use std::fmt;

/// A write that Consul can refuse with `200 false` instead of an HTTP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedWrite {
    /// `PUT ?cas=`: the key's ModifyIndex moved (or `cas=0` and the key exists).
    Cas,
    /// `PUT ?acquire=`: another session holds the lock, or a lock-delay is running.
    Acquire,
    /// `PUT ?release=`: the session does not hold the lock.
    Release,
    /// `DELETE ?cas=`: the key's ModifyIndex moved.
    DeleteCas,
    /// A plain `PUT` or `DELETE` answered `false` (not expected from Consul).
    Write,
    /// `PUT /v1/txn` rolled back (`409`): a check failed, a lock is held, a CAS index moved.
    Transaction,
}

impl fmt::Display for RefusedWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefusedWrite::Cas => "check-and-set",
            RefusedWrite::Acquire => "acquire",
            RefusedWrite::Release => "release",
            RefusedWrite::DeleteCas => "check-and-set delete",
            RefusedWrite::Write => "write",
            RefusedWrite::Transaction => "transaction",
        })
    }
}

/// Why a Consul call failed. `op` is the operation name also used as the metric label.
#[derive(Debug, thiserror::Error)]
pub enum ConsulError {
    /// Consul answered `200 false`: the CAS index was stale, the lock is held (or in
    /// lock-delay), or the session did not hold the lock it tried to release.
    #[error("consul refused the {write} of key {key:?}")]
    Refused { write: RefusedWrite, key: String },
    /// The session is unknown or was invalidated (`invalid session` on acquire, 404 on
    /// renew): its locks are gone and a new session is needed.
    #[error("{op}: invalid session {session}: {message}")]
    InvalidSession {
        op: &'static str,
        session: String,
        message: String,
    },
    /// 403 `Permission denied`: the token is valid but its policy does not allow this.
    #[error("{op}: permission denied")]
    PermissionDenied { op: &'static str },
    /// 403 `ACL not found`: the token is unknown to Consul (deleted, expired or mistyped).
    #[error("{op}: ACL token not found")]
    AclNotFound { op: &'static str },
    /// 404 for a resource that must exist (missing keys are `Ok(None)` instead).
    #[error("{op}: not found: {message}")]
    NotFound { op: &'static str, message: String },
    /// Any other non-success status, with the start of Consul's (usually `text/plain`) body.
    #[error("{op}: consul answered {status}: {body}")]
    Server {
        op: &'static str,
        status: u16,
        body: String,
    },
    /// No usable response: connection refused or reset, TLS failure, request timeout.
    #[error("{op}: request failed: {}", chain(.source))]
    Transport {
        op: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// A success status whose body or headers are not what Consul sends: truncated or
    /// non-JSON body (an HTML page from a proxy), missing or invalid `X-Consul-Index`.
    #[error("{op}: cannot decode response ({status}): {reason}; body starts: {body:?}")]
    Decode {
        op: &'static str,
        status: u16,
        reason: String,
        body: String,
    },
    /// The client could not be built: bad address or TLS files.
    #[error("consul client configuration: {0}")]
    Config(String),
    /// The request was not sent: its key is outside the client's prefix or has an empty, `.`
    /// or `..` segment.
    #[error("{op}: refused: {source}")]
    UnsafeKey {
        op: &'static str,
        #[source]
        source: crate::consul::UnsafeKey,
    },
}

impl ConsulError {
    /// True for `200 false` answers: an expected outcome of contention, not a fault.
    pub fn is_refused(&self) -> bool {
        matches!(self, ConsulError::Refused { .. })
    }

    /// True when the session is gone and every lock it held must be treated as lost.
    pub fn is_invalid_session(&self) -> bool {
        matches!(self, ConsulError::InvalidSession { .. })
    }
}

/// An error and its causes on one line: reqwest's own message ("error sending request")
/// hides the useful part (connection refused, certificate not valid for name, timeout).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let message = inner.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        cause = inner.source();
    }
    text
}

/// Longest body excerpt kept in an error: enough to read Consul's one-line messages, short
/// enough that a proxy's HTML page does not flood the logs.
const BODY_EXCERPT: usize = 300;

/// The first [`BODY_EXCERPT`] characters of `body`, trimmed.
pub(crate) fn excerpt(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(BODY_EXCERPT) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_string(),
    }
}

/// Maps a non-success response to an error. `session` is the session the request used, if
/// any, so that `invalid session` can name it.
pub(crate) fn from_status(
    op: &'static str,
    status: u16,
    body: &str,
    session: Option<&str>,
) -> ConsulError {
    let message = body.trim();
    match status {
        // 1.8.7 answers an unknown token with "ACL not found" and a known token without
        // the right policy with "Permission denied", both as 403 text/plain.
        403 if message.contains("ACL not found") => ConsulError::AclNotFound { op },
        403 => ConsulError::PermissionDenied { op },
        // Acquire with a destroyed session: 500 `invalid session "<id>"`.
        500 if message.starts_with("invalid session") => ConsulError::InvalidSession {
            op,
            session: session.unwrap_or_default().to_string(),
            message: excerpt(message),
        },
        // Renew of an unknown or expired session: 404 `Session id '<id>' not found`.
        404 if session.is_some() => ConsulError::InvalidSession {
            op,
            session: session.unwrap_or_default().to_string(),
            message: excerpt(message),
        },
        404 => ConsulError::NotFound {
            op,
            message: excerpt(message),
        },
        _ => ConsulError::Server {
            op,
            status,
            body: excerpt(message),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_not_found_and_permission_denied_differ() {
        assert!(matches!(
            from_status("kv_get", 403, "ACL not found", None),
            ConsulError::AclNotFound { .. }
        ));
        assert!(matches!(
            from_status("kv_get", 403, "Permission denied", None),
            ConsulError::PermissionDenied { .. }
        ));
    }

    #[test]
    fn invalid_session_on_acquire_and_renew() {
        let acquire = from_status(
            "kv_acquire",
            500,
            "invalid session \"992476e0-fe39-4fdd-83ed-5d55d1f02c72\"",
            Some("992476e0-fe39-4fdd-83ed-5d55d1f02c72"),
        );
        assert!(acquire.is_invalid_session(), "{acquire:?}");
        let renew = from_status(
            "session_renew",
            404,
            "Session id '992476e0-fe39-4fdd-83ed-5d55d1f02c72' not found",
            Some("992476e0-fe39-4fdd-83ed-5d55d1f02c72"),
        );
        assert!(renew.is_invalid_session(), "{renew:?}");
    }

    #[test]
    fn other_500s_are_server_errors_with_body() {
        let e = from_status(
            "session_create",
            500,
            "Invalid Session TTL '5000000000'",
            None,
        );
        match e {
            ConsulError::Server { status, body, .. } => {
                assert_eq!(status, 500);
                assert!(body.contains("Invalid Session TTL"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn excerpt_cuts_long_bodies_on_char_boundaries() {
        let long = "é".repeat(1000);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), BODY_EXCERPT + 1);
    }
}
