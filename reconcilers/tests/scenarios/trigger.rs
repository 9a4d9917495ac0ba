//! Scenarios of the trigger key a task restarts through: the two layouts, keys two allocations
//! of a node would share, and names that cannot be used raw. Each starts from a drifted task
//! whose rollout is rolling and whose slot 0 we hold, so an allowed restart shows as the
//! record, then the trigger.

use insta::assert_yaml_snapshot;
use shepard_reconcilers::keys::TriggerLayout;
use shepard_reconcilers::model::{AllocRef, CheckStatus, RolloutState, TaskId};
use shepard_reconcilers::trigger::TriggerSite;

use super::fixture::{
    ALLOC_ID_TRIGGER, Fixture, LEGACY_TRIGGER, in_sync_record, task_id, triggered_record,
};

/// A trigger site on n1: allocation `id` (index `index`) of `task` in the job named `web`.
fn site(id: &str, index: u32, task: TaskId, layout: TriggerLayout) -> TriggerSite {
    TriggerSite {
        alloc: AllocRef {
            id: id.into(),
            index,
            node: "n1".into(),
        },
        task,
        job_name: "web".into(),
        layout,
    }
}

fn staging() -> TaskId {
    TaskId::new("staging", "web", "web", "app")
}

/// Allocation `alloc_id` (index 0, n1) of `task` in job `job_name`, drifted to v2, its rollout
/// rolling, slot 0 held by us for it: the next step is the trigger.
fn ready_as(template: &str, alloc_id: &str, task: TaskId, job_name: &str) -> Fixture {
    let mut record = in_sync_record(0);
    record.task = task.clone();
    Fixture::new()
        .named(alloc_id, task, job_name)
        .trigger_template(template)
        .config(60, "v2")
        .record(record)
        .rollout(RolloutState::Rolling)
        .slot(0, Some("s-self"), alloc_id)
}

/// Allocation a1 of default/web/web/app, ready to trigger.
fn ready_to_trigger(template: &str) -> Fixture {
    ready_as(template, "a1", task_id(), "web")
}

#[test]
fn legacy_layout_same_job_in_two_namespaces_writes_neither_trigger() {
    let f =
        ready_to_trigger(LEGACY_TRIGGER).neighbour(site("b1", 0, staging(), TriggerLayout::Legacy));
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn alloc_id_layout_in_two_namespaces_triggers_each_on_its_own_key() {
    let ours = ready_to_trigger(ALLOC_ID_TRIGGER).neighbour(site(
        "b1",
        0,
        staging(),
        TriggerLayout::AllocId,
    ));
    // The same node seen from b1, the staging job's allocation.
    let theirs = ready_as(ALLOC_ID_TRIGGER, "b1", staging(), "web").neighbour(site(
        "a1",
        0,
        task_id(),
        TriggerLayout::AllocId,
    ));
    assert_yaml_snapshot!([ours.decide(), theirs.decide()]);
}

#[test]
fn legacy_layout_canary_sharing_an_index_writes_no_trigger() {
    let f =
        ready_to_trigger(LEGACY_TRIGGER).neighbour(site("c1", 0, task_id(), TriggerLayout::Legacy));
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn legacy_layout_canary_with_its_own_index_is_no_conflict() {
    let f =
        ready_to_trigger(LEGACY_TRIGGER).neighbour(site("c1", 1, task_id(), TriggerLayout::Legacy));
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn a_restart_not_yet_issued_when_a_canary_shares_the_key_gives_its_slot_back() {
    // The record claims slot 0 from t(70), but the trigger never landed (the key is empty).
    let f = Fixture::new()
        .trigger_template(LEGACY_TRIGGER)
        .config(60, "v2")
        .record(triggered_record(0))
        .rollout(RolloutState::Rolling)
        .slot(0, Some("s-self"), "a1")
        .neighbour(site("c1", 0, task_id(), TriggerLayout::Legacy));
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn a_restart_already_issued_when_a_canary_shares_the_key_is_verified_to_its_end() {
    // Triggered at t(70), restarted at t(75), healthy since t(80): done at t(100).
    let f = Fixture::new()
        .trigger_template(LEGACY_TRIGGER)
        .config(60, "v2")
        .record(triggered_record(0))
        .rollout(RolloutState::Rolling)
        .slot(0, Some("s-self"), "a1")
        .trigger_value("tok-1")
        .started(75, 1)
        .check(CheckStatus::Passing, 80)
        .neighbour(site("c1", 0, task_id(), TriggerLayout::Legacy));
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn a_job_name_with_dot_dot_segments_writes_no_trigger() {
    let job = "web/../../../x";
    let escaping = TaskId::new("default", job, "web", "app");
    let f = ready_as(LEGACY_TRIGGER, "a1", escaping, job);
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn a_namespace_with_a_slash_in_the_alloc_id_layout_writes_no_trigger() {
    let f = ready_as(
        ALLOC_ID_TRIGGER,
        "a1",
        TaskId::new("a/..", "web", "web", "app"),
        "web",
    );
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn the_problem_is_cleared_once_the_key_is_the_allocations_alone() {
    let mut record = in_sync_record(0);
    record.problem = Some("allocation a1 and allocation c1 render the same trigger key".into());
    let f = Fixture::new()
        .trigger_template(LEGACY_TRIGGER)
        .record(record)
        .rollout(RolloutState::Rolling);
    assert_yaml_snapshot!(f.decide());
}
