//! For random observation sequences, the task reconciler never writes a trigger without
//! holding a slot, never asks for a second slot for the same allocation, and releases within
//! one step once healthy for `min_healthy_time`.

use std::time::Duration;

use proptest::prelude::*;
use shepard_reconcilers::health::REPORT_MARGIN;
use shepard_reconcilers::model::{
    AllocRecord, AllocRef, AllocStatus, ChangeMode, CheckObservation, CheckStatus, ClientStatus,
    DesiredStatus, Fingerprint, KvEntry, KvView, Phase, RenderedFile, RolloutRecord, RolloutState,
    SessionId, SlotHolder, TaskId, TaskRun, TaskSpec, TaskState, TemplateSpec,
};
use shepard_reconcilers::task::{TaskObservation, reconcile_task};
use shepard_reconcilers::{Action, Context, Key, Prefix, Timestamp};

pub fn t(secs: u64) -> Timestamp {
    Timestamp::from_unix_secs(1_700_000_000 + secs)
}

const MIN_HEALTHY: u64 = 10;
/// Every check's report time.
const REPORT_WITHIN: u64 = 10;

/// One random observation of our allocation a1 (index 0, node n1) among peers b1 and c1.
#[derive(Clone, Debug)]
struct World {
    now: u64,
    session: Option<u8>,
    started: u64,
    state: TaskState,
    config: (u64, u8),
    check: Option<(bool, u64)>,
    stopped: bool,
    kv: KvView,
}

const SESSIONS: [&str; 3] = ["s0", "s1", "s2"];

pub fn prefix() -> Prefix {
    Prefix::default()
}

fn task_id() -> TaskId {
    TaskId::new("default", "web", "web", "app")
}

fn slot_strategy() -> impl Strategy<Value = Option<(Option<u8>, u8)>> {
    proptest::option::of((proptest::option::of(0u8..3), 0u8..3))
}

fn phase_strategy() -> impl Strategy<Value = Phase> {
    prop_oneof![
        Just(Phase::InSync),
        Just(Phase::Drifted),
        Just(Phase::Waiting),
        Just(Phase::Triggered),
        Just(Phase::Restarted),
        Just(Phase::Verifying),
        Just(Phase::Stuck),
    ]
}

fn record(index: u32, phase: Phase, slot: u32, triggered: u64) -> AllocRecord {
    let mut r = AllocRecord::new(task_id(), index, t(1));
    r.phase = phase;
    r.run_started_at = Some(t(0));
    r.applied
        .insert("local/config.yml".into(), Fingerprint::new("c0"));
    if phase.in_flight() {
        r.slot = Some(slot);
        r.token = Some("tok-old".into());
        r.claimed_at = Some(t(triggered));
        r.triggered_at = Some(t(triggered));
    }
    r
}

pub fn put(kv: &mut KvView, key: Key, value: String, session: Option<&str>) {
    let index = kv.len() as u64 + 5;
    kv.insert(
        key.render(&prefix()),
        KvEntry {
            value: Some(value),
            modify_index: index,
            session: session.map(|s| SessionId(s.into())),
        },
    );
}

fn world() -> impl Strategy<Value = World> {
    let slots = proptest::collection::vec(slot_strategy(), 3);
    let records = proptest::collection::vec((phase_strategy(), 0u32..3, 0u64..200), 3);
    (
        (
            0u64..400,
            proptest::option::of(0u8..3),
            0u64..300,
            prop_oneof![
                Just(TaskState::Running),
                Just(TaskState::Pending),
                Just(TaskState::Dead)
            ],
        ),
        (
            (0u64..300, 0u8..3),
            proptest::option::of((any::<bool>(), 0u64..400)),
            any::<bool>(),
        ),
        proptest::option::of(prop_oneof![
            Just(RolloutState::Rolling),
            Just(RolloutState::Paused),
            Just(RolloutState::Stuck),
            Just(RolloutState::Aborted),
            Just(RolloutState::Complete)
        ]),
        slots,
        records,
        proptest::option::of("tok-old|tok-x"),
    )
        .prop_map(
            |(
                (now, session, started, state),
                (config, check, stopped),
                rollout,
                slots,
                records,
                trigger,
            )| {
                let mut kv = KvView::new();
                for (n, slot) in slots.iter().enumerate() {
                    if let Some((holder_session, holder)) = slot {
                        let alloc = ["a1", "b1", "c1"][*holder as usize];
                        let holder = SlotHolder {
                            alloc_id: alloc.into(),
                            node: "n1".into(),
                            acquired_at: t(0),
                        };
                        put(
                            &mut kv,
                            Key::Slot(task_id(), n as u32),
                            holder.to_json(),
                            holder_session.map(|s| SESSIONS[s as usize]),
                        );
                    }
                }
                for (i, (phase, slot, triggered)) in records.iter().enumerate() {
                    let alloc = ["a1", "b1", "c1"][i];
                    put(
                        &mut kv,
                        Key::state("n1", alloc, "app"),
                        record(i as u32, *phase, *slot, *triggered).to_json(),
                        None,
                    );
                }
                if let Some(token) = trigger {
                    put(
                        &mut kv,
                        Key::trigger("n1", "web", "web", "app", 0),
                        token,
                        None,
                    );
                }
                if let Some(state) = rollout {
                    let r = RolloutRecord {
                        id: "r".into(),
                        generation: 1,
                        state,
                        max_parallel: 2,
                        min_healthy_time: Duration::from_secs(MIN_HEALTHY),
                        healthy_deadline: Duration::from_secs(60),
                        instance_count: 3,
                        reason: String::new(),
                        created_at: t(0),
                        created_by: "n1".into(),
                        updated_at: t(0),
                        finished_at: None,
                        skipped: Default::default(),
                        aborted_targets: None,
                        progress: None,
                    };
                    put(&mut kv, Key::Rollout(task_id()), r.to_json(), None);
                }
                World {
                    now,
                    session,
                    started,
                    state,
                    config,
                    check,
                    stopped,
                    kv,
                }
            },
        )
}

