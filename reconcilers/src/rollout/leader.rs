//! What the rollout leader writes: create a rollout (generation + 1) when drift appears and none
//! is active, `rolling → stuck` when an allocation is stuck, `stuck → rolling` when none is any
//! more, `→ complete` when nothing is drifted or in flight. `paused`, `planned` and `aborted`
//! belong to operators and are never changed; after an abort only drift first seen after it
//! starts a new rollout. Allocations the rollout `skipped` count neither as stuck nor as drifted
//! (a restart of theirs in flight counts as in flight). Every write is a CAS on the index read.

use crate::action::{Action, Decision, LockGuard, ProblemKind};
use crate::context::Context;
use crate::keys::Key;
use crate::model::{AllocRecord, RolloutRecord, RolloutState, SessionId};
use crate::settings::TaskSettings;
use crate::time::Timestamp;

use super::{RolloutObservation, participates};

/// Records of the task's participating allocations, by phase.
#[derive(Default)]
struct Census<'r> {
    live: u32,
    drifted: Vec<&'r AllocRecord>,
    in_flight: u32,
    stuck: Vec<(&'r str, &'r AllocRecord)>,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn converge(
    obs: &RolloutObservation<'_>,
    ctx: &Context,
    settings: &TaskSettings,
    now: Timestamp,
    new_rollout_id: &str,
    lock_key: &str,
    session: &SessionId,
    decision: &mut Decision,
) {
    let key = Key::Rollout(obs.task.clone()).render(&ctx.prefix);
    let entry = obs.kv.get(&key);
    let cas = entry.map_or(0, |e| e.modify_index);
    let current = match entry
        .and_then(|e| e.value.as_deref())
        .map(RolloutRecord::from_json)
    {
        None => None,
        Some(Ok(record)) => Some(record),
        Some(Err(e)) => {
            // Never overwrite what we cannot read: an operator may be editing it.
            decision.problem(ProblemKind::BadValue, key, format!("{e}; left alone"));
            return;
        }
    };
    let records: Vec<(String, Option<AllocRecord>)> = obs
        .members
        .iter()
        .filter(|m| participates(m.status))
        .map(|m| {
            let rkey = Key::state(&m.alloc.node, &m.alloc.id, &obs.task.task).render(&ctx.prefix);
            let record = obs
                .kv
                .get(&rkey)
                .and_then(|e| e.value.as_deref())
                .and_then(|v| AllocRecord::from_json(v).ok());
            (m.alloc.id.clone(), record)
        })
        .collect();
    let mut census = Census {
        live: u32::try_from(records.len()).unwrap_or(u32::MAX),
        ..Census::default()
    };
    for (alloc_id, record) in &records {
        let Some(record) = record.as_ref().filter(|r| r.task == obs.task) else {
            continue;
        };
        let skipped = current
            .as_ref()
            .is_some_and(|r| r.skips(alloc_id, &record.target));
        match record.phase {
            p if p.drifted() && !skipped => census.drifted.push(record),
            // A skipped stuck restart is in flight until its agent ends it and frees the slot.
            crate::model::Phase::Stuck if !skipped => {
                census.stuck.push((alloc_id.as_str(), record));
            }
            p if p.in_flight() => census.in_flight += 1,
            _ => {}
        }
    }
    let next = match &current {
        None => (!census.drifted.is_empty())
            .then(|| create(ctx, settings, &census, now, new_rollout_id, 1)),
        Some(r) => step(r, ctx, settings, &census, now, new_rollout_id),
    };
    if let Some(record) = next {
        let guard = LockGuard {
            key: lock_key.to_owned(),
            session: session.clone(),
        };
        decision.push(Action::PutRollout {
            key,
            record,
            cas,
            guard,
        });
    }
}

fn step(
    r: &RolloutRecord,
    ctx: &Context,
    settings: &TaskSettings,
    census: &Census<'_>,
    now: Timestamp,
    new_rollout_id: &str,
) -> Option<RolloutRecord> {
    let nothing_left =
        census.drifted.is_empty() && census.in_flight == 0 && census.stuck.is_empty();
    match r.state {
        RolloutState::Complete if !census.drifted.is_empty() => Some(create(
            ctx,
            settings,
            census,
            now,
            new_rollout_id,
            r.generation + 1,
        )),
        RolloutState::Aborted => {
            let aborted_at = r.finished_at.unwrap_or(r.updated_at);
            let newer = census
                .drifted
                .iter()
                .any(|d| d.drift_detected_at.is_some_and(|t| t > aborted_at));
            newer.then(|| create(ctx, settings, census, now, new_rollout_id, r.generation + 1))
        }
        RolloutState::Rolling if !census.stuck.is_empty() => {
            let (alloc_id, record) = census.stuck[0];
            let why = record
                .last_error
                .as_deref()
                .unwrap_or("missed healthy_deadline");
            let reason = format!("allocation {alloc_id} is stuck: {why}");
            Some(transition(r, RolloutState::Stuck, reason, now))
        }
        RolloutState::Rolling | RolloutState::Stuck if nothing_left => {
            let mut next = transition(
                r,
                RolloutState::Complete,
                "no allocation is drifted or restarting".to_owned(),
                now,
            );
            next.finished_at = Some(now);
            Some(next)
        }
        RolloutState::Stuck if census.stuck.is_empty() => Some(transition(
            r,
            RolloutState::Rolling,
            "the stuck allocation recovered or was replaced".to_owned(),
            now,
        )),
        RolloutState::Rolling => {
            let mut next = r.clone();
            apply_settings(&mut next, settings, census);
            (next != *r).then(|| {
                next.updated_at = now;
                next
            })
        }
        RolloutState::Complete
        | RolloutState::Stuck
        | RolloutState::Paused
        | RolloutState::Planned => None,
    }
}

fn transition(
    r: &RolloutRecord,
    state: RolloutState,
    reason: String,
    now: Timestamp,
) -> RolloutRecord {
    RolloutRecord {
        state,
        reason,
        updated_at: now,
        ..r.clone()
    }
}

fn apply_settings(record: &mut RolloutRecord, settings: &TaskSettings, census: &Census<'_>) {
    record.max_parallel = settings.max_parallel;
    record.min_healthy_time = settings.min_healthy_time;
    record.healthy_deadline = settings.healthy_deadline;
    record.instance_count = census.live;
}

fn create(
    ctx: &Context,
    settings: &TaskSettings,
    census: &Census<'_>,
    now: Timestamp,
    id: &str,
    generation: u64,
) -> RolloutRecord {
    let mut record = RolloutRecord {
        id: id.to_owned(),
        generation,
        state: RolloutState::Rolling,
        max_parallel: 0,
        min_healthy_time: settings.min_healthy_time,
        healthy_deadline: settings.healthy_deadline,
        instance_count: 0,
        reason: format!(
            "configuration changed on {} of {} allocations",
            census.drifted.len(),
            census.live
        ),
        created_at: now,
        created_by: ctx.node.clone(),
        updated_at: now,
        finished_at: None,
        skipped: Default::default(),
    };
    apply_settings(&mut record, settings, census);
    record
}
