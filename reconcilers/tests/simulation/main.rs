//! Deterministic multi-agent simulation of shepard's decisions: M agents, N allocations of one
//! task, one model of Consul KV and sessions, random interleavings of decisions and of the
//! actions they return, concurrent reconciles of one agent's allocations, decisions from stale
//! listings, random agent crashes and session losses, random health outcomes and bad
//! configurations, operator pauses and aborts. Checked at every step: never more than `max_parallel` allocations between
//! trigger and healthy; no restart without a configuration change, none twice for one run, no
//! new restart while the rollout is not rolling (a stuck rollout stops). At the end (faults
//! off, a good configuration): every allocation runs the final configuration, every record is
//! in sync and the rollout is complete.
//!
//! `SHEPARD_SIM_SEEDS=<n>` runs more seeds (default 150, from `SHEPARD_SIM_FIRST`, default 0);
//! `SHEPARD_SIM_SEED=<s>` replays one; `SHEPARD_SIM_TRACE=1` prints every decision and action.

mod apply;
mod consul;
mod nomad;
mod rng;
mod world;

use std::time::Duration;

use shepard_reconcilers::model::{AllocRecord, Phase, RolloutState};
use shepard_reconcilers::{Key, Timestamp};

use world::{Reconcile, World};

const RANDOM_STEPS: usize = 1500;
const SETTLE_ROUNDS: usize = 600;

fn random_step(w: &mut World) {
    let roll = w.rng.range(0, 999);
    let agent = w.rng.pick(w.agents.len());
    let alive = w.agents[agent].alive;
    match roll {
        0..=349 if alive => {
            // Reconciles of one agent run concurrently: a new decision may come while the
            // actions of an earlier one are still being applied.
            if !w.agents[agent].pending.is_empty() && w.rng.chance(70) {
                w.apply_next(agent);
            } else {
                let mine: Vec<usize> = (0..w.allocs.len())
                    .filter(|&i| w.allocs[i].node == agent)
                    .collect();
                let next = if mine.is_empty() || w.rng.chance(25) {
                    Reconcile::Rollout
                } else {
                    Reconcile::Task(mine[w.rng.pick(mine.len())])
                };
                match next {
                    r if w.busy(agent, r) => w.apply_next(agent),
                    Reconcile::Rollout => w.decide_rollout(agent),
                    Reconcile::Task(i) => w.decide_task(agent, i),
                }
            }
        }
        350..=599 if alive => w.apply_next(agent),
        600..=899 => {
            let by = Duration::from_millis(w.rng.range(100, 4000));
            w.advance(by);
        }
        900..=914 if w.version < 6 => {
            // At most one bad version in a row, so rollouts also complete mid-run.
            let bad = !w.bad.contains(&w.version) && w.rng.chance(30);
            w.change_config(bad);
        }
        915..=924 => {
            // An identical re-render: the file is touched, content unchanged.
            let i = w.rng.pick(w.allocs.len());
            let v = w.allocs[i].file.1;
            if w.allocs[i].pending_render.is_none() {
                w.allocs[i].pending_render = Some((w.now, v));
            }
        }
        925..=934 if alive => w.crash(agent),
        935..=944 if alive => w.lose_session(agent),
        945..=952 => w.operator_toggle_pause(),
        953..=962 if alive => w.check_gc(agent),
        963..=964 => w.operator_abort(),
        _ => {}
    }
}

