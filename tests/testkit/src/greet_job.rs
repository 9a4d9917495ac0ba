//! The greeter job of shepard's tests and demo, in Nomad's JSON job form: `count` allocations
//! of `greet`, a `noop` configuration template on one Consul key, the per-allocation trigger
//! template of shepard's opt-in, and an HTTP check.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

/// The trigger template's body, exactly as `deploy/examples/hello-world.nomad.hcl` has it: one
/// key per allocation, `keys/<node>/<namespace>/<job name>/<group>/<task>/<alloc_id>`.
pub const TRIGGER_TEMPLATE: &str = r#"{{ keyOrDefault (printf "shepard/keys/%s/%s/%s/%s/%s/%s" (env "node.unique.name") (env "NOMAD_NAMESPACE") (env "NOMAD_JOB_NAME") (env "NOMAD_GROUP_NAME") (env "NOMAD_TASK_NAME") (env "NOMAD_ALLOC_ID")) "" }}"#;

/// The legacy trigger template: `keys/<node>/<job name>/<group>/<task>/<alloc index>`, which a
/// replacement on the same node shares with the allocation it replaces.
pub const LEGACY_TRIGGER_TEMPLATE: &str = r#"{{ keyOrDefault (printf "shepard/keys/%s/%s/%s/%s/%s" (env "node.unique.name") (env "NOMAD_JOB_NAME") (env "NOMAD_GROUP_NAME") (env "NOMAD_TASK_NAME") (env "NOMAD_ALLOC_INDEX")) "" }}"#;

/// Knobs of the greeter job.
#[derive(Debug, Clone)]
pub struct GreetJob {
    pub id: String,
    /// Nomad namespace (`default`).
    pub namespace: String,
    pub count: u32,
    /// Consul key rendered into `local/config.yml`.
    pub config_key: String,
    /// `update.max_parallel`.
    pub max_parallel: u32,
    /// `update.min_healthy_time`.
    pub min_healthy_time: Duration,
    /// `update.healthy_deadline`.
    pub healthy_deadline: Duration,
    /// Opt in with the trigger template (`consul-key`); `false` leaves the task unmanaged.
    pub managed: bool,
    /// Use [`LEGACY_TRIGGER_TEMPLATE`] instead of [`TRIGGER_TEMPLATE`].
    pub legacy_trigger: bool,
    /// Extra task meta (e.g. `shepard_restart_method`).
    pub task_meta: Vec<(String, String)>,
    /// The HTTP check's interval.
    pub check_interval: Duration,
    /// The service is the group's (registered once per allocation, kept across task restarts)
    /// rather than the task's (registered again at every start).
    pub group_service: bool,
    /// The check's `initial_status` (`passing` makes a new registration pass before any run).
    pub check_initial_status: Option<String>,
    /// The task's `kill_timeout`.
    pub kill_timeout: Duration,
}

impl GreetJob {
    pub fn new(id: &str, count: u32, config_key: &str) -> Self {
        Self {
            id: id.into(),
            namespace: "default".into(),
            count,
            config_key: config_key.into(),
            max_parallel: 2,
            min_healthy_time: Duration::from_secs(2),
            healthy_deadline: Duration::from_secs(60),
            managed: true,
            legacy_trigger: false,
            task_meta: Vec::new(),
            check_interval: Duration::from_millis(500),
            group_service: false,
            check_initial_status: None,
            kill_timeout: Duration::from_secs(2),
        }
    }

    /// The job as `PUT /v1/jobs` takes it (inside `{"Job": …}`), running `greet_bin`.
    pub fn to_json(&self, greet_bin: &Path) -> Value {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let mut templates = vec![json!({
            "DestPath": "local/config.yml", "ChangeMode": "noop", "Splay": 0,
            "Wait": {"Min": 0, "Max": 0},
            "EmbeddedTmpl": format!("{{{{ key \"{}\" }}}}\n", self.config_key),
        })];
        if self.managed {
            let trigger = if self.legacy_trigger {
                LEGACY_TRIGGER_TEMPLATE
            } else {
                TRIGGER_TEMPLATE
            };
            templates.push(json!({
                "DestPath": "local/shepard.tpl", "ChangeMode": "restart", "Splay": 0,
                "Wait": {"Min": 0, "Max": 0}, "EmbeddedTmpl": trigger,
            }));
        }
        let meta: serde_json::Map<String, Value> = self
            .task_meta
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let mut check = json!({"Name": "greet-http", "Type": "http", "Path": "/",
                               "Interval": nanos(self.check_interval), "Timeout": 1_000_000_000});
        if let Some(status) = &self.check_initial_status {
            check["InitialStatus"] = json!(status);
        }
        let services = json!([{"Name": format!("{}-greeter", self.id), "PortLabel": "http",
                               "Checks": [check]}]);
        let (group_services, task_services) = if self.group_service {
            (services, Value::Null)
        } else {
            (Value::Null, services)
        };
        json!({
            "ID": self.id,
            "Name": self.id,
            "Namespace": self.namespace,
            "Type": "service",
            "Datacenters": ["dc1"],
            "TaskGroups": [{
                "Name": "greeter",
                "Count": self.count,
                "Networks": [{"DynamicPorts": [{"Label": "http"}]}],
                "Services": group_services,
                "RestartPolicy": {"Attempts": 3, "Interval": 60_000_000_000_u64,
                                  "Delay": 100_000_000, "Mode": "fail"},
                "Update": {
                    "MaxParallel": self.max_parallel,
                    "MinHealthyTime": nanos(self.min_healthy_time),
                    "HealthyDeadline": nanos(self.healthy_deadline),
                },
                "Tasks": [{
                    "Name": "greet",
                    "Driver": "raw_exec",
                    "Config": {"command": greet_bin.display().to_string(),
                               "args": ["-c", "${NOMAD_TASK_DIR}/config.yml"]},
                    "Meta": meta,
                    "KillTimeout": nanos(self.kill_timeout),
                    "LogConfig": {"MaxFiles": 2, "MaxFileSizeMB": 1},
                    "Templates": templates,
                    "Services": task_services
                }]
            }]
        })
    }
}

/// Registers `job` (Nomad's JSON job form) through `PUT /v1/jobs` at `nomad_addr`.
pub async fn submit_job(nomad_addr: &str, job: Value) {
    let response = reqwest::Client::new()
        .put(format!("{nomad_addr}/v1/jobs"))
        .json(&json!({ "Job": job }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("job register: {e}"));
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert!(status.is_success(), "job register failed: {status} {body}");
}
