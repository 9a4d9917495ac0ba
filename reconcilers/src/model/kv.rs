//! The agent's view of Consul KV under the prefix: each entry's value, `ModifyIndex` (for CAS)
//! and lock holder. Reconcilers look up the keys they need in it by building them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::identity::SessionId;

/// One KV entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntry {
    /// The value as text (`None` for a null value, e.g. after a bare release).
    pub value: Option<String>,
    /// `ModifyIndex`: the CAS index of the next write.
    pub modify_index: u64,
    /// `Session`: the lock holder, if any.
    pub session: Option<SessionId>,
}

/// Every entry under the prefix, keyed by full key (prefix included). One consistent listing
/// (a single recursive blocking query) so that records and locks agree with each other.
pub type KvView = BTreeMap<String, KvEntry>;
