//! A `shepard agent` process for end-to-end tests: started with JSON logs on a free port, its
//! log lines collected, its telemetry address read from the start-up line, killed on drop.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::poll;

/// A running agent. Dropping it kills the process.
pub struct AgentProcess {
    child: Child,
    listen: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl AgentProcess {
    /// Starts `binary agent --listen 127.0.0.1:0 --log-format json <args>` with only `envs` in
    /// its environment, and waits for the telemetry server's start-up line.
    pub fn start(binary: &Path, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut child = Command::new(binary)
            .args(["agent", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(args)
            .env_clear()
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let stderr = child.stderr.take().expect("stderr is piped");
        std::thread::spawn({
            let lines = Arc::clone(&lines);
            move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            }
        });
        let listen = poll::until(
            "the agent's telemetry start-up line",
            Duration::from_secs(20),
            Duration::from_millis(20),
            || {
                let lines = lines.lock().unwrap();
                lines.iter().find_map(|line| {
                    let event: serde_json::Value = serde_json::from_str(line).ok()?;
                    if event["fields"]["message"] != "telemetry server listening" {
                        return None;
                    }
                    event["fields"]["listen"].as_str()?.parse().ok()
                })
            },
        );
        Self {
            child,
            listen,
            lines,
        }
    }

    /// Address of `/metrics`, `/healthz`, `/readyz`.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// Whether the process is still running (it has not exited or crashed).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every log line so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// `GET path` on the telemetry server: status and body, or `None` if it did not answer.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        crate::http_get::get(self.listen.port(), path, None)
    }

    /// Sends `signal` (e.g. `"STOP"`, `"CONT"`) and returns.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} {pid}");
    }

    /// Sends `signal` (e.g. `"TERM"`, `"KILL"`) and waits up to `within` for the exit.
    pub fn signal_and_wait(&mut self, signal: &str, within: Duration) -> ExitStatus {
        self.signal(signal);
        poll::until(
            "the agent to exit",
            within,
            Duration::from_millis(10),
            || self.child.try_wait().expect("wait for the agent"),
        )
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
