//! What a reconcile decides: `Action`s as data, applied by the agent in order, and when to
//! look again. A failed action (CAS lost, acquire refused, sequencer check failed) ends the
//! reconcile and requeues it at once; every sequence here is built so that stopping after any
//! action leaves a state the next reconcile recovers from.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::keys::KeyKind;
use crate::model::{AllocRecord, LockHolder, RolloutRecord, SessionId, SlotHolder, TaskId};

/// A key that must still be at `index` (its `ModifyIndex`) for an action to apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockAt {
    /// The lock key (full).
    pub key: String,
    /// The `ModifyIndex` observed.
    pub index: u64,
}

/// A key that must still be as a listing showed it: at `index`, or absent (`None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAt {
    /// The key (full).
    pub key: String,
    /// The `ModifyIndex` observed; `None`: the key was absent.
    pub index: Option<u64>,
}

/// The lock whose holder must still be us when an action runs: the agent re-reads `key` with
/// `?consistent` and checks its `Session` is `session` before acting (the sequencer check).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockGuard {
    /// The lock key (full).
    pub key: String,
    /// Our session.
    pub session: SessionId,
}

/// The rollout a restart belongs to: the agent re-reads `key` with `?consistent` and issues
/// the restart only if the record is still at `generation` and `rolling` (or `stuck`, for the
/// retry of a stuck restart on the slot it holds), so a rollout that went `stuck`, `paused` or
/// `aborted` since the decision starts nothing new.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutGuard {
    /// The rollout key (full).
    pub key: String,
    /// The generation that must still be current.
    pub generation: u64,
    /// Whether `stuck` is accepted besides `rolling`.
    pub also_stuck: bool,
}

/// One step for the agent to carry out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Takes the slot's lock for `session` with the holder JSON as value, only if the key is
    /// still as observed (`index`: its `ModifyIndex`, `None`: absent) — one transaction of
    /// `check-index` (or `check-not-exists`) and `lock`. The check matters because every
    /// allocation of a node shares the agent's session, and Consul lets a session re-acquire
    /// a lock it holds: without it one allocation could take over a slot another allocation
    /// of the same node holds, from a listing older than that other's acquire.
    AcquireSlot {
        /// The slot key (full).
        key: String,
        /// The slot number.
        n: u32,
        /// Our session.
        session: SessionId,
        /// The value to store (`SlotHolder::to_json`).
        holder: SlotHolder,
        /// The key's `ModifyIndex` in the listing the decision was made from.
        index: Option<u64>,
    },
    /// Releases the slot's lock with an empty value (the holder is cleared), only if the key
    /// is still at `index`: the release must not free a slot that another allocation of this
    /// node has taken over since the listing.
    ReleaseSlot {
        /// The slot key (full).
        key: String,
        /// The slot number.
        n: u32,
        /// Our session.
        session: SessionId,
        /// The key's `ModifyIndex` in the listing the decision was made from.
        index: u64,
    },
    /// Plain `PUT` of `token` to the trigger key, after the guards' checks.
    WriteTrigger {
        /// The trigger key (full).
        key: String,
        /// The new value.
        token: String,
        /// The slot that must still be ours.
        guard: LockGuard,
        /// The rollout that must still allow the restart (`None` when there is no rollout
        /// record to check, only for the retry of a stuck restart).
        rollout: Option<RolloutGuard>,
    },
    /// `POST /v1/client/allocation/<alloc_id>/restart` with `{"TaskName": task}`, after the
    /// guards' checks.
    CallRestartApi {
        /// The allocation.
        alloc_id: String,
        /// The task.
        task: String,
        /// The slot that must still be ours.
        guard: LockGuard,
        /// As for `WriteTrigger`.
        rollout: Option<RolloutGuard>,
    },
    /// `PUT key?cas=cas` of the record JSON (`cas = 0`: create only if absent).
    WriteAllocRecord {
        /// The record key (full).
        key: String,
        /// The record.
        record: AllocRecord,
        /// The `ModifyIndex` it was read at.
        cas: u64,
        /// For a record that newly claims a slot: the slot lock, which must still be at the
        /// index at which the listing showed it held by us for this allocation. The claim and
        /// the check are one transaction, so a claim is only ever written while its lock is
        /// ours — and anyone who later sees the lock change also sees the claim.
        lock: Option<LockAt>,
        /// Keys that must still be as the listing showed them, checked in the same
        /// transaction. A claim is dropped only so: the trigger key and the slot's lock
        /// unchanged prove, at the moment of the write, that no trigger landed since the
        /// listing the decision was made from.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        unchanged: Vec<KeyAt>,
    },
    /// `PUT key?acquire=session` of the rollout leader lock.
    AcquireTaskLock {
        /// The lock key (full).
        key: String,
        /// Our session.
        session: SessionId,
        /// The value to store (`LockHolder::to_json`).
        holder: LockHolder,
    },
    /// `PUT key?release=session` of the rollout leader lock.
    ReleaseTaskLock {
        /// The lock key (full).
        key: String,
        /// Our session.
        session: SessionId,
    },
    /// `PUT key?cas=cas` of the rollout JSON, after the guard's sequencer check.
    PutRollout {
        /// The rollout key (full).
        key: String,
        /// The record.
        record: RolloutRecord,
        /// The `ModifyIndex` it was read at (`0`: create).
        cas: u64,
        /// The leader lock that must still be ours.
        guard: LockGuard,
    },
    /// `DELETE key?cas=cas`.
    DeleteKey {
        /// The key (full).
        key: String,
        /// The `ModifyIndex` it was read at.
        cas: u64,
        /// What kind of key it is (metric label).
        kind: KeyKind,
    },
    /// Log and count a problem; changes nothing.
    ReportProblem(Problem),
    /// Record a domain event in metrics; placed after the write that makes it true.
    Emit(Event),
}

