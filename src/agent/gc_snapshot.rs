//! Translates what the watches (or `shepard gc`'s one-shot reads) saw into the GC
//! observation of the decision core: this node's allocations, and for a cluster-wide pass every
//! allocation, job and node. Whatever this version cannot judge counts as alive: GC never
//! removes what it does not understand.

use std::collections::HashMap;

use shepard_reconcilers::Timestamp;
use shepard_reconcilers::gc::{GcAlloc, GcJob, GcNode, GcObservation};
use shepard_reconcilers::model::{AllocStatus, ClientStatus, DesiredStatus, KvView};

use super::snapshot;
use crate::nomad::JobListStub;
use crate::nomad::models::{
    Allocation, AllocationListStub, ClientStatus as NomadClientStatus,
    DesiredStatus as NomadDesiredStatus, alloc_index_from_name,
};

/// The cluster-wide sources of a [`shepard_reconcilers::gc::GcScope::Cluster`] pass.
pub struct ClusterSources<'a> {
    pub allocs: &'a [AllocationListStub],
    pub jobs: &'a [JobListStub],
    pub nodes: Vec<GcNode>,
    pub nodes_listed_since: Timestamp,
}

/// This node's allocations (the node watch) as GC sees them, all on `node`: an omitted
/// `NodeName` must not make a live allocation's trigger key look unused.
pub fn own_allocs(own: &[Allocation], node: &str) -> Vec<GcAlloc> {
    own.iter()
        .map(|alloc| GcAlloc {
            node: node.to_owned(),
            ..node_alloc(alloc)
        })
        .collect()
}

/// The observation of a pass: `own` are this node's allocations ([`own_allocs`]); `cluster`
/// is `None` for a pass over this node's keys only.
pub fn observation<'a>(
    kv: &'a KvView,
    own: Vec<GcAlloc>,
    cluster: Option<ClusterSources<'_>>,
) -> GcObservation<'a> {
    let mut allocs = own;
    let Some(cluster) = cluster else {
        return GcObservation {
            kv,
            allocs,
            jobs: Vec::new(),
            nodes: Vec::new(),
            nodes_listed_since: Timestamp::EPOCH,
        };
    };
    let names: HashMap<(&str, &str), &str> = cluster
        .jobs
        .iter()
        .map(|j| ((j.namespace.as_str(), j.id.as_str()), j.name.as_str()))
        .collect();
    // Both listings may hold the same allocation; the decision core keeps the livelier one.
    allocs.extend(cluster.allocs.iter().map(|stub| {
        let job_name = names
            .get(&(stub.namespace.as_str(), stub.job_id.as_str()))
            .copied()
            .unwrap_or(stub.job_id.as_str());
        GcAlloc {
            id: stub.id.clone(),
            namespace: stub.namespace.clone(),
            job_id: stub.job_id.clone(),
            job_name: job_name.to_owned(),
            group: stub.task_group.clone(),
            index: index(&stub.name),
            node: stub.node_name.clone(),
            status: status(&stub.desired_status, &stub.client_status),
        }
    }));
    GcObservation {
        kv,
        allocs,
        jobs: cluster
            .jobs
            .iter()
            .map(|j| GcJob {
                namespace: j.namespace.clone(),
                id: j.id.clone(),
                stop: j.stop,
            })
            .collect(),
        nodes: cluster.nodes,
        nodes_listed_since: cluster.nodes_listed_since,
    }
}

fn node_alloc(alloc: &Allocation) -> GcAlloc {
    GcAlloc {
        id: alloc.id.clone(),
        namespace: alloc.namespace.clone(),
        job_id: alloc.job_id.clone(),
        job_name: alloc
            .job
            .as_ref()
            .map_or_else(|| alloc.job_id.clone(), |j| j.name.clone()),
        group: alloc.task_group.clone(),
        index: index(&alloc.name),
        node: alloc.node_name.clone(),
        status: status(&alloc.desired_status, &alloc.client_status),
    }
}

/// The allocation index; an unreadable name matches no trigger key, but the allocation still
/// keeps its records.
fn index(name: &str) -> u32 {
    alloc_index_from_name(name).unwrap_or(u32::MAX)
}

/// An unknown status counts as running.
fn status(desired: &NomadDesiredStatus, client: &NomadClientStatus) -> AllocStatus {
    snapshot::alloc_status(desired, client).unwrap_or(AllocStatus {
        desired: DesiredStatus::Run,
        client: ClientStatus::Running,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stub(id: &str, job: &str, status: &str) -> AllocationListStub {
        AllocationListStub {
            id: id.into(),
            name: format!("{job}.web[2]"),
            namespace: "default".into(),
            node_name: "n2".into(),
            job_id: job.into(),
            task_group: "web".into(),
            desired_status: NomadDesiredStatus::Run,
            client_status: NomadClientStatus::from(status),
            ..AllocationListStub::default()
        }
    }

    #[test]
    fn cluster_allocations_take_the_job_name_from_the_job_listing() {
        let kv = KvView::new();
        let jobs = [JobListStub {
            id: "batch/dispatch-1".into(),
            name: "batch".into(),
            namespace: "default".into(),
            ..JobListStub::default()
        }];
        let allocs = [
            stub("a", "batch/dispatch-1", "running"),
            stub("b", "other", "complete"),
        ];
        let cluster = ClusterSources {
            allocs: &allocs,
            jobs: &jobs,
            nodes: Vec::new(),
            nodes_listed_since: Timestamp::EPOCH,
        };
        let obs = observation(&kv, Vec::new(), Some(cluster));
        assert_eq!(obs.allocs[0].job_name, "batch");
        assert_eq!(obs.allocs[0].index, 2);
        assert!(obs.allocs[0].status.is_live());
        assert_eq!(obs.allocs[1].job_name, "other");
        assert!(!obs.allocs[1].status.is_live());
        assert_eq!(obs.jobs.len(), 1);
    }

    #[test]
    fn this_nodes_allocations_are_on_this_node_whatever_their_node_name_says() {
        let alloc = Allocation {
            id: "a".into(),
            name: "web.web[3]".into(),
            job_id: "web".into(),
            desired_status: NomadDesiredStatus::Run,
            client_status: NomadClientStatus::Running,
            ..Allocation::default()
        };
        let own = own_allocs(&[alloc], "n1");
        assert_eq!(own[0].node, "n1");
        assert_eq!(own[0].index, 3);
        assert_eq!(own[0].job_name, "web");
        assert!(own[0].status.is_live());
    }

    #[test]
    fn an_unknown_status_counts_as_running() {
        let kv = KvView::new();
        let allocs = [stub("a", "web", "rebooting")];
        let cluster = ClusterSources {
            allocs: &allocs,
            jobs: &[],
            nodes: Vec::new(),
            nodes_listed_since: Timestamp::EPOCH,
        };
        let obs = observation(&kv, Vec::new(), Some(cluster));
        assert!(obs.allocs[0].status.is_live());
    }
}
