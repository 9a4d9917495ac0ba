//! A model of the Nomad side of one task: allocations whose noop config template re-renders
//! after a delay when the configuration changes, whose trigger template (or the restart API)
//! restarts the task, and whose service check turns passing some time after a start unless the
//! configuration is bad. As in Nomad, a started process reads its configuration before
//! `StartedAt` is recorded: a render in between is not what `StartedAt` suggests.

use std::time::Duration;

use shepard_reconcilers::Timestamp;
use shepard_reconcilers::model::{
    CheckObservation, CheckStatus, RenderedFile, TaskEvent, TaskRun, TaskState,
};

use super::rng::Rng;

pub const CONFIG_PATH: &str = "local/config.yml";

pub struct SimAlloc {
    pub id: String,
    pub index: u32,
    pub node: usize,
    pub state: TaskState,
    pub started_at: Timestamp,
    pub restarts: u64,
    pub events: Vec<TaskEvent>,
    /// Increases at every start.
    pub run_no: u32,
    /// The config version the current run read at its start.
    pub run_config: u32,
    /// The rendered config file: mtime and version.
    pub file: (Timestamp, u32),
    pub pending_render: Option<(Timestamp, u32)>,
    /// The trigger token the trigger template last rendered.
    pub rendered_token: Option<String>,
    pub pending_trigger: Option<(Timestamp, String)>,
    pub start_at: Option<Timestamp>,
    /// The process was spawned (and read its config); Nomad records it running at this time.
    pub running_at: Option<Timestamp>,
    /// When the config content last changed.
    pub content_changed_at: Timestamp,
    /// When the restart under way began, if one is.
    pub restart_from: Option<Timestamp>,
    /// The config content changed between the restart's start and `StartedAt` of the current
    /// run: an agent cannot know which content the run read, so one more restart is tolerated.
    pub unsure_start: bool,
    pub check: (CheckStatus, Timestamp),
    pub passing_at: Option<Timestamp>,
    /// A bad configuration without checks crash-loops: the next crash.
    pub crash_at: Option<Timestamp>,
    /// Writes of the config file not yet seen by the node's agent (inotify events).
    pub writes: Vec<(Timestamp, u32)>,
    /// The file was rewritten during the current run while the node's agent was down: an agent
    /// that had not recorded the run before may take it for a change (documented, tolerated).
    pub blind_rewrite: bool,
}

impl SimAlloc {
    pub fn new(index: u32, node: usize, now: Timestamp) -> Self {
        SimAlloc {
            id: format!("alloc-{index}"),
            index,
            node,
            state: TaskState::Running,
            started_at: now,
            restarts: 0,
            events: vec![TaskEvent {
                kind: "Started".into(),
                time: now,
            }],
            run_no: 0,
            run_config: 0,
            file: (
                Timestamp::from_unix_nanos(now.unix_nanos() - 1_000_000_000),
                0,
            ),
            pending_render: None,
            rendered_token: None,
            pending_trigger: None,
            start_at: None,
            running_at: None,
            content_changed_at: Timestamp::from_unix_nanos(now.unix_nanos() - 1_000_000_000),
            restart_from: None,
            unsure_start: false,
            check: (CheckStatus::Passing, now),
            passing_at: None,
            crash_at: None,
            writes: Vec::new(),
            blind_rewrite: false,
        }
    }

    fn event(&mut self, kind: &str, time: Timestamp) {
        self.events.push(TaskEvent {
            kind: kind.to_owned(),
            time,
        });
        if self.events.len() > 10 {
            self.events.remove(0);
        }
    }

    /// Kill now, start again after a short delay (an in-place restart).
    pub fn restart(&mut self, now: Timestamp, rng: &mut Rng) {
        if self.start_at.is_some() || self.running_at.is_some() {
            return;
        }
        self.restart_from = Some(now);
        for kind in ["Restart Signaled", "Terminated", "Restarting"] {
            self.event(kind, now);
        }
        self.state = TaskState::Pending;
        self.restarts += 1;
        self.start_at = Some(now.plus(Duration::from_millis(rng.range(1, 3000))));
        self.set_check(CheckStatus::Critical, now);
        self.passing_at = None;
        self.crash_at = None;
    }

