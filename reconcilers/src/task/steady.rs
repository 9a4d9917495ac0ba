//! A managed task with no restart in flight: detect drift against the current run, and when the
//! rollout allows, take a slot and trigger the restart — in two reconciles: first the acquire,
//! then, from a listing that shows our lock and no competing claim, the record and trigger.

use crate::action::{Action, Event};
use crate::drift;
use crate::model::{AllocRecord, Phase, RolloutState, SessionId, TaskState};
use crate::time::Timestamp;

use super::{Step, clear_restart};

pub(super) fn step(s: &mut Step<'_, '_>) -> Phase {
    let Some(started) = running_since(s) else {
        // Not running (pending, dead, or no state yet): drift cannot be judged and no restart
        // is started; the record stays as it is.
        s.release_held(None);
        return s.record.as_ref().map_or(Phase::InSync, |r| {
            if r.phase == Phase::Stopped {
                Phase::InSync
            } else {
                r.phase
            }
        });
    };
    let mut record = settle(s, started);
    if record.phase == Phase::InSync {
        s.write_record(record);
        s.release_held(None);
        return Phase::InSync;
    }
    let Some(session) = gate(s, &record) else {
        s.write_record(record);
        s.release_held(None);
        return Phase::Drifted;
    };
    record.phase = Phase::Waiting;
    let alloc_id = s.obs.alloc.id.clone();
    let max_parallel = s.max_parallel();
    match s.held().first().copied() {
        Some(n) if s.slots.may_trigger_on(n, &alloc_id, max_parallel) => {
            trigger(s, record, n, &session, started);
            s.release_held(Some(n));
            Phase::Triggered
        }
        Some(_) => {
            // We hold a slot another allocation's record claims (our acquire raced a crashed
            // holder), or too many slots are occupied: give it back.
            s.write_record(record);
            s.release_held(None);
            Phase::Waiting
        }
        None => {
            s.write_record(record);
            if let Some(n) = s.slots.free_slot(&alloc_id, max_parallel) {
                s.acquire(n, &session);
            }
            Phase::Waiting
        }
    }
}

/// `StartedAt` of the current run, if the task is running.
pub(super) fn running_since(s: &Step<'_, '_>) -> Option<Timestamp> {
    let run = s.obs.run.as_ref()?;
    if run.state == TaskState::Running {
        run.started_at
    } else {
        None
    }
}

/// The record of a task with nothing in flight, for the run that started at `started`:
/// `InSync`, or `Drifted` with the drift's target.
pub(super) fn settle(s: &Step<'_, '_>, started: Timestamp) -> AllocRecord {
    let (applied, cutoff) = run_baseline(s, started);
    let drift = drift::detect(&s.obs.files, &s.settings.watched, cutoff, &applied);
    let mut record = clear_restart(s.base_record());
    record.run_started_at = Some(started);
    record.read_cutoff = (cutoff != started).then_some(cutoff);
    record.applied = applied;
    match drift {
        None => {
            record.phase = Phase::InSync;
            record.target.clear();
            record.drift_detected_at = None;
        }
        Some(drift) => {
            // The same drift as recorded, waiting or being restarted for: first seen then. An
            // abort that ends a restart still stopping must not make old drift look new (it
            // would start a new rollout).
            let seen_before = s
                .record
                .as_ref()
                .filter(|r| (r.phase.drifted() || r.phase.in_flight()) && r.target == drift.target);
            record.drift_detected_at = Some(
                seen_before
                    .and_then(|r| r.drift_detected_at)
                    .unwrap_or(s.now),
            );
            record.phase = Phase::Drifted;
            record.target = drift.target;
        }
    }
    record
}

/// What the run that started at `started` read, and its read cutoff: as recorded when the record
/// describes that run, else from the files, the restart's trigger and Nomad's events.
pub(super) fn run_baseline(
    s: &Step<'_, '_>,
    started: Timestamp,
) -> (
    std::collections::BTreeMap<String, crate::model::Fingerprint>,
    Timestamp,
) {
    if let Some(r) = s
        .record
        .as_ref()
        .filter(|r| r.run_started_at == Some(started))
    {
        return (r.applied.clone(), r.read_cutoff.unwrap_or(started));
    }
    let triggered_at = s.record.as_ref().and_then(|r| r.triggered_at);
    let events = s.obs.run.as_ref().map_or(&[][..], |r| &r.events[..]);
    let cutoff = drift::read_cutoff(started, triggered_at, events);
    let applied = drift::baseline(&s.obs.files, &s.settings.watched, cutoff, &known_content(s));
    (applied, cutoff)
}

/// What the watched files held before the current run, as far as the record knows: the
/// restart's target over the previous run's applied content.
pub(super) fn known_content(
    s: &Step<'_, '_>,
) -> std::collections::BTreeMap<String, crate::model::Fingerprint> {
    let Some(record) = s.record.as_ref() else {
        return Default::default();
    };
    let mut known = record.applied.clone();
    known.extend(record.target.clone());
    known
}

/// Our session, if a new restart may start: we have a session, the trigger key is not
/// refused, the rollout is rolling and does not skip this allocation's drift.
fn gate(s: &Step<'_, '_>, drifted: &AllocRecord) -> Option<SessionId> {
    let rolling = s.rollout.as_ref().is_some_and(|r| {
        r.state == RolloutState::Rolling && !r.skips(&s.obs.alloc.id, &drifted.target)
    });
    if rolling { s.trigger_session() } else { None }
}

fn trigger(
    s: &mut Step<'_, '_>,
    mut record: AllocRecord,
    n: u32,
    session: &SessionId,
    started: Timestamp,
) {
    let waited = record
        .drift_detected_at
        .map_or_else(Default::default, |t| s.now.since(t));
    record.phase = Phase::Triggered;
    record.slot = Some(n);
    record.token = Some(s.token.to_owned());
    record.claimed_at = Some(s.now);
    record.triggered_at = Some(s.now);
    record.generation = s.rollout.as_ref().map(|r| r.generation);
    record.restarts_at_trigger = s.obs.run.as_ref().map(|r| r.restarts);
    record.run_started_at = Some(started);
    s.write_claim(record, n);
    let token = s.token;
    s.trigger(n, session, token, true);
    s.decision.push(Action::Emit(Event::RestartTriggered {
        task: s.obs.task.clone(),
        alloc_id: s.obs.alloc.id.clone(),
        slot: n,
        waited,
    }));
    let deadline = s.healthy_deadline();
    s.decision.requeue(deadline);
}
