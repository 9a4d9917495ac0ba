//! A builder for observed snapshots, so each scenario states only what differs from a healthy,
//! in-sync managed task: allocation `a1` (index 0) of `default/web/web/app` on node `n1`,
//! running since t(0), config `local/config.yml` rendered at t(-10) with content `v1`, one
//! passing check, our session `s-self`, `now` = t(100), settings max_parallel 2,
//! min_healthy_time 10s, healthy_deadline 60s.

use std::time::Duration;

use shepard_reconcilers::model::{
    AllocRecord, AllocRef, AllocStatus, ChangeMode, CheckObservation, CheckStatus, ClientStatus,
    DesiredStatus, Fingerprint, KvEntry, KvView, Phase, RenderedFile, RolloutRecord, RolloutState,
    SessionId, SlotHolder, TaskEvent, TaskId, TaskRun, TaskSpec, TaskState, TemplateSpec,
};
use shepard_reconcilers::task::{TaskDecision, TaskObservation, reconcile_task};
use shepard_reconcilers::trigger::TriggerSite;
use shepard_reconcilers::{Context, Key, Timestamp};

pub const CONFIG: &str = "local/config.yml";
/// The trigger template of the legacy layout (`NOMAD_ALLOC_INDEX`).
pub const LEGACY_TRIGGER: &str = r#"{{ keyOrDefault (printf "shepard/keys/%s/%s/%s/%s/%s" (env "node.unique.name") (env "NOMAD_JOB_NAME") (env "NOMAD_GROUP_NAME") (env "NOMAD_TASK_NAME") (env "NOMAD_ALLOC_INDEX")) "" }}"#;
/// The trigger template of the alloc-ID layout (`NOMAD_NAMESPACE`, `NOMAD_ALLOC_ID`).
pub const ALLOC_ID_TRIGGER: &str = r#"{{ keyOrDefault (printf "shepard/keys/%s/%s/%s/%s/%s/%s" (env "node.unique.name") (env "NOMAD_NAMESPACE") (env "NOMAD_JOB_NAME") (env "NOMAD_GROUP_NAME") (env "NOMAD_TASK_NAME") (env "NOMAD_ALLOC_ID")) "" }}"#;
pub const SELF: &str = "s-self";

/// t(s): seconds after a fixed epoch.
pub fn t(secs: i64) -> Timestamp {
    Timestamp::from_unix_nanos((1_700_000_000 + secs) as u64 * 1_000_000_000)
}

pub fn task_id() -> TaskId {
    TaskId::new("default", "web", "web", "app")
}

pub fn running() -> AllocStatus {
    AllocStatus {
        desired: DesiredStatus::Run,
        client: ClientStatus::Running,
    }
}

pub fn spec() -> TaskSpec {
    let mut spec = TaskSpec {
        has_checks: true,
        ..TaskSpec::default()
    };
    spec.templates.push(TemplateSpec {
        dest_path: "local/shepard.tpl".into(),
        change_mode: ChangeMode::Restart,
        embedded_tmpl: String::new(),
    });
    spec.templates.push(TemplateSpec {
        dest_path: CONFIG.into(),
        change_mode: ChangeMode::Noop,
        embedded_tmpl: String::new(),
    });
    spec.group_meta
        .insert("shepard_max_parallel".into(), "2".into());
    spec.job_meta
        .insert("shepard_min_healthy_time".into(), "10s".into());
    spec.job_meta
        .insert("shepard_healthy_deadline".into(), "60s".into());
    spec
}

pub fn rollout_record(state: RolloutState) -> RolloutRecord {
    RolloutRecord {
        id: "r-1".into(),
        generation: 1,
        state,
        max_parallel: 2,
        min_healthy_time: Duration::from_secs(10),
        healthy_deadline: Duration::from_secs(60),
        instance_count: 3,
        reason: "configuration changed on 1 of 3 allocations".into(),
        created_at: t(50),
        created_by: "n2".into(),
        updated_at: t(50),
        finished_at: None,
        skipped: Default::default(),
        aborted_targets: None,
        progress: None,
    }
}

/// A record of allocation `index` of the task: in sync with `v1` for the run started at t(0).
pub fn in_sync_record(index: u32) -> AllocRecord {
    let mut r = AllocRecord::new(task_id(), index, t(1));
    r.run_started_at = Some(t(0));
    r.applied.insert(CONFIG.into(), Fingerprint::new("v1"));
    r
}

