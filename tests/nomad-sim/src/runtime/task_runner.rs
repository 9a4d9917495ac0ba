//! One task's life on a client, as Nomad's TaskRunner lives it: `Received`, `Task Setup`,
//! templates rendered, `Started`; on a requested restart `Restart Signaled` → `Terminated` →
//! `Restarting` (pending, no delay) → `Started`; on an exit the restart policy decides
//! (`Restarting` with delay, or `Not Restarting` and dead); on a stop `Killing` →
//! `Terminated` → `Killed` and dead. Services are registered after each start and
//! deregistered before each kill and after each exit.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::process::{ExitResult, go_signal_name, parse_signal};
use super::restarts::{Decision, RestartTracker};
use super::services::{deregister_all, register_all};
use super::task_ctx::TaskCtx;
use crate::model::task_state::TaskEvent;
use crate::template::manager::{TemplateAction, TemplateManager};
use nix::sys::signal::Signal;

/// Requests from the node client to a task runner.
pub enum TaskCommand {
    /// In-place restart; answered once the old process has exited.
    Restart {
        event: Box<TaskEvent>,
        done: oneshot::Sender<Result<(), String>>,
    },
    /// Stop for good. `silent`: the node is gone, so nothing is reported (lost allocs).
    Kill {
        silent: bool,
        done: oneshot::Sender<()>,
    },
    /// Fault injection: SIGKILL the process group; answers whether a process was running.
    Crash { done: oneshot::Sender<bool> },
}

enum Ended {
    Exited(ExitResult),
    Restarted(ExitResult, Option<oneshot::Sender<Result<(), String>>>),
    Killed(ExitResult, bool, Option<oneshot::Sender<()>>),
}

/// Answers commands that need a running process while there is none.
fn reject(cmd: TaskCommand) {
    match cmd {
        TaskCommand::Restart { done, .. } => {
            let _ = done.send(Err("Task not running".into()));
        }
        TaskCommand::Crash { done } => {
            let _ = done.send(false);
        }
        TaskCommand::Kill { done, .. } => {
            let _ = done.send(());
        }
    }
}

pub async fn run(ctx: TaskCtx, mut rx: mpsc::Receiver<TaskCommand>) {
    ctx.update(Some(TaskEvent::new("Received")), None);
    ctx.update(
        Some(TaskEvent::new("Task Setup").message("Building Task Directory")),
        None,
    );
    let (action_tx, mut action_rx) = mpsc::channel::<TemplateAction>(8);
    let templates = ctx.task.templates.clone().unwrap_or_default();
    let mut watcher = None;
    if !templates.is_empty() {
        let mut manager = match TemplateManager::new(
            ctx.sim.consul.clone(),
            &templates,
            &ctx.task_dir,
            ctx.template_env(),
        ) {
            Ok(m) => m.with_clock(ctx.sim.clock_of(&ctx.node.id)),
            Err(e) => return ctx.template_failed(&e),
        };
        let rendered = {
            let render = manager.first_render(|msg| {
                ctx.update(Some(TaskEvent::new("Template").display(&msg)), None)
            });
            tokio::pin!(render);
            loop {
                tokio::select! {
                    r = &mut render => break Some(r),
                    cmd = rx.recv() => match cmd {
                        Some(TaskCommand::Kill { silent, done }) => {
                            ctx.finish_killed_before_start(silent);
                            let _ = done.send(());
                            break None;
                        }
                        None => break None,
                        Some(other) => reject(other),
                    }
                }
            }
        };
        match rendered {
            None => return,
            Some(Err(e)) => return ctx.template_failed(&e),
            Some(Ok(())) => watcher = Some(tokio::spawn(manager.watch(action_tx))),
        }
    }
    run_loop(&ctx, &mut rx, &mut action_rx).await;
    if let Some(w) = watcher {
        w.abort();
    }
}

