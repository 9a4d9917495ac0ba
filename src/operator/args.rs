//! The operator commands' command line: `shepard status` and `shepard rollout …`, the Consul
//! connection options they share with the agent (`--config` and the catalogue's `consul.*`
//! options, so the same file, environment variables and flags work), and the rollout target
//! argument.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches, Subcommand};

use crate::config::catalog::{self, Kind, OPTIONS, OptionSpec};
use crate::config::{self, ConfigError, EnvMap, OptionFlags, Resolved};

/// Agent options that say nothing about reaching Consul or where the keys are.
const AGENT_ONLY: &[&str] = &["consul.session_ttl", "consul.lock_delay"];

/// The catalogue options an operator command takes: how to reach Consul and the KV prefix.
fn consul_options() -> impl Iterator<Item = &'static OptionSpec> {
    OPTIONS
        .iter()
        .filter(|o| o.path.starts_with("consul.") && !AGENT_ONLY.contains(&o.path))
}

/// How an operator command reaches Consul: the agent's configuration file and its Consul
/// options (address, token, prefix, TLS), with the agent's precedence.
#[derive(Clone, Default)]
pub struct ConsulArgs {
    /// `--config`, else `SHEPARD_CONFIG_PATH`.
    pub config: Option<PathBuf>,
    flags: Vec<(&'static str, String)>,
}

impl ConsulArgs {
    /// Consul options given as `(path, text)` pairs, as the flags would give them.
    pub fn from_pairs(config: Option<PathBuf>, pairs: &[(&'static str, &str)]) -> Self {
        Self {
            config,
            flags: pairs.iter().map(|(p, v)| (*p, (*v).to_owned())).collect(),
        }
    }

    /// The resolved configuration: these flags over `env` over the file over the defaults.
    pub fn load(&self, env: &EnvMap) -> Result<Resolved, ConfigError> {
        let path = config::config_path(self.config.as_deref(), env);
        let flags = OptionFlags::from_pairs(self.flags.iter().map(|(p, v)| (*p, v.as_str())));
        config::load(path.as_deref(), env, &flags)
    }
}

// Flags may carry a token: show only which options were given.
impl fmt::Debug for ConsulArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let given: Vec<&str> = self.flags.iter().map(|(p, _)| *p).collect();
        f.debug_struct("ConsulArgs")
            .field("config", &self.config)
            .field("flags", &given)
            .finish()
    }
}

const CONFIG_ARG: &str = "config";

impl Args for ConsulArgs {
    fn augment_args(cmd: Command) -> Command {
        let config = Arg::new(CONFIG_ARG)
            .long("config")
            .short('c')
            .value_name("PATH")
            .value_parser(clap::value_parser!(PathBuf))
            .help("HCL configuration file of the agent [env: SHEPARD_CONFIG_PATH]")
            .help_heading("Consul");
        cmd.arg(config).args(consul_options().map(|spec| {
            let arg = Arg::new(spec.path)
                .long(spec.flag)
                .value_name(spec.kind.value_name())
                .help(spec.help_text())
                .help_heading(catalog::heading(spec.path));
            let arg = if spec.path == "consul.address" {
                arg.visible_alias("consul-address")
            } else {
                arg
            };
            match spec.kind {
                Kind::Bool => arg
                    .num_args(0..=1)
                    .require_equals(true)
                    .default_missing_value("true"),
                _ => arg.action(ArgAction::Set),
            }
        }))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for ConsulArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let flags = consul_options()
            .filter_map(|spec| {
                matches
                    .get_one::<String>(spec.path)
                    .map(|v| (spec.path, v.clone()))
            })
            .collect();
        Ok(Self {
            config: matches.get_one::<PathBuf>(CONFIG_ARG).cloned(),
            flags,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

/// `shepard status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of tables (`-json` works too)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub consul: ConsulArgs,
}

/// `shepard rollout …`.
#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// One line per rollout.
    List {
        /// Print JSON instead of a table (`-json` works too)
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        consul: ConsulArgs,
    },
    /// A rollout record and the phase of each of its task's allocations.
    Show {
        #[command(flatten)]
        target: TargetArgs,
        /// Print JSON instead of text (`-json` works too)
        #[arg(long)]
        json: bool,
    },
    /// Pause a rollout: restarts in flight finish, no new one starts.
    Pause(TargetArgs),
    /// Resume a paused, planned or stuck rollout. A stuck rollout goes on without its stuck
    /// allocations: their restarts give up their slots and this rollout leaves them alone.
    Resume(TargetArgs),
    /// Abort a rollout: restarts in flight give up their slots and nothing new starts until
    /// the next configuration change.
    Abort(TargetArgs),
    /// Follow a rollout live: a progress line per change and a line per allocation phase
    /// change. Exits 0 when it completes, 2 when it is stuck, 3 when it is aborted.
    Watch {
        #[command(flatten)]
        target: TargetArgs,
        /// Ignore a rollout that is already complete or aborted and follow the next one
        #[arg(long)]
        next: bool,
    },
}

/// The rollout a command acts on, and how to reach Consul.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The rollout's task as NAMESPACE/JOB/GROUP/TASK (names may be percent-escaped), or a
    /// rollout ID
    #[arg(value_name = "TASK|ROLLOUT_ID")]
    pub target: String,
    #[command(flatten)]
    pub consul: ConsulArgs,
}

/// The command line with HashiCorp's single-dash `-json` spelled `--json`, as clap expects.
pub fn normalize_json_flag(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|a| if a == "-json" { "--json".into() } else { a })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connection_options_are_offered() {
        let paths: Vec<&str> = consul_options().map(|o| o.path).collect();
        assert!(paths.contains(&"consul.address"));
        assert!(paths.contains(&"consul.prefix"));
        assert!(paths.contains(&"consul.tls.ca_file"));
        assert!(!paths.contains(&"consul.session_ttl"));
        assert!(paths.iter().all(|p| p.starts_with("consul.")));
    }

    #[test]
    fn single_dash_json_becomes_double_dash() {
        let args = normalize_json_flag(["shepard", "status", "-json"].map(OsString::from));
        assert_eq!(args[2], "--json");
    }
}
