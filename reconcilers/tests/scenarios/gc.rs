//! Scenarios of the GC reconciler. This agent runs on n1; n2 is another node.

use std::time::Duration;

use insta::assert_yaml_snapshot;
use shepard_reconcilers::gc::{
    GcAlloc, GcDecision, GcJob, GcNode, GcObservation, GcPass, GcScope, NodeStatus, reconcile_gc,
    reconcile_gc_pass,
};
use shepard_reconcilers::model::{
    AllocStatus, ClientStatus, DesiredStatus, KvEntry, KvView, RolloutState, SessionId, SlotHolder,
    TaskId,
};
use shepard_reconcilers::{Context, Decision, Key};

use super::fixture::{in_sync_record, rollout_record, running, t, task_id, triggered_record};

struct Gc {
    ctx: Context,
    kv: KvView,
    allocs: Vec<GcAlloc>,
    jobs: Vec<GcJob>,
    nodes: Vec<GcNode>,
    index: u64,
}

fn alloc(id: &str, index: u32, node: &str, status: AllocStatus) -> GcAlloc {
    GcAlloc {
        id: id.into(),
        namespace: "default".into(),
        job_id: "web".into(),
        job_name: "web".into(),
        group: "web".into(),
        index,
        node: node.into(),
        status,
    }
}

fn complete() -> AllocStatus {
    AllocStatus {
        desired: DesiredStatus::Stop,
        client: ClientStatus::Complete,
    }
}

impl Gc {
    /// Job web runs a1 on n1 and b1 on n2; both nodes ready; node cleanup after 1 h.
    fn new() -> Self {
        let mut ctx = Context::new("n1");
        ctx.node_cleanup_timeout = Duration::from_secs(3600);
        Gc {
            ctx,
            kv: KvView::new(),
            allocs: vec![
                alloc("a1", 0, "n1", running()),
                alloc("b1", 1, "n2", running()),
            ],
            jobs: vec![GcJob {
                namespace: "default".into(),
                id: "web".into(),
                stop: false,
            }],
            nodes: ["n1", "n2"]
                .iter()
                .map(|n| GcNode {
                    name: (*n).into(),
                    status: NodeStatus::Ready,
                    since: t(0),
                })
                .collect(),
            index: 100,
        }
    }

    fn key(mut self, key: Key, session: Option<&str>) -> Self {
        self.index += 1;
        let value = match &key {
            Key::State { .. } => in_sync_record(0).to_json(),
            _ => "x".into(),
        };
        let entry = KvEntry {
            value: Some(value),
            modify_index: self.index,
            session: session.map(|s| SessionId(s.into())),
        };
        self.kv.insert(key.render(&self.ctx.prefix), entry);
        self
    }

    fn raw(mut self, key: &str) -> Self {
        self.index += 1;
        self.kv.insert(
            key.into(),
            KvEntry {
                value: Some("x".into()),
                modify_index: self.index,
                session: None,
            },
        );
        self
    }

    /// Every key a1 (n1) and b1 (n2) have.
    fn with_alloc_keys(self) -> Self {
        self.key(Key::trigger("n1", "web", "web", "app", 0), None)
            .key(Key::state("n1", "a1", "app"), None)
            .key(Key::trigger("n2", "web", "web", "app", 1), None)
            .key(Key::state("n2", "b1", "app"), None)
    }

    fn value(mut self, key: Key, value: String, session: Option<&str>) -> Self {
        self = self.key(key.clone(), session);
        if let Some(entry) = self.kv.get_mut(&key.render(&self.ctx.prefix)) {
            entry.value = Some(value);
        }
        self
    }

    fn observation(&self) -> GcObservation<'_> {
        GcObservation {
            kv: &self.kv,
            allocs: self.allocs.clone(),
            jobs: self.jobs.clone(),
            nodes: self.nodes.clone(),
            nodes_listed_since: t(0),
        }
    }

    fn decide(&self) -> Decision {
        reconcile_gc(&self.observation(), &self.ctx, t(100))
    }

    /// A pass of `scope` keeping complete rollouts for 60 s.
    fn pass(&self, scope: GcScope) -> GcDecision {
        let pass = GcPass {
            scope,
            rollout_history: Some(Duration::from_secs(60)),
        };
        reconcile_gc_pass(&self.observation(), &pass, &self.ctx, t(100))
    }
}