async fn run_loop(
    ctx: &TaskCtx,
    rx: &mut mpsc::Receiver<TaskCommand>,
    actions: &mut mpsc::Receiver<TemplateAction>,
) {
    let policy = ctx.task.restart_policy.clone().unwrap_or_default();
    let mut tracker = RestartTracker::new(&policy);
    loop {
        let mut proc = match ctx.spawn().await {
            Ok(p) => p,
            Err(e) => {
                ctx.update(
                    Some(
                        TaskEvent::new("Driver Failure")
                            .message(&format!("failed to launch command: {e}")),
                    ),
                    None,
                );
                if !restart_after_exit(ctx, &mut tracker, rx).await {
                    return;
                }
                continue;
            }
        };
        let pid = proc.pid;
        ctx.record("task-started", Some(pid), None);
        ctx.update(Some(TaskEvent::new("Started")), Some("running"));
        let mut services = register_all(
            &ctx.sim.consul,
            &ctx.alloc.id,
            &ctx.task.name,
            ctx.task.services.as_deref().unwrap_or_default(),
            &ctx.alloc.ports,
        )
        .await;
        let (signal, timeout) = ctx.kill_signal_and_timeout();
        let ended = loop {
            tokio::select! {
                r = proc.wait() => break Ended::Exited(r),
                Some(action) = actions.recv() => match action {
                    TemplateAction::Restart => {
                        ctx.update(Some(TaskEvent::new("Restart Signaled")
                            .display("Template with change_mode restart re-rendered")), None);
                        deregister_all(&ctx.sim.consul, &mut services).await;
                        break Ended::Restarted(proc.stop(signal, timeout).await, None);
                    }
                    TemplateAction::Signal(names) => {
                        for s in names.iter().filter_map(|n| parse_signal(n)) {
                            ctx.update(Some(TaskEvent::new("Signaling")
                                .task_signal(&go_signal_name(s))
                                .display("Template re-rendered")), None);
                            proc.signal(s);
                        }
                    }
                },
                cmd = rx.recv() => match cmd {
                    Some(TaskCommand::Restart { event, done }) => {
                        ctx.update(Some(*event), None);
                        deregister_all(&ctx.sim.consul, &mut services).await;
                        break Ended::Restarted(proc.stop(signal, timeout).await, Some(done));
                    }
                    Some(TaskCommand::Kill { silent, done }) => {
                        if !silent {
                            let ns = timeout.as_nanos() as i64;
                            ctx.update(Some(TaskEvent::new("Killing").kill_timeout(ns)), None);
                        }
                        deregister_all(&ctx.sim.consul, &mut services).await;
                        break Ended::Killed(proc.stop(signal, timeout).await, silent, Some(done));
                    }
                    Some(TaskCommand::Crash { done }) => {
                        proc.signal(Signal::SIGKILL);
                        let _ = done.send(true);
                    }
                    None => break Ended::Killed(proc.stop(Signal::SIGKILL, Duration::ZERO).await, true, None),
                },
            }
        };
        deregister_all(&ctx.sim.consul, &mut services).await;
        match ended {
            Ended::Exited(r) => {
                ctx.record("task-stopped", Some(pid), Some(r));
                ctx.update(
                    Some(TaskEvent::new("Terminated").exit(r.code, r.signal)),
                    None,
                );
                if !restart_after_exit(ctx, &mut tracker, rx).await {
                    return;
                }
            }
            Ended::Restarted(r, done) => {
                ctx.record("task-stopped", Some(pid), Some(r));
                ctx.update(
                    Some(TaskEvent::new("Terminated").exit(r.code, r.signal)),
                    None,
                );
                ctx.update(
                    Some(
                        TaskEvent::new("Restarting")
                            .restart_delay(0)
                            .restart_reason(""),
                    ),
                    Some("pending"),
                );
                if let Some(done) = done {
                    let _ = done.send(Ok(()));
                }
            }
            Ended::Killed(r, silent, done) => {
                ctx.record("task-stopped", Some(pid), Some(r));
                if !silent {
                    ctx.update(
                        Some(TaskEvent::new("Terminated").exit(r.code, r.signal)),
                        None,
                    );
                    ctx.update(Some(TaskEvent::new("Killed")), Some("dead"));
                }
                if let Some(done) = done {
                    let _ = done.send(());
                }
                return;
            }
        }
    }
}

/// Applies the restart policy after an unrequested exit; false when the task is done.
async fn restart_after_exit(
    ctx: &TaskCtx,
    tracker: &mut RestartTracker,
    rx: &mut mpsc::Receiver<TaskCommand>,
) -> bool {
    match tracker.on_exit() {
        Decision::Fail { reason } => {
            ctx.update(
                Some(
                    TaskEvent::new("Not Restarting")
                        .restart_reason(&reason)
                        .fails_task(),
                ),
                Some("dead"),
            );
            false
        }
        Decision::Restart { delay, reason } => {
            ctx.update(
                Some(
                    TaskEvent::new("Restarting")
                        .restart_delay(delay.as_nanos() as i64)
                        .restart_reason(&reason),
                ),
                Some("pending"),
            );
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => return true,
                    cmd = rx.recv() => match cmd {
                        Some(TaskCommand::Kill { silent, done }) => {
                            if !silent {
                                ctx.update(Some(TaskEvent::new("Killed")), Some("dead"));
                            }
                            let _ = done.send(());
                            return false;
                        }
                        None => return false,
                        Some(other) => reject(other),
                    }
                }
            }
        }
    }
}
