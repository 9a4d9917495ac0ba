//! The client's deployment health tracker (client/allochealth, started by the alloc runner's
//! health hook for allocations with a `DeploymentID`): an allocation is healthy once every task
//! runs and, with `health_check = "checks"`, every Consul check of its services is registered
//! and passing, without a break for `min_healthy_time`; it is unhealthy if that has not
//! happened `healthy_deadline` after it was placed. `manual` health is left to nobody (the
//! simulator has no alloc-health endpoint). The verdict is sent to the servers once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::now_nanos;
use crate::deploy;
use crate::model::alloc::Alloc;
use crate::sim::Sim;
use crate::state::Inner;

/// How often the tracker looks; Consul's checks of a test job run every second or so.
const EVERY: Duration = Duration::from_millis(100);

/// What the tracker needs about one allocation still waiting for its verdict.
#[derive(Debug)]
struct Waiting {
    alloc_id: String,
    tasks_running: bool,
    use_checks: bool,
    /// How many checks the group's services declare.
    checks: usize,
    min_healthy: i64,
    deadline: i64,
}

fn waiting(inner: &Inner) -> Vec<Waiting> {
    inner
        .allocs
        .values()
        .filter(|a| !a.deployment_id.is_empty() && !a.terminal() && a.healthy().is_none())
        .filter(|a| {
            inner
                .deployments
                .get(&a.deployment_id)
                .is_some_and(|d| d.active())
        })
        .filter_map(waiting_one)
        .collect()
}

fn waiting_one(alloc: &Alloc) -> Option<Waiting> {
    let group = alloc.job.group(&alloc.task_group)?;
    let update = group.update.clone().unwrap_or_default();
    let mode = update.health_check.unwrap_or_else(|| "checks".into());
    if mode == "manual" {
        return None;
    }
    let tasks_running = group.tasks.iter().all(|t| {
        alloc
            .task_states
            .get(&t.name)
            .is_some_and(|s| s.state == "running")
    });
    let services = group
        .services
        .iter()
        .flatten()
        .chain(group.tasks.iter().flat_map(|t| t.services.iter().flatten()));
    let checks = services.map(|s| s.checks.iter().flatten().count()).sum();
    Some(Waiting {
        alloc_id: alloc.id.clone(),
        tasks_running,
        use_checks: mode == "checks",
        checks,
        min_healthy: update.min_healthy_time.unwrap_or(0),
        deadline: alloc.create_time + update.healthy_deadline.unwrap_or(0),
    })
}

/// Whether every check of the allocation's services is registered and passing.
fn checks_pass(w: &Waiting, statuses: &[(String, String)]) -> bool {
    let prefix = format!("_nomad-task-{}-", w.alloc_id);
    let mine: Vec<&str> = statuses
        .iter()
        .filter(|(service, _)| service.starts_with(&prefix))
        .map(|(_, status)| status.as_str())
        .collect();
    mine.len() >= w.checks && mine.iter().all(|s| *s == "passing")
}

/// The verdict on one allocation at `now`, if there is one yet; `since` keeps when each
/// allocation was last seen turning healthy.
fn judge(
    w: &Waiting,
    statuses: Option<&[(String, String)]>,
    now: i64,
    since: &mut HashMap<String, i64>,
) -> Option<bool> {
    let ok = w.tasks_running && (!w.use_checks || statuses.is_some_and(|s| checks_pass(w, s)));
    if !ok {
        since.remove(&w.alloc_id);
        return (w.deadline > 0 && now >= w.deadline).then_some(false);
    }
    let from = *since.entry(w.alloc_id.clone()).or_insert(now);
    (now - from >= w.min_healthy).then_some(true)
}

/// Runs the tracker of every node's allocations until the process ends.
pub async fn run(sim: Arc<Sim>) {
    let mut since: HashMap<String, i64> = HashMap::new();
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tick.tick().await;
        let pending = sim.store.read(waiting);
        since.retain(|id, _| pending.iter().any(|w| &w.alloc_id == id));
        if pending.is_empty() {
            continue;
        }
        let statuses = if pending.iter().any(|w| w.use_checks) {
            match sim.consul.check_statuses().await {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read Consul checks for deployment health");
                    None
                }
            }
        } else {
            Some(Vec::new())
        };
        let now = now_nanos();
        for w in &pending {
            if let Some(healthy) = judge(w, statuses.as_deref(), now, &mut since) {
                let out = sim
                    .store
                    .write(|s| deploy::set_health(s, &w.alloc_id, healthy));
                sim.dispatch(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(tasks_running: bool) -> Waiting {
        Waiting {
            alloc_id: "a1".into(),
            tasks_running,
            use_checks: true,
            checks: 1,
            min_healthy: 10,
            deadline: 1_000,
        }
    }

    #[test]
    fn healthy_only_after_min_healthy_time_without_a_break() {
        let w = waiting(true);
        let passing = vec![("_nomad-task-a1-app-web-http".to_string(), "passing".into())];
        let critical = vec![("_nomad-task-a1-app-web-http".to_string(), "critical".into())];
        let mut since = HashMap::new();
        assert_eq!(judge(&w, Some(&passing), 100, &mut since), None);
        assert_eq!(judge(&w, Some(&critical), 105, &mut since), None);
        assert_eq!(judge(&w, Some(&passing), 112, &mut since), None);
        assert_eq!(judge(&w, Some(&passing), 122, &mut since), Some(true));
    }

    #[test]
    fn missing_checks_are_not_passing_and_the_deadline_makes_it_unhealthy() {
        let w = waiting(true);
        let other = vec![("_nomad-task-b2-app-web-http".to_string(), "passing".into())];
        let mut since = HashMap::new();
        assert_eq!(judge(&w, Some(&other), 100, &mut since), None);
        assert_eq!(judge(&w, None, 500, &mut since), None);
        assert_eq!(judge(&waiting(false), None, 1_000, &mut since), Some(false));
    }
}
