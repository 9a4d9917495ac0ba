//! The job specification in Nomad's JSON form (`{"Job": {...}}` of `PUT /v1/jobs`), and the
//! same structs as `GET /v1/job/:id` returns them. Field names are Nomad's Go names; fields the
//! simulator does not act on are carried through as raw JSON (`null` when absent), so the
//! response has every field of the current server's structs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A string map that is `null` when unset (Go's nil map).
pub type Meta = Option<BTreeMap<String, String>>;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Job {
    pub affinities: Value,
    pub all_at_once: bool,
    pub constraints: Value,
    pub consul_namespace: String,
    pub create_index: u64,
    pub datacenters: Vec<String>,
    pub dispatch_idempotency_token: String,
    pub dispatched: bool,
    #[serde(rename = "ID")]
    pub id: String,
    pub job_modify_index: u64,
    pub meta: Meta,
    pub modify_index: u64,
    pub multiregion: Value,
    pub name: String,
    pub namespace: String,
    pub node_pool: String,
    #[serde(rename = "NomadTokenID")]
    pub nomad_token_id: String,
    pub parameterized_job: Value,
    #[serde(rename = "ParentID")]
    pub parent_id: String,
    pub payload: Value,
    pub periodic: Value,
    pub priority: i64,
    pub region: String,
    pub spreads: Value,
    pub stable: bool,
    pub status: String,
    pub status_description: String,
    pub stop: bool,
    pub submit_time: i64,
    pub task_groups: Vec<TaskGroup>,
    #[serde(rename = "Type")]
    pub job_type: String,
    #[serde(rename = "UI")]
    pub ui: Value,
    pub update: Option<UpdateStrategy>,
    pub vault_namespace: String,
    pub version: u64,
    pub version_tag: Value,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskGroup {
    pub affinities: Value,
    pub constraints: Value,
    pub consul: Value,
    pub count: Option<i64>,
    pub disconnect: Value,
    pub ephemeral_disk: Value,
    pub max_client_disconnect: Value,
    pub meta: Meta,
    pub migrate: Value,
    pub name: String,
    pub networks: Option<Vec<NetworkResource>>,
    pub prevent_reschedule_on_lost: bool,
    pub reschedule_policy: Value,
    pub restart_policy: Option<RestartPolicy>,
    pub scaling: Value,
    pub services: Option<Vec<Service>>,
    pub shutdown_delay: Value,
    pub spreads: Value,
    pub stop_after_client_disconnect: Value,
    pub tasks: Vec<Task>,
    pub update: Option<UpdateStrategy>,
    pub volumes: Value,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Task {
    pub actions: Value,
    pub affinities: Value,
    pub artifacts: Value,
    #[serde(rename = "CSIPluginConfig")]
    pub csi_plugin_config: Value,
    pub config: Option<BTreeMap<String, Value>>,
    pub constraints: Value,
    pub consul: Value,
    pub dispatch_payload: Value,
    pub driver: String,
    pub env: Meta,
    pub identities: Value,
    pub identity: Value,
    pub kill_signal: String,
    pub kill_timeout: Option<i64>,
    pub kind: String,
    pub leader: bool,
    pub lifecycle: Value,
    pub log_config: Option<LogConfig>,
    pub meta: Meta,
    pub name: String,
    pub resources: Value,
    pub restart_policy: Option<RestartPolicy>,
    pub scaling_policies: Value,
    pub schedule: Value,
    pub services: Option<Vec<Service>>,
    pub shutdown_delay: i64,
    pub templates: Option<Vec<Template>>,
    pub user: String,
    pub vault: Value,
    pub volume_mounts: Value,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Template {
    pub change_mode: String,
    pub change_script: Value,
    pub change_signal: String,
    pub dest_path: String,
    pub embedded_tmpl: String,
    pub envvars: bool,
    pub err_missing_key: bool,
    pub gid: Value,
    pub left_delim: String,
    pub once: bool,
    pub perms: String,
    pub right_delim: String,
    pub source_path: String,
    pub splay: Option<i64>,
    pub uid: Value,
    pub vault_grace: i64,
    pub wait: Option<WaitConfig>,
}

/// consul-template's quiescence timer; `null` in the job means the client's default.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct WaitConfig {
    pub max: Option<i64>,
    pub min: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateStrategy {
    pub auto_promote: Option<bool>,
    pub auto_revert: Option<bool>,
    pub canary: Option<i64>,
    pub health_check: Option<String>,
    pub healthy_deadline: Option<i64>,
    pub max_parallel: Option<i64>,
    pub min_healthy_time: Option<i64>,
    pub progress_deadline: Option<i64>,
    pub stagger: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    pub attempts: Option<i64>,
    pub delay: Option<i64>,
    pub interval: Option<i64>,
    pub mode: Option<String>,
    pub render_templates: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    pub disabled: bool,
    pub max_files: Option<i64>,
    #[serde(rename = "MaxFileSizeMB")]
    pub max_file_size_mb: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkResource {
    #[serde(rename = "CIDR")]
    pub cidr: String,
    #[serde(rename = "DNS")]
    pub dns: Value,
    pub device: String,
    pub dynamic_ports: Option<Vec<Port>>,
    pub hostname: String,
    #[serde(rename = "IP")]
    pub ip: String,
    #[serde(rename = "MBits")]
    pub mbits: i64,
    pub mode: String,
    pub reserved_ports: Option<Vec<Port>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Port {
    pub host_network: String,
    pub ignore_collision: bool,
    pub label: String,
    pub to: i64,
    pub value: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Service {
    pub address: String,
    pub address_mode: String,
    pub canary_meta: Meta,
    pub canary_tags: Option<Vec<String>>,
    pub checks: Option<Vec<ServiceCheck>>,
    pub cluster: String,
    pub connect: Value,
    pub enable_tag_override: bool,
    pub identity: Value,
    pub kind: String,
    pub meta: Meta,
    pub name: String,
    pub namespace: String,
    pub on_update: String,
    pub port_label: String,
    pub provider: String,
    pub tagged_addresses: Value,
    pub tags: Option<Vec<String>>,
    pub task_name: String,
    pub weights: Value,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceCheck {
    pub address_mode: String,
    pub args: Value,
    pub body: String,
    pub check_restart: Value,
    pub command: String,
    pub expose: bool,
    pub failures_before_critical: i64,
    pub failures_before_warning: i64,
    #[serde(rename = "GRPCService")]
    pub grpc_service: String,
    #[serde(rename = "GRPCUseTLS")]
    pub grpc_use_tls: bool,
    pub header: Value,
    pub initial_status: String,
    pub interval: i64,
    pub method: String,
    pub name: String,
    pub notes: String,
    pub on_update: String,
    pub path: String,
    pub port_label: String,
    pub protocol: String,
    pub success_before_passing: i64,
    #[serde(rename = "TLSServerName")]
    pub tls_server_name: String,
    #[serde(rename = "TLSSkipVerify")]
    pub tls_skip_verify: bool,
    pub task_name: String,
    pub timeout: i64,
    #[serde(rename = "Type")]
    pub check_type: String,
}

impl Job {
    /// The job as `GET /v1/job/:id` shows it (NetworkResource and Port with omitempty).
    pub fn to_json(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(Value::Array(groups)) = value.get_mut("TaskGroups") {
            for group in groups.iter_mut() {
                if let Some(networks) = group.get_mut("Networks") {
                    crate::encode::omit_empty_networks(networks);
                }
            }
        }
        value
    }

    pub fn group(&self, name: &str) -> Option<&TaskGroup> {
        self.task_groups.iter().find(|g| g.name == name)
    }

    /// Whether two versions differ in what the user specified (indexes, status and
    /// bookkeeping fields ignored), i.e. whether a re-registration changes anything.
    pub fn spec_equals(&self, other: &Job) -> bool {
        let strip = |job: &Job| {
            let mut j = job.clone();
            j.create_index = 0;
            j.modify_index = 0;
            j.job_modify_index = 0;
            j.version = 0;
            j.submit_time = 0;
            j.status = String::new();
            j.stable = false;
            j
        };
        strip(self) == strip(other)
    }
}

impl TaskGroup {
    pub fn count(&self) -> i64 {
        self.count.unwrap_or(1)
    }

    /// All ports of the group's networks, reserved (static) and dynamic, with whether each is
    /// dynamic.
    pub fn ports(&self) -> Vec<(Port, bool)> {
        let mut out = Vec::new();
        for net in self.networks.iter().flatten() {
            for p in net.reserved_ports.iter().flatten() {
                out.push((p.clone(), false));
            }
            for p in net.dynamic_ports.iter().flatten() {
                out.push((p.clone(), true));
            }
        }
        out
    }
}
