//! Consul health checks of an allocation's services (service IDs `_nomad-task-<alloc_id>-…`),
//! each with its status and what the agent saw of its history: since when it has had that
//! status, when the agent first saw this registration of it, and when it last saw the result
//! change. Consul 1.8 reports no time of a check's last run, so these are the only evidence
//! that a check ran after some point.

use std::time::Duration;

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
    /// When the agent first saw this registration of the check (a new `CreateIndex`: Nomad
    /// registers a task's services again at every start, a group's once per allocation).
    pub registered_at: Timestamp,
    /// When the agent last saw the check's status or output change within this registration:
    /// the check ran then. `None` when it has not changed since it was registered (its status
    /// may date from a registration's initial status, or from before a restart).
    pub result_changed_at: Option<Timestamp>,
    /// How long after a point the check is certain to have run and reported a failure:
    /// `interval × max(1, failures_before_critical) + timeout`, from the job spec. `None` when
    /// the spec does not say; only a seen result change then proves the check ran.
    #[serde(with = "humantime_serde")]
    pub report_within: Option<Duration>,
}
