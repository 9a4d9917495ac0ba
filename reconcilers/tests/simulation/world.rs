//! The simulated cluster: one Consul, one task with N allocations over M nodes, one agent per
//! node. Agents decide only through the reconcilers and apply the actions one at a time,
//! interleaved with every other agent, Nomad and the clock. The world keeps the ground truth
//! the invariants are checked against.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use shepard_reconcilers::gc::{GcAlloc, GcJob, GcNode, GcObservation, NodeStatus, reconcile_gc};
use shepard_reconcilers::model::{
    AllocRef, AllocStatus, ChangeMode, ClientStatus, DesiredStatus, KvView, RolloutRecord,
    RolloutState, SessionId, TaskId, TaskSpec, TemplateSpec,
};
use shepard_reconcilers::rollout::{Member, RolloutObservation, reconcile_rollout};
use shepard_reconcilers::task::{TaskObservation, reconcile_task};
use shepard_reconcilers::{Action, Context, Key, Timestamp};

use super::consul::Consul;
use super::nomad::{CONFIG_PATH, SimAlloc, SimCheck};
use super::rng::Rng;

/// An allocation not reconciled for longer than this had a slow agent.
const SLOW_AGENT: Duration = Duration::from_secs(10);

pub struct Params {
    pub nodes: usize,
    pub allocs: u32,
    pub max_parallel: u32,
    pub nomad_api: bool,
    pub has_checks: bool,
    pub min_healthy: Duration,
    pub deadline: Duration,
    /// The service check belongs to a group service (kept across restarts).
    pub group_check: bool,
    /// Its interval: often longer than `min_healthy`.
    pub check_interval: Duration,
}

/// Which reconcile an action comes from. An agent runs reconciles of different keys
/// concurrently, never two of one key (its work queue hands a key to one worker at a time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconcile {
    Task(usize),
    Rollout,
}

pub struct Agent {
    pub ctx: Context,
    pub alive: bool,
    pub session: Option<SessionId>,
    /// Actions decided and not yet applied, with the reconcile that decided them.
    pub pending: VecDeque<(Reconcile, Action)>,
    pub back_at: Option<Timestamp>,
    /// Per allocation: the config version last seen and when its content changed (what the
    /// real agent learns from inotify while it runs; lost when it crashes).
    pub memory: BTreeMap<usize, (u32, Timestamp)>,
    /// The KV listing this agent decides from: its watch lags the agent's own writes, so a
    /// decision may read an older listing than the one the last action produced.
    pub view: Option<KvView>,
}

pub struct World {
    pub rng: Rng,
    pub now: Timestamp,
    pub p: Params,
    pub task: TaskId,
    pub spec: TaskSpec,
    pub consul: Consul,
    pub allocs: Vec<SimAlloc>,
    pub agents: Vec<Agent>,
    pub version: u32,
    pub bad: BTreeSet<u32>,
    /// Ground truth: allocations triggered and not healthy since, with the trigger time.
    pub in_flight: BTreeMap<usize, Timestamp>,
    /// Triggers per (allocation, run).
    pub triggers: BTreeMap<(usize, u32), u32>,
    pub tokens: u64,
    pub violations: Vec<String>,
    /// Sessions of crashed agents, invalidated when their TTL runs out.
    pub expiring: Vec<(Timestamp, SessionId)>,
    /// Until when the last fault (an agent down, a session lost) lasted: a rollout may stall
    /// only when a fault overlapped the window it stalled over.
    pub fault_until: Timestamp,
    /// When each allocation's task was last reconciled: the random schedule may leave one
    /// alone for long, as a slow agent would, which counts as a fault.
    pub last_decided: BTreeMap<usize, Timestamp>,
    /// `SHEPARD_SIM_TRACE=1`: print every decision and action.
    pub trace: bool,
}

