//! KV transactions (`PUT /v1/txn`): several KV operations applied atomically, or none. shepard
//! uses them to make a write conditional on another key not having moved — a slot lock taken
//! or released only while it is as observed, an allocation record's slot claim written only
//! while its lock is still ours. Consul 1.8.7 answers `200` with `Results` when every
//! operation applied, and `409` with `Errors` (`OpIndex`, `What`) when it rolled back.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::consul::ConsulClient;
use crate::consul::client::Call;
use crate::consul::error::{ConsulError, RefusedWrite, from_status};
use crate::consul::key_guard::KeyUse;

/// One operation of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnOp {
    /// Fails unless `key` exists with `ModifyIndex == index`.
    CheckIndex { key: String, index: u64 },
    /// Fails if `key` exists.
    CheckNotExists { key: String },
    /// Fails unless `key` is locked by `session`.
    CheckSession { key: String, session: String },
    /// Writes `value` and `flags` unconditionally (guarded by the transaction's checks).
    Set {
        key: String,
        value: Vec<u8>,
        flags: u64,
    },
    /// Takes `key`'s lock for `session`, writing `value` and `flags` (as `?acquire=`).
    Lock {
        key: String,
        session: String,
        value: Vec<u8>,
        flags: u64,
    },
    /// Releases `key`'s lock held by `session`, writing `value` and `flags` (as `?release=`).
    Unlock {
        key: String,
        session: String,
        value: Vec<u8>,
        flags: u64,
    },
    /// Writes `value` and `flags` if `key`'s `ModifyIndex` is `index` (0: if absent).
    Cas {
        key: String,
        value: Vec<u8>,
        flags: u64,
        index: u64,
    },
}

impl TxnOp {
    /// The check that `key` is still as observed: at `ModifyIndex` `index`, or absent.
    pub fn unchanged(key: &str, index: Option<u64>) -> Self {
        let key = key.to_owned();
        match index {
            Some(index) => TxnOp::CheckIndex { key, index },
            None => TxnOp::CheckNotExists { key },
        }
    }

    fn key(&self) -> &str {
        match self {
            TxnOp::CheckIndex { key, .. }
            | TxnOp::CheckNotExists { key }
            | TxnOp::CheckSession { key, .. }
            | TxnOp::Set { key, .. }
            | TxnOp::Lock { key, .. }
            | TxnOp::Unlock { key, .. }
            | TxnOp::Cas { key, .. } => key,
        }
    }

    fn session(&self) -> Option<&str> {
        match self {
            TxnOp::Lock { session, .. }
            | TxnOp::Unlock { session, .. }
            | TxnOp::CheckSession { session, .. } => Some(session),
            _ => None,
        }
    }

    /// The operation as Consul's JSON: `{"KV": {"Verb": …, "Key": …, …}}`, values base64.
    fn wire(&self) -> Value {
        let kv = match self {
            TxnOp::CheckIndex { key, index } => {
                json!({"Verb": "check-index", "Key": key, "Index": index})
            }
            TxnOp::CheckNotExists { key } => json!({"Verb": "check-not-exists", "Key": key}),
            TxnOp::CheckSession { key, session } => {
                json!({"Verb": "check-session", "Key": key, "Session": session})
            }
            TxnOp::Set { key, value, flags } => json!({"Verb": "set", "Key": key,
                "Value": STANDARD.encode(value), "Flags": flags}),
            TxnOp::Lock {
                key,
                session,
                value,
                flags,
            }
            | TxnOp::Unlock {
                key,
                session,
                value,
                flags,
            } => {
                let verb = if matches!(self, TxnOp::Lock { .. }) {
                    "lock"
                } else {
                    "unlock"
                };
                json!({"Verb": verb, "Key": key, "Session": session,
                    "Value": STANDARD.encode(value), "Flags": flags})
            }
            TxnOp::Cas {
                key,
                value,
                flags,
                index,
            } => json!({"Verb": "cas", "Key": key, "Index": index,
                "Value": STANDARD.encode(value), "Flags": flags}),
        };
        json!({ "KV": kv })
    }
}

/// The body of a rolled-back transaction.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RolledBack {
    #[serde(default)]
    errors: Option<Vec<TxnError>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TxnError {
    op_index: usize,
    what: String,
}

impl ConsulClient {
    /// Applies `ops` atomically. A rolled-back transaction is [`ConsulError::Refused`] naming
    /// the key of the operation that failed — or [`ConsulError::InvalidSession`] when that
    /// operation's session is gone, [`ConsulError::PermissionDenied`] when the token may not
    /// touch its key. Every operation's key passes the key guard (`key_guard`) first, or
    /// nothing is sent.
    pub async fn kv_txn(&self, ops: &[TxnOp]) -> Result<(), ConsulError> {
        for op in ops {
            self.check_key("kv_txn", op.key(), KeyUse::Key)?;
        }
        let body = Value::Array(ops.iter().map(TxnOp::wire).collect()).to_string();
        let call = Call::new("kv_txn", Method::PUT, "/v1/txn".to_owned()).body(body.into_bytes());
        let reply = self.send(call).await?;
        if reply.is_success() {
            return Ok(());
        }
        if reply.status != 409 {
            return Err(from_status(reply.op, reply.status, &reply.text(), None));
        }
        let rolled_back: RolledBack = reply.json()?;
        let first = rolled_back.errors.unwrap_or_default().into_iter().next();
        let Some(error) = first else {
            return Err(reply.decode_error("409 without errors".into()));
        };
        let op = ops.get(error.op_index);
        let key = op.map_or_else(String::new, |o| o.key().to_owned());
        tracing::debug!(key, reason = %error.what, "consul transaction rolled back");
        // ACL denials come back as a rolled-back transaction too, not as a 403.
        if error.what == "Permission denied" {
            return Err(ConsulError::PermissionDenied { op: "kv_txn" });
        }
        if error.what.starts_with("invalid session")
            && let Some(session) = op.and_then(TxnOp::session)
        {
            return Err(ConsulError::InvalidSession {
                op: "kv_txn",
                session: session.to_owned(),
                message: error.what,
            });
        }
        Err(ConsulError::Refused {
            write: RefusedWrite::Transaction,
            key,
        })
    }
}
