//! The operator commands: `shepard status` and `shepard rollout list|show|pause|resume|abort|
//! watch`. They read shepard's records from Consul KV (with the agent's Consul options) and
//! change a rollout record's `state` by check-and-set on the index they read.
//!
//! - `args`: the command line; `target`: which rollout a command names.
//! - `view`: one KV listing → tasks, rollouts, allocation records, progress.
//! - `render`, `table`: the text output; JSON is the view serialized.
//! - `transition`: which state changes make sense (pure); `rollout_cmd`: the CAS write.
//! - `watch`: the live progress view on blocking queries.

mod args;
pub mod render;
pub mod rollout_cmd;
pub mod status;
pub mod table;
pub mod target;
pub mod transition;
pub mod view;
pub mod watch;

use std::io::Write;

pub use args::{ConsulArgs, RolloutCommand, StatusArgs, TargetArgs, normalize_json_flag};
use shepard_reconcilers::Prefix;

use crate::agent::clients::{self, ClientError};
use crate::api_metrics::ApiMetrics;
use crate::config::{ConfigError, EnvMap};
use crate::consul::{ConsulClient, ConsulError};

/// Why an operator command failed.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The configuration (file, environment, flags) is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The Consul client could not be built (token file, address, TLS files).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A Consul request failed.
    #[error(transparent)]
    Consul(#[from] ConsulError),
    /// The rollout argument is neither a task path nor a rollout ID.
    #[error("{target:?} names no rollout: {reason}")]
    BadTarget { target: String, reason: String },
    /// No rollout record exists for the task.
    #[error("no rollout record for {task} (key {key})")]
    NoRollout { task: String, key: String },
    /// No current rollout record has this ID.
    #[error("no current rollout has ID {0:?} (`shepard rollout list` shows them)")]
    NoSuchRolloutId(String),
    /// The rollout record is not valid JSON of a rollout.
    #[error("rollout record {key} is unreadable: {error}")]
    Unreadable { key: String, error: String },
    /// The operation makes no sense in the rollout's state.
    #[error("{task}: {source}")]
    Transition {
        task: String,
        #[source]
        source: transition::TransitionError,
    },
    /// Every attempt lost its check-and-set to a concurrent writer.
    #[error("{key} kept changing under {attempts} attempts to write it; try again")]
    CasConflict { key: String, attempts: u32 },
    /// Writing the output failed (a closed pipe, a full disk).
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    /// JSON output could not be encoded.
    #[error("cannot encode JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// How a command ended, beyond success: `rollout watch` reports a stuck or aborted rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done (for `watch`: the rollout completed).
    Done,
    /// `watch`: the rollout is stuck.
    Stuck,
    /// `watch`: the rollout was aborted.
    Aborted,
}

impl Outcome {
    /// The process exit status: 0, 2 (stuck) or 3 (aborted); errors are 1.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Done => 0,
            Outcome::Stuck => 2,
            Outcome::Aborted => 3,
        }
    }
}

/// A Consul client and the KV prefix, as the agent's configuration gives them.
#[derive(Clone)]
pub struct Connection {
    pub client: ConsulClient,
    pub prefix: Prefix,
}

impl Connection {
    /// Resolves the configuration like the agent and builds the client (the token file, if
    /// any, is read now).
    pub fn open(args: &ConsulArgs, env: &EnvMap) -> Result<Self, OperatorError> {
        let config = args.load(env)?.config;
        let client = clients::consul(&config, ApiMetrics::unregistered())?;
        Ok(Connection {
            client,
            prefix: Prefix::new(&config.consul.prefix),
        })
    }
}

/// Runs `shepard status`, printing to stdout.
pub fn run_status(args: &StatusArgs, env: &EnvMap) -> Result<Outcome, OperatorError> {
    let conn = Connection::open(&args.consul, env)?;
    block_on(async {
        let mut out = std::io::stdout().lock();
        status::status(&conn, args.json, &mut out).await?;
        out.flush()?;
        Ok(Outcome::Done)
    })
}

/// Runs `shepard rollout …`, printing to stdout.
pub fn run_rollout(command: &RolloutCommand, env: &EnvMap) -> Result<Outcome, OperatorError> {
    block_on(async {
        let mut out = std::io::stdout();
        rollout_cmd::run(command, env, &mut out).await
    })
}

fn block_on<T>(
    future: impl std::future::Future<Output = Result<T, OperatorError>>,
) -> Result<T, OperatorError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(future)
}

/// The wall clock as a record timestamp.
pub fn now() -> shepard_reconcilers::Timestamp {
    shepard_reconcilers::Timestamp::from_system_time(std::time::SystemTime::now())
}