impl World {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let p = Params {
            nodes: rng.range(2, 4) as usize,
            allocs: rng.range(3, 8) as u32,
            max_parallel: rng.range(1, 3) as u32,
            nomad_api: rng.chance(30),
            has_checks: rng.chance(80),
            min_healthy: Duration::from_secs(rng.range(5, 15)),
            deadline: Duration::from_secs(rng.range(40, 90)),
            group_check: rng.chance(50),
            check_interval: Duration::from_millis(rng.range(1000, 20_000)),
        };
        let now = Timestamp::from_unix_secs(1_700_000_000);
        let mut spec = TaskSpec {
            has_checks: p.has_checks,
            ..TaskSpec::default()
        };
        spec.group_meta
            .insert("shepard_max_parallel".into(), p.max_parallel.to_string());
        spec.job_meta.insert(
            "shepard_min_healthy_time".into(),
            humantime::format_duration(p.min_healthy).to_string(),
        );
        spec.job_meta.insert(
            "shepard_healthy_deadline".into(),
            humantime::format_duration(p.deadline).to_string(),
        );
        if p.nomad_api {
            spec.task_meta
                .insert("shepard_enabled".into(), "true".into());
        } else {
            spec.templates.push(TemplateSpec {
                dest_path: "local/shepard.tpl".into(),
                change_mode: ChangeMode::Restart,
                embedded_tmpl: String::new(),
            });
        }
        spec.templates.push(TemplateSpec {
            dest_path: CONFIG_PATH.into(),
            change_mode: ChangeMode::Noop,
            embedded_tmpl: String::new(),
        });
        let mut consul = Consul::default();
        let agents: Vec<Agent> = (0..p.nodes)
            .map(|i| Agent {
                ctx: Context::new(&format!("node-{i}")),
                alive: true,
                session: Some(consul.create_session()),
                pending: VecDeque::new(),
                back_at: None,
                memory: BTreeMap::new(),
                view: None,
            })
            .collect();
        let allocs: Vec<SimAlloc> = (0..p.allocs)
            .map(|i| {
                let check = SimCheck::new(p.group_check, p.check_interval, now, &mut rng);
                SimAlloc::new(i, rng.pick(p.nodes), now, check)
            })
            .collect();
        let mut agents: Vec<Agent> = agents;
        for (j, a) in allocs.iter().enumerate() {
            agents[a.node].memory.insert(j, (a.file.1, a.file.0));
        }
        World {
            rng,
            now,
            p,
            task: TaskId::new("default", "web", "web", "app"),
            spec,
            consul,
            allocs,
            agents,
            version: 0,
            bad: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            triggers: BTreeMap::new(),
            tokens: 0,
            violations: Vec::new(),
            expiring: Vec::new(),
            fault_until: Timestamp::EPOCH,
            last_decided: BTreeMap::new(),
            trace: std::env::var_os("SHEPARD_SIM_TRACE").is_some(),
        }
    }

    fn status() -> AllocStatus {
        AllocStatus {
            desired: DesiredStatus::Run,
            client: ClientStatus::Running,
        }
    }

    fn alloc_ref(&self, i: usize) -> AllocRef {
        let a = &self.allocs[i];
        AllocRef {
            id: a.id.clone(),
            index: a.index,
            node: self.agents[a.node].ctx.node.clone(),
        }
    }

    /// The listing `agent` decides from: usually the current one, sometimes the last it saw.
    fn view_of(&mut self, agent: usize) -> KvView {
        let fresh = self.agents[agent].view.is_none() || self.rng.chance(60);
        if fresh {
            self.agents[agent].view = Some(self.consul.kv.clone());
        }
        self.agents[agent]
            .view
            .clone()
            .unwrap_or_else(|| self.consul.kv.clone())
    }

    /// Whether `agent` still applies actions of reconcile `r`.
    pub fn busy(&self, agent: usize, r: Reconcile) -> bool {
        self.agents[agent].pending.iter().any(|(t, _)| *t == r)
    }

    /// Agent `agent` reconciles allocation `i`'s task and queues the actions.
    pub fn decide_task(&mut self, agent: usize, i: usize) {
        let last = self.last_decided.insert(i, self.now).unwrap_or(self.now);
        if self.now.since(last) > SLOW_AGENT {
            self.fault_until = self.fault_until.max(self.now);
        }
        self.tokens += 1;
        let kv = self.view_of(agent);
        let token = format!("token-{}", self.tokens);
        let a = &self.allocs[i];
        let obs = TaskObservation {
            task: self.task.clone(),
            job_name: "web".into(),
            alloc: self.alloc_ref(i),
            status: Some(Self::status()),
            run: Some(a.run()),
            spec: self.spec.clone(),
            files: a.files(self.agents[a.node].memory.get(&i)),
            checks: a.checks(self.p.has_checks),
            session: self.agents[agent].session.clone(),
            kv: &kv,
            node_triggers: Vec::new(),
            clock_stepped_at: None,
        };
        let decision = reconcile_task(&obs, &self.agents[agent].ctx, self.now, &token);
        if self.trace {
            println!(
                "{} agent {agent} task {} -> {:?} {:?} files {:?} started {:?} truth run_config {} file {:?} run_no {}",
                self.now,
                a.id,
                decision.phase,
                decision.decision.actions.len(),
                obs.files,
                a.started_at,
                a.run_config,
                a.file,
                a.run_no
            );
        }
        let tag = Reconcile::Task(i);
        self.agents[agent]
            .pending
            .extend(decision.decision.actions.into_iter().map(|a| (tag, a)));
    }

    pub fn decide_rollout(&mut self, agent: usize) {
        self.tokens += 1;
        let kv = self.view_of(agent);
        let members = (0..self.allocs.len())
            .map(|i| Member {
                alloc: self.alloc_ref(i),
                status: Self::status(),
            })
            .collect();
        let obs = RolloutObservation {
            task: self.task.clone(),
            spec: self.spec.clone(),
            members,
            session: self.agents[agent].session.clone(),
            kv: &kv,
            clock_stepped_at: None,
        };
        let decision = reconcile_rollout(
            &obs,
            &self.agents[agent].ctx,
            self.now,
            &format!("rollout-{}", self.tokens),
        );
        self.agents[agent].pending.extend(
            decision
                .actions
                .into_iter()
                .map(|a| (Reconcile::Rollout, a)),
        );
    }

    /// GC with everything alive must delete nothing.
    pub fn check_gc(&mut self, agent: usize) {
        let allocs = (0..self.allocs.len())
            .map(|i| {
                let r = self.alloc_ref(i);
                GcAlloc {
                    id: r.id,
                    namespace: "default".into(),
                    job_id: "web".into(),
                    job_name: "web".into(),
                    group: "web".into(),
                    index: r.index,
                    node: r.node,
                    status: Self::status(),
                }
            })
            .collect();
        let nodes = self
            .agents
            .iter()
            .map(|a| GcNode {
                name: a.ctx.node.clone(),
                status: NodeStatus::Ready,
                since: self.now,
            })
            .collect();
        let obs = GcObservation {
            kv: &self.consul.kv,
            allocs,
            jobs: vec![GcJob {
                namespace: "default".into(),
                id: "web".into(),
                stop: false,
            }],
            nodes,
            nodes_listed_since: self.now,
        };
        let decision = reconcile_gc(&obs, &self.agents[agent].ctx, self.now);
        for action in decision.actions {
            self.violations
                .push(format!("GC acted while everything is alive: {action:?}"));
        }
    }

    /// Advances the clock and Nomad, expires sessions of crashed agents, revives agents.
    pub fn advance(&mut self, by: Duration) {
        self.now = self.now.plus(by);
        let bad = self.bad.clone();
        let (now, has_checks) = (self.now, self.p.has_checks);
        for (i, a) in self.allocs.iter_mut().enumerate() {
            a.advance(now, &mut self.rng, has_checks, |v| bad.contains(&v));
            let agent = &mut self.agents[a.node];
            for (at, version) in a.writes.drain(..) {
                if !agent.alive && at > a.started_at {
                    a.blind_rewrite = true;
                }
                if agent.alive && agent.memory.get(&i).is_none_or(|m| m.0 != version) {
                    agent.memory.insert(i, (version, at));
                }
            }
        }
        let (expired, alive): (Vec<_>, Vec<_>) =
            self.expiring.drain(..).partition(|(t, _)| *t <= now);
        self.expiring = alive;
        for (_, session) in expired {
            self.consul.invalidate(&session);
        }
        for i in 0..self.agents.len() {
            if !self.agents[i].alive && self.agents[i].back_at.is_some_and(|t| t <= now) {
                self.agents[i].alive = true;
                // A starting agent scans the rendered files: their mtimes are all it knows, so a
                // rewrite during the run looks like a change unless the run was recorded.
                for (j, a) in self.allocs.iter_mut().enumerate() {
                    if a.node == i {
                        self.agents[i].memory.insert(j, (a.file.1, a.file.0));
                        a.blind_rewrite |= a.file.0 > a.started_at;
                    }
                }
                self.agents[i].back_at = None;
            }
            if self.agents[i].alive && self.agents[i].session.is_none() {
                self.agents[i].session = Some(self.consul.create_session());
            }
        }
        self.settle_truth();
    }

    fn settle_truth(&mut self) {
        let has_checks = self.p.has_checks;
        let allocs = &self.allocs;
        let bad = &self.bad;
        self.in_flight.retain(|i, t| {
            let a = &allocs[*i];
            !a.healthy_after(*t, has_checks, bad.contains(&a.run_config))
        });
        if self.in_flight.len() > self.p.max_parallel as usize {
            self.violations.push(format!(
                "{} allocations between trigger and healthy, max_parallel {}",
                self.in_flight.len(),
                self.p.max_parallel
            ));
        }
    }

    /// A new configuration version; each node renders it after a delay.
    pub fn change_config(&mut self, bad: bool) {
        self.version += 1;
        if bad {
            self.bad.insert(self.version);
        }
        for i in 0..self.allocs.len() {
            let at = self
                .now
                .plus(Duration::from_millis(self.rng.range(0, 5000)));
            self.allocs[i].pending_render = Some((at, self.version));
        }
    }

    /// The agent process dies; its session expires 1–2 TTLs (15 s) later, so a quickly
    /// restarted agent meets locks still held by its old session.
    pub fn crash(&mut self, agent: usize) {
        let back = self.now.plus(Duration::from_secs(self.rng.range(1, 60)));
        let expiry = self.now.plus(Duration::from_secs(self.rng.range(15, 30)));
        // Until it is back and its old session (holding its slots) has expired.
        self.fault_until = self.fault_until.max(back).max(expiry);
        let a = &mut self.agents[agent];
        a.alive = false;
        a.pending.clear();
        a.memory.clear();
        a.view = None;
        a.back_at = Some(back);
        if let Some(session) = a.session.take() {
            self.expiring.push((expiry, session));
        }
    }

    /// The session is invalidated while the agent runs (renewals failed).
    pub fn lose_session(&mut self, agent: usize) {
        self.fault_until = self.fault_until.max(self.now);
        if let Some(session) = self.agents[agent].session.take() {
            self.consul.invalidate(&session);
        }
    }

    /// The rollout record as an operator command reads it: key, index and record.
    fn rollout_for_operator(&self) -> Option<(String, u64, RolloutRecord)> {
        let key = Key::Rollout(self.task.clone()).render(&self.agents[0].ctx.prefix);
        let entry = self.consul.kv.get(&key)?;
        let record = RolloutRecord::from_json(entry.value.as_deref()?).ok()?;
        Some((key, entry.modify_index, record))
    }

    /// An operator pauses or resumes the rollout.
    pub fn operator_toggle_pause(&mut self) {
        let Some((key, index, mut record)) = self.rollout_for_operator() else {
            return;
        };
        record.state = match record.state {
            RolloutState::Rolling => RolloutState::Paused,
            RolloutState::Paused => RolloutState::Rolling,
            _ => return,
        };
        // As `shepard rollout resume` does: the leader's progress watch starts again.
        record.progress = None;
        self.consul.put_cas(&key, record.to_json(), index);
    }

    /// An operator aborts the rollout (as `shepard rollout abort` does).
    pub fn operator_abort(&mut self) {
        let Some((key, index, mut record)) = self.rollout_for_operator() else {
            return;
        };
        if !record.state.is_active() {
            return;
        }
        record.state = RolloutState::Aborted;
        record.finished_at = Some(self.now);
        // As the command does: what is being rolled out now is what is aborted.
        let mut targets = Vec::new();
        for (k, e) in &self.consul.kv {
            let Some(r) = e
                .value
                .as_deref()
                .filter(|_| k.contains("/state/"))
                .and_then(|v| shepard_reconcilers::model::AllocRecord::from_json(v).ok())
            else {
                continue;
            };
            if (r.phase.drifted() || r.phase.in_flight())
                && !r.target.is_empty()
                && !targets.contains(&r.target)
            {
                targets.push(r.target);
            }
        }
        record.aborted_targets = Some(targets);
        self.consul.put_cas(&key, record.to_json(), index);
    }

    /// An operator resumes a rollout that went `stuck` because nothing moved (as `shepard
    /// rollout resume` does: `rolling`, the progress watch cleared).
    pub fn operator_resume_stalled(&mut self) {
        let Some((key, index, mut record)) = self.rollout_for_operator() else {
            return;
        };
        if record.state == RolloutState::Stuck
            && record.progress.as_ref().is_some_and(|p| p.stalled)
        {
            record.state = RolloutState::Rolling;
            record.progress = None;
            self.consul.put_cas(&key, record.to_json(), index);
        }
    }

    pub fn rollout_state(&self) -> Option<RolloutState> {
        self.rollout().map(|r| r.state)
    }
}
