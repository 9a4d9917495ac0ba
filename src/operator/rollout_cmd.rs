//! `shepard rollout …`: `list` and `show` read; `pause`, `resume` and `abort` change the
//! record's state by check-and-set on the ModifyIndex they read (a consistent read), re-reading
//! and deciding again when a concurrent writer (the rollout leader, another operator) wins;
//! `watch` hands over to `watch`.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use shepard_reconcilers::Key;
use shepard_reconcilers::model::{Fingerprint, RolloutRecord, TaskId};

use super::args::{RolloutCommand, TargetArgs};
use super::status::{read_view, write_json};
use super::target::Target;
use super::transition::{self, Operation, StuckAlloc};
use super::view::ClusterView;
use super::watch::{self, WatchOptions};
use super::{Connection, OperatorError, Outcome, render};
use crate::config::EnvMap;
use crate::consul::{Consistency, ConsulError, RefusedWrite};

/// Check-and-set attempts before giving up on a record that keeps changing.
pub const CAS_ATTEMPTS: u32 = 5;

/// Runs one `rollout` subcommand, writing to `out`.
pub async fn run(
    command: &RolloutCommand,
    env: &EnvMap,
    out: &mut impl Write,
) -> Result<Outcome, OperatorError> {
    match command {
        RolloutCommand::List { json, consul } => {
            let conn = Connection::open(consul, env)?;
            let view = read_view(&conn).await?;
            if *json {
                let rollouts: Vec<_> = view.tasks.iter().filter(|t| t.rollout.is_some()).collect();
                write_json(out, &rollouts)?;
            } else {
                out.write_all(render::list(&view).as_bytes())?;
            }
        }
        RolloutCommand::Show { target, json } => {
            let conn = Connection::open(&target.consul, env)?;
            let view = read_view(&conn).await?;
            let task = Target::parse(&target.target)?.task(&view)?;
            let Some(task_view) = view.task(&task) else {
                return Err(no_rollout(&conn, &task));
            };
            if *json {
                write_json(out, task_view)?;
            } else {
                out.write_all(render::show(task_view).as_bytes())?;
            }
        }
        RolloutCommand::Pause(target) => change(target, Operation::Pause, env, out).await?,
        RolloutCommand::Resume(target) => change(target, Operation::Resume, env, out).await?,
        RolloutCommand::Abort(target) => change(target, Operation::Abort, env, out).await?,
        RolloutCommand::Watch { target, next } => {
            let conn = Connection::open(&target.consul, env)?;
            let options = WatchOptions {
                next: *next,
                wait: Duration::from_secs(300),
            };
            return watch::follow(&conn, &Target::parse(&target.target)?, &options, out).await;
        }
    }
    Ok(Outcome::Done)
}

async fn change(
    target: &TargetArgs,
    op: Operation,
    env: &EnvMap,
    out: &mut impl Write,
) -> Result<(), OperatorError> {
    let conn = Connection::open(&target.consul, env)?;
    let task = resolve(&conn, &Target::parse(&target.target)?).await?;
    let changed = change_state(&conn, &task, op, async |_| {}).await?;
    out.write_all(changed.describe().as_bytes())?;
    Ok(())
}

/// The task a target names (a rollout ID is looked up in the current records).
pub async fn resolve(conn: &Connection, target: &Target) -> Result<TaskId, OperatorError> {
    match target {
        Target::Task(task) => Ok(task.clone()),
        Target::RolloutId(_) => target.task(&read_view(conn).await?),
    }
}

/// A state change that was written.
#[derive(Debug, Clone)]
pub struct Changed {
    pub task: TaskId,
    pub before: RolloutRecord,
    pub after: RolloutRecord,
    /// Check-and-set attempts it took (1 without contention).
    pub attempts: u32,
}

impl Changed {
    /// What the command prints.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "Rollout {} (generation {}) of {}: {} -> {}\n",
            self.after.id,
            self.after.generation,
            render::task_path(&self.task),
            render::state_name(self.before.state),
            render::state_name(self.after.state)
        );
        let newly: Vec<&str> = self
            .after
            .skipped
            .keys()
            .filter(|id| !self.before.skipped.contains_key(*id))
            .map(String::as_str)
            .collect();
        if !newly.is_empty() {
            text.push_str(&format!(
                "Going on without stuck allocation(s): {}\n",
                newly.join(", ")
            ));
        }
        text
    }
}

