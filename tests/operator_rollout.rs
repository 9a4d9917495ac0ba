//! `shepard rollout pause|resume|abort` against a real Consul: each changes the record's state
//! by check-and-set on the index read, refuses changes that make no sense, resumes a stuck
//! rollout past its stuck allocation, and on a conflicting concurrent write re-reads and
//! decides again on what the other writer wrote (the interleaving is forced through the
//! `before_write` hook of `change_state`, which runs between the read and the write).

#[path = "operator_support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicU32, Ordering};

use shepard::operator::OperatorError;
use shepard::operator::rollout_cmd::{CAS_ATTEMPTS, change_state};
use shepard::operator::transition::{Operation, TransitionError};
use shepard_reconcilers::model::{Phase, RolloutState};
use support::{Kv, alloc, alloc_id, batch, rollout, stderr, stdout, t, web};

#[tokio::test]
async fn pause_then_resume_then_abort_through_the_binary() {
    let kv = Kv::start();
    kv.put_rollout(&web(), &rollout(RolloutState::Rolling, 6))
        .await;

    let out = kv.shepard(&["rollout", "pause", "default/web/web/app"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Rollout r-web-3 (generation 3) of default/web/web/app: rolling -> paused\n"
    );
    let (paused, _) = kv.rollout(&web()).await;
    assert_eq!(paused.state, RolloutState::Paused);
    assert_eq!(paused.reason, "paused by an operator (was rolling)");
    assert!(
        paused.updated_at > t(12),
        "updated_at is the time of the change"
    );
    assert_eq!(
        (paused.generation, paused.id.as_str(), paused.instance_count),
        (3, "r-web-3", 6),
        "everything else is kept"
    );

    let again = kv.shepard(&["rollout", "pause", "default/web/web/app"]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        stderr(&again),
        "error: default/web/web/app: cannot pause the rollout: it is already paused\n"
    );

    let out = kv.shepard(&["rollout", "resume", "r-web-3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(kv.rollout(&web()).await.0.state, RolloutState::Rolling);

    let out = kv.shepard(&["rollout", "abort", "default/web/web/app"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (aborted, _) = kv.rollout(&web()).await;
    assert_eq!(aborted.state, RolloutState::Aborted);
    assert_eq!(aborted.finished_at, Some(aborted.updated_at));
}

#[tokio::test]
async fn finished_and_missing_rollouts_are_refused_with_a_clear_error() {
    let kv = Kv::start();
    let mut complete = rollout(RolloutState::Complete, 6);
    complete.finished_at = Some(t(40));
    kv.put_rollout(&web(), &complete).await;
    let (_, index_before) = kv.rollout(&web()).await;

    for op in ["resume", "pause", "abort"] {
        let out = kv.shepard(&["rollout", op, "default/web/web/app"]);
        assert_eq!(out.status.code(), Some(1), "{op}");
        assert_eq!(
            stderr(&out),
            format!(
                "error: default/web/web/app: cannot {op} the rollout: it is complete (finished); \
                 the next configuration change starts a new rollout\n"
            )
        );
    }
    assert_eq!(
        kv.rollout(&web()).await.1,
        index_before,
        "nothing was written"
    );

    let out = kv.shepard(&["rollout", "pause", "default/other/web/app"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: no rollout record for default/other/web/app (key shepard/rollouts/default/other/web/app)\n"
    );
}

#[tokio::test]
async fn resume_of_a_stuck_rollout_skips_the_stuck_allocation() {
    let kv = Kv::start();
    let mut stuck = rollout(RolloutState::Stuck, 3);
    stuck.reason = "allocation x is stuck".into();
    stuck.id = "r-batch-1".into();
    stuck.generation = 1;
    kv.put_rollout(&batch(), &stuck).await;
    kv.put_alloc("node-1", &alloc_id(2, 0), &alloc(&batch(), 0, Phase::Stuck))
        .await;
    kv.put_alloc(
        "node-2",
        &alloc_id(2, 1),
        &alloc(&batch(), 1, Phase::Waiting),
    )
    .await;
    // A stuck allocation of another task is not this rollout's business.
    kv.put_alloc("node-2", &alloc_id(1, 0), &alloc(&web(), 0, Phase::Stuck))
        .await;

    let out = kv.shepard(&["rollout", "resume", "default/batch%2Frun-1/work/do%20it"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "Rollout r-batch-1 (generation 1) of default/batch%2Frun-1/work/do%20it: stuck -> rolling\n\
             Going on without stuck allocation(s): {}\n",
            alloc_id(2, 0)
        )
    );
    let (resumed, _) = kv.rollout(&batch()).await;
    assert_eq!(resumed.state, RolloutState::Rolling);
    let stuck_on = alloc(&batch(), 0, Phase::Stuck).target;
    assert_eq!(
        resumed.skipped.into_iter().collect::<Vec<_>>(),
        [(alloc_id(2, 0), stuck_on)],
        "skipped for the configuration it is stuck on"
    );
    assert_eq!(
        resumed.reason,
        format!(
            "resumed by an operator (was stuck), going on without stuck allocation {}",
            alloc_id(2, 0)
        )
    );
}

#[tokio::test]
async fn a_concurrent_write_between_read_and_write_is_reread_and_kept() {
    let kv = Kv::start();
    kv.put_rollout(&web(), &rollout(RolloutState::Rolling, 6))
        .await;
    let conn = kv.connection();
    let (_, index_read) = kv.rollout(&web()).await;

    // The rollout leader writes the record (new instance count) after our read.
    let calls = AtomicU32::new(0);
    let changed = change_state(&conn, &web(), Operation::Pause, async |attempt| {
        calls.fetch_add(1, Ordering::SeqCst);
        if attempt == 1 {
            let (mut current, _) = kv.rollout(&web()).await;
            current.instance_count = 7;
            kv.put_rollout(&web(), &current).await;
        }
    })
    .await
    .unwrap();

    assert_eq!(changed.attempts, 2, "the first CAS lost, the second won");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        changed.before.instance_count, 7,
        "decided again on the new record"
    );
    let (stored, index_after) = kv.rollout(&web()).await;
    assert_eq!(stored.state, RolloutState::Paused);
    assert_eq!(stored.instance_count, 7, "the concurrent write is not lost");
    assert!(index_after > index_read + 1);
}

#[tokio::test]
async fn a_concurrent_completion_turns_a_pause_into_a_refusal() {
    let kv = Kv::start();
    kv.put_rollout(&web(), &rollout(RolloutState::Rolling, 6))
        .await;
    let conn = kv.connection();

    let result = change_state(&conn, &web(), Operation::Pause, async |attempt| {
        if attempt == 1 {
            let mut done = rollout(RolloutState::Complete, 6);
            done.finished_at = Some(t(50));
            kv.put_rollout(&web(), &done).await;
        }
    })
    .await;

    match result {
        Err(OperatorError::Transition {
            source: TransitionError::Finished { state, .. },
            ..
        }) => assert_eq!(state, "complete"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(kv.rollout(&web()).await.0.state, RolloutState::Complete);
}

#[tokio::test]
async fn a_record_that_keeps_changing_gives_up_after_the_attempts() {
    let kv = Kv::start();
    kv.put_rollout(&web(), &rollout(RolloutState::Rolling, 6))
        .await;
    let conn = kv.connection();

    let result = change_state(&conn, &web(), Operation::Abort, async |attempt| {
        let mut busy = rollout(RolloutState::Rolling, 6);
        busy.instance_count = 100 + attempt;
        kv.put_rollout(&web(), &busy).await;
    })
    .await;

    match result {
        Err(OperatorError::CasConflict { attempts, key }) => {
            assert_eq!(attempts, CAS_ATTEMPTS);
            assert_eq!(key, "shepard/rollouts/default/web/web/app");
        }
        other => panic!("expected a CAS conflict, got {other:?}"),
    }
    let (stored, _) = kv.rollout(&web()).await;
    assert_eq!(stored.state, RolloutState::Rolling);
    assert_eq!(stored.instance_count, 100 + CAS_ATTEMPTS);
}
