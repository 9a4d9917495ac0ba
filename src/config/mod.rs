//! The agent's configuration: an HCL file (`--config` or `SHEPARD_CONFIG_PATH`), environment
//! variables (HashiCorp's `CONSUL_*` / `NOMAD_*` and `SHEPARD_*`) and flags, resolved with
//! the precedence flag > environment > file > default into a validated [`Config`].
//!
//! Every option is described once, in [`catalog::OPTIONS`]; the file parser, the environment
//! reader, the clap flags and `--help`, the defaults and `shepard config check` all read it.
//! Every error names the option by its dotted path and says where the bad value came from.

pub mod address;
mod build;
pub mod catalog;
mod env;
mod error;
mod file;
mod flags;
mod model;
mod render;
mod resolve;
pub mod source;
mod suggest;
mod validate;
mod value;

use std::path::{Path, PathBuf};

pub use address::{ApiAddress, SyslogAddress};
pub use env::{CONFIG_PATH_ENV, EnvMap, process_env};
pub use error::{ConfigError, Problem};
pub use flags::OptionFlags;
pub use model::{
    AclToken, Config, ConsulConfig, FileSink, HttpSink, LOG_TAGS, LogFormat, LogsConfig, LokiSink,
    NomadConfig, RestartDefaults, RestartMethod, SyslogSink, TokenFileError,
};
pub use resolve::{Resolved, ResolvedValue};
pub use validate::{LOCK_DELAY_MAX, SESSION_TTL_MAX, SESSION_TTL_MIN};

use source::Layer;

/// The configuration file to read: `--config` when given, else `SHEPARD_CONFIG_PATH` when set
/// and not empty, else none (defaults, environment and flags only).
pub fn config_path(flag: Option<&Path>, env: &EnvMap) -> Option<PathBuf> {
    flag.map(Path::to_path_buf).or_else(|| {
        env.get(CONFIG_PATH_ENV)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    })
}

/// Loads the configuration: reads the file named by `config_file` (see [`config_path`]), then
/// resolves it with `env` and `flags`.
pub fn load(
    config_file: Option<&Path>,
    env: &EnvMap,
    flags: &OptionFlags,
) -> Result<Resolved, ConfigError> {
    let text = match config_file {
        Some(path) => Some((
            path.display().to_string(),
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?,
        )),
        None => None,
    };
    let file = text
        .as_ref()
        .map(|(name, text)| (name.as_str(), text.as_str()));
    resolve_str(file, env, flags)
}

/// Resolves a configuration whose file content is given as `(name, text)`; `name` is how
/// messages refer to the file.
pub fn resolve_str(
    file: Option<(&str, &str)>,
    env: &EnvMap,
    flags: &OptionFlags,
) -> Result<Resolved, ConfigError> {
    let (file_layer, early) = match file {
        Some((name, text)) => file::parse(name, text)?,
        None => (Layer::default(), Vec::new()),
    };
    resolve::resolve(flags.layer(), &env::layer(env), &file_layer, early)
}

impl Resolved {
    /// Reads the token files now, so a missing or empty one is reported at start-up (and by
    /// `shepard config check`) with the option that names it.
    pub fn check_token_files(&self) -> Result<(), ConfigError> {
        let tokens = [
            ("consul.token_file", &self.config.consul.token),
            ("nomad.token_file", &self.config.nomad.token),
        ];
        let problems: Vec<Problem> = tokens
            .into_iter()
            .filter_map(|(path, token)| {
                token.load().err().map(|e| Problem {
                    option: path.to_string(),
                    origin: self.origin(path),
                    message: e.to_string(),
                })
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }
}