/// A record of our allocation with a restart triggered at t(70) on `slot` with token `tok-1`.
pub fn triggered_record(slot: u32) -> AllocRecord {
    let mut r = in_sync_record(0);
    r.phase = Phase::Triggered;
    r.target.insert(CONFIG.into(), Fingerprint::new("v2"));
    r.drift_detected_at = Some(t(60));
    r.slot = Some(slot);
    r.token = Some("tok-1".into());
    r.claimed_at = Some(t(70));
    r.triggered_at = Some(t(70));
    r.generation = Some(1);
    r.restarts_at_trigger = Some(0);
    r.updated_at = t(70);
    r
}

pub struct Fixture {
    pub ctx: Context,
    pub task: TaskId,
    pub job_name: String,
    pub now: Timestamp,
    pub alloc: AllocRef,
    pub status: Option<AllocStatus>,
    pub run: Option<TaskRun>,
    pub spec: TaskSpec,
    pub files: Vec<RenderedFile>,
    pub checks: Vec<CheckObservation>,
    pub session: Option<SessionId>,
    pub kv: KvView,
    pub node_triggers: Vec<TriggerSite>,
    /// The agent's last wall-clock step, if any.
    pub clock_stepped_at: Option<Timestamp>,
    index: u64,
}

/// A check of a registration the agent has known since long ago, its result last changed (to
/// `status`) at `since`; reported within 10 s of any start.
pub fn check_seen(id: &str, status: CheckStatus, since: i64) -> CheckObservation {
    CheckObservation {
        check_id: id.into(),
        status,
        since: t(since),
        registered_at: t(-1000),
        result_changed_at: Some(t(since)),
        report_within: Some(Duration::from_secs(10)),
    }
}

/// A check with `status` since `since` whose result the agent has not seen change since the
/// registration it first saw at `registered_at`; `report_within` seconds (`None`: unknown).
pub fn check_unchanged(
    id: &str,
    status: CheckStatus,
    since: i64,
    registered_at: i64,
    report_within: Option<u64>,
) -> CheckObservation {
    CheckObservation {
        check_id: id.into(),
        status,
        since: t(since),
        registered_at: t(registered_at),
        result_changed_at: None,
        report_within: report_within.map(Duration::from_secs),
    }
}

impl Fixture {
    pub fn new() -> Self {
        Fixture {
            ctx: Context::new("n1"),
            task: task_id(),
            job_name: "web".into(),
            now: t(100),
            alloc: AllocRef {
                id: "a1".into(),
                index: 0,
                node: "n1".into(),
            },
            status: Some(running()),
            run: Some(TaskRun {
                state: TaskState::Running,
                failed: false,
                started_at: Some(t(0)),
                restarts: 0,
                events: vec![TaskEvent {
                    kind: "Started".into(),
                    time: t(0),
                }],
            }),
            spec: spec(),
            files: vec![RenderedFile::new(CONFIG, t(-10), "v1")],
            checks: vec![check_seen("web-http", CheckStatus::Passing, 5)],
            session: Some(SessionId(SELF.into())),
            kv: KvView::new(),
            node_triggers: Vec::new(),
            clock_stepped_at: None,
            index: 10,
        }
    }

    pub fn at(mut self, secs: i64) -> Self {
        self.now = t(secs);
        self
    }

    /// The config file is rewritten at `at` with content `fingerprint`.
    pub fn config(mut self, at: i64, fingerprint: &str) -> Self {
        self.files = vec![RenderedFile::new(CONFIG, t(at), fingerprint)];
        self
    }

    /// The task's current run started at `at` (after `restarts` restarts).
    pub fn started(mut self, at: i64, restarts: u64) -> Self {
        if let Some(run) = self.run.as_mut() {
            run.started_at = Some(t(at));
            run.restarts = restarts;
            run.events.push(TaskEvent {
                kind: "Started".into(),
                time: t(at),
            });
        }
        self
    }

    /// Nomad recorded a task event of type `kind` at `at`.
    pub fn event(mut self, kind: &str, at: i64) -> Self {
        if let Some(run) = self.run.as_mut() {
            run.events.push(TaskEvent {
                kind: kind.into(),
                time: t(at),
            });
            run.events.sort_by_key(|e| e.time);
        }
        self
    }

    pub fn task_state(mut self, state: TaskState, failed: bool) -> Self {
        if let Some(run) = self.run.as_mut() {
            run.state = state;
            run.failed = failed;
        }
        self
    }

