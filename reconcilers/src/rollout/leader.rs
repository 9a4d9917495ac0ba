//! What the rollout leader writes: create a rollout (generation + 1) when drift appears and none
//! is active, `rolling → stuck` when an allocation is stuck, `stuck → rolling` when none is any
//! more, `→ complete` when nothing is drifted or in flight. `paused`, `planned` and `aborted`
//! belong to operators and are never changed; after an abort only drift to a configuration
//! other than those it aborted starts a new rollout. Allocations the rollout `skipped` count neither as stuck nor as drifted
//! (a restart of theirs in flight counts as in flight). Every write is a CAS on the index read.
//!
//! No silent stall: while `rolling`, the leader notes when the rollout last moved: a restart it
//! saw in flight ended, one started while none was, or a recorded run changed. Every restart
//! ends, healthy or stuck (which stops the rollout), within `healthy_deadline` of its trigger
//! while its agent runs; so a rollout with nothing restarting and no move for
//! `healthy_deadline` (plus a grace for the views to catch up), or with restarts in flight and
//! no move for twice that (an agent's clock step restarts a deadline once), is not moving,
//! whatever the cause (an agent that died with its allocation drifted or mid-restart, a slot
//! no one can take), and goes `stuck`, which pages. It rolls again once something moves, or
//! when an operator resumes it. The claims of allocations
//! Nomad lists as stopped or lost are cleared by `orphans`.

use crate::action::{Action, Decision, LockGuard, ProblemKind};
use crate::context::Context;
use crate::keys::Key;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::model::{AllocRecord, Fingerprint, Progress, RolloutRecord, RolloutState, SessionId};
use crate::settings::TaskSettings;
use crate::time::Timestamp;

use super::{RolloutObservation, orphans, participates};

/// Beyond `healthy_deadline`, how long the count of allocations left may stay put before the
/// rollout counts as stalled: time for the last restart's end to reach the leader's view and
/// for the next restart to start.
pub const STALL_GRACE: Duration = Duration::from_secs(15);