impl World {
    fn session(&self) -> Option<SessionId> {
        self.session.map(|s| SessionId(SESSIONS[s as usize].into()))
    }

    fn observe(&self) -> (TaskObservation<'_>, Context) {
        let mut spec = TaskSpec {
            has_checks: self.check.is_some(),
            ..TaskSpec::default()
        };
        spec.templates.push(TemplateSpec {
            dest_path: "local/shepard.tpl".into(),
            change_mode: ChangeMode::Restart,
            embedded_tmpl: String::new(),
        });
        spec.templates.push(TemplateSpec {
            dest_path: "local/config.yml".into(),
            change_mode: ChangeMode::Noop,
            embedded_tmpl: String::new(),
        });
        spec.job_meta
            .insert("shepard_min_healthy_time".into(), format!("{MIN_HEALTHY}s"));
        let checks = self.check.iter().map(|(passing, since)| CheckObservation {
            check_id: "c".into(),
            status: if *passing {
                CheckStatus::Passing
            } else {
                CheckStatus::Critical
            },
            since: t(*since),
            registered_at: t(0),
            result_changed_at: Some(t(*since)),
            report_within: Some(Duration::from_secs(REPORT_WITHIN)),
        });
        let obs = TaskObservation {
            task: task_id(),
            job_name: "web".into(),
            alloc: AllocRef {
                id: "a1".into(),
                index: 0,
                node: "n1".into(),
            },
            status: Some(AllocStatus {
                desired: if self.stopped {
                    DesiredStatus::Stop
                } else {
                    DesiredStatus::Run
                },
                client: ClientStatus::Running,
            }),
            run: Some(TaskRun {
                state: self.state,
                failed: false,
                started_at: Some(t(self.started)),
                restarts: 0,
                events: vec![],
            }),
            spec,
            files: vec![RenderedFile::new(
                "local/config.yml",
                t(self.config.0),
                &format!("c{}", self.config.1),
            )],
            checks: checks.collect(),
            session: self.session(),
            kv: &self.kv,
            node_triggers: Vec::new(),
            clock_stepped_at: None,
        };
        (obs, Context::new("n1"))
    }

