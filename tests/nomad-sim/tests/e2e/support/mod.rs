//! The test world: a real Consul dev agent, a real `nomad-sim` process against it, and small
//! HTTP helpers for both. Waiting is always polling with a deadline.

pub mod shape;

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use shepard_testkit::poll::until_async;
use shepard_testkit::{ConsulDev, NomadSim};

pub const DEADLINE: Duration = Duration::from_secs(20);
pub const TICK: Duration = Duration::from_millis(25);

pub struct World {
    pub consul: ConsulDev,
    pub sim: NomadSim,
    pub http: reqwest::Client,
}

pub struct Got {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Got {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn index(&self) -> u64 {
        self.header("X-Nomad-Index")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no X-Nomad-Index in {:?}", self.headers))
    }
}

/// The `greet` binary built with this package.
pub fn greet_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_greet"))
}

impl World {
    pub fn start(nodes: usize) -> Self {
        let consul = ConsulDev::start();
        let sim = NomadSim::start(
            std::path::Path::new(env!("CARGO_BIN_EXE_nomad-sim")),
            &consul.http_addr(),
            nodes,
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Self { consul, sim, http }
    }

    /// GET on node 0's port (every port serves the whole cluster API).
    pub async fn get(&self, path: &str) -> Got {
        self.get_at(self.sim.addr(), path).await
    }

    pub async fn get_at(&self, base: &str, path: &str) -> Got {
        let response = self
            .http
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        Got {
            status,
            headers,
            text,
        }
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Got {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.sim.addr()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        Got {
            status,
            headers,
            text,
        }
    }

    pub async fn submit(&self, job: Value) {
        let got = self
            .send(
                reqwest::Method::PUT,
                "/v1/jobs",
                Some(json!({ "Job": job })),
            )
            .await;
        assert_eq!(got.status, 200, "job register failed: {}", got.text);
    }

    pub async fn kv_put(&self, key: &str, value: &str) {
        let url = format!("{}/v1/kv/{key}", self.consul.http_addr());
        let response = self
            .http
            .put(url)
            .body(value.to_string())
            .send()
            .await
            .expect("kv put");
        assert_eq!(response.text().await.expect("body").trim(), "true");
    }

    pub async fn job_allocs(&self, job: &str) -> Vec<Value> {
        let got = self.get(&format!("/v1/job/{job}/allocations")).await;
        got.json().as_array().cloned().unwrap_or_default()
    }

    /// Waits until `count` allocs of the job have every task running.
    pub async fn wait_running(&self, job: &str, count: usize) -> Vec<Value> {
        until_async("allocations running", DEADLINE, TICK, || async {
            let allocs = self.job_allocs(job).await;
            let running: Vec<Value> = allocs
                .into_iter()
                .filter(|a| a["ClientStatus"] == "running" && a["DesiredStatus"] == "run")
                .collect();
            (running.len() == count).then_some(running)
        })
        .await
    }

    /// `/v1/agent/services` of the Consul agent.
    pub async fn consul_services(&self) -> serde_json::Map<String, Value> {
        let url = format!("{}/v1/agent/services", self.consul.http_addr());
        let v: Value = self
            .http
            .get(url)
            .send()
            .await
            .expect("services")
            .json()
            .await
            .expect("json");
        v.as_object().cloned().unwrap_or_default()
    }

    /// Status of every check of one service ID (`/v1/agent/checks`).
    pub async fn check_statuses(&self, service_id: &str) -> Vec<String> {
        let url = format!("{}/v1/agent/checks", self.consul.http_addr());
        let v: Value = self
            .http
            .get(url)
            .send()
            .await
            .expect("checks")
            .json()
            .await
            .expect("json");
        v.as_object()
            .map(|m| {
                m.values()
                    .filter(|c| c["ServiceID"] == service_id)
                    .map(|c| c["Status"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub async fn sim_events(&self) -> Vec<Value> {
        self.get("/sim/events")
            .await
            .json()
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// The shepard seed's greet job: `count` allocs, a `noop` config template from `config_key`
/// and the per-alloc `restart` trigger template of shepard's design, an http service check.
pub fn greet_job(id: &str, count: u32, config_key: &str) -> Value {
    let trigger = r#"{{ keyOrDefault (printf "shepard/keys/%s/%s/%s/%s/%s/%s" (env "node.unique.name") (env "NOMAD_NAMESPACE") (env "NOMAD_JOB_NAME") (env "NOMAD_GROUP_NAME") (env "NOMAD_TASK_NAME") (env "NOMAD_ALLOC_ID")) "" }}"#;
    json!({
        "ID": id,
        "Name": id,
        "Type": "service",
        "Datacenters": ["dc1"],
        "Meta": {"owner": "tests"},
        "TaskGroups": [{
            "Name": "web",
            "Count": count,
            "Meta": {"tier": "front"},
            "Networks": [{"DynamicPorts": [{"Label": "http"}]}],
            "RestartPolicy": {"Attempts": 3, "Interval": 60_000_000_000_i64,
                              "Delay": 100_000_000, "Mode": "fail"},
            "Update": {"MaxParallel": 1, "MinHealthyTime": 1_000_000_000},
            "Tasks": [{
                "Name": "greet",
                "Driver": "raw_exec",
                "Config": {"command": greet_bin().display().to_string(),
                           "args": ["-c", "${NOMAD_TASK_DIR}/config.yml"]},
                "Meta": {"shepard_max_parallel": "1"},
                "KillTimeout": 2_000_000_000,
                "LogConfig": {"MaxFiles": 2, "MaxFileSizeMB": 1},
                "Templates": [
                    {"DestPath": "local/config.yml", "ChangeMode": "noop", "Splay": 0,
                     "Wait": {"Min": 0, "Max": 0},
                     "EmbeddedTmpl": format!("{{{{ key \"{config_key}\" }}}}\n")},
                    {"DestPath": "local/shepard.tpl", "ChangeMode": "restart", "Splay": 0,
                     "Wait": {"Min": 0, "Max": 0}, "EmbeddedTmpl": trigger}
                ],
                "Services": [{"Name": "greet", "PortLabel": "http", "Tags": ["demo"],
                    "Checks": [{"Name": "greet-http", "Type": "http", "Path": "/",
                                "Interval": 1_000_000_000, "Timeout": 1_000_000_000}]}]
            }]
        }]
    })
}

/// Unix nanoseconds of an RFC 3339 UTC time (`2021-11-04T09:14:12.04996Z`), as TaskState
/// times are written, so they can be compared with event times.
pub fn time_nanos(value: &Value) -> i64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"));
    let bad = || panic!("not an RFC 3339 UTC time: {text}");
    let Some(body) = text.strip_suffix('Z') else {
        bad()
    };
    let Some((date, time)) = body.split_once('T') else {
        bad()
    };
    let num = |p: &str| p.parse::<i64>().unwrap_or_else(|_| bad());
    let d: Vec<i64> = date.split('-').map(num).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(num).collect();
    let nanos = num(&format!("{frac:0<9}")[..9]);
    // Days from civil (proleptic Gregorian), Howard Hinnant's algorithm.
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + (153 * m + 2) / 5 + d[2] - 1;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]) * 1_000_000_000 + nanos
}
