//! `Service` and `ServiceCheck` (group and task level): the checks whose Consul status
//! decides whether a restarted allocation is healthy again.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{duration, nullable};

/// `Service`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Service {
    pub name: String,
    /// Set on group services that belong to one task.
    pub task_name: String,
    pub port_label: String,
    pub address_mode: String,
    pub address: String,
    #[serde(deserialize_with = "nullable::default")]
    pub tags: Vec<String>,
    #[serde(deserialize_with = "nullable::default")]
    pub checks: Vec<ServiceCheck>,
    #[serde(deserialize_with = "nullable::default")]
    pub meta: BTreeMap<String, String>,
    /// `consul` (also when empty) or `nomad`.
    pub provider: String,
    pub on_update: String,
    pub enable_tag_override: bool,
}

/// `ServiceCheck`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ServiceCheck {
    pub name: String,
    /// `http`, `tcp`, `script`, `grpc`.
    #[serde(rename = "Type")]
    pub check_type: String,
    pub command: String,
    #[serde(deserialize_with = "nullable::default")]
    pub args: Vec<String>,
    pub path: String,
    pub protocol: String,
    pub port_label: String,
    pub address_mode: String,
    #[serde(with = "duration::nanos")]
    pub interval: Duration,
    #[serde(with = "duration::nanos")]
    pub timeout: Duration,
    pub initial_status: String,
    pub method: String,
    #[serde(rename = "TLSSkipVerify")]
    pub tls_skip_verify: bool,
    pub task_name: String,
    pub on_update: String,
    pub success_before_passing: u32,
    pub failures_before_critical: u32,
    pub failures_before_warning: u32,
    pub check_restart: Option<CheckRestart>,
}

/// `CheckRestart`: the client restarts the task after `Limit` failing checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CheckRestart {
    pub limit: u32,
    #[serde(with = "duration::nanos")]
    pub grace: Duration,
    pub ignore_warnings: bool,
}
