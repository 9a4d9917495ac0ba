//! The task reconciler: one allocation's managed task on this node, driven through the restart
//! phase machine described in `reconcilers/README.md` (`InSync → Drifted/Waiting → Triggered → Restarted → Verifying →
//! InSync`, `Stuck` past the deadline). This file holds the observation, the entry point and
//! the helpers both halves share; `steady` handles a task with no restart in flight, `in_flight`
//! one whose record claims a slot.
//!
//! Order of writes, so that a failure after any action is safe: the record is written before
//! the lock or trigger it describes is used (a claim is visible before the restart is issued),
//! and a slot is released only after the record stops claiming it. A trigger is issued only
//! from a listing that already shows our slot lock, so the listing also shows every claim made
//! before our acquire. At most one record write per decision (its CAS index is the one read).
//!
//! A task restarted through its trigger key whose key shepard may not write (see
//! [`crate::trigger`]) starts no restart: the problem is reported at every reconcile and kept
//! in the record's `problem`, drift is still recorded, and a restart already in flight is
//! watched to its end but never triggered again.

mod in_flight;
mod steady;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::action::{
    Action, Decision, Event, KeyAt, LockAt, LockGuard, Problem, ProblemKind, RestartResult,
    RolloutGuard,
};
use crate::context::Context;
use crate::keys::{Key, TriggerLayout};
use crate::model::{
    AllocRecord, AllocRef, AllocStatus, CheckObservation, KvView, Phase, RenderedFile,
    RolloutRecord, SessionId, SlotHolder, TaskId, TaskRun, TaskSpec,
};
use crate::settings::{self, RestartMethod, TaskSettings};
use crate::slots::SlotTable;
use crate::time::Timestamp;
use crate::trigger::{self, TriggerSite};

/// After this long without any sign that a restart API call took effect, it is made again.
pub const RESTART_API_GRACE: Duration = Duration::from_secs(30);

/// Everything observed about one allocation's task.
#[derive(Clone, Debug)]
pub struct TaskObservation<'a> {
    /// The task.
    pub task: TaskId,
    /// `Job.Name` (`NOMAD_JOB_NAME`, used by the trigger key).
    pub job_name: String,
    /// The allocation.
    pub alloc: AllocRef,
    /// The allocation's status; `None` when Nomad no longer lists it.
    pub status: Option<AllocStatus>,
    /// The task's current run; `None` before Nomad reports a state.
    pub run: Option<TaskRun>,
    /// The job spec parts for the task.
    pub spec: TaskSpec,
    /// Rendered files of the task's templates.
    pub files: Vec<RenderedFile>,
    /// Consul checks of the allocation's services.
    pub checks: Vec<CheckObservation>,
    /// This agent's live session, `None` while it has none (no restart is issued then).
    pub session: Option<SessionId>,
    /// The KV listing under the prefix.
    pub kv: &'a KvView,
    /// The trigger sites of the node's allocations ([`trigger::site`]); this task's own entry,
    /// if present, is ignored. A site that renders the same trigger key as this task makes the
    /// key unusable for both.
    pub node_triggers: Vec<TriggerSite>,
    /// When this agent last saw its host's wall clock step (jump against the monotonic clock),
    /// if it has since it started: no duration of a restart counts across it (see
    /// [`Step::not_before_step`]).
    pub clock_stepped_at: Option<Timestamp>,
}

/// The task reconciler's decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDecision {
    /// Whether shepard manages the task.
    pub managed: bool,
    /// The phase the task is in after the actions (for metrics and logs).
    pub phase: Phase,
    /// Actions and requeue.
    #[serde(flatten)]
    pub decision: Decision,
}