/// Faults off, every agent back, a good final configuration, rollout unpaused; then fair rounds.
fn settle(w: &mut World) -> Result<usize, String> {
    for a in &mut w.agents {
        a.back_at = Some(Timestamp::EPOCH);
    }
    w.advance(Duration::from_secs(31));
    // A bad last configuration, or an aborted rollout: the operator pushes a good one.
    if w.bad.contains(&w.version) || w.rollout_state() == Some(RolloutState::Aborted) {
        w.change_config(false);
    }
    if w.rollout_state() == Some(RolloutState::Paused) {
        w.operator_toggle_pause();
    }
    // A rollout stalled while agents were down pages; the operator brings the agents back
    // and resumes it.
    w.operator_resume_stalled();
    for round in 0..SETTLE_ROUNDS {
        w.advance(Duration::from_secs(1));
        for agent in 0..w.agents.len() {
            // Finish the reconcile in progress first: an agent never reconciles a key while
            // an earlier reconcile of it is still applying actions.
            while !w.agents[agent].pending.is_empty() {
                w.apply_next(agent);
            }
            for i in 0..w.allocs.len() {
                if w.allocs[i].node == agent {
                    w.decide_task(agent, i);
                    while !w.agents[agent].pending.is_empty() {
                        w.apply_next(agent);
                    }
                }
            }
            w.decide_rollout(agent);
            while !w.agents[agent].pending.is_empty() {
                w.apply_next(agent);
            }
        }
        if converged(w) {
            return Ok(round);
        }
    }
    Err(describe(w))
}

fn records(w: &World) -> Vec<(String, Option<AllocRecord>)> {
    (0..w.allocs.len())
        .map(|i| {
            let a = &w.allocs[i];
            let node = &w.agents[a.node].ctx.node;
            let key = Key::state(node, &a.id, &w.task.task).render(&w.agents[0].ctx.prefix);
            let record = w
                .consul
                .kv
                .get(&key)
                .and_then(|e| e.value.as_deref())
                .and_then(|v| AllocRecord::from_json(v).ok());
            (a.id.clone(), record)
        })
        .collect()
}

fn converged(w: &World) -> bool {
    let all_final = w
        .allocs
        .iter()
        .all(|a| a.run_config == w.version && a.file.1 == w.version && a.pending_render.is_none());
    let in_sync = records(w)
        .iter()
        .all(|(_, r)| r.as_ref().is_some_and(|r| r.phase == Phase::InSync));
    let complete = w.version == 0 || w.rollout_state() == Some(RolloutState::Complete);
    all_final && in_sync && complete && w.in_flight.is_empty()
}

fn describe(w: &World) -> String {
    let mut out = format!(
        "version {} bad {:?} rollout {:?}\n",
        w.version,
        w.bad,
        w.rollout_state()
    );
    for (a, (_, r)) in w.allocs.iter().zip(records(w)) {
        out += &format!(
            "  {} node {} state {:?} run_config {} file {:?} record {:?}\n",
            a.id,
            a.node,
            a.state,
            a.run_config,
            a.file,
            r.map(|r| (r.phase, r.slot, r.last_error))
        );
    }
    for (k, e) in &w.consul.kv {
        out += &format!("  {k} = {:?} session {:?}\n", e.value, e.session);
    }
    out
}

fn run_seed(seed: u64) -> Result<usize, String> {
    let mut w = World::new(seed);
    let mut steps = 0;
    for _ in 0..RANDOM_STEPS {
        random_step(&mut w);
        steps += 1;
        if let Some(v) = w.violations.first() {
            return Err(format!("step {steps}: {v}\n{}", describe(&w)));
        }
    }
    let rounds = settle(&mut w)?;
    if let Some(v) = w.violations.first() {
        return Err(format!("settling: {v}\n{}", describe(&w)));
    }
    Ok(steps + rounds)
}

#[test]
fn simulated_clusters_respect_max_parallel_and_converge() {
    let seeds: Vec<u64> = match std::env::var("SHEPARD_SIM_SEED") {
        Ok(one) => vec![one.parse().unwrap_or(0)],
        Err(_) => {
            let n = std::env::var("SHEPARD_SIM_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(150);
            let first: u64 = std::env::var("SHEPARD_SIM_FIRST")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            (first..first + n).collect()
        }
    };
    let mut steps = 0;
    let mut failures = Vec::new();
    for &seed in &seeds {
        match run_seed(seed) {
            Ok(n) => steps += n,
            Err(e) => failures.push(format!("seed {seed}: {e}")),
        }
    }
    println!(
        "simulation: {} seeds, {} steps checked, {} failed",
        seeds.len(),
        steps,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} seeds failed; first:\n{}",
        failures.len(),
        seeds.len(),
        failures[0]
    );
}
