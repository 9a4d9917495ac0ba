//! `shepard rollout watch`: follows one task's rollout on Consul blocking queries of the prefix
//! (the agent's watch: index rules, backoff, rate limit) and prints a progress line whenever
//! the rollout's progress or state changes and a line per allocation phase change. It ends
//! when the rollout is complete (0), stuck (2) or aborted (3), with a final line saying so.
//!
//! [`Follower`] holds what was printed so far and turns each snapshot into lines; it is pure,
//! so the output for a sequence of snapshots is tested without Consul.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use futures::StreamExt;
use shepard_reconcilers::model::{Phase, RolloutState, TaskId};

use super::render::{phase_name, state_name, task_path, time};
use super::target::Target;
use super::view::{AllocEntry, ClusterView, TaskView, short_id};
use super::{Connection, OperatorError, Outcome};
use crate::api_metrics::Api;
use crate::watch::{WatchConfig, watch};

/// Width of the progress bar.
const BAR_WIDTH: usize = 30;

/// How to follow.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Ignore a rollout already complete or aborted at the start; follow the next one.
    pub next: bool,
    /// How long each blocking query may wait.
    pub wait: Duration,
}

/// Follows the rollout `target` names until it completes, gets stuck or is aborted.
pub async fn follow(
    conn: &Connection,
    target: &Target,
    options: &WatchOptions,
    out: &mut impl Write,
) -> Result<Outcome, OperatorError> {
    let prefix = conn.prefix.clone();
    let client = conn.client.clone();
    let config = WatchConfig::new(Api::Consul, format!("kv:{}", prefix.as_str()), options.wait);
    let fetch = {
        let prefix = prefix.clone();
        move |params| {
            let client = client.clone();
            let prefix = prefix.clone();
            async move { client.kv_list_blocking(prefix.as_str(), params).await }
        }
    };
    let mut snapshots = Box::pin(watch(config, conn.client.metrics().clone(), fetch));
    let mut follower = Follower::new(target.clone(), options.next);
    let mut seen_any = false;
    while let Some(item) = snapshots.next().await {
        match item {
            Ok(snapshot) => {
                seen_any = true;
                let view = ClusterView::from_pairs(&prefix, &snapshot.value);
                let (lines, outcome) = follower.observe(&view);
                for line in lines {
                    writeln!(out, "{line}")?;
                }
                out.flush()?;
                if let Some(outcome) = outcome {
                    return Ok(outcome);
                }
            }
            // Nothing read yet: Consul is unreachable or refuses us; say so instead of waiting.
            Err(crate::watch::WatchError::Fetch(e)) if !seen_any => return Err(e.into()),
            Err(e) => {
                writeln!(out, "warning: {e}; retrying")?;
                out.flush()?;
            }
        }
    }
    // The watch stream never ends; if it did, nothing more can be learned.
    Ok(Outcome::Done)
}

/// What has been shown of one rollout so far.
#[derive(Debug)]
pub struct Follower {
    target: Target,
    next: bool,
    task: Option<TaskId>,
    started: bool,
    /// Generations at or below this are finished rollouts the watch ignores (`--next`).
    ignore_up_to: Option<u64>,
    phases: BTreeMap<String, Phase>,
    last_progress: Option<String>,
    announced_wait: bool,
}

impl Follower {
    /// A follower of `target`; with `next`, a rollout finished at the first snapshot is ignored.
    pub fn new(target: Target, next: bool) -> Self {
        Follower {
            task: match &target {
                Target::Task(task) => Some(task.clone()),
                Target::RolloutId(_) => None,
            },
            target,
            next,
            started: false,
            ignore_up_to: None,
            phases: BTreeMap::new(),
            last_progress: None,
            announced_wait: false,
        }
    }