/// Decides the next step for one allocation's task. `token` is a fresh random value, used if
/// a new trigger is written.
pub fn reconcile_task(
    obs: &TaskObservation<'_>,
    ctx: &Context,
    now: Timestamp,
    token: &str,
) -> TaskDecision {
    let resolved = settings::resolve(&obs.task, &obs.spec, &ctx.defaults);
    let mut decision = Decision::default();
    for problem in resolved.problems {
        decision.push(Action::ReportProblem(problem));
    }
    let own = TriggerSite {
        alloc: obs.alloc.clone(),
        task: obs.task.clone(),
        job_name: obs.job_name.clone(),
        layout: trigger::layout(&obs.spec).unwrap_or(TriggerLayout::Legacy),
    };
    let trigger_key = Key::Trigger(own.key()).render(&ctx.prefix);
    let uses_trigger = resolved.settings.managed
        && resolved.settings.restart_method == RestartMethod::ConsulKey
        && obs.status.is_some_and(AllocStatus::should_run);
    let refused = uses_trigger
        .then(|| trigger::resolve(&own, &obs.node_triggers, &ctx.prefix).err())
        .flatten();
    if let Some(problem) = &refused {
        decision.push(Action::ReportProblem(problem.clone()));
    }
    let record_key = Key::state(&obs.alloc.node, &obs.alloc.id, &obs.task.task).render(&ctx.prefix);
    let cas = obs.kv.get(&record_key).map_or(0, |e| e.modify_index);
    let record = read_json(obs.kv, &record_key, AllocRecord::from_json, &mut decision);
    let rollout_key = Key::Rollout(obs.task.clone()).render(&ctx.prefix);
    let rollout = read_json(
        obs.kv,
        &rollout_key,
        RolloutRecord::from_json,
        &mut decision,
    );
    let mut step = Step {
        obs,
        ctx,
        now,
        token,
        settings: resolved.settings,
        trigger_key,
        refused,
        record_key,
        cas,
        record,
        rollout,
        slots: SlotTable::observe(obs.kv, &ctx.prefix, &obs.task),
        decision,
        record_written: false,
    };
    let phase = if !step.settings.managed {
        step.release_held(None);
        Phase::InSync
    } else if !obs.status.is_some_and(AllocStatus::should_run) {
        step.stopped()
    } else if step
        .record
        .as_ref()
        .is_some_and(|r| r.claimed_slot().is_some())
    {
        in_flight::step(&mut step)
    } else {
        steady::step(&mut step)
    };
    TaskDecision {
        managed: step.settings.managed,
        phase,
        decision: step.decision,
    }
}

fn read_json<T, E: std::fmt::Display>(
    kv: &KvView,
    key: &str,
    parse: impl Fn(&str) -> Result<T, E>,
    decision: &mut Decision,
) -> Option<T> {
    let value = kv.get(key)?.value.as_deref()?;
    match parse(value) {
        Ok(parsed) => Some(parsed),
        Err(e) => {
            decision.problem(
                ProblemKind::BadValue,
                key,
                format!("{e}; treated as absent"),
            );
            None
        }
    }
}

/// One reconcile in progress.
struct Step<'o, 'a> {
    obs: &'o TaskObservation<'a>,
    ctx: &'o Context,
    now: Timestamp,
    token: &'o str,
    settings: TaskSettings,
    /// The trigger key this allocation's template renders (read to see whether a trigger
    /// landed; written only when `refused` is `None`).
    trigger_key: String,
    /// Why the trigger key may not be written.
    refused: Option<Problem>,
    record_key: String,
    cas: u64,
    record: Option<AllocRecord>,
    rollout: Option<RolloutRecord>,
    slots: SlotTable,
    decision: Decision,
    record_written: bool,
}

impl Step<'_, '_> {
    /// Slots, healthy time and deadline in force: the rollout's, else the task's own.
    fn max_parallel(&self) -> u32 {
        self.rollout
            .as_ref()
            .map_or(self.settings.max_parallel, |r| r.max_parallel)
    }

    fn min_healthy_time(&self) -> Duration {
        self.rollout
            .as_ref()
            .map_or(self.settings.min_healthy_time, |r| r.min_healthy_time)
    }

    /// Where a duration of a restart that began at `t` counts from (deadline, grace, health
    /// proof, `min_healthy_time`): never across a wall-clock step ([`Timestamp::counted_from`]).
    /// After a forward step, times read before it would make it look long already; after a
    /// backward one, they would hold it off for as long as the step.
    fn not_before_step(&self, t: Timestamp) -> Timestamp {
        t.counted_from(self.obs.clock_stepped_at, self.now)
    }

