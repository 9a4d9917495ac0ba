//! The restart tracker (client/allocrunner/taskrunner/restarts): decides after a task exit
//! whether to restart, with what delay and reason, following the RestartPolicy (`Attempts`
//! within `Interval`, `Delay` plus up to 25 % jitter, `Mode` fail or delay).

use std::time::{Duration, Instant};

use crate::clock::go_duration;
use crate::ids::random_below;
use crate::model::job::RestartPolicy;

pub const REASON_WITHIN_POLICY: &str = "Restart within policy";
pub const REASON_NO_RESTARTS: &str = "Policy allows no restarts";
pub const REASON_DELAY: &str = "Exceeded allowed attempts, applying a delay";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Restart {
        delay: Duration,
        reason: String,
    },
    /// Dead and failed (`Not Restarting`).
    Fail {
        reason: String,
    },
}

pub struct RestartTracker {
    attempts: i64,
    interval: Duration,
    delay: Duration,
    mode: String,
    count: i64,
    start: Instant,
}

impl RestartTracker {
    pub fn new(policy: &RestartPolicy) -> Self {
        let ns = |v: Option<i64>| Duration::from_nanos(v.unwrap_or(0).max(0) as u64);
        Self {
            attempts: policy.attempts.unwrap_or(2),
            interval: ns(policy.interval),
            delay: ns(policy.delay),
            mode: policy.mode.clone().unwrap_or_else(|| "fail".into()),
            count: 0,
            start: Instant::now(),
        }
    }

    /// After an unrequested exit (service jobs restart even on exit code 0).
    pub fn on_exit(&mut self) -> Decision {
        if self.attempts == 0 {
            return Decision::Fail {
                reason: REASON_NO_RESTARTS.into(),
            };
        }
        let now = Instant::now();
        if now > self.start + self.interval {
            self.count = 0;
            self.start = now;
        }
        self.count += 1;
        if self.count > self.attempts {
            if self.mode == "fail" {
                return Decision::Fail {
                    reason: format!(
                        "Exceeded allowed attempts {} in interval {} and mode is \"fail\"",
                        self.attempts,
                        go_duration(self.interval.as_nanos() as i64)
                    ),
                };
            }
            return Decision::Restart {
                delay: (self.start + self.interval).saturating_duration_since(now),
                reason: REASON_DELAY.into(),
            };
        }
        let d = (self.delay.as_nanos() as u64).max(1);
        let jitter = random_below(d) / 4;
        Decision::Restart {
            delay: Duration::from_nanos(d + jitter),
            reason: REASON_WITHIN_POLICY.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fails_after_attempts() {
        let mut t = RestartTracker::new(&RestartPolicy {
            attempts: Some(1),
            delay: Some(1_000_000),
            interval: Some(60_000_000_000),
            mode: Some("fail".into()),
            render_templates: None,
        });
        assert!(matches!(t.on_exit(), Decision::Restart { .. }));
        assert_eq!(
            t.on_exit(),
            Decision::Fail {
                reason: "Exceeded allowed attempts 1 in interval 1m0s and mode is \"fail\"".into()
            }
        );
    }
}