    /// The lines to print for a new snapshot, and the outcome once the rollout is over.
    pub fn observe(&mut self, view: &ClusterView) -> (Vec<String>, Option<Outcome>) {
        let mut lines = Vec::new();
        let Some(task) = self.resolve(view) else {
            if !self.announced_wait {
                self.announced_wait = true;
                if let Target::RolloutId(id) = &self.target {
                    lines.push(format!("Waiting for rollout {id} to appear..."));
                }
            }
            return (lines, None);
        };
        let task_view = view.task(&task);
        for alloc in task_view.map_or(&[][..], |t| &t.allocs) {
            let previous = self
                .phases
                .insert(alloc.alloc_id.clone(), alloc.record.phase);
            if previous != Some(alloc.record.phase) {
                lines.push(alloc_line(alloc, previous));
            }
        }
        let rollout = task_view
            .and_then(|t| t.rollout.as_ref())
            .map(|r| &r.record);
        if !self.started {
            self.started = true;
            if let Some(r) = rollout.filter(|r| self.next && !r.state.is_active()) {
                self.ignore_up_to = Some(r.generation);
                lines.push(format!(
                    "Rollout {} (generation {}) of {} is {}; waiting for the next one...",
                    r.id,
                    r.generation,
                    task_path(&task),
                    state_name(r.state)
                ));
                self.announced_wait = true;
            }
        }
        let current = rollout.filter(|r| self.ignore_up_to.is_none_or(|g| r.generation > g));
        let (Some(record), Some(task_view)) = (current, task_view) else {
            if !self.announced_wait {
                self.announced_wait = true;
                lines.push(format!("Waiting for a rollout of {}...", task_path(&task)));
            }
            return (lines, None);
        };
        let progress = progress_line(task_view);
        if self.last_progress.as_ref() != Some(&progress) {
            lines.push(progress.clone());
            self.last_progress = Some(progress);
        }
        let p = &task_view.progress;
        let head = format!(
            "Rollout {} (generation {}) of {}",
            record.id,
            record.generation,
            task_path(&task)
        );
        let outcome = match record.state {
            RolloutState::Complete => {
                lines.push(format!("{head} is complete: {}.", p.summary()));
                Some(Outcome::Done)
            }
            RolloutState::Stuck => {
                lines.push(format!("{head} is stuck: {}.", record.reason));
                lines.push(format!(
                    "Fix the configuration, or run `shepard rollout resume {}` to go on without the stuck allocation(s).",
                    task_path(&task)
                ));
                Some(Outcome::Stuck)
            }
            RolloutState::Aborted => {
                lines.push(format!("{head} was aborted: {}.", record.reason));
                Some(Outcome::Aborted)
            }
            RolloutState::Planned | RolloutState::Rolling | RolloutState::Paused => None,
        };
        (lines, outcome)
    }

    fn resolve(&mut self, view: &ClusterView) -> Option<TaskId> {
        if self.task.is_none() {
            self.task = self.target.task(view).ok();
        }
        self.task.clone()
    }
}

fn progress_line(t: &TaskView) -> String {
    let state = t
        .rollout
        .as_ref()
        .map_or_else(|| "-".to_owned(), |r| state_name(r.record.state));
    format!(
        "{} {}  [{state}]",
        t.progress.bar(BAR_WIDTH),
        t.progress.summary()
    )
}

fn alloc_line(a: &AllocEntry, previous: Option<Phase>) -> String {
    let r = &a.record;
    let change = match previous {
        Some(p) => format!("{} -> {}", phase_name(p), phase_name(r.phase)),
        None => phase_name(r.phase),
    };
    let mut line = format!(
        "{}  {} {} #{}  {change}",
        time(r.updated_at),
        a.node,
        short_id(&a.alloc_id),
        r.alloc_index
    );
    if let Some(slot) = r.claimed_slot() {
        line.push_str(&format!(" (slot {slot})"));
    }
    if let Some(error) = r.last_error.as_deref().filter(|_| r.phase == Phase::Stuck) {
        line.push_str(&format!(": {error}"));
    }
    line
}
