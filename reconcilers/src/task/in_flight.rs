//! A managed task whose record claims a slot: the restart is triggered, restarted, verifying or
//! stuck. Re-issues a trigger that never landed, re-acquires a claimed slot whose lock was lost
//! with a session, judges health against `min_healthy_time` and `healthy_deadline`, and ends
//! the restart (record first, then release). A stuck restart the rollout skips (operator
//! `resume`) ends the same way, without a second `RestartFinished`: it was counted as stuck.

use crate::action::RestartResult;
use crate::drift;
use crate::health::{self, Health};
use crate::model::{AllocRecord, Phase, RolloutState, TaskEvent};
use crate::settings::RestartMethod;
use crate::time::Timestamp;

use super::steady::{run_baseline, running_since, settle};
use super::{RESTART_API_GRACE, Step, clear_restart};

pub(super) fn step(s: &mut Step<'_, '_>) -> Phase {
    let Some(record) = s.record.clone() else {
        return Phase::InSync;
    };
    let Some(n) = record.claimed_slot() else {
        return Phase::InSync;
    };
    let t0 = record.triggered_at.unwrap_or(record.updated_at);
    // A start after the first trigger is this restart's, even if the trigger was written again.
    let cutoff = record.restart_cutoff().unwrap_or(record.updated_at);
    // Aborted and nothing issued that this listing shows: the claim goes, on proof. A restart
    // that was issued goes on to its end like any other, healthy or stuck at its deadline (a
    // newer configuration then retries on the slot it keeps): its instance is down because of
    // it, and freeing the slot now would let a next rollout take max_parallel more.
    if s.rollout
        .as_ref()
        .is_some_and(|r| r.state == RolloutState::Aborted)
        && !trigger_landed(s, &record, cutoff)
    {
        return abandon_or_wait(s, record);
    }
    if record.phase == Phase::Stuck
        && s.rollout
            .as_ref()
            .is_some_and(|r| r.skips(&s.obs.alloc.id, &record.target))
    {
        return skipped(s, &record);
    }
    // A lock held for this allocation on any other slot is a leftover (stale acquire): free it.
    s.release_held(Some(n));
    if !trigger_landed(s, &record, cutoff) {
        return reissue(s, record, n, t0);
    }
    // Keep holding what we claim: a lock lost with an old session is taken back.
    if let Some(session) = s.obs.session.clone()
        && !s.slots.is_held(n)
    {
        s.acquire(n, &session);
    }
    let health = health::judge(
        s.obs.run.as_ref(),
        &s.obs.checks,
        s.obs.spec.has_checks,
        s.run_is_restart(&record, cutoff),
        s.obs.clock_stepped_at,
        s.now,
    );
    let min_healthy = s.min_healthy_time();
    let deadline = s.not_before_step(t0).plus(s.healthy_deadline());
    match health {
        Health::Healthy { since } if since.plus(min_healthy) <= s.now => {
            finish(s, &record, RestartResult::Healthy, None)
        }
        _ if s.now >= deadline => stuck(s, record, n, &health),
        Health::Healthy { since } => {
            s.write_record(observe_run(s, record, Phase::Verifying));
            s.decision.requeue(
                since
                    .plus(min_healthy)
                    .since(s.now)
                    .min(deadline.since(s.now)),
            );
            Phase::Verifying
        }
        Health::Unproven { proven_at, .. } => {
            // Restarted and passing, but a check has not run for this run yet: look again when
            // its passing status becomes proof (a result change wakes the agent earlier).
            s.write_record(observe_run(s, record, Phase::Verifying));
            let wake = proven_at.map_or(deadline, |t| t.min(deadline));
            s.decision.requeue(wake.since(s.now));
            Phase::Verifying
        }
        Health::Unhealthy { .. } => {
            let phase = if s.run_is_restart(&record, cutoff) {
                Phase::Restarted
            } else {
                Phase::Triggered
            };
            s.write_record(observe_run(s, record, phase));
            s.decision.requeue(deadline.since(s.now));
            phase
        }
    }
}

/// Whether the restart was issued: a later phase was recorded, the task restarted, or (per
/// method) the trigger key holds our token / Nomad shows restart events since `t0`.
fn trigger_landed(s: &Step<'_, '_>, record: &AllocRecord, t0: Timestamp) -> bool {
    if record.phase != Phase::Triggered {
        return true;
    }
    if s.run_is_restart(record, t0) {
        return true;
    }
    let run = s.obs.run.as_ref();
    match s.settings.restart_method {
        RestartMethod::ConsulKey => {
            let key = s.trigger_key();
            let value = s.obs.kv.get(&key).and_then(|e| e.value.as_deref());
            value.is_some() && value == record.token.as_deref()
        }
        RestartMethod::NomadApi => run.is_some_and(|r| {
            r.restarts > record.restarts_at_trigger.unwrap_or(r.restarts)
                || r.events
                    .iter()
                    .any(|e| e.time >= t0 && TaskEvent::RESTART_EVIDENCE.contains(&e.kind.as_str()))
        }),
    }
}