    /// The check turned `status` at `since`, seen by the agent (a result change: it ran then).
    pub fn check(mut self, status: CheckStatus, since: i64) -> Self {
        self.checks = vec![check_seen("web-http", status, since)];
        self
    }

    /// The checks are exactly these.
    pub fn checks(mut self, checks: Vec<CheckObservation>) -> Self {
        self.checks = checks;
        self
    }

    pub fn no_checks(mut self) -> Self {
        self.spec.has_checks = false;
        self.checks.clear();
        self
    }

    /// The agent's host clock stepped; the step was seen at `at`.
    pub fn clock_stepped(mut self, at: i64) -> Self {
        self.clock_stepped_at = Some(t(at));
        self
    }

    pub fn no_session(mut self) -> Self {
        self.session = None;
        self
    }

    pub fn session(mut self, id: &str) -> Self {
        self.session = Some(SessionId(id.into()));
        self
    }

    /// The trigger template's text (the fixture's default has none: legacy layout).
    pub fn trigger_template(mut self, text: &str) -> Self {
        for t in &mut self.spec.templates {
            if t.dest_path.ends_with("/shepard.tpl") {
                t.embedded_tmpl = text.into();
            }
        }
        self
    }

    /// Our allocation is `alloc_id` and runs task `task` of the job named `job_name` (before
    /// the record, rollout and slots are added: they are keyed by it).
    pub fn named(mut self, alloc_id: &str, task: TaskId, job_name: &str) -> Self {
        self.alloc.id = alloc_id.into();
        self.task = task;
        self.job_name = job_name.into();
        self
    }

    /// Another trigger site on our node.
    pub fn neighbour(mut self, site: TriggerSite) -> Self {
        self.node_triggers.push(site);
        self
    }

    fn put(&mut self, key: String, value: Option<String>, session: Option<&str>) {
        self.index += 1;
        let entry = KvEntry {
            value,
            modify_index: self.index,
            session: session.map(|s| SessionId(s.into())),
        };
        self.kv.insert(key, entry);
    }

    /// Our allocation's record.
    pub fn record(mut self, record: AllocRecord) -> Self {
        let key =
            Key::state(&self.alloc.node, &self.alloc.id, &self.task.task).render(&self.ctx.prefix);
        self.put(key, Some(record.to_json()), None);
        self
    }

    /// Another allocation's record.
    pub fn peer(mut self, node: &str, alloc_id: &str, record: AllocRecord) -> Self {
        let key = Key::state(node, alloc_id, "app").render(&self.ctx.prefix);
        self.put(key, Some(record.to_json()), None);
        self
    }

    pub fn rollout(self, state: RolloutState) -> Self {
        self.rollout_record(rollout_record(state))
    }

    pub fn rollout_record(mut self, record: RolloutRecord) -> Self {
        let key = Key::Rollout(self.task.clone()).render(&self.ctx.prefix);
        self.put(key, Some(record.to_json()), None);
        self
    }

    /// Slot `n`'s lock: held by `session` (or released), last holder `alloc_id`.
    pub fn slot(mut self, n: u32, session: Option<&str>, alloc_id: &str) -> Self {
        let key = Key::Slot(self.task.clone(), n).render(&self.ctx.prefix);
        let node = if alloc_id == self.alloc.id {
            "n1"
        } else {
            "n2"
        };
        let holder = SlotHolder {
            alloc_id: alloc_id.into(),
            node: node.into(),
            acquired_at: t(65),
        };
        self.put(key, Some(holder.to_json()), session);
        self
    }

    /// The trigger key's value.
    pub fn trigger_value(mut self, token: &str) -> Self {
        let key = Key::trigger("n1", "web", "web", "app", 0).render(&self.ctx.prefix);
        self.put(key, Some(token.into()), None);
        self
    }

    pub fn raw(mut self, key: &str, value: &str) -> Self {
        self.put(key.into(), Some(value.into()), None);
        self
    }

    pub fn decide(&self) -> TaskDecision {
        let obs = TaskObservation {
            task: self.task.clone(),
            job_name: self.job_name.clone(),
            alloc: self.alloc.clone(),
            status: self.status,
            run: self.run.clone(),
            spec: self.spec.clone(),
            files: self.files.clone(),
            checks: self.checks.clone(),
            session: self.session.clone(),
            kv: &self.kv,
            node_triggers: self.node_triggers.clone(),
            clock_stepped_at: self.clock_stepped_at,
        };
        reconcile_task(&obs, &self.ctx, self.now, "tok-new")
    }
}