    /// Slots our session holds for a1 in this observation.
    fn held(&self) -> Vec<String> {
        let Some(session) = self.session() else {
            return vec![];
        };
        self.kv
            .iter()
            .filter(|(k, e)| k.contains("/restart_lock/") && e.session.as_ref() == Some(&session))
            .filter(|(_, e)| e.value.as_deref().is_some_and(|v| v.contains("\"a1\"")))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Applies the KV effects of the actions, stopping at the first that Consul would refuse.
    fn apply(&mut self, actions: &[Action]) {
        for action in actions {
            let ok = match action {
                Action::WriteAllocRecord {
                    key,
                    record,
                    cas,
                    lock,
                    unchanged,
                } => {
                    let current = self.kv.get(key).map_or(0, |e| e.modify_index);
                    let lock_moved = lock.as_ref().is_some_and(|l| {
                        self.kv.get(&l.key).map(|e| e.modify_index) != Some(l.index)
                    });
                    let moved = unchanged
                        .iter()
                        .any(|k| self.kv.get(&k.key).map(|e| e.modify_index) != k.index);
                    if current != *cas || lock_moved || moved {
                        false
                    } else {
                        put_raw(&mut self.kv, key, record.to_json(), None);
                        true
                    }
                }
                Action::AcquireSlot {
                    key,
                    session,
                    holder,
                    index,
                    ..
                } => {
                    let free = self.kv.get(key).map(|e| e.modify_index) == *index
                        && self
                            .kv
                            .get(key)
                            .and_then(|e| e.session.clone())
                            .is_none_or(|s| s == *session);
                    if free {
                        put_raw(&mut self.kv, key, holder.to_json(), Some(session.clone()));
                    }
                    free
                }
                Action::ReleaseSlot {
                    key,
                    session,
                    index,
                    ..
                } => {
                    let mine = self.kv.get(key).map(|e| e.modify_index) == Some(*index)
                        && self.kv.get(key).and_then(|e| e.session.clone())
                            == Some(session.clone());
                    if mine {
                        put_raw(&mut self.kv, key, String::new(), None);
                    }
                    mine
                }
                Action::WriteTrigger { key, token, .. } => {
                    put_raw(&mut self.kv, key, token.clone(), None);
                    true
                }
                _ => true,
            };
            if !ok {
                break;
            }
        }
    }
}

fn put_raw(kv: &mut KvView, key: &str, value: String, session: Option<SessionId>) {
    let index = kv.values().map(|e| e.modify_index).max().unwrap_or(0) + 1;
    kv.insert(
        key.to_owned(),
        KvEntry {
            value: Some(value),
            modify_index: index,
            session,
        },
    );
}

/// A random change between two reconciles.
#[derive(Clone, Debug)]
enum Change {
    Advance(u64),
    Restart(u64),
    Check(bool, u64),
    Config(u8),
    Session(Option<u8>),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (1u64..60).prop_map(Change::Advance),
        (1u64..30).prop_map(Change::Restart),
        (any::<bool>(), 0u64..30).prop_map(|(p, d)| Change::Check(p, d)),
        (0u8..3).prop_map(Change::Config),
        proptest::option::of(0u8..3).prop_map(Change::Session),
    ]
}

fn check_decision(w: &World, actions: &[Action]) -> Result<(), TestCaseError> {
    let mut held = w.held();
    let mut acquires = 0;
    for action in actions {
        match action {
            Action::ReleaseSlot { key, .. } => held.retain(|k| k != key),
            Action::WriteTrigger { guard, .. } | Action::CallRestartApi { guard, .. } => {
                prop_assert!(
                    held.contains(&guard.key),
                    "trigger without holding {}: held {:?}",
                    guard.key,
                    held
                );
            }
            Action::AcquireSlot { key, .. } => {
                acquires += 1;
                prop_assert!(
                    held.is_empty() || held.contains(key),
                    "second slot {} while holding {:?}",
                    key,
                    held
                );
            }
            _ => {}
        }
    }
    prop_assert!(acquires <= 1, "{} acquires in one decision", acquires);
    let held = w.held();
    // Healthy for min_healthy_time after the trigger, holding the claimed slot: release now.
    let record_key = Key::state("n1", "a1", "app").render(&prefix());
    let record =
        w.kv.get(&record_key)
            .and_then(|e| e.value.as_deref())
            .and_then(|v| AllocRecord::from_json(v).ok());
    if let Some(r) =
        record.filter(|r| matches!(r.phase, Phase::Restarted | Phase::Verifying | Phase::Stuck))
    {
        let slot_key = Key::Slot(task_id(), r.slot.unwrap_or(0)).render(&prefix());
        let t0 = r.triggered_at.unwrap_or(t(0));
        // A check counts from a result seen after the start, or from its report time after it.
        let since = match w.check {
            Some((_, s)) if s > w.started => t(s),
            Some(_) => t(w.started).plus(Duration::from_secs(REPORT_WITHIN) + REPORT_MARGIN),
            None => t(w.started),
        };
        let healthy = w.state == TaskState::Running
            && t(w.started) > t0
            && w.check.is_none_or(|(passing, _)| passing)
            && since.plus(Duration::from_secs(MIN_HEALTHY)) <= t(w.now);
        if healthy && held.contains(&slot_key) && !w.stopped {
            let released = actions
                .iter()
                .any(|a| matches!(a, Action::ReleaseSlot { key, .. } if *key == slot_key));
            prop_assert!(
                released,
                "healthy long enough but {} not released: {:?}",
                slot_key,
                actions
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn task_reconciler_keeps_slot_discipline(start in world(), changes in proptest::collection::vec(change(), 1..8)) {
        let mut w = start;
        for (step, change) in changes.into_iter().enumerate() {
            let (obs, ctx) = w.observe();
            let decision = reconcile_task(&obs, &ctx, t(w.now), &format!("tok-{step}"));
            check_decision(&w, &decision.decision.actions)?;
            w.apply(&decision.decision.actions);
            match change {
                Change::Advance(d) => w.now += d,
                Change::Restart(d) => { w.now += d; w.started = w.now; w.state = TaskState::Running; }
                Change::Check(passing, d) => { w.now += d; w.check = Some((passing, w.now)); }
                Change::Config(v) => { w.now += 1; w.config = (w.now, v); }
                Change::Session(s) => w.session = s,
            }
        }
    }
}