/// Kinds of problems, for the metric label and log filtering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A `shepard_*` meta value could not be used.
    BadMeta,
    /// A watched template has `change_mode = "restart"`: Nomad restarts on its own.
    TemplateRestarts,
    /// The trigger template does not restart the task.
    TriggerNotRestart,
    /// A record or lock value under the prefix could not be read.
    BadValue,
    /// A key under the prefix matches no entry of the layout (GC leaves it).
    UnknownKey,
    /// A key outside the prefix was offered to a reconciler (ignored).
    KeyOutsidePrefix,
    /// A name in a task's trigger key would leave the prefix or be ambiguous: no trigger is
    /// written for the task.
    UnsafeName,
    /// Two allocations of a node render the same trigger key: no trigger is written for
    /// either.
    SharedTriggerKey,
    /// The host's wall clock stepped (jumped against the monotonic clock): restarts being
    /// verified on the node count their health proof and deadlines again from the step.
    ClockStep,
}

/// A problem worth an operator's attention.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// What it is about: a task (`ns/job/group/task`) or a key.
    pub subject: String,
    /// What is wrong and what shepard does instead.
    pub detail: String,
}

/// How a restart ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartResult {
    /// Healthy for `min_healthy_time`.
    Healthy,
    /// Missed `healthy_deadline`.
    Stuck,
    /// The rollout was aborted while the restart was in flight.
    Aborted,
    /// The allocation stopped or disappeared while the restart was in flight.
    AllocStopped,
}

/// Domain events for the metrics listed in the README.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A restart was triggered (`shepard_slot_wait_seconds` observes `waited`).
    RestartTriggered {
        /// The task.
        task: TaskId,
        /// The allocation.
        alloc_id: String,
        /// The slot used.
        slot: u32,
        /// From drift detection to the trigger.
        #[serde(with = "humantime_serde")]
        waited: Duration,
    },
    /// A restart ended (`shepard_restarts_total{result}`, and for `healthy`
    /// `shepard_restart_duration_seconds` observes `duration`).
    RestartFinished {
        /// The task.
        task: TaskId,
        /// The allocation.
        alloc_id: String,
        /// How it ended.
        result: RestartResult,
        /// From the trigger to the end.
        #[serde(with = "humantime_serde")]
        duration: Duration,
    },
}

/// The outcome of one reconcile.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Actions, to be applied in order, stopping at the first failure.
    pub actions: Vec<Action>,
    /// Reconcile again after this long even if nothing changes (time-based transitions).
    #[serde(with = "humantime_serde")]
    pub requeue_after: Option<Duration>,
}

impl Decision {
    /// Adds an action.
    pub fn push(&mut self, action: Action) {
        self.actions.push(action);
    }

    /// Asks to come back after `after` at the latest (keeps the earliest request).
    pub fn requeue(&mut self, after: Duration) {
        self.requeue_after = Some(self.requeue_after.map_or(after, |d| d.min(after)));
    }

    /// Reports a problem.
    pub fn problem(
        &mut self,
        kind: ProblemKind,
        subject: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.push(Action::ReportProblem(Problem {
            kind,
            subject: subject.into(),
            detail: detail.into(),
        }));
    }
}
