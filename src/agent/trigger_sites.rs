//! The trigger sites of this node's allocations (`shepard_reconcilers::trigger`): what the
//! task reconciler needs to see that no two allocations of the node share a trigger key.

use shepard_reconcilers::trigger::{self, TriggerSite};

use super::snapshot;
use crate::observe::store::Observed;

/// Every task of an allocation on this node that has a trigger template and whose allocation
/// Nomad has not finished with.
pub fn node_triggers(observed: &Observed) -> Vec<TriggerSite> {
    snapshot::alloc_tasks(observed)
        .iter()
        .filter_map(|t| {
            let status = snapshot::alloc_status(&t.alloc.desired_status, &t.alloc.client_status);
            let spec = snapshot::task_spec(t.job, t.group, t.task);
            trigger::site(&t.alloc_ref()?, status, &t.id(), &t.job.name, &spec)
        })
        .collect()
}
