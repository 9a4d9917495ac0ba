//! Scenarios of the task reconciler: one allocation's task through the restart phase machine.
//! Each scenario is a snapshot of the whole decision (phase, actions, requeue).

use insta::assert_yaml_snapshot;
use shepard_reconcilers::model::{
    CheckStatus, ClientStatus, DesiredStatus, Fingerprint, Phase, RolloutState, TaskState,
};

use super::fixture::{Fixture, in_sync_record, t, triggered_record};

/// Drifted at t(60): the config changed to v2 after the run started.
fn drifted() -> Fixture {
    Fixture::new().config(60, "v2").record(in_sync_record(0))
}

/// Restarted at t(75) after the trigger at t(70), with v2.
pub(crate) fn restarted() -> Fixture {
    Fixture::new()
        .config(60, "v2")
        .record(triggered_record(0))
        .rollout(RolloutState::Rolling)
        .slot(0, Some("s-self"), "a1")
        .trigger_value("tok-1")
        .started(75, 1)
}

#[test]
fn no_drift_keeps_the_task_in_sync() {
    assert_yaml_snapshot!(
        Fixture::new()
            .record(in_sync_record(0))
            .rollout(RolloutState::Rolling)
            .decide()
    );
}

#[test]
fn first_observation_records_what_the_run_started_with() {
    assert_yaml_snapshot!(Fixture::new().decide());
}

#[test]
fn drift_with_a_free_slot_records_waiting_and_acquires_it() {
    assert_yaml_snapshot!(drifted().rollout(RolloutState::Rolling).decide());
}

#[test]
fn drift_with_our_slot_held_writes_the_record_then_the_trigger() {
    assert_yaml_snapshot!(
        drifted()
            .rollout(RolloutState::Rolling)
            .slot(0, Some("s-self"), "a1")
            .decide()
    );
}

