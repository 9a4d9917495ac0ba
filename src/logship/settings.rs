//! What the log shipper runs with: the `logs { … }` block of the agent's configuration plus
//! the agent-level options it uses (`ship_log_interval`, `data_dir`, `shutdown_timeout`) and
//! the tunables that have no option of their own.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Config, LogsConfig};

/// How often tailers look for new data when there was none.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Backoff between attempts to ship a batch to a sink that failed: exponential with jitter
/// from `min` to `max`, without end — lines are never dropped for a sink being down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub min: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            min: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ShipperSettings {
    pub logs: LogsConfig,
    /// A batch ships at least this often (sooner when `max_batch_bytes` is reached).
    pub ship_log_interval: Duration,
    /// Where the checkpoint file lives (the agent's `data_dir`).
    pub state_dir: PathBuf,
    pub poll_interval: Duration,
    pub retry: RetryPolicy,
    /// At shutdown, lines already read are shipped for at most this long; what is left is
    /// read again at the next start (checkpoints only cover acknowledged lines).
    pub shutdown_grace: Duration,
}

impl ShipperSettings {
    pub fn new(logs: LogsConfig, ship_log_interval: Duration, state_dir: PathBuf) -> Self {
        Self {
            logs,
            ship_log_interval,
            state_dir,
            poll_interval: DEFAULT_POLL_INTERVAL,
            retry: RetryPolicy::default(),
            shutdown_grace: Duration::from_secs(5),
        }
    }

    /// The settings of the agent's configuration.
    pub fn from_config(config: &Config) -> Self {
        Self {
            shutdown_grace: config.shutdown_timeout,
            ..Self::new(
                config.logs.clone(),
                config.ship_log_interval,
                config.data_dir.clone(),
            )
        }
    }

    pub(crate) fn max_line_bytes(&self) -> usize {
        usize::try_from(self.logs.max_line_bytes).unwrap_or(usize::MAX)
    }

    pub(crate) fn max_batch_bytes(&self) -> usize {
        usize::try_from(self.logs.max_batch_bytes).unwrap_or(usize::MAX)
    }

    pub(crate) fn memory_limit(&self) -> usize {
        usize::try_from(self.logs.memory_limit).unwrap_or(usize::MAX)
    }
}
