//! The client side of each simulated node: runs allocations (alloc dir layout, group
//! services, one task runner per task) and routes restart, stop and crash requests to them.

pub mod deploy_health;
pub mod env;
pub mod logs;
pub mod process;
pub mod restarts;
pub mod services;
pub mod task_ctx;
pub mod task_runner;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::model::task_state::TaskEvent;
use crate::sim::Sim;
use task_ctx::TaskCtx;
use task_runner::TaskCommand;

struct AllocHandle {
    tasks: HashMap<String, mpsc::Sender<TaskCommand>>,
}

/// One node's client: the allocations it runs.
pub struct NodeClient {
    node: usize,
    runners: Mutex<HashMap<String, AllocHandle>>,
}

/// Creates Nomad's alloc dir layout: `alloc/{data,logs,tmp}` and `<task>/{local,secrets,tmp}`.
fn build_alloc_dir(alloc_dir: &Path, tasks: &[String]) -> std::io::Result<()> {
    for shared in ["data", "logs", "tmp"] {
        std::fs::create_dir_all(alloc_dir.join("alloc").join(shared))?;
    }
    for task in tasks {
        for sub in ["local", "secrets", "tmp"] {
            std::fs::create_dir_all(alloc_dir.join(task).join(sub))?;
        }
    }
    Ok(())
}

impl NodeClient {
    pub fn new(node: usize) -> Self {
        Self {
            node,
            runners: Mutex::new(HashMap::new()),
        }
    }

    fn runners(&self) -> MutexGuard<'_, HashMap<String, AllocHandle>> {
        self.runners.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts running an allocation placed on this node.
    pub fn start(&self, sim: Arc<Sim>, alloc_id: &str) {
        let Some((alloc, node)) = sim.store.read(|s| {
            let alloc = s.allocs.get(alloc_id)?.clone();
            Some((alloc, s.nodes.get(self.node)?.clone()))
        }) else {
            return;
        };
        let Some(group) = alloc.job.group(&alloc.task_group).cloned() else {
            return;
        };
        let alloc_dir = node.alloc_dir().join(&alloc.id);
        let names: Vec<String> = group.tasks.iter().map(|t| t.name.clone()).collect();
        if let Err(e) = build_alloc_dir(&alloc_dir, &names) {
            tracing::error!(alloc = %alloc.id, error = %e, "cannot build alloc dir");
        }
        let mut tasks = HashMap::new();
        let mut runs = Vec::new();
        for task in &group.tasks {
            let task_dir = alloc_dir.join(&task.name);
            let env = env::task_env(&env::EnvInput {
                alloc: &alloc,
                job: &alloc.job,
                task,
                node: &node,
                alloc_dir: &alloc_dir,
                task_dir: &task_dir,
            });
            let (tx, rx) = mpsc::channel(16);
            tasks.insert(task.name.clone(), tx);
            let ctx = TaskCtx {
                sim: sim.clone(),
                alloc: alloc.clone(),
                task: task.clone(),
                node: node.clone(),
                alloc_dir: alloc_dir.clone(),
                task_dir,
                env,
            };
            runs.push(tokio::spawn(task_runner::run(ctx, rx)));
        }
        // Group services live as long as any task runner of the alloc.
        let group_services = group.services.clone().unwrap_or_default();
        let workload = format!("group-{}", group.name);
        tokio::spawn(async move {
            let mut ids = services::register_all(
                &sim.consul,
                &alloc.id,
                &workload,
                &group_services,
                &alloc.ports,
            )
            .await;
            for run in runs {
                let _ = run.await;
            }
            services::deregister_all(&sim.consul, &mut ids).await;
        });
        self.runners()
            .insert(alloc_id.to_string(), AllocHandle { tasks });
    }

    /// Stops an allocation's tasks (silently when the alloc was lost with its node).
    pub fn stop(&self, alloc_id: &str) {
        let Some(handle) = self.runners().remove(alloc_id) else {
            return;
        };
        for tx in handle.tasks.into_values() {
            tokio::spawn(async move {
                let (done, _) = oneshot::channel();
                let _ = tx
                    .send(TaskCommand::Kill {
                        silent: false,
                        done,
                    })
                    .await;
            });
        }
    }

    /// Stops every task without reporting (node lost or simulator shutdown), waiting up to
    /// the kill timeout plus a margin for each.
    pub async fn stop_silently(&self, alloc_id: &str) {
        let Some(handle) = self.runners().remove(alloc_id) else {
            return;
        };
        for tx in handle.tasks.into_values() {
            let (done, wait) = oneshot::channel();
            if tx
                .send(TaskCommand::Kill { silent: true, done })
                .await
                .is_ok()
            {
                let _ = tokio::time::timeout(Duration::from_secs(35), wait).await;
            }
        }
    }

    fn senders(&self, alloc_id: &str) -> Option<HashMap<String, mpsc::Sender<TaskCommand>>> {
        self.runners().get(alloc_id).map(|h| h.tasks.clone())
    }

    /// The client's `Allocations.Restart`.
    pub async fn restart(
        &self,
        alloc_id: &str,
        task: Option<String>,
        all: bool,
    ) -> Result<(), (u16, String)> {
        let senders = self
            .senders(alloc_id)
            .ok_or_else(|| (500, "Task not running".to_string()))?;
        let (targets, reason): (Vec<String>, &str) = match &task {
            Some(name) if !senders.contains_key(name) => {
                return Err((500, format!("Could not find task runner for task: {name}")));
            }
            Some(name) => (vec![name.clone()], "User requested task to restart"),
            None if all => (
                senders.keys().cloned().collect(),
                "User requested all tasks to restart",
            ),
            None => (
                senders.keys().cloned().collect(),
                "User requested running tasks to restart",
            ),
        };
        let mut errors = Vec::new();
        for name in targets {
            let Some(tx) = senders.get(&name) else {
                continue;
            };
            let (done, wait) = oneshot::channel();
            let event = Box::new(TaskEvent::new("Restart Signaled").restart_reason(reason));
            if tx.send(TaskCommand::Restart { event, done }).await.is_err() {
                errors.push("Task not running".to_string());
                continue;
            }
            match wait.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(e),
                Err(_) => errors.push("Task not running".to_string()),
            }
        }
        // With one named task its error is the answer; otherwise only a total failure is.
        match (task.is_some(), errors.first()) {
            (true, Some(e)) => Err((500, e.clone())),
            (false, Some(e)) if errors.len() == senders.len() => Err((500, e.clone())),
            _ => Ok(()),
        }
    }

    /// Fault: SIGKILL the named task or every task; returns the tasks that had a process.
    pub fn crash(&self, alloc_id: &str, task: Option<&str>) -> Result<Vec<String>, (u16, String)> {
        let senders = self
            .senders(alloc_id)
            .ok_or_else(|| (409, "allocation is not running on its node".to_string()))?;
        let mut waits = Vec::new();
        for (name, tx) in &senders {
            if task.is_some_and(|t| t != name) {
                continue;
            }
            let (done, wait) = oneshot::channel();
            if tx.try_send(TaskCommand::Crash { done }).is_ok() {
                waits.push((name.clone(), wait));
            }
        }
        if waits.is_empty() {
            return Err((
                404,
                format!("no such running task in allocation {alloc_id}"),
            ));
        }
        Ok(waits.into_iter().map(|(n, _)| n).collect())
    }

    /// Kills everything this node runs (simulator shutdown).
    pub async fn shutdown(&self) {
        let ids: Vec<String> = self.runners().keys().cloned().collect();
        for id in ids {
            self.stop_silently(&id).await;
        }
    }
}