    /// Whether the task's current run started after the restart claimed by `record`: after
    /// the restart's cutoff (`restart_cutoff`, or `fallback`). See [`Step::run_restarted_after`].
    fn run_is_restart(&self, record: &AllocRecord, fallback: Timestamp) -> bool {
        self.run_restarted_after(record, record.restart_cutoff().unwrap_or(fallback))
    }

    /// Whether the task's current run started after `cutoff`, a time this agent stamped on
    /// `record`. By the host's clock, as long as it has not stepped: Nomad's `StartedAt` and
    /// the agent's times come from the same clock. After a step, a time stamped before it
    /// cannot be ordered against one stamped after it, so Nomad's restart count since the
    /// trigger decides, where the record has it.
    fn run_restarted_after(&self, record: &AllocRecord, cutoff: Timestamp) -> bool {
        let Some(run) = self.obs.run.as_ref() else {
            return false;
        };
        match (self.obs.clock_stepped_at, record.restarts_at_trigger) {
            (Some(_), Some(before)) => run.restarts > before,
            _ => run.started_at.is_some_and(|st| st > cutoff),
        }
    }

    fn healthy_deadline(&self) -> Duration {
        self.rollout
            .as_ref()
            .map_or(self.settings.healthy_deadline, |r| r.healthy_deadline)
    }

    /// The record as last read, or a fresh one.
    fn base_record(&self) -> AllocRecord {
        self.record.clone().unwrap_or_else(|| {
            AllocRecord::new(self.obs.task.clone(), self.obs.alloc.index, self.now)
        })
    }

    /// Our session, if this task may start a restart: none while its trigger key is refused.
    fn trigger_session(&self) -> Option<SessionId> {
        match self.refused {
            Some(_) => None,
            None => self.obs.session.clone(),
        }
    }

    /// Writes `record` (by CAS) unless it says what the stored one says.
    fn write_record(&mut self, mut record: AllocRecord) {
        record.problem = self.refused.as_ref().map(|p| p.detail.clone());
        if self.record.as_ref().is_some_and(|r| r.same_as(&record)) {
            return;
        }
        self.push_record(record, None, Vec::new());
    }

    /// Writes `record`, which newly claims slot `n`, together with the check that the slot's
    /// lock is still as the listing shows it: held by our session for this allocation.
    fn write_claim(&mut self, record: AllocRecord, n: u32) {
        // Held by us, so present in the listing.
        let index = self.slot_index(n).unwrap_or(0);
        let key = self.slot_key(n);
        self.push_record(record, Some(LockAt { key, index }), Vec::new());
    }

    /// Writes `record`, which no longer claims slot `n`, only while the slot's lock and the
    /// trigger key are still as the listing shows them: a trigger that landed since (a late
    /// write, or the listing older than our own) makes Consul refuse the drop.
    fn write_dropped_claim(&mut self, record: AllocRecord, n: u32) {
        let slot = self.slot_key(n);
        let slot_index = self.slot_index(n);
        let trigger = self.trigger_key();
        let trigger_index = self.obs.kv.get(&trigger).map(|e| e.modify_index);
        let unchanged = vec![
            KeyAt {
                key: slot,
                index: slot_index,
            },
            KeyAt {
                key: trigger,
                index: trigger_index,
            },
        ];
        self.push_record(record, None, unchanged);
    }

    fn push_record(
        &mut self,
        mut record: AllocRecord,
        lock: Option<LockAt>,
        unchanged: Vec<KeyAt>,
    ) {
        debug_assert!(!self.record_written, "one record write per decision");
        self.record_written = true;
        record.updated_at = self.now;
        record.problem = self.refused.as_ref().map(|p| p.detail.clone());
        self.decision.push(Action::WriteAllocRecord {
            key: self.record_key.clone(),
            record,
            cas: self.cas,
            lock,
            unchanged,
        });
    }