/// The record claims a slot but the restart was not issued (the agent stopped between the
/// record write and the trigger, or the trigger's sequencer check failed).
fn reissue(s: &mut Step<'_, '_>, mut record: AllocRecord, n: u32, t0: Timestamp) -> Phase {
    let Some(session) = s.trigger_session() else {
        return abandon_or_wait(s, record);
    };
    let rolling = s.rollout.as_ref().map(|r| r.state == RolloutState::Rolling);
    if rolling.is_none() {
        // No rollout to issue it under (an operator deleted the record): drop the claim so the
        // allocation shows as drifted and a new rollout starts.
        return abandon_or_wait(s, record);
    }
    if rolling == Some(false) {
        // Paused or stuck: a restart not yet issued is a new restart; keep the claim and wait.
        return Phase::Triggered;
    }
    let held = s.held().contains(&n);
    if held {
        let grace_end = s.not_before_step(t0).plus(RESTART_API_GRACE);
        if s.settings.restart_method == RestartMethod::NomadApi && s.now < grace_end {
            // The call may have gone out and its events not reached the server yet.
            s.decision.requeue(grace_end.since(s.now));
            return Phase::Triggered;
        }
        let token = record.token.clone().unwrap_or_else(|| s.token.to_owned());
        // The same token written again changes nothing if the first write landed after all
        // (its answer lost, or this listing older than it); a start since that first write is
        // this restart's. A restart API call made again is a new restart from now.
        record.first_triggered_at = match s.settings.restart_method {
            RestartMethod::ConsulKey if record.token.is_some() => record.restart_cutoff(),
            _ => None,
        };
        record.token = Some(token.clone());
        record.triggered_at = Some(s.now);
        record.restarts_at_trigger = s.obs.run.as_ref().map(|r| r.restarts);
        s.write_record(record);
        s.trigger(n, &session, &token, true);
        let deadline = s.healthy_deadline();
        s.decision.requeue(deadline);
        Phase::Triggered
    } else if !s.slots.is_held(n) {
        s.acquire(n, &session);
        Phase::Triggered
    } else {
        abandon_or_wait(s, record)
    }
}

/// The claimed slot is out of reach (or there is no rollout to restart under). With a trigger
/// key, not holding our token proves no restart was issued, but only as of the listing: the
/// claim is dropped in one transaction with the check that the trigger key and the slot's lock
/// are still at the listing's indexes, and never while a session still holds the slot for this
/// allocation (its trigger could still land). A restart API call cannot be disproved until
/// `RESTART_API_GRACE` has passed without a sign of it; until then the claim stays. A claim
/// under which a restart already landed always stays.
fn abandon_or_wait(s: &mut Step<'_, '_>, record: AllocRecord) -> Phase {
    let grace_end = s
        .not_before_step(record.triggered_at.unwrap_or(record.updated_at))
        .plus(RESTART_API_GRACE);
    // A retry after a stuck restart: the first restart of this claim did land and the task may
    // still be unhealthy from it, so the claim must stay.
    let claimed_at = record
        .claimed_at
        .or(record.triggered_at)
        .unwrap_or(record.updated_at);
    let landed_before = s.run_restarted_after(&record, claimed_at);
    // Another session holding the slot for this allocation (an old one of ours that Consul
    // still keeps) may yet land a trigger it sent: the claim waits until that lock is released
    // or expires. Our current session sends nothing behind this decision's back (one
    // reconcile of a key at a time, its actions applied in order).
    let n = record.claimed_slot();
    let held_for_us = n.is_some_and(|n| {
        s.slots.locks.get(&n).is_some_and(|l| {
            l.session.is_some()
                && l.session != s.obs.session
                && l.holder
                    .as_ref()
                    .is_some_and(|h| h.alloc_id == s.obs.alloc.id)
        })
    });
    let disproved = !landed_before
        && !held_for_us
        && (s.settings.restart_method == RestartMethod::ConsulKey || s.now >= grace_end);
    match (disproved, running_since(s), n) {
        (true, Some(started), Some(n)) => {
            let aborted = s
                .rollout
                .as_ref()
                .is_some_and(|r| r.state == RolloutState::Aborted);
            let mut settled = settle(s, started);
            settled.last_error = Some(if aborted {
                "aborted before the restart was triggered".to_owned()
            } else {
                "slot lost before the restart was triggered".to_owned()
            });
            let phase = settled.phase;
            // Dropped only if the slot and the trigger key are still as this listing shows
            // them when Consul applies it: proof that no trigger landed since.
            s.write_dropped_claim(settled, n);
            s.release_held(None);
            if aborted {
                // A restart the operator's abort stopped before it was issued.
                s.emit_finished(RestartResult::Aborted, record.triggered_at);
            }
            phase
        }
        _ => {
            if grace_end > s.now {
                s.decision.requeue(grace_end.since(s.now));
            }
            Phase::Triggered
        }
    }
}

