//! `TaskState` and `TaskEvent` as a Nomad client keeps them: the event constructors mirror the
//! `TaskEvent.Set*` helpers (which also fill `Details`), `PopulateEventDisplayMessage`, and the
//! state bookkeeping of `appendEvent`/`updateStateImpl` (Restarts, LastRestart, StartedAt,
//! FinishedAt; the last 10 events kept).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::clock::{go_duration, now_nanos, rfc3339_nano};

/// How many events a client keeps per task (`defaultMaxEvents`).
const MAX_EVENTS: usize = 10;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskEvent {
    pub event_type: String,
    pub time: i64,
    pub message: String,
    pub display_message: String,
    pub details: BTreeMap<String, String>,
    pub fails_task: bool,
    pub restart_reason: String,
    pub exit_code: i64,
    pub signal: i64,
    pub kill_timeout: i64,
    pub kill_reason: String,
    pub start_delay: i64,
    pub task_signal: String,
    pub task_signal_reason: String,
}

impl TaskEvent {
    pub fn new(event_type: &str) -> Self {
        Self {
            event_type: event_type.to_string(),
            time: now_nanos(),
            ..Self::default()
        }
    }

    /// The same event, stamped at `time` (Unix nanoseconds of the client's clock).
    pub fn at(mut self, time: i64) -> Self {
        self.time = time;
        self
    }

    pub fn message(mut self, msg: &str) -> Self {
        self.message = msg.to_string();
        self.details.insert("message".into(), msg.to_string());
        self
    }

    pub fn display(mut self, msg: &str) -> Self {
        self.display_message = msg.to_string();
        self
    }

    pub fn restart_reason(mut self, reason: &str) -> Self {
        self.restart_reason = reason.to_string();
        self.details
            .insert("restart_reason".into(), reason.to_string());
        self
    }

    pub fn restart_delay(mut self, nanos: i64) -> Self {
        self.start_delay = nanos;
        self.details.insert("start_delay".into(), nanos.to_string());
        self
    }

    pub fn exit(mut self, code: i64, signal: i64) -> Self {
        self.exit_code = code;
        self.signal = signal;
        self.details.insert("exit_code".into(), code.to_string());
        self.details.insert("signal".into(), signal.to_string());
        self.details.insert("oom_killed".into(), "false".into());
        self
    }

    pub fn kill_timeout(mut self, nanos: i64) -> Self {
        self.kill_timeout = nanos;
        self.details
            .insert("kill_timeout".into(), go_duration(nanos));
        self
    }

    pub fn kill_reason(mut self, reason: &str) -> Self {
        self.kill_reason = reason.to_string();
        self.details
            .insert("kill_reason".into(), reason.to_string());
        self
    }

    pub fn task_signal(mut self, signal: &str) -> Self {
        self.task_signal = signal.to_string();
        self.details
            .insert("task_signal".into(), signal.to_string());
        self
    }

    pub fn fails_task(mut self) -> Self {
        self.fails_task = true;
        self.details.insert("fails_task".into(), "true".into());
        self
    }

    /// `PopulateEventDisplayMessage` for the event types the simulator emits.
    fn populate_display_message(&mut self) {
        if !self.display_message.is_empty() {
            return;
        }
        self.display_message = match self.event_type.as_str() {
            "Task Setup" => self.message.clone(),
            "Started" => "Task started by client".into(),
            "Received" => "Task received by client".into(),
            "Killing" if !self.kill_reason.is_empty() => self.kill_reason.clone(),
            "Killing" if self.kill_timeout != 0 => format!(
                "Sent interrupt. Waiting {} before force killing",
                go_duration(self.kill_timeout)
            ),
            "Killing" => "Sent interrupt".into(),
            "Killed" => "Task successfully killed".into(),
            "Terminated" => {
                let mut parts = vec![format!("Exit Code: {}", self.exit_code)];
                if self.signal != 0 {
                    parts.push(format!("Signal: {}", self.signal));
                }
                if !self.message.is_empty() {
                    parts.push(format!("Exit Message: {:?}", self.message));
                }
                parts.join(", ")
            }
            "Restarting" => {
                let within = format!("Task restarting in {}", go_duration(self.start_delay));
                if self.restart_reason.is_empty() || self.restart_reason == "Restart within policy"
                {
                    within
                } else {
                    format!("{} - {within}", self.restart_reason)
                }
            }
            "Not Restarting" if !self.restart_reason.is_empty() => self.restart_reason.clone(),
            "Not Restarting" => "Task exceeded restart policy".into(),
            "Restart Signaled" if !self.restart_reason.is_empty() => self.restart_reason.clone(),
            "Restart Signaled" => "Task signaled to restart".into(),
            "Signaling" => match (
                self.task_signal.is_empty(),
                self.task_signal_reason.is_empty(),
            ) {
                (true, true) => "Task being sent a signal".into(),
                (true, false) => self.task_signal_reason.clone(),
                (false, true) => format!("Task being sent signal {}", self.task_signal),
                (false, false) => format!(
                    "Task being sent signal {}: {}",
                    self.task_signal, self.task_signal_reason
                ),
            },
            _ => self.message.clone(),
        };
    }

