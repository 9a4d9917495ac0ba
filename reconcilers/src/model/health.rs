//! Consul health checks of an allocation's services (service IDs `_nomad-task-<alloc_id>-…`),
//! each with its status and since when it has had it (the agent tracks the "since").

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// A Consul check status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Passing.
    Passing,
    /// Warning (not healthy, as for Nomad deployments).
    Warning,
    /// Critical.
    Critical,
}

/// One check of the allocation's services.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckObservation {
    /// Consul `CheckID`.
    pub check_id: String,
    /// Current status.
    pub status: CheckStatus,
    /// Since when the check has had this status, as first seen by the agent.
    pub since: Timestamp,
}