/// The restart is over: record the run's applied configuration (drifted again if the config
/// changed during the restart), then release the slot.
fn finish(
    s: &mut Step<'_, '_>,
    record: &AllocRecord,
    result: RestartResult,
    error: Option<String>,
) -> Phase {
    let mut next = ended(s, record);
    next.last_error = error;
    let phase = next.phase;
    s.write_record(next);
    s.release_held(None);
    s.emit_finished(result, record.triggered_at);
    phase
}

/// An operator resumed the rollout past this stuck restart: the record stops claiming the slot
/// and the slot is released, so the rollout goes on with the other allocations.
fn skipped(s: &mut Step<'_, '_>, record: &AllocRecord) -> Phase {
    let mut next = ended(s, record);
    let why = record.last_error.as_deref().unwrap_or("stuck");
    next.last_error = Some(format!("skipped by an operator ({why})"));
    let phase = next.phase;
    s.write_record(next);
    s.release_held(None);
    phase
}

/// The record of a restart that is over, for the current run (or none).
fn ended(s: &Step<'_, '_>, record: &AllocRecord) -> AllocRecord {
    match running_since(s) {
        Some(started) => settle(s, started),
        None => {
            let mut r = clear_restart(record.clone());
            r.phase = if r.target.is_empty() {
                Phase::InSync
            } else {
                Phase::Drifted
            };
            r
        }
    }
}

/// Past the deadline and not healthy long enough. An unhealthy allocation retries a newer
/// configuration than the one rolled out on the slot it still holds; otherwise the record says
/// `Stuck` and keeps the slot.
fn stuck(s: &mut Step<'_, '_>, record: AllocRecord, n: u32, health: &Health) -> Phase {
    if let Health::Healthy { since } = health {
        s.decision
            .requeue(since.plus(s.min_healthy_time()).since(s.now));
    }
    let paused = s.rollout.as_ref().is_some_and(|r| {
        matches!(
            r.state,
            RolloutState::Paused | RolloutState::Planned | RolloutState::Aborted
        )
    });
    // Only a broken allocation retries: one that is healthy (if late) finishes normally and any
    // newer drift then waits for the rollout like every other.
    let broken = !matches!(health, Health::Healthy { .. });
    let newer = match (running_since(s), broken) {
        (Some(started), true) => newer_drift(s, &record, started),
        _ => None,
    };
    if let (Some(session), false, Some(target)) = (s.trigger_session(), paused, newer.clone())
        && s.held().contains(&n)
    {
        let mut retry = observe_run(s, record, Phase::Triggered);
        retry.target = target;
        retry.drift_detected_at = Some(s.now);
        retry.token = Some(s.token.to_owned());
        retry.triggered_at = Some(s.now);
        retry.first_triggered_at = None;
        retry.restarts_at_trigger = s.obs.run.as_ref().map(|r| r.restarts);
        retry.stuck_at = None;
        retry.next_target = None;
        s.write_record(retry);
        let token = s.token;
        s.trigger(n, &session, token, false);
        let deadline = s.healthy_deadline();
        s.decision.requeue(deadline);
        return Phase::Triggered;
    }
    // No retry allowed now: a newer configuration is noted for the leader (see `next_target`).
    let next_target = if paused { newer } else { None };
    if record.phase != Phase::Stuck || record.next_target != next_target {
        let mut next = observe_run(s, record.clone(), Phase::Stuck);
        next.next_target = next_target;
        if record.phase != Phase::Stuck {
            next.stuck_at = Some(s.now);
            next.last_error = Some(match health {
                Health::Unhealthy { reason } | Health::Unproven { reason, .. } => {
                    format!("missed healthy_deadline: {reason}")
                }
                Health::Healthy { .. } => {
                    "missed healthy_deadline: not healthy for min_healthy_time".to_owned()
                }
            });
        }
        s.write_record(next);
        if record.phase != Phase::Stuck {
            s.emit_finished(RestartResult::Stuck, record.triggered_at);
        }
    }
    Phase::Stuck
}

/// Drift of the current run to something other than what the stuck restart rolled out.
fn newer_drift(
    s: &Step<'_, '_>,
    record: &AllocRecord,
    started: Timestamp,
) -> Option<std::collections::BTreeMap<String, crate::model::Fingerprint>> {
    let (applied, cutoff) = run_baseline(s, started);
    let drift = drift::detect(&s.obs.files, &s.settings.watched, cutoff, &applied)?;
    (drift.target != record.target).then_some(drift.target)
}

/// The record in `phase`, with the applied baseline of the current run recorded when the run is
/// new (so a config change during verification shows as drift afterwards).
fn observe_run(s: &Step<'_, '_>, mut record: AllocRecord, phase: Phase) -> AllocRecord {
    record.phase = phase;
    if let Some(started) = running_since(s)
        && record.run_started_at != Some(started)
        && record.restart_cutoff().is_some()
        && s.run_is_restart(&record, Timestamp::EPOCH)
    {
        let (applied, cutoff) = run_baseline(s, started);
        record.run_started_at = Some(started);
        record.read_cutoff = (cutoff != started).then_some(cutoff);
        record.applied = applied;
    }
    record
}