    pub fn to_json(&self) -> Value {
        json!({
            "Details": self.details,
            "DiskLimit": 0,
            "DisplayMessage": self.display_message,
            "DownloadError": "",
            "DriverError": "",
            "DriverMessage": "",
            "ExitCode": self.exit_code,
            "FailedSibling": "",
            "FailsTask": self.fails_task,
            "GenericSource": "",
            "KillError": "",
            "KillReason": self.kill_reason,
            "KillTimeout": self.kill_timeout,
            "Message": self.message,
            "RestartReason": self.restart_reason,
            "SetupError": "",
            "Signal": self.signal,
            "StartDelay": self.start_delay,
            "TaskSignal": self.task_signal,
            "TaskSignalReason": self.task_signal_reason,
            "Time": self.time,
            "Type": self.event_type,
            "ValidationError": "",
            "VaultError": "",
        })
    }
}

/// Task states: `pending`, `running`, `dead`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskState {
    pub state: String,
    pub failed: bool,
    pub restarts: u64,
    pub last_restart: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub events: Vec<TaskEvent>,
}

impl Default for TaskState {
    fn default() -> Self {
        Self {
            state: "pending".into(),
            failed: false,
            restarts: 0,
            last_restart: None,
            started_at: None,
            finished_at: None,
            events: Vec::new(),
        }
    }
}

impl TaskState {
    /// `appendEvent`: display message, Failed, and Restarts/LastRestart on `Restarting`.
    pub fn append_event(&mut self, mut event: TaskEvent) {
        event.populate_display_message();
        if event.fails_task {
            self.failed = true;
        }
        if event.event_type == "Restarting" {
            self.restarts += 1;
            self.last_restart = Some(event.time);
        }
        self.events.push(event);
        if self.events.len() > MAX_EVENTS {
            let excess = self.events.len() - MAX_EVENTS;
            self.events.drain(..excess);
        }
    }

    /// `updateStateImpl`: StartedAt when entering running, FinishedAt once when dead (`now` in
    /// the client's clock).
    pub fn set_state(&mut self, state: &str, now: i64) {
        let old = std::mem::replace(&mut self.state, state.to_string());
        match state {
            "running" if old != "running" => self.started_at = Some(now),
            "dead" if self.finished_at.is_none() => self.finished_at = Some(now),
            _ => {}
        }
    }

    pub fn to_json(&self) -> Value {
        let time = |t: Option<i64>| t.map_or(Value::Null, |n| Value::String(rfc3339_nano(n)));
        json!({
            "Events": self.events.iter().map(TaskEvent::to_json).collect::<Vec<_>>(),
            "Failed": self.failed,
            "FinishedAt": time(self.finished_at),
            "LastRestart": time(self.last_restart),
            "Paused": "",
            "Restarts": self.restarts,
            "StartedAt": time(self.started_at),
            "State": self.state,
        })
    }
}

/// `getClientStatus`: the alloc's client status and description from its task states.
pub fn client_status<'a>(states: impl Iterator<Item = &'a TaskState>) -> (String, String) {
    let (mut pending, mut running, mut dead, mut failed) = (false, false, false, false);
    for ts in states {
        match ts.state.as_str() {
            "running" => running = true,
            "pending" => pending = true,
            "dead" if ts.failed => failed = true,
            "dead" => dead = true,
            _ => {}
        }
    }
    let (s, d) = if failed {
        ("failed", "Failed tasks")
    } else if running {
        ("running", "Tasks are running")
    } else if pending {
        ("pending", "No tasks have started")
    } else if dead {
        ("complete", "All tasks have completed")
    } else {
        ("", "")
    };
    (s.into(), d.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarting_counts_and_describes() {
        let mut ts = TaskState::default();
        ts.append_event(
            TaskEvent::new("Restarting")
                .restart_delay(0)
                .restart_reason(""),
        );
        assert_eq!(ts.restarts, 1);
        assert_eq!(ts.events[0].display_message, "Task restarting in 0s");
        assert_eq!(ts.last_restart, Some(ts.events[0].time));
        ts.append_event(TaskEvent::new("Terminated").exit(137, 9));
        assert_eq!(ts.events[1].display_message, "Exit Code: 137, Signal: 9");
    }

    #[test]
    fn keeps_ten_events() {
        let mut ts = TaskState::default();
        for _ in 0..12 {
            ts.append_event(TaskEvent::new("Started"));
        }
        assert_eq!(ts.events.len(), 10);
    }
}
