//! How the simulated Consul and Nomad apply one agent action, with the sequencer checks the
//! real agent makes (slot lock still ours, rollout still rolling) and the ground-truth checks
//! of every restart issued.

use std::time::Duration;

use shepard_reconcilers::model::{AllocRecord, RolloutRecord, RolloutState, SessionId};
use shepard_reconcilers::{Action, Key, RolloutGuard};

use super::world::World;

impl World {
    fn guard_holds(&self, key: &str, session: &SessionId) -> bool {
        self.consul.holder(key) == Some(session)
    }

    fn rollout_guard_holds(&self, guard: Option<&RolloutGuard>) -> bool {
        guard.is_none_or(|g| {
            let current = self
                .consul
                .kv
                .get(&g.key)
                .and_then(|e| e.value.as_deref())
                .and_then(|v| RolloutRecord::from_json(v).ok());
            current.is_some_and(|r| {
                let allowed = r.state == RolloutState::Rolling
                    || (g.also_stuck && r.state == RolloutState::Stuck);
                allowed && r.generation == g.generation
            })
        })
    }

    pub fn rollout(&self) -> Option<RolloutRecord> {
        let key = Key::Rollout(self.task.clone()).render(&self.agents[0].ctx.prefix);
        self.consul
            .kv
            .get(&key)?
            .value
            .as_deref()
            .and_then(|v| RolloutRecord::from_json(v).ok())
    }

    fn alloc_by_id(&self, id: &str) -> Option<usize> {
        self.allocs.iter().position(|a| a.id == id)
    }

    /// A restart is issued for allocation `i`: check it is justified and counts.
    fn issued(&mut self, i: usize) {
        let a = &self.allocs[i];
        let rolling = self
            .rollout()
            .is_some_and(|r| r.state == RolloutState::Rolling);
        let already = self.in_flight.contains_key(&i);
        // A retry under a claim made earlier (a stuck restart) holds its slot already.
        let node = &self.agents[a.node].ctx.node;
        let key = Key::state(node, &a.id, "app").render(&self.agents[0].ctx.prefix);
        let retry = self
            .consul
            .kv
            .get(&key)
            .and_then(|e| e.value.as_deref())
            .and_then(|v| AllocRecord::from_json(v).ok())
            .is_some_and(|r| r.claimed_at.is_some() && r.claimed_at < r.triggered_at);
        if !rolling && !already && !retry {
            self.violations.push(format!(
                "{}: new restart while the rollout is not rolling",
                a.id
            ));
        }
        let pending_file = a.pending_render.map_or(a.file.1, |(_, v)| v);
        if a.file.1 == a.run_config
            && pending_file == a.run_config
            && !a.blind_rewrite
            && !a.unsure_start
        {
            self.violations
                .push(format!("{}: restart without a configuration change", a.id));
        }
        let count = self.triggers.entry((i, a.run_no)).or_default();
        *count += 1;
        if *count > 1 {
            self.violations.push(format!(
                "{}: run {} triggered {} times",
                a.id, a.run_no, count
            ));
        }
        self.in_flight.entry(i).or_insert(self.now);
        if let Some(t) = self.in_flight.get_mut(&i) {
            *t = self.now;
        }
    }

    /// Applies the agent's next action; a failure drops the rest (the reconcile ends).
    pub fn apply_next(&mut self, agent: usize) {
        let Some((tag, action)) = self.agents[agent].pending.pop_front() else {
            return;
        };
        let shown = if self.trace {
            format!("{action:?}")
        } else {
            String::new()
        };
        let ok = match action {
            Action::AcquireSlot {
                key,
                session,
                holder,
                index,
                ..
            } => {
                self.consul.at_index(&key, index)
                    && self.consul.acquire(&key, holder.to_json(), &session)
            }
            Action::ReleaseSlot {
                key,
                session,
                index,
                ..
            } => self.consul.at_index(&key, Some(index)) && self.consul.release(&key, &session),
            Action::ReleaseTaskLock { key, session } => self.consul.release(&key, &session),
            Action::AcquireTaskLock {
                key,
                session,
                holder,
            } => self.consul.acquire(&key, holder.to_json(), &session),
            Action::WriteAllocRecord {
                key,
                record,
                cas,
                lock,
                unchanged,
            } => {
                lock.is_none_or(|l| self.consul.at_index(&l.key, Some(l.index)))
                    && unchanged
                        .iter()
                        .all(|k| self.consul.at_index(&k.key, k.index))
                    && self.consul.put_cas(&key, record.to_json(), cas)
            }
            Action::PutRollout {
                key,
                record,
                cas,
                guard,
            } => {
                let ok = self.guard_holds(&guard.key, &guard.session)
                    && self.consul.put_cas(&key, record.to_json(), cas);
                if let Some(p) = record.progress.as_ref().filter(|p| p.stalled && ok)
                    && self.fault_until < p.at
                {
                    let in_flight: Vec<String> = self
                        .consul
                        .kv
                        .iter()
                        .filter(|(k, _)| k.contains("/state/"))
                        .filter_map(|(k, e)| {
                            let r = shepard_reconcilers::model::AllocRecord::from_json(
                                e.value.as_deref()?,
                            )
                            .ok()?;
                            r.phase.in_flight().then(|| {
                                format!("{k} {:?} triggered {:?}", r.phase, r.triggered_at)
                            })
                        })
                        .collect();
                    self.violations.push(format!(
                        "stalled without a fault since {} (now {}): {}; in flight: {in_flight:?}",
                        p.at, self.now, record.reason
                    ));
                }
                ok
            }
            Action::WriteTrigger {
                key,
                token,
                guard,
                rollout,
            } => {
                if !self.guard_holds(&guard.key, &guard.session)
                    || !self.rollout_guard_holds(rollout.as_ref())
                {
                    false
                } else {
                    let index: u32 = key
                        .rsplit('/')
                        .next()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(u32::MAX);
                    let changed = self.consul.kv.get(&key).and_then(|e| e.value.as_deref())
                        != Some(token.as_str());
                    self.consul.put(&key, token.clone());
                    if changed && let Some(i) = self.allocs.iter().position(|a| a.index == index) {
                        self.issued(i);
                        let delay = Duration::from_millis(self.rng.range(0, 2000));
                        self.allocs[i].pending_trigger = Some((self.now.plus(delay), token));
                    }
                    true
                }
            }
            Action::CallRestartApi {
                alloc_id,
                guard,
                rollout,
                ..
            } => {
                if !self.guard_holds(&guard.key, &guard.session)
                    || !self.rollout_guard_holds(rollout.as_ref())
                {
                    false
                } else {
                    if let Some(i) = self.alloc_by_id(&alloc_id) {
                        self.issued(i);
                        let now = self.now;
                        self.allocs[i].restart(now, &mut self.rng);
                    }
                    true
                }
            }
            Action::DeleteKey { key, .. } => {
                self.violations.push(format!("unexpected delete of {key}"));
                false
            }
            Action::ReportProblem(problem) => {
                self.violations
                    .push(format!("unexpected problem {problem:?}"));
                true
            }
            Action::Emit(_) => true,
        };
        if self.trace {
            println!(
                "{} agent {agent} apply ok={ok} {}",
                self.now,
                &shown[..shown.len().min(300)]
            );
        }
        if !ok {
            self.agents[agent].pending.retain(|(t, _)| *t != tag);
        }
    }
}