    /// The `ModifyIndex` of slot `n`'s lock in the listing, if the key exists.
    fn slot_index(&self, n: u32) -> Option<u64> {
        self.obs.kv.get(&self.slot_key(n)).map(|e| e.modify_index)
    }

    fn slot_key(&self, n: u32) -> String {
        Key::Slot(self.obs.task.clone(), n).render(&self.ctx.prefix)
    }

    /// Slots our session holds for this allocation.
    fn held(&self) -> Vec<u32> {
        self.obs
            .session
            .as_ref()
            .map_or_else(Vec::new, |s| self.slots.held_for(s, &self.obs.alloc.id))
    }

    /// Releases every slot our session holds for this allocation, except `keep`.
    fn release_held(&mut self, keep: Option<u32>) {
        let Some(session) = self.obs.session.clone() else {
            return;
        };
        for n in self.held() {
            if Some(n) != keep {
                let key = self.slot_key(n);
                // Held, so present in the listing.
                let index = self.slot_index(n).unwrap_or(0);
                self.decision.push(Action::ReleaseSlot {
                    key,
                    n,
                    session: session.clone(),
                    index,
                });
            }
        }
    }

    fn acquire(&mut self, n: u32, session: &SessionId) {
        let holder = SlotHolder {
            alloc_id: self.obs.alloc.id.clone(),
            node: self.obs.alloc.node.clone(),
            acquired_at: self.now,
        };
        let key = self.slot_key(n);
        let index = self.slot_index(n);
        self.decision.push(Action::AcquireSlot {
            key,
            n,
            session: session.clone(),
            holder,
            index,
        });
    }

    /// The trigger key of this allocation's task (raw names, as the template computes it).
    fn trigger_key(&self) -> String {
        self.trigger_key.clone()
    }

    /// The restart itself, guarded by slot `n` and by the rollout still allowing it: `rolling`
    /// for a new restart, `rolling` or `stuck` for a retry on a slot already claimed
    /// (`new_restart = false`). Never with a refused trigger key (callers take their session
    /// from `trigger_session`, so they do not get here then).
    fn trigger(&mut self, n: u32, session: &SessionId, token: &str, new_restart: bool) {
        if self.refused.is_some() {
            return;
        }
        let guard = LockGuard {
            key: self.slot_key(n),
            session: session.clone(),
        };
        let rollout = self.rollout.as_ref().map(|r| RolloutGuard {
            key: Key::Rollout(self.obs.task.clone()).render(&self.ctx.prefix),
            generation: r.generation,
            also_stuck: !new_restart,
        });
        let action = match self.settings.restart_method {
            RestartMethod::ConsulKey => Action::WriteTrigger {
                key: self.trigger_key(),
                token: token.to_owned(),
                guard,
                rollout,
            },
            RestartMethod::NomadApi => Action::CallRestartApi {
                alloc_id: self.obs.alloc.id.clone(),
                task: self.obs.task.task.clone(),
                guard,
                rollout,
            },
        };
        self.decision.push(action);
    }

    fn emit_finished(&mut self, result: RestartResult, triggered_at: Option<Timestamp>) {
        let duration = triggered_at.map_or(Duration::ZERO, |t0| self.now.since(t0));
        self.decision.push(Action::Emit(Event::RestartFinished {
            task: self.obs.task.clone(),
            alloc_id: self.obs.alloc.id.clone(),
            result,
            duration,
        }));
    }

    /// The allocation stopped, was replaced or is gone: give back what it holds.
    fn stopped(&mut self) -> Phase {
        if let Some(record) = self.record.clone() {
            let was_in_flight = record.claimed_slot().is_some();
            let mut next = clear_restart(record.clone());
            next.phase = Phase::Stopped;
            if was_in_flight {
                next.last_error = Some("allocation stopped while restarting".to_owned());
            }
            self.write_record(next);
            self.release_held(None);
            if was_in_flight {
                self.emit_finished(RestartResult::AllocStopped, record.triggered_at);
            }
        } else {
            self.release_held(None);
        }
        Phase::Stopped
    }
}

/// The record without any restart in flight.
fn clear_restart(record: AllocRecord) -> AllocRecord {
    record.without_restart()
}
