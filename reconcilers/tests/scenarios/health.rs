//! Health after a restart: a check counts for the new run only once it has been seen to run
//! since the run started. The restart was triggered at 70 and the run started at 75;
//! `min_healthy_time` is 10 s and `healthy_deadline` 60 s (deadline at 130).

use insta::assert_yaml_snapshot;
use shepard_reconcilers::model::CheckStatus;

use super::fixture::{check_seen, check_unchanged};
use super::task::restarted;

/// A group service's check: registered once for the allocation, passing since long before the
/// restart, nothing seen since; interval 15 s + timeout 2 s.
fn group_check_from_before() -> shepard_reconcilers::model::CheckObservation {
    check_unchanged("group-http", CheckStatus::Passing, -500, -1000, Some(17))
}

#[test]
fn a_group_check_passing_from_before_the_restart_is_not_proof() {
    // Not proven before 75 + 17 + 1 (margin) = 93: verifying, looked at again then.
    assert_yaml_snapshot!(
        restarted()
            .checks(vec![group_check_from_before()])
            .at(80)
            .decide()
    );
}

#[test]
fn a_group_check_still_passing_a_report_time_after_the_start_counts_from_then() {
    // Proven at 93; min_healthy_time runs until 103.
    assert_yaml_snapshot!(
        restarted()
            .checks(vec![group_check_from_before()])
            .at(100)
            .decide()
    );
}

#[test]
fn a_group_check_proven_for_min_healthy_time_releases() {
    assert_yaml_snapshot!(
        restarted()
            .checks(vec![group_check_from_before()])
            .at(104)
            .decide()
    );
}

#[test]
fn a_group_check_that_turned_critical_after_the_start_is_unhealthy() {
    let check = check_seen("group-http", CheckStatus::Critical, 84);
    assert_yaml_snapshot!(restarted().checks(vec![check]).at(100).decide());
}

#[test]
fn a_task_check_registered_again_counts_from_its_first_pass() {
    // Nomad registered the task's service again at 76 (critical); it passed at 82.
    let mut check = check_unchanged("task-http", CheckStatus::Passing, 82, 76, Some(17));
    check.result_changed_at = Some(super::fixture::t(82));
    assert_yaml_snapshot!(restarted().checks(vec![check]).at(90).decide());
}

#[test]
fn a_check_registered_again_with_a_passing_initial_status_is_not_proof() {
    // `initial_status = "passing"`: the status at registration is no result; proven at
    // 76 + 17 + 1 = 94.
    let check = check_unchanged("task-http", CheckStatus::Passing, 76, 76, Some(17));
    assert_yaml_snapshot!(restarted().checks(vec![check]).at(90).decide());
}

#[test]
fn every_check_of_the_allocation_must_have_run_since_the_restart() {
    // The task's own check passed at 80; the group's has not run yet: not proven before 93.
    let task = check_seen("task-http", CheckStatus::Passing, 80);
    assert_yaml_snapshot!(
        restarted()
            .checks(vec![task, group_check_from_before()])
            .at(92)
            .decide()
    );
}

#[test]
fn a_check_without_a_known_report_time_must_be_seen_to_run() {
    // Its interval is unknown (no check of that name in the spec): past the deadline unproven,
    // the restart is stuck and says why.
    let check = check_unchanged("group-http", CheckStatus::Passing, -500, -1000, None);
    assert_yaml_snapshot!(restarted().checks(vec![check]).at(131).decide());
}