/// Records of the task's participating allocations, by phase.
#[derive(Default)]
struct Census<'r> {
    live: u32,
    drifted: Vec<&'r AllocRecord>,
    in_flight: u32,
    /// The restarts in flight (`restart_id`).
    restarting: BTreeSet<String>,
    /// Digest of the participating records' runs (`runs_digest`).
    runs: String,
    /// The distinct targets of the records drifted, stuck or restarting.
    targets: Vec<BTreeMap<String, Fingerprint>>,
    /// Newer configurations stuck restarts have seen (`AllocRecord::next_target`).
    next_targets: Vec<BTreeMap<String, Fingerprint>>,
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
        runs: runs_digest(
            &records
                .iter()
                .map(|(id, r)| (id.as_str(), r.as_ref().and_then(|r| r.run_started_at)))
                .collect::<Vec<_>>(),
        ),
        ..Census::default()
    };
    for (alloc_id, record) in &records {
        let Some(record) = record.as_ref().filter(|r| r.task == obs.task) else {
            continue;
        };
        let skipped = current
            .as_ref()
            .is_some_and(|r| r.skips(alloc_id, &record.target));
        if (record.phase.drifted() || record.phase.in_flight())
            && !record.target.is_empty()
            && !census.targets.contains(&record.target)
        {
            census.targets.push(record.target.clone());
        }
        if let Some(next) = record.next_target.as_ref().filter(|t| !t.is_empty()) {
            census.next_targets.push(next.clone());
        }
        match record.phase {
            p if p.drifted() && !skipped => census.drifted.push(record),
            // A skipped stuck restart is in flight until its agent ends it and frees the slot.
            crate::model::Phase::Stuck if !skipped => {
                census.stuck.push((alloc_id.as_str(), record));
            }
            p if p.in_flight() => {
                census.in_flight += 1;
                census.restarting.extend(restart_id(record));
            }
            _ => {}
        }
    }
    orphans::clear_claims(obs, ctx, now, decision);
    let next = match &current {
        None => (!census.drifted.is_empty())
            .then(|| create(ctx, settings, &census, now, new_rollout_id, 1)),
        Some(r) => step(
            r,
            ctx,
            settings,
            &census,
            (now, obs.clock_stepped_at),
            new_rollout_id,
        ),
    };
    // Look again when the rollout would count as stalled.
    if let Some(p) = next.as_ref().or(current.as_ref()).and_then(watched) {
        let restarting = !census.restarting.is_empty();
        let stalls_at = stalls_at(p, settings, restarting, (now, obs.clock_stepped_at));
        decision.requeue(stalls_at.since(now).max(Duration::from_secs(1)));
    }
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
    (now, clock_stepped_at): (Timestamp, Option<Timestamp>),
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
        RolloutState::Aborted => match &r.aborted_targets {
            // First sight of the abort: what was being rolled out is what was aborted.
            None => {
                let mut next = r.clone();
                next.aborted_targets = Some(census.targets.clone());
                next.updated_at = now;
                Some(next)
            }
            Some(aborted) => {
                let newer = census.drifted.iter().any(|d| !aborted.contains(&d.target))
                    || census.next_targets.iter().any(|t| !aborted.contains(t));
                newer.then(|| create(ctx, settings, census, now, new_rollout_id, r.generation + 1))
            }
        },
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
        RolloutState::Stuck if census.stuck.is_empty() => {
            let stalled = r.progress.as_ref().filter(|p| p.stalled);
            if stalled.is_some_and(|p| !census.moved_since(p)) {
                // Stuck because nothing moved, and still nothing has.
                return None;
            }
            let reason = if stalled.is_some() {
                "allocations are being restarted again"
            } else {
                "the stuck allocation recovered or was replaced"
            };
            let mut next = transition(r, RolloutState::Rolling, reason.to_owned(), now);
            next.progress = Some(progress_now(ctx, census, now));
            Some(next)
        }
        RolloutState::Rolling => {
            let mut next = r.clone();
            apply_settings(&mut next, settings, census);
            match r
                .progress
                .as_ref()
                .filter(|p| p.by == ctx.node && !p.stalled)
            {
                Some(p) if census.moved_since(p) => {
                    next.progress = Some(progress_now(ctx, census, now));
                }
                // Nothing moved for the window: work left with nothing restarting, or restarts
                // in flight that their agents no longer judge (each ends on its own deadline,
                // healthy or stuck, when its agent runs).
                Some(p)
                    if now
                        >= stalls_at(
                            p,
                            settings,
                            !census.restarting.is_empty(),
                            (now, clock_stepped_at),
                        ) =>
                {
                    let window = stall_window(settings, !census.restarting.is_empty());
                    let window = humantime::format_duration(window);
                    let reason = format!(
                        "no progress for {window}: {} drifted, {} restarting",
                        census.drifted.len(),
                        census.in_flight
                    );
                    let mut stalled = transition(r, RolloutState::Stuck, reason, now);
                    stalled.progress = Some(Progress {
                        stalled: true,
                        ..p.clone()
                    });
                    return Some(stalled);
                }
                // Restarts started beside those still running: not yet a move.
                Some(_) => {}
                // No watch yet, another leader's, or one an operator's resume cleared.
                None => next.progress = Some(progress_now(ctx, census, now)),
            }
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

/// One issue of a restart: its token and trigger time. A trigger issued again (it never
/// landed) starts the restart's deadline again, so it counts as a new restart. The time is
/// only compared for equality, never with a clock.
fn restart_id(record: &AllocRecord) -> Option<String> {
    let token = record.token.as_deref()?;
    Some(match record.triggered_at {
        Some(at) => format!("{token}@{at}"),
        None => token.to_owned(),
    })
}

/// The digest of the runs of a task's allocations (ID and recorded `run_started_at`, in the
/// order Nomad lists them): FNV-1a, stable across builds, so agents of different versions
/// read the same digest.
pub fn runs_digest(runs: &[(&str, Option<Timestamp>)]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (alloc_id, started) in runs {
        let run = started.map_or(0, Timestamp::unix_nanos);
        for byte in alloc_id.bytes().chain(run.to_le_bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// The progress watch of this leader while the rollout is `rolling`, if there is one.
fn watched(r: &RolloutRecord) -> Option<&Progress> {
    r.progress
        .as_ref()
        .filter(|p| r.state == RolloutState::Rolling && !p.stalled)
}

/// How long a rollout may go without a move. With restarts in flight, twice the deadline: an
/// agent that saw its wall clock step counts a restart's deadline again from the step.
fn stall_window(settings: &TaskSettings, restarting: bool) -> Duration {
    let deadlines = if restarting { 2 } else { 1 };
    settings.healthy_deadline * deadlines + STALL_GRACE
}

/// When the watch `p` counts as stalled: a stall window after its last move, or after the
/// leader's last wall-clock step if that came later (no window spans a step).
fn stalls_at(
    p: &Progress,
    settings: &TaskSettings,
    restarting: bool,
    (now, clock_stepped_at): (Timestamp, Option<Timestamp>),
) -> Timestamp {
    p.at.counted_from(clock_stepped_at, now)
        .plus(stall_window(settings, restarting))
}

fn progress_now(ctx: &Context, census: &Census<'_>, now: Timestamp) -> Progress {
    Progress {
        restarting: census.restarting.clone(),
        runs: census.runs.clone(),
        at: now,
        by: ctx.node.clone(),
        stalled: false,
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

impl Census<'_> {
    /// Whether the rollout moved since `p`: a restart then in flight ended, one started when
    /// none was, or an allocation's recorded run changed (a restart ended unseen).
    fn moved_since(&self, p: &Progress) -> bool {
        let ended = p.restarting.iter().any(|t| !self.restarting.contains(t));
        let started = p.restarting.is_empty() && !self.restarting.is_empty();
        ended || started || p.runs != self.runs
    }
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
        aborted_targets: None,
        progress: None,
    };
    apply_settings(&mut record, settings, census);
    record.progress = Some(progress_now(ctx, census, now));
    record
}
