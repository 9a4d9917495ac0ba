//! Scenarios of the rollout reconciler: leadership through `task_lock`, and the rollout
//! record's states. Three allocations: a1 on n1 (this node), b1 and c1 on n2.

use insta::assert_yaml_snapshot;
use shepard_reconcilers::Decision;
use shepard_reconcilers::model::{
    AllocRecord, AllocRef, Fingerprint, KvEntry, KvView, Phase, Progress, RolloutRecord,
    RolloutState, SessionId,
};
use shepard_reconcilers::rollout::{Member, RolloutObservation, reconcile_rollout};
use shepard_reconcilers::{Context, Key, Timestamp};

use super::fixture::{CONFIG, in_sync_record, rollout_record, running, spec, t, task_id};

/// The digest of the fixture's runs: a1, b1 and c1, each started at 0.
pub(crate) fn fixture_runs() -> String {
    shepard_reconcilers::rollout::runs_digest(&[
        ("a1", Some(t(0))),
        ("b1", Some(t(0))),
        ("c1", Some(t(0))),
    ])
}

pub(crate) struct Leader {
    ctx: Context,
    kv: KvView,
    pub(crate) members: Vec<Member>,
    session: Option<SessionId>,
    clock_stepped_at: Option<Timestamp>,
    index: u64,
}

impl Leader {
    /// This agent (n1, session s-self) holds the task lock; all three allocations in sync.
    pub(crate) fn new() -> Self {
        let members = [("a1", 0, "n1"), ("b1", 1, "n2"), ("c1", 2, "n2")]
            .into_iter()
            .map(|(id, index, node)| Member {
                alloc: AllocRef {
                    id: id.into(),
                    index,
                    node: node.into(),
                },
                status: running(),
            })
            .collect();
        let mut l = Leader {
            ctx: Context::new("n1"),
            kv: KvView::new(),
            members,
            session: Some(SessionId("s-self".into())),
            clock_stepped_at: None,
            index: 20,
        };
        l.put(Key::TaskLock(task_id()), "{}", Some("s-self"));
        for (id, index, node) in [("a1", 0, "n1"), ("b1", 1, "n2"), ("c1", 2, "n2")] {
            l.put(
                Key::state(node, id, "app"),
                &in_sync_record(index).to_json(),
                None,
            );
        }
        l
    }

    pub(crate) fn put(&mut self, key: Key, value: &str, session: Option<&str>) {
        self.index += 1;
        let entry = KvEntry {
            value: Some(value.into()),
            modify_index: self.index,
            session: session.map(|s| SessionId(s.into())),
        };
        self.kv.insert(key.render(&self.ctx.prefix), entry);
    }

    fn lock(mut self, session: Option<&str>) -> Self {
        self.put(Key::TaskLock(task_id()), "{}", session);
        self
    }

    /// Allocation `id`'s record in `phase` (drift first seen at `detected`).
    pub(crate) fn phase(mut self, id: &str, phase: Phase, detected: i64) -> Self {
        let (index, node) = match id {
            "a1" => (0, "n1"),
            "b1" => (1, "n2"),
            _ => (2, "n2"),
        };
        let mut r: AllocRecord = in_sync_record(index);
        r.phase = phase;
        r.drift_detected_at = Some(t(detected));
        if phase.in_flight() {
            r.slot = Some(index);
            r.token = Some(format!("tok-{id}"));
            r.triggered_at = Some(t(detected + 5));
        }
        if phase == Phase::Stuck {
            r.last_error = Some("missed healthy_deadline: check web-http is critical".into());
        }
        self.put(Key::state(node, id, "app"), &r.to_json(), None);
        self
    }

    /// Allocation `id` drifted to config `fingerprint`, first seen at `detected`.
    pub(crate) fn drifted_to(mut self, id: &str, fingerprint: &str, detected: i64) -> Self {
        let (index, node) = match id {
            "a1" => (0, "n1"),
            "b1" => (1, "n2"),
            _ => (2, "n2"),
        };
        let mut r: AllocRecord = in_sync_record(index);
        r.phase = Phase::Drifted;
        r.drift_detected_at = Some(t(detected));
        r.target
            .insert(CONFIG.into(), Fingerprint::new(fingerprint));
        self.put(Key::state(node, id, "app"), &r.to_json(), None);
        self
    }

    pub(crate) fn rollout(mut self, record: RolloutRecord) -> Self {
        self.put(Key::Rollout(task_id()), &record.to_json(), None);
        self
    }

