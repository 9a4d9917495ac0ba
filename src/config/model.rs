//! The resolved configuration the agent runs with: every value typed, defaulted and
//! validated. `Debug` is safe to log: tokens are [`Secret`]s.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::address::{ApiAddress, SyslogAddress};
use crate::secret::Secret;
use crate::tls::TlsConfig;

/// Everything `shepard agent` is configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Address of the `/metrics`, `/healthz`, `/readyz` server.
    pub listen: SocketAddr,
    /// `tracing` filter directives (`RUST_LOG` wins when set).
    pub log_level: String,
    pub log_format: LogFormat,
    /// Local state (log-shipping checkpoints).
    pub data_dir: PathBuf,
    /// Period of the full resync of every reconciler's keys.
    pub resync_interval: Duration,
    /// Keys of nodes down or gone this long are garbage-collected.
    pub node_cleanup_timeout: Duration,
    /// Finished rollout records are kept this long.
    pub rollout_history: Duration,
    /// Task log lines are shipped at this interval.
    pub ship_log_interval: Duration,
    /// Time allowed for a clean exit on SIGINT/SIGTERM.
    pub shutdown_timeout: Duration,
    pub consul: ConsulConfig,
    pub nomad: NomadConfig,
    pub defaults: RestartDefaults,
    pub logs: LogsConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// How to reach Consul and where shepard's keys live.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsulConfig {
    /// API base; its path ends with `/`.
    pub address: ApiAddress,
    pub token: AclToken,
    /// KV prefix, never empty, no leading `/`, always ending with `/`.
    pub prefix: String,
    /// Session TTL, 10 s to 24 h.
    pub session_ttl: Duration,
    /// Session lock delay, at most 60 s.
    pub lock_delay: Duration,
    pub tls: TlsConfig,
}

/// How to reach the local Nomad agent.
#[derive(Debug, Clone, PartialEq)]
pub struct NomadConfig {
    /// API base; its path ends with `/`.
    pub address: ApiAddress,
    pub token: AclToken,
    pub region: Option<String>,
    pub namespace: Option<String>,
    /// Overrides the alloc dir reported by the Nomad agent (when shepard sees it elsewhere).
    pub alloc_dir: Option<PathBuf>,
    pub tls: TlsConfig,
}

/// Where an ACL token comes from. A file is read when a client is built (and may be read
/// again later, so a rotated token is picked up), not when the configuration is loaded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AclToken {
    /// No token: requests are anonymous.
    #[default]
    None,
    /// The token itself.
    Inline(Secret),
    /// A file holding the token (surrounding whitespace ignored).
    File(PathBuf),
}

/// Why a token file could not provide a token.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file could not be read.
    #[error("cannot read token file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file holds only whitespace; usually a token that has not been rendered yet.
    #[error("token file {} is empty", path.display())]
    Empty { path: PathBuf },
}

impl AclToken {
    /// The token to send, reading the file when there is one.
    pub fn load(&self) -> Result<Option<Secret>, TokenFileError> {
        match self {
            AclToken::None => Ok(None),
            AclToken::Inline(secret) => Ok(Some(secret.clone())),
            AclToken::File(path) => read_token_file(path).map(Some),
        }
    }
}

fn read_token_file(path: &Path) -> Result<Secret, TokenFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(TokenFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(Secret::new(token))
}

/// Per-task knobs used when neither the task's meta nor its group's `update` block sets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartDefaults {
    /// At least 1.
    pub max_parallel: u32,
    pub min_healthy_time: Duration,
    /// Greater than `min_healthy_time`.
    pub healthy_deadline: Duration,
    pub restart_method: RestartMethod,
}

/// How shepard makes Nomad restart a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartMethod {
    /// Write a new value to the task's `keys/…` trigger key (its `shepard.tpl` re-renders).
    ConsulKey,
    /// `POST /v1/client/allocation/:id/restart` (needs `alloc-lifecycle`).
    NomadApi,
}

impl RestartMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            RestartMethod::ConsulKey => "consul-key",
            RestartMethod::NomadApi => "nomad-api",
        }
    }
}

/// Log shipping: common limits and the sinks (a sink is on when its address is set).
#[derive(Debug, Clone, PartialEq)]
pub struct LogsConfig {
    /// Task meta keys added as tags.
    pub meta_tags: Vec<String>,
    pub max_line_bytes: u64,
    pub max_batch_bytes: u64,
    /// Memory all tailers together may hold.
    pub memory_limit: u64,
    pub file: Option<FileSink>,
    pub syslog: Option<SyslogSink>,
    pub loki: Option<LokiSink>,
    pub http: Option<HttpSink>,
}

impl LogsConfig {
    /// Whether any sink is configured (otherwise the logs reconciler has nothing to do).
    pub fn any_sink(&self) -> bool {
        self.file.is_some() || self.syslog.is_some() || self.loki.is_some() || self.http.is_some()
    }
}

/// JSON lines into a local file with size-based rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSink {
    pub path: PathBuf,
    pub max_file_size: u64,
    pub max_files: u32,
    /// Whole blocks written with `O_DIRECT`, past the page cache.
    pub direct_io: bool,
}

/// RFC 5424 over TCP with octet counting (RFC 6587), TLS when the address says `tls://`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogSink {
    pub address: SyslogAddress,
    pub tls: TlsConfig,
}

/// Loki's push API.
#[derive(Debug, Clone, PartialEq)]
pub struct LokiSink {
    /// The push URL itself (`…/loki/api/v1/push`).
    pub url: ApiAddress,
    pub tenant_id: Option<String>,
    pub token: Option<Secret>,
    /// Tag names sent as stream labels.
    pub labels: Vec<String>,
    pub tls: TlsConfig,
}

/// Newline-delimited JSON POSTed to a URL.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSink {
    pub url: ApiAddress,
    pub token: Option<Secret>,
    pub tls: TlsConfig,
}

/// Tag names every shipped line carries; `logs.loki.labels` may pick among these and
/// `logs.meta_tags`.
pub const LOG_TAGS: &[&str] = &[
    "node",
    "datacenter",
    "namespace",
    "job",
    "group",
    "task",
    "alloc_id",
    "alloc_index",
    "stream",
];
