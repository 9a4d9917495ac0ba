//! The raw_exec-like driver: a task is a child process in its own process group, with the
//! task environment, the task dir as working directory and its output in rotating log files.
//! Signals go to the whole group; a stop sends the kill signal, then SIGKILL after the kill
//! timeout. Exit codes follow Nomad's executor: killed by signal N means code 128+N.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use super::logs::{RotatingLog, pump};
use crate::model::job::LogConfig;

/// How a task process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitResult {
    pub code: i64,
    pub signal: i64,
}

impl From<ExitStatus> for ExitResult {
    fn from(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (_, Some(sig)) => Self {
                code: 128 + i64::from(sig),
                signal: i64::from(sig),
            },
            (Some(code), None) => Self {
                code: i64::from(code),
                signal: 0,
            },
            (None, None) => Self {
                code: -1,
                signal: 0,
            },
        }
    }
}

/// A running task process.
pub struct TaskProcess {
    child: Child,
    pub pid: u32,
}

pub struct Launch<'a> {
    pub command: &'a str,
    pub args: &'a [String],
    pub env: &'a BTreeMap<String, String>,
    pub cwd: &'a Path,
    pub log_dir: &'a Path,
    pub task: &'a str,
    pub log_config: &'a LogConfig,
}

impl TaskProcess {
    pub async fn spawn(launch: Launch<'_>) -> std::io::Result<Self> {
        let mut command = Command::new(launch.command);
        command
            .args(launch.args)
            .envs(launch.env)
            .current_dir(launch.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        // If the simulator dies without cleaning up, its tasks die with it.
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
                    .map_err(|e| std::io::Error::from_raw_os_error(e as i32))
            });
        }
        let mut child = command.spawn()?;
        let pid = child.id().unwrap_or(0);
        let max_mb = launch.log_config.max_file_size_mb.unwrap_or(10);
        let max_files = launch.log_config.max_files.unwrap_or(10);
        if let Some(out) = child.stdout.take() {
            let prefix = format!("{}.stdout", launch.task);
            let log = RotatingLog::open(launch.log_dir, &prefix, max_mb, max_files).await?;
            tokio::spawn(pump(out, log));
        }
        if let Some(err) = child.stderr.take() {
            let prefix = format!("{}.stderr", launch.task);
            let log = RotatingLog::open(launch.log_dir, &prefix, max_mb, max_files).await?;
            tokio::spawn(pump(err, log));
        }
        Ok(Self { child, pid })
    }

    /// Waits for the process to exit. Cancel-safe: can be raced against commands.
    pub async fn wait(&mut self) -> ExitResult {
        match self.child.wait().await {
            Ok(status) => status.into(),
            Err(_) => ExitResult {
                code: -1,
                signal: 0,
            },
        }
    }

    /// Sends a signal to the task's process group.
    pub fn signal(&self, signal: Signal) {
        if let Ok(pgid) = i32::try_from(self.pid) {
            let _ = killpg(Pid::from_raw(pgid), signal);
        }
    }

    /// Sends `signal`, then SIGKILL if the process is still there after `timeout`.
    pub async fn stop(&mut self, signal: Signal, timeout: Duration) -> ExitResult {
        self.signal(signal);
        let result = match tokio::time::timeout(timeout, self.wait()).await {
            Ok(result) => result,
            Err(_) => {
                self.signal(Signal::SIGKILL);
                self.wait().await
            }
        };
        // Whatever the leader left behind in its group goes too.
        self.signal(Signal::SIGKILL);
        result
    }
}

/// Parses a signal name such as `SIGHUP` or `HUP`.
pub fn parse_signal(name: &str) -> Option<Signal> {
    let upper = name.trim().to_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse().ok()
}

/// Go's `syscall.Signal.String()`, which Nomad writes into `TaskEvent.TaskSignal`.
pub fn go_signal_name(signal: Signal) -> String {
    match signal {
        Signal::SIGHUP => "hangup".into(),
        Signal::SIGINT => "interrupt".into(),
        Signal::SIGQUIT => "quit".into(),
        Signal::SIGKILL => "killed".into(),
        Signal::SIGUSR1 => "user defined signal 1".into(),
        Signal::SIGUSR2 => "user defined signal 2".into(),
        Signal::SIGTERM => "terminated".into(),
        Signal::SIGALRM => "alarm clock".into(),
        Signal::SIGWINCH => "window changed".into(),
        other => other.as_str().to_string(),
    }
}