    /// This agent's host clock stepped; the step was seen at `at`.
    pub(crate) fn clock_stepped(mut self, at: i64) -> Self {
        self.clock_stepped_at = Some(t(at));
        self
    }

    pub(crate) fn decide(&self) -> Decision {
        let obs = RolloutObservation {
            task: task_id(),
            spec: spec(),
            members: self.members.clone(),
            session: self.session.clone(),
            kv: &self.kv,
            clock_stepped_at: self.clock_stepped_at,
        };
        reconcile_rollout(&obs, &self.ctx, t(100), "r-new")
    }
}

fn finished(state: RolloutState, at: i64) -> RolloutRecord {
    RolloutRecord {
        finished_at: Some(t(at)),
        updated_at: t(at),
        ..rollout_record(state)
    }
}

#[test]
fn free_task_lock_is_acquired_by_a_participating_agent() {
    assert_yaml_snapshot!(Leader::new().lock(None).decide());
}

#[test]
fn task_lock_held_by_another_agent_means_nothing_to_do() {
    assert_yaml_snapshot!(
        Leader::new()
            .lock(Some("s-other"))
            .phase("b1", Phase::Drifted, 60)
            .decide()
    );
}

#[test]
fn leader_without_a_local_allocation_releases_the_lock() {
    let mut l = Leader::new();
    l.members.retain(|m| m.alloc.node != "n1");
    assert_yaml_snapshot!(l.decide());
}

#[test]
fn drift_without_a_rollout_creates_generation_one() {
    assert_yaml_snapshot!(Leader::new().phase("b1", Phase::Drifted, 60).decide());
}

#[test]
fn drift_after_a_complete_rollout_creates_the_next_generation() {
    let l = Leader::new()
        .rollout(finished(RolloutState::Complete, 40))
        .phase("c1", Phase::Waiting, 60);
    assert_yaml_snapshot!(l.decide());
}

#[test]
fn rolling_with_nothing_left_completes() {
    assert_yaml_snapshot!(
        Leader::new()
            .rollout(rollout_record(RolloutState::Rolling))
            .decide()
    );
}

#[test]
fn rolling_with_restarts_in_flight_stays_rolling() {
    let l = Leader::new()
        .rollout(rollout_record(RolloutState::Rolling))
        .phase("b1", Phase::Verifying, 60);
    assert_yaml_snapshot!(l.decide());
}

#[test]
fn rolling_with_a_stuck_alloc_becomes_stuck() {
    let l = Leader::new()
        .rollout(rollout_record(RolloutState::Rolling))
        .phase("b1", Phase::Stuck, 60)
        .phase("c1", Phase::Waiting, 60);
    assert_yaml_snapshot!(l.decide());
}

#[test]
fn stuck_returns_to_rolling_when_the_stuck_alloc_recovers() {
    let l = Leader::new()
        .rollout(rollout_record(RolloutState::Stuck))
        .phase("c1", Phase::Waiting, 60);
    assert_yaml_snapshot!(l.decide());
}

#[test]
fn stuck_returns_to_rolling_when_the_stuck_alloc_is_replaced() {
    let mut l = Leader::new()
        .rollout(rollout_record(RolloutState::Stuck))
        .phase("b1", Phase::Stuck, 60)
        .phase("c1", Phase::Waiting, 60);
    l.members[1].status.desired = shepard_reconcilers::model::DesiredStatus::Stop;
    assert_yaml_snapshot!(l.decide());
}

#[test]
fn paused_is_never_overridden() {
    let l = Leader::new()
        .rollout(rollout_record(RolloutState::Paused))
        .phase("b1", Phase::Stuck, 60);
    assert_yaml_snapshot!(l.decide());
}

/// An aborted rollout (at 80 by the operator's clock) whose leader recorded that it aborted
/// the move to `v2`.
fn aborted_v2() -> RolloutRecord {
    let mut v2 = std::collections::BTreeMap::new();
    v2.insert(CONFIG.to_owned(), Fingerprint::new("v2"));
    RolloutRecord {
        aborted_targets: Some(vec![v2]),
        ..finished(RolloutState::Aborted, 80)
    }
}

#[test]
fn aborted_records_the_configurations_it_aborted() {
    // First sight of the abort: b1 drifted to v2 is what was being rolled out.
    let l = Leader::new()
        .rollout(finished(RolloutState::Aborted, 80))
        .drifted_to("b1", "v2", 60);
    assert_yaml_snapshot!(l.decide());
}