/// A rollout record of `state` that finished at t(`finished`).
fn finished_rollout(state: RolloutState, finished: i64) -> String {
    let mut record = rollout_record(state);
    record.finished_at = Some(t(finished));
    record.to_json()
}

#[test]
fn keys_of_running_allocs_are_kept() {
    let g = Gc::new()
        .with_alloc_keys()
        .key(Key::Rollout(task_id()), None)
        .key(Key::Slot(task_id(), 0), None);
    assert_yaml_snapshot!(g.decide());
}

#[test]
fn keys_of_a_finished_alloc_on_this_node_are_deleted() {
    let mut g = Gc::new().with_alloc_keys();
    g.allocs[0].status = complete();
    assert_yaml_snapshot!(g.decide());
}

#[test]
fn keys_of_a_finished_alloc_on_another_live_node_are_left_to_its_agent() {
    let mut g = Gc::new().with_alloc_keys();
    g.allocs[1].status = complete();
    assert_yaml_snapshot!(g.decide());
}

#[test]
fn keys_of_a_down_node_wait_for_node_cleanup_timeout() {
    let mut g = Gc::new()
        .with_alloc_keys()
        .key(Key::Agent { node: "n2".into() }, None);
    g.allocs[1].status = AllocStatus {
        desired: DesiredStatus::Stop,
        client: ClientStatus::Lost,
    };
    g.nodes[1] = GcNode {
        name: "n2".into(),
        status: NodeStatus::Down,
        since: t(50),
    };
    assert_yaml_snapshot!(g.decide());
}

#[test]
fn keys_of_a_node_down_past_the_timeout_are_deleted() {
    let mut g = Gc::new()
        .with_alloc_keys()
        .key(Key::Agent { node: "n2".into() }, None);
    g.allocs[1].status = AllocStatus {
        desired: DesiredStatus::Stop,
        client: ClientStatus::Lost,
    };
    g.nodes[1] = GcNode {
        name: "n2".into(),
        status: NodeStatus::Down,
        since: t(-4300),
    };
    assert_yaml_snapshot!(g.decide());
}

#[test]
fn keys_of_a_node_down_just_past_the_timeout_by_the_servers_clock_wait_out_the_skew_allowance() {
    // Down since -3550 by a Nomad server's clock: past the timeout (3600 s) at 50 by this
    // agent's clock, but the two clocks may disagree: kept until 410 (the allowance is a tenth
    // of the timeout, 360 s).
    let mut g = Gc::new()
        .with_alloc_keys()
        .key(Key::Agent { node: "n2".into() }, None);
    g.allocs[1].status = AllocStatus {
        desired: DesiredStatus::Stop,
        client: ClientStatus::Lost,
    };
    g.nodes[1] = GcNode {
        name: "n2".into(),
        status: NodeStatus::Down,
        since: t(-3550),
    };
    assert_yaml_snapshot!(g.decide());
}

#[test]
fn a_down_nodes_key_naming_a_still_running_alloc_is_kept() {
    let mut g = Gc::new().with_alloc_keys();
    g.nodes[1] = GcNode {
        name: "n2".into(),
        status: NodeStatus::Down,
        since: t(-4300),
    };
    assert_yaml_snapshot!(g.decide());
}

#[test]
fn keys_of_a_purged_job_are_deleted_but_held_locks_kept() {
    let other = TaskId::new("default", "gone", "g", "t");
    let g = Gc::new()
        .key(Key::Rollout(other.clone()), None)
        .key(Key::Slot(other.clone(), 0), None)
        .key(Key::Slot(other.clone(), 1), Some("s-live"))
        .key(Key::TaskLock(other), None);
    assert_yaml_snapshot!(g.decide());
}

#[test]
fn keys_of_a_stopped_job_with_no_live_alloc_are_deleted() {
    let mut g = Gc::new()
        .key(Key::Rollout(task_id()), None)
        .key(Key::TaskLock(task_id()), None);
    g.jobs[0].stop = true;
    for a in &mut g.allocs {
        a.status = complete();
    }
    assert_yaml_snapshot!(g.decide());
}

#[test]
fn unknown_and_foreign_keys_are_reported_never_deleted() {
    let g = Gc::new()
        .raw("shepard/state/n1/only-two")
        .raw("shepard/notes")
        .raw("other/prefix/key");
    assert_yaml_snapshot!(g.decide());
}

