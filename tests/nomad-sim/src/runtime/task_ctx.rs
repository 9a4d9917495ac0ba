//! Everything one task runner needs: the alloc/task/node it belongs to, its directories and
//! environment, and how it reports state changes to the servers and to `/sim/events`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::env::{interpolate, with_node_attrs};
use super::process::{ExitResult, Launch, TaskProcess, parse_signal};
use crate::model::alloc::Alloc;
use crate::model::job::{LogConfig, Task};
use crate::model::node::Node;
use crate::model::task_state::TaskEvent;
use crate::sim::Sim;

/// Nomad's default client `max_kill_timeout`.
const MAX_KILL_TIMEOUT: Duration = Duration::from_secs(30);

pub struct TaskCtx {
    pub sim: Arc<Sim>,
    pub alloc: Alloc,
    pub task: Task,
    pub node: Node,
    pub alloc_dir: PathBuf,
    pub task_dir: PathBuf,
    pub env: BTreeMap<String, String>,
}

impl TaskCtx {
    /// Sends a task-state update to the servers, unless the node is down (a down client
    /// cannot report; its allocs are `lost`).
    pub fn update(&self, event: Option<TaskEvent>, state: Option<&str>) {
        let alloc_id = &self.alloc.id;
        let task = &self.task.name;
        // The client stamps task events and state times with its own host's clock.
        let now = self.sim.clock_of(&self.node.id).now_nanos();
        let event = event.map(|e| e.at(now));
        self.sim.store.write(|s| {
            let node_down = s
                .allocs
                .get(alloc_id)
                .and_then(|a| s.node_by_id(&a.node_id))
                .is_none_or(|n| n.status == "down");
            if !node_down {
                s.task_event(alloc_id, task, event, state, now);
            }
        });
    }

    /// Adds a task start/stop to the evidence log.
    pub fn record(&self, kind: &str, pid: Option<u32>, exit: Option<ExitResult>) {
        self.sim.store.write(|s| {
            let mut ev = s.sim_event(&self.alloc, kind, &self.task.name);
            ev.pid = pid;
            ev.exit_code = exit.map(|e| e.code);
            ev.signal = exit.map(|e| e.signal);
            s.record(ev);
        });
    }

    /// The variables templates see through `env`.
    pub fn template_env(&self) -> BTreeMap<String, String> {
        with_node_attrs(&self.env, &self.node)
    }

    /// `KillSignal` (default SIGINT) and `KillTimeout` capped at the client's maximum.
    pub fn kill_signal_and_timeout(&self) -> (Signal, Duration) {
        let signal = parse_signal(&self.task.kill_signal).unwrap_or(Signal::SIGINT);
        let timeout =
            Duration::from_nanos(self.task.kill_timeout.unwrap_or(5_000_000_000).max(0) as u64);
        (signal, timeout.min(MAX_KILL_TIMEOUT))
    }

    /// Starts the process with `Config.command`/`args`, interpolated with the environment.
    pub async fn spawn(&self) -> std::io::Result<TaskProcess> {
        let vars = self.template_env();
        let config = self.task.config.clone().unwrap_or_default();
        let command = config
            .get("command")
            .and_then(|v| v.as_str())
            .map(|c| interpolate(c, &vars))
            .unwrap_or_default();
        let command = if command.contains('/') && !Path::new(&command).is_absolute() {
            self.task_dir.join(&command).display().to_string()
        } else {
            command
        };
        let args: Vec<String> = config
            .get("args")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .map(|x| interpolate(x.as_str().unwrap_or_default(), &vars))
                    .collect()
            })
            .unwrap_or_default();
        let log_config = self.task.log_config.clone().unwrap_or(LogConfig {
            disabled: false,
            max_files: Some(10),
            max_file_size_mb: Some(10),
        });
        TaskProcess::spawn(Launch {
            command: &command,
            args: &args,
            env: &self.env,
            cwd: &self.task_dir,
            log_dir: &self.alloc_dir.join("alloc").join("logs"),
            task: &self.task.name,
            log_config: &log_config,
        })
        .await
    }

    /// A template that cannot be rendered fails the task, as Nomad kills it.
    pub fn template_failed(&self, error: &str) {
        self.update(
            Some(
                TaskEvent::new("Killing")
                    .fails_task()
                    .display(&format!("Template failed: {error}")),
            ),
            None,
        );
        self.update(Some(TaskEvent::new("Killed")), Some("dead"));
    }

    /// A stop that arrives before the first start (e.g. while templates block).
    pub fn finish_killed_before_start(&self, silent: bool) {
        if silent {
            return;
        }
        let (_, timeout) = self.kill_signal_and_timeout();
        self.update(
            Some(TaskEvent::new("Killing").kill_timeout(timeout.as_nanos() as i64)),
            None,
        );
        self.update(Some(TaskEvent::new("Killed")), Some("dead"));
    }
}
