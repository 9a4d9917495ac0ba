//! No silent stall: the leader's progress watch (healthy_deadline 60 s + 15 s grace): the
//! rollout moves when a restart in flight ends or one starts while none runs. And the
//! claims of allocations Nomad lists as stopped or lost, which the leader ends. Three
//! allocations: a1 on n1 (this node, the leader), b1 and c1 on n2; now is 100.

use insta::assert_yaml_snapshot;
use shepard_reconcilers::model::{
    AllocStatus, ClientStatus, DesiredStatus, Phase, Progress, RolloutRecord, RolloutState,
};

use super::fixture::{rollout_record, t};
use super::rollout::{Leader, fixture_runs};

/// b1's restart as `Leader::phase` writes it (`Verifying` from 10: triggered at 15).
const B1_RESTART: &str = "tok-b1@2023-11-14T22:13:35.000000000Z";

/// A rollout this leader (or `by`) saw move last at `at`, with `restarting` in flight then.
pub(crate) fn watched(
    state: RolloutState,
    restarting: &[&str],
    at: i64,
    by: &str,
    stalled: bool,
) -> RolloutRecord {
    RolloutRecord {
        progress: Some(Progress {
            runs: fixture_runs(),
            restarting: restarting.iter().map(|t| (*t).to_owned()).collect(),
            at: t(at),
            by: by.into(),
            stalled,
        }),
        ..rollout_record(state)
    }
}

#[test]
fn a_rollout_that_has_not_moved_for_the_window_goes_stuck() {
    // c1 has waited since 10 (its agent died, say); nothing moved since 20: past 20 + 75.
    assert_yaml_snapshot!(
        Leader::new()
            .rollout(watched(RolloutState::Rolling, &[], 20, "n1", false))
            .phase("c1", Phase::Waiting, 10)
            .decide()
    );
}

#[test]
fn a_rollout_within_the_window_is_looked_at_again_when_it_ends() {
    // Since 50: stalled at 125, looked at again in 25 s; nothing written.
    let decision = Leader::new()
        .rollout(watched(RolloutState::Rolling, &[], 50, "n1", false))
        .phase("c1", Phase::Waiting, 10)
        .decide();
    assert!(decision.actions.is_empty(), "{decision:?}");
    assert_yaml_snapshot!(decision);
}

#[test]
fn a_restart_that_ends_is_progress() {
    // b1 was restarting at 20 and has ended since: the watch starts again at 100.
    assert_yaml_snapshot!(
        Leader::new()
            .rollout(watched(
                RolloutState::Rolling,
                &[B1_RESTART],
                20,
                "n1",
                false
            ))
            .phase("c1", Phase::Waiting, 10)
            .decide()
    );
}

#[test]
fn a_restart_started_beside_one_still_running_is_not_yet_a_move() {
    // b1 restarts since before 50; c1 started since: nothing written, looked at again at 125.
    let decision = Leader::new()
        .rollout(watched(
            RolloutState::Rolling,
            &[B1_RESTART],
            50,
            "n1",
            false,
        ))
        .phase("b1", Phase::Verifying, 10)
        .phase("c1", Phase::Triggered, 30)
        .decide();
    assert!(decision.actions.is_empty(), "{decision:?}");
    assert_yaml_snapshot!(decision);
}

#[test]
fn a_restart_in_flight_that_no_agent_ends_stalls_after_twice_the_deadline() {
    // b1 has been verifying since 10 and nothing moved since 20 (its agent died, its
    // allocation runs on): not stalled at 95 as with nothing restarting, but at 20 + 2 × 60 +
    // 15 = 155; looked at again then.
    let early = Leader::new()
        .rollout(watched(
            RolloutState::Rolling,
            &[B1_RESTART],
            20,
            "n1",
            false,
        ))
        .phase("b1", Phase::Verifying, 10)
        .phase("c1", Phase::Waiting, 10)
        .decide();
    assert!(early.actions.is_empty(), "{early:?}");
    assert_yaml_snapshot!(early);
}

#[test]
fn a_restart_in_flight_that_no_agent_ends_makes_the_rollout_stuck() {
    // Nothing moved since -40: past -40 + 135.
    assert_yaml_snapshot!(
        Leader::new()
            .rollout(watched(
                RolloutState::Rolling,
                &[B1_RESTART],
                -40,
                "n1",
                false,
            ))
            .phase("b1", Phase::Verifying, 10)
            .phase("c1", Phase::Waiting, 10)
            .decide()
    );
}

#[test]
fn another_leaders_watch_is_started_again_not_compared_with_this_clock() {
    // Written by n2's clock at 20: this leader does not compare it with its own.
    assert_yaml_snapshot!(
        Leader::new()
            .rollout(watched(RolloutState::Rolling, &[], 20, "n2", false))
            .phase("c1", Phase::Waiting, 10)
            .decide()
    );
}

#[test]
fn a_stalled_rollout_stays_stuck_while_nothing_moves() {
    let decision = Leader::new()
        .rollout(watched(RolloutState::Stuck, &[], 20, "n1", true))
        .phase("c1", Phase::Waiting, 10)
        .decide();
    assert!(decision.actions.is_empty(), "{decision:?}");
}

#[test]
fn a_stalled_rollout_rolls_again_once_a_run_changes() {
    // When it stalled, b1's recorded run was another one: b1 was restarted since (its agent
    // came back and ended a restart no leader saw).
    let mut stalled = watched(RolloutState::Stuck, &[], 20, "n1", true);
    if let Some(p) = stalled.progress.as_mut() {
        p.runs = shepard_reconcilers::rollout::runs_digest(&[
            ("a1", Some(t(0))),
            ("b1", Some(t(-50))),
            ("c1", Some(t(0))),
        ]);
    }
    assert_yaml_snapshot!(
        Leader::new()
            .rollout(stalled)
            .phase("c1", Phase::Waiting, 10)
            .decide()
    );
}

#[test]
fn the_claim_of_an_allocation_nomad_lists_as_lost_is_ended_by_the_leader() {
    // b1's node went down while b1 restarted on slot 1: Nomad lists b1 lost. Its agent will
    // never end the claim; the leader does, by CAS, and c1 keeps waiting.
    let mut l = Leader::new()
        .rollout(watched(RolloutState::Rolling, &[], 90, "n1", false))
        .phase("b1", Phase::Verifying, 60)
        .phase("c1", Phase::Waiting, 60);
    l.members[1].status = AllocStatus {
        desired: DesiredStatus::Stop,
        client: ClientStatus::Lost,
    };
    assert_yaml_snapshot!(l.decide());
}
