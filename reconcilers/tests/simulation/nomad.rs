//! A model of the Nomad side of one task: allocations whose noop config template re-renders
//! after a delay when the configuration changes, whose trigger template (or the restart API)
//! restarts the task, and whose process serves some time after a start unless the
//! configuration is bad. As in Nomad, a started process reads its configuration before
//! `StartedAt` is recorded: a render in between is not what `StartedAt` suggests.
//!
//! The service check is Consul's: it runs every `interval` (the first run at a random point of
//! the first interval after registration) and reports what the process does at that moment.
//! A group service is registered once per allocation, so across a restart its check keeps the
//! previous run's status until it next runs; a task service is deregistered at the kill and
//! registered again (critical) after the start.

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
    pub check: SimCheck,
    /// Ground truth: the process answers requests successfully.
    pub serving: bool,
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
    pub fn new(index: u32, node: usize, now: Timestamp, check: SimCheck) -> Self {
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
            check,
            serving: true,
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
        self.serving = false;
        if !self.check.group {
            self.check.registered = false;
            self.check.next_run = None;
        }
        self.passing_at = None;
        self.crash_at = None;
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
                self.check.next_run.map(|t| (t, 6)),
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
                    if !self.check.group {
                        self.check.register(at, rng);
                    }
                    if !bad(self.run_config) {
                        self.passing_at =
                            Some(at.plus(Duration::from_millis(rng.range(0, 20_000))));
                    } else if !has_checks {
                        self.crash_at = Some(at.plus(Duration::from_millis(rng.range(500, 3000))));
                    }
                }
                3 => {
                    self.passing_at = None;
                    self.serving = true;
                }
                6 => {
                    let ok = self.serving && self.state == TaskState::Running;
                    self.check.run(at, ok);
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

    /// The check as the agent sees it: every change at the moment it happens.
    pub fn checks(&self, has_checks: bool) -> Vec<CheckObservation> {
        if !has_checks || !self.check.registered {
            return Vec::new();
        }
        let c = &self.check;
        vec![CheckObservation {
            check_id: format!("check-{}", self.id),
            status: c.status,
            since: c.since,
            registered_at: c.registered_at,
            result_changed_at: c.changed_at,
            report_within: Some(c.interval + CHECK_TIMEOUT),
        }]
    }

    /// Ground truth: running a run with a good configuration, started after `t`, and (with
    /// checks) answering requests; whatever the check's status says.
    pub fn healthy_after(&self, t: Timestamp, has_checks: bool, bad: bool) -> bool {
        self.state == TaskState::Running
            && self.started_at > t
            && !bad
            && (!has_checks || self.serving)
    }
}

/// The check's timeout as the spec declares it (runs here take no time).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// One Consul check of the allocation's service.
pub struct SimCheck {
    /// A group service's check (registered for the allocation's life), else a task service's.
    pub group: bool,
    pub interval: Duration,
    pub registered: bool,
    pub status: CheckStatus,
    pub since: Timestamp,
    pub registered_at: Timestamp,
    pub changed_at: Option<Timestamp>,
    pub next_run: Option<Timestamp>,
}

impl SimCheck {
    /// A check registered at `now` and passing (the allocation has run for a while).
    pub fn new(group: bool, interval: Duration, now: Timestamp, rng: &mut Rng) -> Self {
        let mut check = SimCheck {
            group,
            interval,
            registered: true,
            status: CheckStatus::Passing,
            since: now,
            registered_at: now,
            changed_at: None,
            next_run: None,
        };
        check.schedule_first(now, rng);
        check
    }

    /// Registered (again) at `now`: critical until its first run, as Consul does without an
    /// initial status.
    fn register(&mut self, now: Timestamp, rng: &mut Rng) {
        self.registered = true;
        self.status = CheckStatus::Critical;
        self.since = now;
        self.registered_at = now;
        self.changed_at = None;
        self.schedule_first(now, rng);
    }

    fn schedule_first(&mut self, now: Timestamp, rng: &mut Rng) {
        let stagger = rng.range(0, self.interval.as_millis() as u64);
        self.next_run = Some(now.plus(Duration::from_millis(stagger)));
    }

    fn run(&mut self, at: Timestamp, ok: bool) {
        let status = if ok {
            CheckStatus::Passing
        } else {
            CheckStatus::Critical
        };
        if status != self.status {
            self.status = status;
            self.since = at;
            self.changed_at = Some(at);
        }
        self.next_run = Some(at.plus(self.interval));
    }
}