#[test]
fn trigger_keys_with_slashes_in_the_job_name_match_their_alloc() {
    let mut g = Gc::new().key(
        Key::trigger("n1", "batch/dispatch-1", "web", "app", 0),
        None,
    );
    g.allocs[0].job_name = "batch/dispatch-1".into();
    assert_yaml_snapshot!(g.decide());
}

#[test]
fn a_node_pass_collects_only_this_nodes_keys() {
    let gone = TaskId::new("default", "gone", "g", "t");
    let mut g = Gc::new()
        .with_alloc_keys()
        .key(Key::Agent { node: "n3".into() }, None)
        .key(Key::Rollout(gone.clone()), None)
        .key(Key::TaskLock(gone), None);
    g.allocs[0].status = complete();
    g.allocs[1].status = complete();
    g.nodes.remove(1);
    assert_yaml_snapshot!(g.pass(GcScope::Node));
}

#[test]
fn a_cluster_pass_gives_each_deletion_its_reason() {
    let gone = TaskId::new("default", "gone", "g", "t");
    let mut g = Gc::new()
        .with_alloc_keys()
        .key(Key::Rollout(gone), None)
        .value(
            Key::Rollout(task_id()),
            finished_rollout(RolloutState::Complete, -600),
            None,
        );
    g.allocs[0].status = complete();
    g.nodes[1] = GcNode {
        name: "n2".into(),
        status: NodeStatus::Absent,
        since: t(-4000),
    };
    g.allocs[1].status = complete();
    assert_yaml_snapshot!(g.pass(GcScope::Cluster));
}

#[test]
fn complete_rollouts_are_kept_for_the_history_and_aborted_ones_for_good() {
    let other = TaskId::new("default", "web", "web", "sidecar");
    let third = TaskId::new("default", "web", "api", "app");
    let g = Gc::new()
        .value(
            Key::Rollout(task_id()),
            finished_rollout(RolloutState::Complete, 70),
            None,
        )
        .value(
            Key::Rollout(other),
            finished_rollout(RolloutState::Aborted, 0),
            None,
        )
        // Finished at 36 by another host's clock: past the 60 s history at 96, kept for the skew
        // allowance (a tenth, 6 s) until 102.
        .value(
            Key::Rollout(third),
            finished_rollout(RolloutState::Complete, 36),
            None,
        )
        // Finished long enough ago even if the clocks disagree.
        .value(
            Key::Rollout(TaskId::new("default", "web", "api", "worker")),
            finished_rollout(RolloutState::Complete, -600),
            None,
        );
    assert_yaml_snapshot!(g.pass(GcScope::Cluster));
}

#[test]
fn a_stopped_allocs_record_is_kept_while_it_claims_or_holds_a_slot() {
    let holder = SlotHolder {
        alloc_id: "a9".into(),
        node: "n1".into(),
        acquired_at: t(90),
    };
    let g = Gc::new()
        .value(
            Key::state("n1", "a8", "app"),
            triggered_record(0).to_json(),
            None,
        )
        .key(Key::state("n1", "a9", "app"), None)
        .value(
            Key::Slot(task_id(), 1),
            serde_json::to_string(&holder).unwrap(),
            Some("s-self"),
        )
        .key(Key::state("n1", "a7", "app"), None);
    assert_yaml_snapshot!(g.pass(GcScope::Node));
}

#[test]
fn the_gc_lock_is_neither_reported_nor_deleted() {
    let g = Gc::new().raw("shepard/locks/gc");
    assert_yaml_snapshot!(g.pass(GcScope::Cluster));
}

#[test]
fn alloc_id_trigger_keys_live_as_long_as_their_allocation() {
    let mut g = Gc::new()
        .key(
            Key::alloc_trigger("n1", "default", "web", "web", "app", "a1"),
            None,
        )
        .key(
            Key::alloc_trigger("n1", "staging", "web", "web", "app", "z9"),
            None,
        )
        .key(
            Key::alloc_trigger("n1", "default", "web", "web", "app", "gone"),
            None,
        )
        .key(Key::trigger("n1", "web", "web", "app", 0), None)
        .key(
            Key::alloc_trigger("n2", "default", "web", "web", "app", "b1"),
            None,
        );
    let mut z9 = alloc("z9", 0, "n1", complete());
    z9.namespace = "staging".into();
    g.allocs.push(z9);
    assert_yaml_snapshot!(g.pass(GcScope::Node));
}