#[test]
fn aborted_is_kept_for_the_configuration_it_aborted() {
    // b1's agent first saw the drift at 90 by its clock, minutes ahead of the operator's: the
    // same configuration, so it stays aborted.
    let l = Leader::new()
        .rollout(aborted_v2())
        .drifted_to("b1", "v2", 90);
    let decision = l.decide();
    assert!(decision.actions.is_empty(), "{decision:?}");
}

#[test]
fn aborted_gives_way_to_a_newer_configuration_a_stuck_restart_has_seen() {
    // b1's restart to v2 is stuck and keeps its slot; its agent saw v3 and noted it.
    let mut stuck = in_sync_record(1);
    stuck.phase = Phase::Stuck;
    stuck.slot = Some(1);
    stuck.target.insert(CONFIG.into(), Fingerprint::new("v2"));
    let mut v3 = std::collections::BTreeMap::new();
    v3.insert(CONFIG.to_owned(), Fingerprint::new("v3"));
    stuck.next_target = Some(v3);
    let mut l = Leader::new().rollout(aborted_v2());
    l.put(Key::state("n2", "b1", "app"), &stuck.to_json(), None);
    assert_yaml_snapshot!(l.decide());
}

#[test]
fn aborted_gives_way_to_a_newer_configuration() {
    // b1 drifted to v3 at 60 by a clock minutes behind: a newer configuration all the same.
    let l = Leader::new()
        .rollout(aborted_v2())
        .drifted_to("b1", "v3", 60);
    assert_yaml_snapshot!(l.decide());
}

#[test]
fn changed_settings_are_written_into_a_rolling_rollout() {
    let mut record = rollout_record(RolloutState::Rolling);
    record.max_parallel = 5;
    let l = Leader::new()
        .rollout(record)
        .phase("b1", Phase::Waiting, 60);
    assert_yaml_snapshot!(l.decide());
}

#[test]
fn unreadable_rollout_is_reported_and_left_alone() {
    let mut l = Leader::new().phase("b1", Phase::Drifted, 60);
    l.put(Key::Rollout(task_id()), "{\"state\":", None);
    assert_yaml_snapshot!(l.decide());
}

/// A rollout skipping `alloc_ids` stuck on the configuration their records here drift to
/// (none: `phase` sets no target).
fn skipping(state: RolloutState, alloc_ids: &[&str]) -> RolloutRecord {
    RolloutRecord {
        // This leader saw the rollout last move at 50, nothing in flight then.
        progress: Some(Progress {
            runs: fixture_runs(),
            restarting: Default::default(),
            at: t(50),
            by: "n1".into(),
            stalled: false,
        }),
        skipped: alloc_ids
            .iter()
            .map(|id| ((*id).to_owned(), Default::default()))
            .collect(),
        ..rollout_record(state)
    }
}

#[test]
fn a_resumed_rollout_goes_on_without_its_skipped_stuck_alloc() {
    let mut rollout = skipping(RolloutState::Rolling, &["b1"]);
    if let Some(p) = rollout.progress.as_mut() {
        // b1's restart as `phase` writes it (stuck from 60: triggered at 65).
        p.restarting
            .insert("tok-b1@2023-11-14T22:14:25.000000000Z".into());
    }
    let l = Leader::new()
        .rollout(rollout)
        .phase("b1", Phase::Stuck, 60)
        .phase("c1", Phase::Waiting, 60);
    let decision = l.decide();
    assert!(decision.actions.is_empty(), "{decision:?}");
    assert_yaml_snapshot!(decision);
}

#[test]
fn a_rollout_whose_only_drifted_alloc_is_skipped_completes() {
    let l = Leader::new()
        .rollout(skipping(RolloutState::Rolling, &["b1"]))
        .phase("b1", Phase::Drifted, 60);
    assert_yaml_snapshot!(l.decide());
}

#[test]
fn a_skipped_alloc_drifted_to_a_newer_config_counts_again() {
    let mut l = Leader::new().rollout(skipping(RolloutState::Rolling, &["b1"]));
    let mut r = in_sync_record(1);
    r.phase = Phase::Drifted;
    r.target.insert(CONFIG.into(), Fingerprint::new("v3"));
    l.put(Key::state("n2", "b1", "app"), &r.to_json(), None);
    let decision = l.decide();
    assert!(decision.actions.is_empty(), "not complete: {decision:?}");
    assert_yaml_snapshot!(decision);
}
