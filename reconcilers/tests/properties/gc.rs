//! GC never deletes a key that names a running allocation, nor one outside the prefix; a
//! node pass deletes only this node's `keys/` and `state/` entries.

use std::collections::BTreeMap;

use proptest::prelude::*;
use shepard_reconcilers::gc::{
    GcAlloc, GcJob, GcNode, GcObservation, GcPass, GcScope, NodeStatus, reconcile_gc,
    reconcile_gc_pass,
};
use shepard_reconcilers::model::{AllocStatus, ClientStatus, DesiredStatus, KvView};
use shepard_reconcilers::{Action, Context, Key};

use super::keys::{name, no_slash};
use super::task::{prefix, put, t};

fn gc_alloc() -> impl Strategy<Value = (String, String, String, u32, u8, bool)> {
    (
        "[a-f0-9]{4}",
        name(),
        no_slash(),
        0u32..4,
        0u8..3,
        any::<bool>(),
    )
}

proptest! {
    #[test]
    fn gc_never_deletes_a_key_of_a_running_alloc(
        allocs in proptest::collection::vec(gc_alloc(), 1..8),
        node_states in proptest::collection::vec((0u8..5, 0u64..10_000), 3),
        job_present in any::<bool>(),
        stray in proptest::collection::vec((0u8..3, "[a-f0-9]{4}", 0u32..4), 0..6),
    ) {
        let nodes = ["n0", "n1", "n2"];
        let mut kv = KvView::new();
        let mut gc_allocs = Vec::new();
        for (id, job_name, group, index, node, live) in &allocs {
            let node = nodes[*node as usize];
            put(&mut kv, Key::state(node, id, "app"), "{}".into(), None);
            put(&mut kv, Key::trigger(node, job_name, group, "app", *index), "tok".into(), None);
            let client = if *live { ClientStatus::Running } else { ClientStatus::Complete };
            gc_allocs.push(GcAlloc {
                id: id.clone(), namespace: "default".into(), job_id: job_name.clone(), job_name: job_name.clone(),
                group: group.clone(), index: *index, node: node.into(),
                status: AllocStatus { desired: DesiredStatus::Run, client },
            });
        }
        for (node, id, index) in &stray {
            let node = nodes[*node as usize];
            put(&mut kv, Key::state(node, id, "app"), "{}".into(), None);
            put(&mut kv, Key::trigger(node, "web", "g", "app", *index), "tok".into(), None);
        }
        let statuses = [NodeStatus::Ready, NodeStatus::Down, NodeStatus::Absent, NodeStatus::Disconnected, NodeStatus::Initializing];
        let gc_nodes = node_states.iter().zip(nodes).map(|((s, since), name)| GcNode { name: name.into(), status: statuses[*s as usize], since: t(*since) }).collect();
        let jobs = if job_present { vec![GcJob { namespace: "default".into(), id: "web".into(), stop: false }] } else { vec![] };
        let obs = GcObservation { kv: &kv, allocs: gc_allocs.clone(), jobs, nodes: gc_nodes, nodes_listed_since: t(0) };
        let decision = reconcile_gc(&obs, &Context::new("n0"), t(100_000));
        let live: BTreeMap<String, ()> = gc_allocs.iter().filter(|a| a.status.is_live()).flat_map(|a| {
            [Key::state(&a.node, &a.id, "app").render(&prefix()), Key::trigger(&a.node, &a.job_name, &a.group, "app", a.index).render(&prefix())]
        }).map(|k| (k, ())).collect();
        for action in &decision.actions {
            if let Action::DeleteKey { key, .. } = action {
                prop_assert!(!live.contains_key(key), "deleted {} of a running alloc", key);
                prop_assert!(key.starts_with("shepard/"), "deleted {} outside the prefix", key);
            }
        }
        let node_pass = GcPass { scope: GcScope::Node, rollout_history: None };
        let local = reconcile_gc_pass(&obs, &node_pass, &Context::new("n0"), t(100_000));
        for deletion in &local.deletions {
            let key = &deletion.key;
            prop_assert!(!live.contains_key(key), "node pass deleted {} of a running alloc", key);
            prop_assert!(
                key.starts_with("shepard/keys/n0/") || key.starts_with("shepard/state/n0/"),
                "node pass deleted {} of another node or the cluster", key
            );
        }
    }
}
