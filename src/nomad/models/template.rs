//! `Template`: a task's `template` block. shepard finds its trigger template (`DestPath`
//! ending in `shepard.tpl`) and its watched templates (`ChangeMode` `noop`) here.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;
use super::string_enum::string_enum;

string_enum! {
    /// `Template.ChangeMode`: what the client does after re-rendering.
    pub enum ChangeMode {
        Noop = "noop",
        Signal = "signal",
        Restart = "restart",
        Script = "script",
    }
}

/// Nomad's default (`DefaultTemplate`) when a jobspec leaves `change_mode` out.
impl Default for ChangeMode {
    fn default() -> Self {
        Self::Restart
    }
}

/// `Template`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Template {
    pub source_path: String,
    /// Relative to the task dir, e.g. `local/config.yml`.
    pub dest_path: String,
    pub embedded_tmpl: String,
    pub change_mode: ChangeMode,
    pub change_signal: String,
    /// Random delay before acting on a change, up to this long.
    #[serde(with = "duration::nanos")]
    pub splay: Duration,
    /// Octal file mode as a string, e.g. `0644`.
    pub perms: String,
    pub uid: Option<i64>,
    pub gid: Option<i64>,
    pub left_delim: String,
    pub right_delim: String,
    pub envvars: bool,
    pub once: bool,
    pub err_missing_key: bool,
    /// Quiescence timer; `None` means the client's default.
    pub wait: Option<WaitConfig>,
}

/// `WaitConfig`: consul-template's quiescence timer (`wait { min max }`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct WaitConfig {
    #[serde(with = "duration::nanos_or_null")]
    pub min: Option<Duration>,
    #[serde(with = "duration::nanos_or_null")]
    pub max: Option<Duration>,
}

impl Template {
    /// The file name the template renders to (the last segment of `DestPath`).
    pub fn dest_file_name(&self) -> &str {
        self.dest_path.rsplit('/').next().unwrap_or(&self.dest_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_change_mode_is_restart_and_wait_decodes() {
        let t: Template =
            serde_json::from_str(r#"{"DestPath":"local/shepard.tpl","Wait":{"Min":0,"Max":null}}"#)
                .unwrap();
        assert_eq!(t.change_mode, ChangeMode::Restart);
        assert_eq!(t.dest_file_name(), "shepard.tpl");
        assert_eq!(
            t.wait,
            Some(WaitConfig {
                min: Some(Duration::ZERO),
                max: None
            })
        );
    }
}
