//! The command-line source: one `--flag` per catalogue option, added to a clap command by a
//! hand-written [`clap::Args`] impl so the flags, their help and their defaults come from the
//! catalogue. Values stay text here and are parsed with the other sources, so a bad flag value
//! gets the same message as a bad file value, naming the flag.

use std::fmt;

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};

use super::catalog::{self, Kind, OPTIONS};
use super::source::{Layer, Origin, Raw};

/// The option flags given on the command line.
#[derive(Clone, Default)]
pub struct OptionFlags {
    layer: Layer,
}

impl OptionFlags {
    /// The flags as a source layer.
    pub fn layer(&self) -> &Layer {
        &self.layer
    }

    /// Flags given as `(path, text)` pairs, for tests and embedding without clap.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut layer = Layer::default();
        for (path, text) in pairs {
            if let Some(spec) = catalog::find(path) {
                layer.insert(
                    spec.path,
                    Raw::Text(text.to_string()),
                    Origin::Flag(spec.flag),
                );
            }
        }
        Self { layer }
    }
}

// Flags may carry tokens: show only how many were given.
impl fmt::Debug for OptionFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OptionFlags({} set)", self.layer.len())
    }
}

fn arg(spec: &'static catalog::OptionSpec) -> Arg {
    let arg = Arg::new(spec.path)
        .long(spec.flag)
        .value_name(spec.kind.value_name())
        .help(spec.help_text())
        .help_heading(catalog::heading(spec.path));
    let arg = match spec.path {
        "consul.address" => arg.visible_alias("consul-address"),
        "nomad.address" => arg.visible_alias("nomad-address"),
        _ => arg,
    };
    match spec.kind {
        // `--x` alone means true; `--x=false` overrides a file's true.
        Kind::Bool => arg
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true"),
        Kind::List => arg.action(ArgAction::Append).value_delimiter(','),
        _ => arg,
    }
}

impl Args for OptionFlags {
    fn augment_args(cmd: Command) -> Command {
        cmd.args(OPTIONS.iter().map(arg))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for OptionFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut layer = Layer::default();
        for spec in OPTIONS {
            let raw = if spec.kind == Kind::List {
                matches
                    .get_many::<String>(spec.path)
                    .map(|items| Raw::List(items.filter(|s| !s.is_empty()).cloned().collect()))
            } else {
                matches
                    .get_one::<String>(spec.path)
                    .map(|s| Raw::Text(s.clone()))
            };
            if let Some(raw) = raw {
                layer.insert(spec.path, raw, Origin::Flag(spec.flag));
            }
        }
        Ok(Self { layer })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}
