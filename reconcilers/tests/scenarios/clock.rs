//! A step of the host's wall clock while a restart is verified: no duration counts across it.
//! The restart was triggered at 70 (Nomad's restart count 0 then) and the run started at 75;
//! `min_healthy_time` is 10 s and `healthy_deadline` 60 s. After a step the agent's check
//! histories start again at the step (its store drops them).

use insta::assert_yaml_snapshot;
use shepard_reconcilers::model::{CheckStatus, Phase, RolloutState};

use super::fixture::{check_unchanged, t};
use super::rollout::Leader;
use super::stall::watched;
use super::task::restarted;

#[test]
fn after_a_forward_step_a_restart_is_neither_stuck_nor_proven_from_before_it() {
    // Ten minutes ahead, seen at 690: the deadline runs to 750, the group check (registered
    // again in the agent's eyes at 690) is proven at 690 + 17 + 1 = 708.
    let check = check_unchanged("group-http", CheckStatus::Passing, 690, 690, Some(17));
    assert_yaml_snapshot!(
        restarted()
            .checks(vec![check])
            .clock_stepped(690)
            .at(700)
            .decide()
    );
}

#[test]
fn after_a_forward_step_min_healthy_time_of_a_task_without_checks_counts_from_it() {
    // Running since 75 by Nomad's clock, but that is before the step at 690: healthy from 690,
    // released at 700, not at once.
    assert_yaml_snapshot!(restarted().no_checks().clock_stepped(690).at(695).decide());
}

#[test]
fn after_a_backward_step_nomads_restart_count_tells_the_restarted_run() {
    // Five minutes back, seen at -220: the run that started at -215 (restart count 1) is dated
    // before the trigger at 70, yet it is the restart's. Its check turned passing at -210.
    let mut check = check_unchanged("task-http", CheckStatus::Passing, -210, -218, Some(17));
    check.result_changed_at = Some(t(-210));
    assert_yaml_snapshot!(
        restarted()
            .started(-215, 1)
            .checks(vec![check])
            .clock_stepped(-220)
            .at(-199)
            .decide()
    );
}

#[test]
fn after_a_backward_step_a_run_dated_in_the_future_counts_from_the_step() {
    // The run started at 75, before the step back to -220: its start and the trigger lie in
    // the future. Health and the deadline count from the step: proven at -220 + 18 = -202,
    // healthy for min_healthy_time at -192, stuck no earlier than -160.
    let check = check_unchanged("group-http", CheckStatus::Passing, -220, -220, Some(17));
    assert_yaml_snapshot!(
        restarted()
            .checks(vec![check])
            .clock_stepped(-220)
            .at(-200)
            .decide()
    );
}

#[test]
fn after_a_forward_step_the_stall_watch_counts_from_it() {
    // Nothing moved since 20 and the window is 75 s: stalled at 95 without the step, but the
    // clock jumped ahead and the step was seen at 90: looked at again at 165.
    let decision = Leader::new()
        .rollout(watched(RolloutState::Rolling, &[], 20, "n1", false))
        .phase("c1", Phase::Waiting, 10)
        .clock_stepped(90)
        .decide();
    assert!(decision.actions.is_empty(), "{decision:?}");
    assert_yaml_snapshot!(decision);
}
