//! The trigger sites of this node's allocations (`shepard_reconcilers::trigger`): what the
//! task reconciler needs to see that no two allocations of the node share a trigger key. Read
//! straight from the allocations' jobs (no template text is copied): this runs at every task
//! reconcile, over every task of the node.

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
            let templates = t.task.templates.iter();
            let layout = trigger::layout_of(
                templates.map(|tpl| (tpl.dest_path.as_str(), tpl.embedded_tmpl.as_str())),
            );
            trigger::site(&t.alloc_ref()?, status, &t.id(), &t.job.name, layout)
        })
        .collect()
}