#[test]
fn drift_with_all_slots_taken_waits() {
    let f = drifted()
        .rollout(RolloutState::Rolling)
        .slot(0, Some("s-b"), "b1")
        .slot(1, Some("s-c"), "c1");
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn drift_while_rollout_paused_takes_no_slot() {
    assert_yaml_snapshot!(drifted().rollout(RolloutState::Paused).decide());
}

#[test]
fn drift_while_rollout_stuck_takes_no_slot() {
    assert_yaml_snapshot!(drifted().rollout(RolloutState::Stuck).decide());
}

#[test]
fn drift_while_rollout_aborted_takes_no_slot() {
    assert_yaml_snapshot!(drifted().rollout(RolloutState::Aborted).decide());
}

#[test]
fn drift_before_any_rollout_waits_for_the_leader() {
    assert_yaml_snapshot!(drifted().decide());
}

#[test]
fn drift_without_a_session_takes_no_slot() {
    assert_yaml_snapshot!(
        drifted()
            .rollout(RolloutState::Rolling)
            .no_session()
            .decide()
    );
}

#[test]
fn holding_a_slot_another_alloc_claims_gives_it_back() {
    let mut other = triggered_record(1);
    other.slot = Some(0);
    let f = drifted()
        .rollout(RolloutState::Rolling)
        .slot(0, Some("s-self"), "a1")
        .peer("n2", "b1", other);
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn a_crashed_agents_claim_keeps_its_slot_occupied() {
    // b1's agent died mid-restart: slot 0 is released but b1's record still claims it.
    let mut other = triggered_record(1);
    other.slot = Some(0);
    let f = drifted()
        .rollout(RolloutState::Rolling)
        .slot(0, None, "b1")
        .peer("n2", "b1", other);
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn identical_rerender_does_not_restart() {
    // Re-rendered at t(60) with the content the run started with.
    let f = Fixture::new()
        .config(60, "v1")
        .record(in_sync_record(0))
        .rollout(RolloutState::Rolling);
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn triggered_but_not_yet_restarted_waits_until_the_deadline() {
    let f = Fixture::new()
        .config(60, "v2")
        .record(triggered_record(0))
        .rollout(RolloutState::Rolling)
        .slot(0, Some("s-self"), "a1")
        .trigger_value("tok-1")
        .at(80);
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn record_written_but_trigger_missing_rewrites_the_trigger() {
    // The agent stopped between the record write and the trigger write.
    let f = Fixture::new()
        .config(60, "v2")
        .record(triggered_record(0))
        .rollout(RolloutState::Rolling)
        .slot(0, Some("s-self"), "a1")
        .at(80);
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn restarted_but_unhealthy_within_the_deadline() {
    assert_yaml_snapshot!(restarted().check(CheckStatus::Critical, 75).at(90).decide());
}

#[test]
fn healthy_for_less_than_min_healthy_time_requeues_for_the_rest() {
    assert_yaml_snapshot!(restarted().check(CheckStatus::Passing, 84).at(90).decide());
}

#[test]
fn healthy_long_enough_records_applied_config_and_releases() {
    assert_yaml_snapshot!(restarted().check(CheckStatus::Passing, 80).at(95).decide());
}

#[test]
fn deadline_exceeded_marks_stuck_and_keeps_the_slot() {
    assert_yaml_snapshot!(
        restarted()
            .check(CheckStatus::Critical, 75)
            .at(131)
            .decide()
    );
}

#[test]
fn stuck_alloc_that_turns_healthy_releases() {
    let mut stuck = triggered_record(0);
    stuck.phase = Phase::Stuck;
    stuck.run_started_at = Some(t(75));
    stuck.applied = [(super::fixture::CONFIG.to_owned(), Fingerprint::new("v2"))].into();
    stuck.stuck_at = Some(t(131));
    stuck.last_error = Some("missed healthy_deadline: check web-http is critical".into());
    let f = restarted()
        .record(stuck)
        .check(CheckStatus::Passing, 140)
        .at(150);
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn stuck_alloc_retries_on_a_newer_config_with_its_slot() {
    let mut stuck = triggered_record(0);
    stuck.phase = Phase::Stuck;
    stuck.stuck_at = Some(t(131));
    let f = restarted()
        .record(stuck)
        .config(140, "v3")
        .check(CheckStatus::Critical, 75)
        .at(150);
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn alloc_stopped_while_holding_a_slot_releases() {
    let mut f = restarted().at(90);
    f.status = Some(shepard_reconcilers::model::AllocStatus {
        desired: DesiredStatus::Stop,
        client: ClientStatus::Running,
    });
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn alloc_gone_from_nomad_releases() {
    let mut f = restarted().at(90);
    f.status = None;
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn task_died_after_the_restart_is_unhealthy() {
    assert_yaml_snapshot!(
        restarted()
            .task_state(TaskState::Dead, true)
            .at(90)
            .decide()
    );
}

#[test]
fn task_died_past_the_deadline_is_stuck() {
    assert_yaml_snapshot!(
        restarted()
            .task_state(TaskState::Dead, true)
            .at(131)
            .decide()
    );
}

#[test]
fn session_gone_while_verifying_still_records_but_cannot_release() {
    assert_yaml_snapshot!(
        restarted()
            .check(CheckStatus::Passing, 80)
            .at(95)
            .no_session()
            .decide()
    );
}

#[test]
fn second_change_while_verifying_finishes_first() {
    // v3 rendered at t(85), after the restart: verification goes on, no second trigger.
    assert_yaml_snapshot!(
        restarted()
            .config(85, "v3")
            .check(CheckStatus::Passing, 84)
            .at(90)
            .decide()
    );
}

#[test]
fn second_change_while_verifying_drifts_again_after_release() {
    let mut verifying = triggered_record(0);
    verifying.phase = Phase::Verifying;
    verifying.run_started_at = Some(t(75));
    verifying.applied = [(super::fixture::CONFIG.to_owned(), Fingerprint::new("v2"))].into();
    let f = restarted()
        .record(verifying)
        .config(85, "v3")
        .check(CheckStatus::Passing, 80)
        .at(95);
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn a_change_between_the_trigger_and_started_at_is_not_taken_as_read() {
    // v3 rendered at t(73): after the trigger (t70), before Nomad recorded StartedAt (t75). The
    // process may have read v2 before it: the restart ends drifted to v3, not in sync.
    let d = restarted()
        .config(73, "v3")
        .check(CheckStatus::Passing, 80)
        .at(95)
        .decide();
    assert_eq!(d.phase, Phase::Drifted);
    assert_yaml_snapshot!(d);
}

#[test]
fn a_change_during_a_restart_by_nomad_is_not_taken_as_read() {
    // Nomad restarted the task on its own (`Restarting` at t(50), started at t(55)); v2 was
    // rendered at t(52), in between: the new run may have read v1.
    let d = Fixture::new()
        .record(in_sync_record(0))
        .event("Restarting", 50)
        .started(55, 1)
        .config(52, "v2")
        .decide();
    assert_eq!(d.phase, Phase::Drifted);
    assert_yaml_snapshot!(d);
}

#[test]
fn a_change_before_a_restart_by_nomad_was_read() {
    let d = Fixture::new()
        .record(in_sync_record(0))
        .config(48, "v2")
        .event("Restarting", 50)
        .started(55, 1)
        .decide();
    assert_eq!(d.phase, Phase::InSync);
}

#[test]
fn task_without_checks_is_judged_by_task_state() {
    assert_yaml_snapshot!(restarted().no_checks().at(86).decide());
}

#[test]
fn agent_restarted_mid_restart_takes_its_claimed_slot_back() {
    // New session; the old one expired and released slot 0, the record still claims it.
    let f = Fixture::new()
        .config(60, "v2")
        .record(triggered_record(0))
        .rollout(RolloutState::Rolling)
        .slot(0, None, "a1")
        .trigger_value("tok-1")
        .started(75, 1)
        .check(CheckStatus::Critical, 75)
        .session("s-new")
        .at(90);
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn agent_restarted_while_old_session_holds_the_slot_keeps_verifying() {
    let f = Fixture::new()
        .config(60, "v2")
        .record(triggered_record(0))
        .rollout(RolloutState::Rolling)
        .slot(0, Some("s-old"), "a1")
        .trigger_value("tok-1")
        .started(75, 1)
        .check(CheckStatus::Passing, 80)
        .session("s-new")
        .at(85);
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn agent_restarted_before_the_trigger_with_slot_lost_drops_the_claim() {
    // Record written, trigger never written, another session holds slot 0 now.
    let f = Fixture::new()
        .config(60, "v2")
        .record(triggered_record(0))
        .rollout(RolloutState::Rolling)
        .slot(0, Some("s-b"), "b1")
        .session("s-new")
        .at(90);
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn a_claim_whose_slot_an_old_session_still_holds_for_it_waits() {
    // Our old session (lost to this agent, still alive in Consul) holds slot 0 for a1: a
    // trigger it sent may still land, so the claim is not dropped on this listing.
    let f = Fixture::new()
        .config(60, "v2")
        .record(triggered_record(0))
        .rollout(RolloutState::Rolling)
        .slot(0, Some("s-old"), "a1")
        .session("s-new")
        .at(90);
    let decision = f.decide();
    assert!(
        decision.decision.actions.is_empty(),
        "{:?}",
        decision.decision
    );
    assert_yaml_snapshot!(decision);
}

#[test]
fn rollout_aborted_while_restarting_keeps_the_claim_until_the_restart_ends() {
    // The restart landed (the task runs again, unhealthy): its instance is down because of it,
    // so its slot stays taken until it ends, healthy or stuck.
    let mut f = restarted().check(CheckStatus::Critical, 75).at(90);
    f = f.rollout(RolloutState::Aborted);
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn rollout_aborted_while_the_restarted_task_still_stops_keeps_its_claim() {
    // Triggered at 70; the old process is still stopping (Nomad still says running, started
    // at 0). The instance is going down because of this restart: the claim stays until the
    // restart ends, and nothing about it starts a new rollout.
    let f = Fixture::new()
        .config(60, "v2")
        .record(triggered_record(0))
        .rollout(RolloutState::Aborted)
        .slot(0, Some("s-self"), "a1")
        .trigger_value("tok-1")
        .at(72);
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn rollout_aborted_before_the_trigger_was_written_drops_the_claim_as_aborted() {
    // Claimed at 70, the trigger key never written (the agent stopped in between); the
    // operator aborted since. Nothing was issued: the claim goes, on the listing's proof, the
    // slot is released, and the restart counts as aborted.
    let f = Fixture::new()
        .config(60, "v2")
        .record(triggered_record(0))
        .rollout(RolloutState::Aborted)
        .slot(0, Some("s-self"), "a1")
        .at(72);
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn a_start_after_the_first_trigger_counts_when_the_trigger_was_written_again() {
    // The trigger was first written at 70 and landed, but its answer was lost and the
    // listing lagged: it was written again, same token, at 90. The task started at 75: that
    // is this restart, now verified, not a restart still to come.
    let mut record = triggered_record(0);
    record.first_triggered_at = Some(t(70));
    record.triggered_at = Some(t(90));
    let f = Fixture::new()
        .config(60, "v2")
        .record(record)
        .rollout(RolloutState::Rolling)
        .slot(0, Some("s-self"), "a1")
        .trigger_value("tok-1")
        .started(75, 1)
        .check(CheckStatus::Passing, 80)
        .at(95);
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn nomad_api_method_calls_the_restart_api() {
    let mut f = drifted()
        .rollout(RolloutState::Rolling)
        .slot(0, Some("s-self"), "a1");
    f.spec
        .templates
        .retain(|t| t.dest_path != "local/shepard.tpl");
    f.spec
        .task_meta
        .insert("shepard_enabled".into(), "true".into());
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn nomad_api_call_without_evidence_waits_for_the_grace_period() {
    let mut f = Fixture::new()
        .config(60, "v2")
        .record(triggered_record(0))
        .rollout(RolloutState::Rolling)
        .slot(0, Some("s-self"), "a1")
        .at(80);
    f.spec
        .templates
        .retain(|t| t.dest_path != "local/shepard.tpl");
    f.spec
        .task_meta
        .insert("shepard_enabled".into(), "true".into());
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn bad_meta_is_reported_and_the_next_source_used() {
    let mut f = Fixture::new().record(in_sync_record(0));
    f.spec
        .task_meta
        .insert("shepard_max_parallel".into(), "many".into());
    f.spec
        .group_meta
        .insert("shepard_healthy_deadline".into(), "soon".into());
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn unmanaged_task_only_gives_back_a_held_slot() {
    let mut f = drifted()
        .rollout(RolloutState::Rolling)
        .slot(0, Some("s-self"), "a1");
    f.spec
        .task_meta
        .insert("shepard_enabled".into(), "false".into());
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn corrupt_record_is_reported_and_rewritten_by_cas() {
    let key = "shepard/state/n1/a1/app";
    assert_yaml_snapshot!(Fixture::new().raw(key, "{not json").decide());
}

/// The rollout goes on without a1 stuck on v2.
fn skipping_a1() -> shepard_reconcilers::model::RolloutRecord {
    let mut r = super::fixture::rollout_record(RolloutState::Rolling);
    let target = [(super::fixture::CONFIG.to_owned(), Fingerprint::new("v2"))].into();
    r.skipped.insert("a1".into(), target);
    r
}

#[test]
fn a_skipped_stuck_restart_releases_its_slot_without_a_second_result() {
    let mut stuck = triggered_record(0);
    stuck.phase = Phase::Stuck;
    stuck.run_started_at = Some(t(75));
    stuck.applied = [(super::fixture::CONFIG.to_owned(), Fingerprint::new("v2"))].into();
    stuck.stuck_at = Some(t(131));
    stuck.last_error = Some("missed healthy_deadline: check web-http is critical".into());
    let f = restarted()
        .record(stuck)
        .rollout_record(skipping_a1())
        .check(CheckStatus::Critical, 75)
        .at(150);
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn a_skipped_alloc_is_not_restarted_again_by_its_rollout() {
    let f = drifted().rollout_record(skipping_a1()).slot(0, None, "b1");
    assert_yaml_snapshot!(f.decide());
}

#[test]
fn a_skipped_alloc_is_restarted_for_a_newer_config() {
    let f = Fixture::new()
        .config(140, "v3")
        .record(in_sync_record(0))
        .rollout_record(skipping_a1())
        .at(150);
    assert_yaml_snapshot!(f.decide());
}