/// Applies `op` to the task's rollout record by check-and-set: consistent read, decide, write
/// with `cas` = the ModifyIndex read; a lost race re-reads and decides again, up to
/// [`CAS_ATTEMPTS`] times. `before_write(attempt)` runs between the read and the write (tests
/// use it to interleave a concurrent writer).
pub async fn change_state(
    conn: &Connection,
    task: &TaskId,
    op: Operation,
    mut before_write: impl AsyncFnMut(u32),
) -> Result<Changed, OperatorError> {
    let key = Key::Rollout(task.clone()).render(&conn.prefix);
    for attempt in 1..=CAS_ATTEMPTS {
        let Some(pair) = conn.client.kv_get(&key, Consistency::Consistent).await? else {
            return Err(no_rollout(conn, task));
        };
        let before =
            RolloutRecord::from_json(&String::from_utf8_lossy(&pair.value)).map_err(|e| {
                OperatorError::Unreadable {
                    key: key.clone(),
                    error: e.to_string(),
                }
            })?;
        let (stuck, rolling) = match op {
            Operation::Resume => (stuck_allocs(conn, task, &before).await?, Vec::new()),
            Operation::Abort => (Vec::new(), rolling_targets(conn, task).await?),
            Operation::Pause => (Vec::new(), Vec::new()),
        };
        let after =
            transition::apply(op, &before, &stuck, &rolling, super::now()).map_err(|source| {
                OperatorError::Transition {
                    task: render::task_path(task),
                    source,
                }
            })?;
        before_write(attempt).await;
        let written = conn
            .client
            .kv_cas(
                &key,
                after.to_json().as_bytes(),
                pair.flags,
                pair.modify_index,
            )
            .await;
        match written {
            Ok(()) => {
                return Ok(Changed {
                    task: task.clone(),
                    before,
                    after,
                    attempts: attempt,
                });
            }
            // Someone wrote the record since we read it: decide again on what they wrote.
            Err(ConsulError::Refused {
                write: RefusedWrite::Cas,
                ..
            }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(OperatorError::CasConflict {
        key,
        attempts: CAS_ATTEMPTS,
    })
}

/// Allocations of `task` whose restart is stuck and that `rollout` does not skip yet.
async fn stuck_allocs(
    conn: &Connection,
    task: &TaskId,
    rollout: &RolloutRecord,
) -> Result<Vec<StuckAlloc>, OperatorError> {
    let view = state_view(conn).await?;
    Ok(view
        .task(task)
        .map(|t| t.stuck_allocs())
        .unwrap_or_default()
        .into_iter()
        .filter(|a| !rollout.skips(&a.alloc_id, &a.target))
        .collect())
}

/// The configurations the task's allocations are drifted or being restarted to.
async fn rolling_targets(
    conn: &Connection,
    task: &TaskId,
) -> Result<Vec<BTreeMap<String, Fingerprint>>, OperatorError> {
    let view = state_view(conn).await?;
    let mut targets: Vec<BTreeMap<String, Fingerprint>> = Vec::new();
    for alloc in view
        .task(task)
        .map(|t| t.allocs.as_slice())
        .unwrap_or_default()
    {
        let phase = alloc.record.phase;
        let target = &alloc.record.target;
        if (phase.drifted() || phase.in_flight()) && !target.is_empty() && !targets.contains(target)
        {
            targets.push(target.clone());
        }
    }
    Ok(targets)
}

/// Every allocation record, read consistently.
async fn state_view(conn: &Connection) -> Result<ClusterView, OperatorError> {
    let state_prefix = format!("{}state/", conn.prefix.as_str());
    let pairs = conn
        .client
        .kv_list(&state_prefix, Consistency::Consistent)
        .await?;
    Ok(ClusterView::from_pairs(&conn.prefix, &pairs))
}

fn no_rollout(conn: &Connection, task: &TaskId) -> OperatorError {
    OperatorError::NoRollout {
        task: render::task_path(task),
        key: Key::Rollout(task.clone()).render(&conn.prefix),
    }
}