    fn set_check(&mut self, status: CheckStatus, now: Timestamp) {
        if self.check.0 != status {
            self.check = (status, now);
        }
    }

    /// Advances this allocation to `now`, processing its pending events in time order.
    pub fn advance(
        &mut self,
        now: Timestamp,
        rng: &mut Rng,
        has_checks: bool,
        bad: impl Fn(u32) -> bool,
    ) {
        loop {
            let next = [
                self.pending_render.as_ref().map(|(t, _)| (*t, 0)),
                self.pending_trigger.as_ref().map(|(t, _)| (*t, 1)),
                self.start_at.map(|t| (t, 2)),
                self.passing_at.map(|t| (t, 3)),
                self.crash_at.map(|t| (t, 4)),
                self.running_at.map(|t| (t, 5)),
            ]
            .into_iter()
            .flatten()
            .filter(|(t, _)| *t <= now)
            .min();
            let Some((at, what)) = next else { return };
            match what {
                0 => {
                    if let Some((_, version)) = self.pending_render.take() {
                        if version != self.file.1 {
                            self.content_changed_at = at;
                        }
                        self.file = (at, version);
                        self.writes.push((at, version));
                    }
                }
                1 => {
                    if let Some((_, token)) = self.pending_trigger.take()
                        && self.rendered_token.as_deref() != Some(token.as_str())
                    {
                        self.rendered_token = Some(token);
                        self.restart(at, rng);
                    }
                }
                2 => {
                    // Spawned: the process reads its config now; Nomad records it later.
                    self.start_at = None;
                    self.run_no += 1;
                    self.run_config = self.file.1;
                    self.running_at = Some(at.plus(Duration::from_millis(rng.range(0, 2000))));
                }
                5 => {
                    self.running_at = None;
                    self.state = TaskState::Running;
                    self.started_at = at.max(self.started_at.plus(Duration::from_nanos(1)));
                    self.blind_rewrite = false;
                    self.unsure_start = self
                        .restart_from
                        .take()
                        .is_some_and(|from| self.content_changed_at > from);
                    self.event("Started", at);
                    if !bad(self.run_config) {
                        self.passing_at =
                            Some(at.plus(Duration::from_millis(rng.range(0, 20_000))));
                    } else if !has_checks {
                        self.crash_at = Some(at.plus(Duration::from_millis(rng.range(500, 3000))));
                    }
                }
                3 => {
                    self.passing_at = None;
                    self.set_check(CheckStatus::Passing, at);
                }
                _ => {
                    self.crash_at = None;
                    self.restart(at, rng);
                }
            }
        }
    }

    pub fn run(&self) -> TaskRun {
        TaskRun {
            state: self.state,
            failed: false,
            started_at: Some(self.started_at),
            restarts: self.restarts,
            events: self.events.clone(),
        }
    }

    /// The config file as the agent reports it: the content's change time from its memory of
    /// earlier writes when it has one for this content, else the mtime.
    pub fn files(&self, memory: Option<&(u32, Timestamp)>) -> Vec<RenderedFile> {
        let changed_at = match memory {
            Some((version, at)) if *version == self.file.1 => *at,
            _ => self.file.0,
        };
        vec![RenderedFile::new(
            CONFIG_PATH,
            changed_at,
            &format!("config-v{}", self.file.1),
        )]
    }

    pub fn checks(&self, has_checks: bool) -> Vec<CheckObservation> {
        if !has_checks {
            return Vec::new();
        }
        vec![CheckObservation {
            check_id: format!("check-{}", self.id),
            status: self.check.0,
            since: self.check.1,
        }]
    }

    /// Ground truth: running a run with a good configuration, started after `t`, and passing.
    pub fn healthy_after(&self, t: Timestamp, has_checks: bool, bad: bool) -> bool {
        self.state == TaskState::Running
            && self.started_at > t
            && !bad
            && (!has_checks || self.check.0 == CheckStatus::Passing)
    }
}
