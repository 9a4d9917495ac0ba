//! The world of shepard's end-to-end tests and the evidence they read: Consul, nomad-sim,
//! agents (from the test kit), plus helpers to drive a job and to read what really happened
//! from Nomad's API, `/sim/events` and the agents' `/metrics`.

// Each end-to-end test binary includes this module and uses a part of it.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use shepard_testkit::{Cluster, ConsulDevOptions, GreetJob, locate_binary, poll, submit_job};

pub mod canary;
pub mod probe;

use probe::{Instance, Prober};

pub struct World {
    pub cluster: Cluster,
    http: reqwest::Client,
}

/// An allocation as the end-to-end tests look at it.
#[derive(Debug)]
pub struct AllocView {
    pub id: String,
    pub restarts: u64,
}

impl World {
    pub async fn start(nodes: usize, agent_args: &[&str]) -> Self {
        Self::start_with(nodes, agent_args, ConsulDevOptions::default()).await
    }

    /// As [`World::start`], with Consul started with `consul`.
    pub async fn start_with(nodes: usize, agent_args: &[&str], consul: ConsulDevOptions) -> Self {
        let shepard = Path::new(env!("CARGO_BIN_EXE_shepard")).to_path_buf();
        let mut args: Vec<String> = ["--consul-session-ttl", "10s", "--consul-lock-delay", "1s"]
            .iter()
            .chain(agent_args)
            .map(|a| a.to_string())
            .collect();
        args.shrink_to_fit();
        let cluster = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Cluster::start_with(&shepard, nodes, &args, consul)
        })
        .await
        .expect("start the world");
        Self {
            cluster,
            http: reqwest::Client::new(),
        }
    }

    fn nomad(&self) -> &str {
        self.cluster.sim.addr()
    }

    pub async fn put_config(&self, job: &str, text: &str) {
        let url = format!("{}/v1/kv/{job}/config", self.cluster.consul.http_addr());
        let answer = self
            .http
            .put(url)
            .body(text.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.text().await.unwrap().trim(), "true");
    }

    /// Writes the job's first configuration, registers it, and waits until every allocation
    /// runs, passes its check and (for a managed job) is managed by an agent.
    pub async fn run_job(&self, spec: GreetJob) {
        self.run_job_with_config(spec, "name: one\n").await;
    }

    /// As [`World::run_job`], with `config` as the first configuration.
    pub async fn run_job_with_config(&self, spec: GreetJob, config: &str) {
        let job = spec.id.clone();
        let count = spec.count;
        self.put_config(&job, config).await;
        let managed_before = self.metric_sum("shepard_managed_tasks", &[]);
        let managed = spec.managed || !spec.task_meta.is_empty();
        submit_job(self.nomad(), spec.to_json(&locate_binary("greet"))).await;
        poll::until_async(
            "every allocation running and passing its check",
            Duration::from_secs(60),
            Duration::from_millis(100),
            || async { (self.passing_checks(&job).await == count as usize).then_some(()) },
        )
        .await;
        if managed {
            poll::until_async(
                "every allocation managed by an agent",
                Duration::from_secs(30),
                Duration::from_millis(100),
                || async {
                    let now = self.metric_sum("shepard_managed_tasks", &[]);
                    (now == managed_before + f64::from(count)).then_some(())
                },
            )
            .await;
        }
    }

    async fn passing_checks(&self, job: &str) -> usize {
        let url = format!(
            "{}/v1/health/service/{job}-greeter?passing=true",
            self.cluster.consul.http_addr()
        );
        let Ok(answer) = self.http.get(url).send().await else {
            return 0;
        };
        let entries: Vec<Value> = answer.json().await.unwrap_or_default();
        entries.len()
    }

    /// What every registered instance answers on `/`, sorted.
    pub async fn greetings(&self, job: &str) -> Vec<String> {
        self.greetings_of(job, "").await
    }

    /// Greetings of the instances whose check passes, sorted.
    pub async fn passing_greetings(&self, job: &str) -> Vec<String> {
        self.greetings_of(job, "?passing=true").await
    }

    async fn greetings_of(&self, job: &str, filter: &str) -> Vec<String> {
        let url = format!(
            "{}/v1/health/service/{job}-greeter{filter}",
            self.cluster.consul.http_addr()
        );
        let entries: Vec<Value> = self
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut greetings = Vec::new();
        for entry in entries {
            let port = entry["Service"]["Port"].as_u64().unwrap();
            let answer = self
                .http
                .get(format!("http://127.0.0.1:{port}/"))
                .send()
                .await;
            if let Ok(answer) = answer {
                greetings.push(answer.text().await.unwrap_or_default().trim().to_string());
            }
        }
        greetings.sort();
        greetings
    }

    /// The rendered `file` (under the task's `local/`) of every running allocation of `job`.
    pub async fn rendered_files(&self, job: &str, file: &str) -> Vec<std::path::PathBuf> {
        self.running_alloc_json(job)
            .await
            .iter()
            .map(|a| {
                self.cluster
                    .sim
                    .data_dir()
                    .join(a["NodeName"].as_str().unwrap())
                    .join("alloc")
                    .join(a["ID"].as_str().unwrap())
                    .join("greet/local")
                    .join(file)
            })
            .collect()
    }

    /// Nomad's listing of `job`'s running allocations.
    async fn running_alloc_json(&self, job: &str) -> Vec<Value> {
        let url = format!("{}/v1/job/{job}/allocations", self.nomad());
        let allocs: Vec<Value> = self
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        allocs
            .into_iter()
            .filter(|a| a["ClientStatus"] == "running")
            .collect()
    }

    /// Every running allocation of `job` with the host port of its `http` endpoint.
    pub async fn instances(&self, job: &str) -> Vec<Instance> {
        let mut instances = Vec::new();
        for stub in self.running_alloc_json(job).await {
            let id = stub["ID"].as_str().unwrap().to_string();
            let url = format!("{}/v1/allocation/{id}", self.nomad());
            let alloc: Value = self
                .http
                .get(url)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let port = alloc["AllocatedResources"]["Shared"]["Ports"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["Label"] == "http")
                .and_then(|p| p["Value"].as_u64())
                .unwrap_or_else(|| panic!("allocation {id} has no http port: {alloc}"));
            instances.push(Instance {
                alloc_id: id,
                port: u16::try_from(port).unwrap(),
            });
        }
        instances
    }

    /// Starts probing every running allocation of `job` (its endpoint and its checks).
    pub async fn probe(&self, job: &str) -> Prober {
        let instances = self.instances(job).await;
        Prober::start(&self.cluster.consul.http_addr(), instances)
    }

    /// The index of node `name` in the cluster (and of its agent).
    pub fn node_index(&self, name: &str) -> usize {
        self.cluster
            .sim
            .nodes()
            .iter()
            .position(|n| n.name == name)
            .unwrap_or_else(|| panic!("{name} is not a node of the cluster"))
    }

    /// The node named in the value of any held restart slot of `job`'s task.
    pub async fn slot_holder_node(&self, job: &str) -> Option<String> {
        use base64::Engine;
        let url = format!(
            "{}/v1/kv/shepard/locks/default/{job}/greeter/greet/restart_lock/?recurse",
            self.cluster.consul.http_addr()
        );
        let entries: Vec<Value> = self.http.get(url).send().await.ok()?.json().await.ok()?;
        entries.iter().find_map(|e| {
            e["Session"].as_str()?;
            let value = e["Value"].as_str()?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value)
                .ok()?;
            let holder: Value = serde_json::from_slice(&bytes).ok()?;
            holder["node"].as_str().map(str::to_string)
        })
    }

    pub async fn running_allocs(&self, job: &str) -> Vec<AllocView> {
        self.running_alloc_json(job)
            .await
            .iter()
            .map(|a| AllocView {
                id: a["ID"].as_str().unwrap().to_string(),
                restarts: a["TaskStates"]["greet"]["Restarts"].as_u64().unwrap_or(0),
            })
            .collect()
    }

    pub async fn rollout_state(&self, job: &str) -> Option<String> {
        let record = self.rollout_record(job).await?;
        record["state"].as_str().map(str::to_string)
    }

    /// The rollout record of `job`'s task, as JSON.
    pub async fn rollout_record(&self, job: &str) -> Option<Value> {
        let url = format!(
            "{}/v1/kv/shepard/rollouts/default/{job}/greeter/greet?raw",
            self.cluster.consul.http_addr()
        );
        let answer = self.http.get(url).send().await.ok()?;
        if !answer.status().is_success() {
            return None;
        }
        answer.json().await.ok()
    }

    /// The allocation records of `job`'s task on every node, as JSON.
    pub async fn alloc_records(&self, job: &str) -> Vec<Value> {
        use base64::Engine;
        let url = format!(
            "{}/v1/kv/shepard/state/?recurse",
            self.cluster.consul.http_addr()
        );
        let Ok(answer) = self.http.get(url).send().await else {
            return Vec::new();
        };
        let entries: Vec<Value> = answer.json().await.unwrap_or_default();
        entries
            .iter()
            .filter_map(|e| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(e["Value"].as_str()?)
                    .ok()?;
                serde_json::from_slice::<Value>(&bytes).ok()
            })
            .filter(|r| r["task"]["job"] == job)
            .collect()
    }

    /// Runs the `shepard` command line against the world's Consul.
    pub async fn operator(&self, args: &[&str]) -> std::process::Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_shepard"))
            .args(args)
            .env_clear()
            .env("CONSUL_HTTP_ADDR", self.cluster.consul.http_addr())
            .output()
            .await
            .expect("run shepard")
    }

    /// Every key and value under `shepard/`, for failure messages.
    pub async fn dump_kv(&self) -> String {
        let url = format!("{}/v1/kv/shepard/?recurse", self.cluster.consul.http_addr());
        let entries: Vec<Value> = match self.http.get(url).send().await {
            Ok(answer) => answer.json().await.unwrap_or_default(),
            Err(e) => return format!("cannot read KV: {e}"),
        };
        entries
            .iter()
            .map(|e| {
                use base64::Engine;
                let value = e["Value"]
                    .as_str()
                    .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                format!("{} = {value}\n", e["Key"].as_str().unwrap_or_default())
            })
            .collect()
    }

    /// The KV content and the last `lines` lines of every agent's log, for failure messages.
    pub async fn failure_report(&self, lines: usize) -> String {
        let logs: Vec<String> = self
            .cluster
            .agents
            .iter()
            .map(|a| {
                let all = a.log_lines();
                all[all.len().saturating_sub(lines)..].join("\n")
            })
            .collect();
        format!(
            "KV:\n{}\nagent logs:\n{}",
            self.dump_kv().await,
            logs.join("\n---\n")
        )
    }

    /// Waits until the rollout of `job` is in `state`; on timeout, fails with the KV content
    /// and the end of every agent's log.
    pub async fn wait_rollout_state(&self, job: &str, state: &str, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        while self.rollout_state(job).await.as_deref() != Some(state) {
            if std::time::Instant::now() > deadline {
                panic!(
                    "rollout of {job} not {state} after {within:?}\n{}",
                    self.failure_report(40).await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn sim_events_since(&self, seq: u64) -> Vec<Value> {
        let url = format!("{}/sim/events?since={seq}", self.nomad());
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn sim_event_seq(&self) -> u64 {
        self.sim_events_since(0)
            .await
            .iter()
            .filter_map(|e| e["seq"].as_u64())
            .max()
            .unwrap_or(0)
    }

    /// Largest sample of `name` over every agent.
    pub fn metric_max(&self, name: &str) -> f64 {
        self.cluster
            .agents
            .iter()
            .filter_map(|agent| agent.get("/metrics"))
            .map(|(_, body)| max_sample(&body, name))
            .fold(0.0, f64::max)
    }

    /// Sum over every agent of the samples of `name` whose labels include `labels`.
    pub fn metric_sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.cluster
            .agents
            .iter()
            .filter_map(|agent| agent.get("/metrics"))
            .map(|(_, body)| sum_samples(&body, name, labels))
            .sum()
    }
}

fn sum_samples(exposition: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            if metric != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            all.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

fn max_sample(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let metric = series.split_once('{').map_or(series, |(m, _)| m);
            (metric == name)
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .fold(0.0, f64::max)
}

/// One restart as the simulator saw it: the task stopped at `down`, started again at `up`.
#[derive(Debug, Clone)]
pub struct RestartWindow {
    /// Read through `Debug` in failure messages.
    pub alloc_id: String,
    pub down_ns: i64,
    /// Start of the new run plus min_healthy_time: the earliest the restart can count as done.
    pub done_ns: i64,
}

/// Pairs each task stop with the next start of the same allocation.
pub fn restart_windows(events: &[Value], min_healthy: Duration) -> Vec<RestartWindow> {
    let min_healthy_ns = i64::try_from(min_healthy.as_nanos()).unwrap();
    let mut windows = Vec::new();
    for (i, stop) in events.iter().enumerate() {
        if stop["kind"] != "task-stopped" {
            continue;
        }
        let alloc = stop["alloc_id"].as_str().unwrap();
        let start = events[i + 1..]
            .iter()
            .find(|e| e["kind"] == "task-started" && e["alloc_id"] == alloc);
        if let Some(start) = start {
            windows.push(RestartWindow {
                alloc_id: alloc.to_string(),
                down_ns: stop["time_ns"].as_i64().unwrap(),
                done_ns: start["time_ns"].as_i64().unwrap() + min_healthy_ns,
            });
        }
    }
    windows
}

/// The largest number of windows open at the same instant.
pub fn max_overlap(windows: &[RestartWindow]) -> usize {
    windows
        .iter()
        .map(|w| {
            windows
                .iter()
                .filter(|o| o.down_ns <= w.down_ns && w.down_ns < o.done_ns)
                .count()
        })
        .max()
        .unwrap_or(0)
}
