//! The command line: `shepard agent`, `shepard config check`, `shepard version` and the
//! operator commands `shepard status`, `shepard rollout …` (`operator::…Args`) and
//! `shepard gc` ([`GcArgs`]). The agent options come from the configuration catalogue
//! (`config::OptionFlags`), so every option of the HCL file is also a flag, documented with
//! its environment variable and default.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, ConfigError, EnvMap, OptionFlags, Resolved};

/// Coordinated, health-gated rolling restarts of Nomad tasks on configuration changes.
#[derive(Debug, Parser)]
#[command(name = "shepard", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the node agent (one per Nomad client).
    Agent(AgentArgs),
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Show every rollout and every managed allocation's phase.
    Status(crate::operator::StatusArgs),
    /// List, inspect, pause, resume, abort or watch rollouts.
    Rollout {
        #[command(subcommand)]
        command: crate::operator::RolloutCommand,
    },
    /// Run one garbage-collection pass over the whole prefix now, or list what it would
    /// delete and why (`--dry-run`).
    Gc(GcArgs),
    /// Print the version.
    Version,
}

/// `shepard gc`: the pass settings and the configuration (as for the agent).
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Delete nothing: print what a pass would delete and why
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document instead of one line per key (`-json` works too)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: AgentArgs,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration the agent would run with (file, environment and flags) and
    /// print it resolved, tokens redacted; exit 1 with every error otherwise.
    Check(AgentArgs),
}

/// The configuration file and every agent option.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// HCL configuration file [env: SHEPARD_CONFIG_PATH]
    #[arg(long, short = 'c', value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub options: OptionFlags,
}

impl AgentArgs {
    /// The resolved configuration: these flags over `env` over the file over the defaults.
    pub fn load(&self, env: &EnvMap) -> Result<Resolved, ConfigError> {
        let path = config::config_path(self.config.as_deref(), env);
        config::load(path.as_deref(), env, &self.options)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn gc_takes_dry_run_json_and_the_agent_options() {
        let args = crate::operator::normalize_json_flag(
            [
                "shepard",
                "gc",
                "--dry-run",
                "-json",
                "--consul-prefix",
                "x/",
            ]
            .map(std::ffi::OsString::from),
        );
        let cli = Cli::try_parse_from(args).unwrap();
        let Command::Gc(gc) = cli.command else {
            panic!("not gc")
        };
        assert!(gc.dry_run && gc.json);
        let c = gc.config.load(&EnvMap::new()).unwrap().config;
        assert_eq!(c.consul.prefix, "x/");
    }

    #[test]
    fn flags_reach_the_configuration() {
        let cli = Cli::try_parse_from([
            "shepard",
            "agent",
            "--consul-addr",
            "https://consul:8501",
            "--consul-tls-insecure-skip-verify",
            "--logs-meta-tags",
            "team,tier",
            "--logs-meta-tags=owner",
        ])
        .unwrap();
        let Command::Agent(args) = cli.command else {
            panic!("not agent")
        };
        let c = args.load(&EnvMap::new()).unwrap().config;
        assert_eq!(c.consul.address.to_string(), "https://consul:8501/");
        assert!(c.consul.tls.insecure_skip_verify);
        assert_eq!(c.logs.meta_tags, ["team", "tier", "owner"]);
    }
}
