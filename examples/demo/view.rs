//! The demo's window on the world: reads Consul, nomad-sim and the agents over HTTP, and prints
//! a rollout's progress live (a bar, and a line whenever an allocation changes phase).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use shepard_testkit::Cluster;

pub struct World {
    pub cluster: Cluster,
    http: reqwest::Client,
}

/// What the simulator saw of the restarts since an event sequence number.
#[derive(Debug)]
pub struct RestartSummary {
    /// Restarts of each allocation, by allocation index.
    pub per_alloc: Vec<usize>,
    /// The most task processes down at the same instant.
    pub max_down: usize,
}

impl World {
    pub fn new(cluster: Cluster) -> Self {
        Self {
            cluster,
            http: reqwest::Client::new(),
        }
    }

    pub fn consul_addr(&self) -> String {
        self.cluster.consul.http_addr()
    }

    async fn get_json(&self, url: &str) -> anyhow::Result<Value> {
        let answer = self
            .http
            .get(url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        if answer.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(Value::Null);
        }
        answer.json().await.with_context(|| format!("GET {url}"))
    }

    pub async fn put(&self, key: &str, value: &str) -> anyhow::Result<()> {
        let url = format!("{}/v1/kv/{key}", self.consul_addr());
        let answer = self.http.put(url).body(value.to_string()).send().await?;
        if answer.text().await?.trim() != "true" {
            bail!("consul refused to write {key}");
        }
        Ok(())
    }

    pub async fn submit(&self, job: Value) -> anyhow::Result<()> {
        let url = format!("{}/v1/jobs", self.cluster.sim.addr());
        let answer = self.http.put(url).json(&job).send().await?;
        if !answer.status().is_success() {
            bail!("job register failed: {}", answer.text().await?);
        }
        Ok(())
    }

    /// Greetings of the instances whose check passes.
    pub async fn greetings_passing(&self) -> anyhow::Result<Vec<String>> {
        self.greetings(true).await
    }

    pub async fn distinct_greetings(&self) -> anyhow::Result<Vec<String>> {
        let mut all = self.greetings(false).await?;
        all.sort();
        all.dedup();
        Ok(all)
    }

    async fn greetings(&self, passing_only: bool) -> anyhow::Result<Vec<String>> {
        let filter = if passing_only { "?passing=true" } else { "" };
        let url = format!(
            "{}/v1/health/service/hello-world-greeter{filter}",
            self.consul_addr()
        );
        let entries = self.get_json(&url).await?;
        let mut greetings = Vec::new();
        for entry in entries.as_array().into_iter().flatten() {
            let port = entry["Service"]["Port"].as_u64().unwrap_or(0);
            let answer = self
                .http
                .get(format!("http://127.0.0.1:{port}/"))
                .send()
                .await;
            if let Ok(answer) = answer {
                greetings.push(answer.text().await.unwrap_or_default().trim().to_string());
            }
        }
        Ok(greetings)
    }

    pub async fn wait_all_serving(&self, count: usize, greeting: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let serving = self.greetings_passing().await?;
            if serving.len() == count && serving.iter().all(|g| g == greeting) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the greeters did not all start: {serving:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn wait_managed(&self, count: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.metric_sum("shepard_managed_tasks") < count as f64 {
            if Instant::now() > deadline {
                bail!("the agents do not manage the greeters");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    fn metric_values(&self, name: &str) -> Vec<f64> {
        self.cluster
            .agents
            .iter()
            .filter_map(|agent| agent.get("/metrics"))
            .flat_map(|(_, body)| {
                body.lines()
                    .filter(|l| l.starts_with(name) && !l.starts_with('#'))
                    .filter(|l| l[name.len()..].starts_with([' ', '{']))
                    .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    pub fn metric_sum(&self, name: &str) -> f64 {
        self.metric_values(name).iter().sum()
    }

    pub fn metric_max(&self, name: &str) -> f64 {
        self.metric_values(name).into_iter().fold(0.0, f64::max)
    }

    pub async fn sim_seq(&self) -> anyhow::Result<u64> {
        let events = self.sim_events(0).await?;
        Ok(events
            .iter()
            .filter_map(|e| e["seq"].as_u64())
            .max()
            .unwrap_or(0))
    }

    async fn sim_events(&self, since: u64) -> anyhow::Result<Vec<Value>> {
        let url = format!("{}/sim/events?since={since}", self.cluster.sim.addr());
        let events = self.get_json(&url).await?;
        Ok(events.as_array().cloned().unwrap_or_default())
    }

    pub async fn restart_summary(&self, since: u64) -> anyhow::Result<RestartSummary> {
        let events = self.sim_events(since).await?;
        let mut per_alloc = vec![0usize; 6];
        let mut down = 0usize;
        let mut max_down = 0usize;
        for event in &events {
            match event["kind"].as_str() {
                Some("task-stopped") => {
                    down += 1;
                    max_down = max_down.max(down);
                }
                Some("task-started") => {
                    down = down.saturating_sub(1);
                    let index = event["alloc_index"].as_u64().unwrap_or(0) as usize;
                    if let Some(n) = per_alloc.get_mut(index) {
                        *n += 1;
                    }
                }
                _ => {}
            }
        }
        Ok(RestartSummary {
            per_alloc,
            max_down,
        })
    }

    async fn rollout(&self, job: &str) -> anyhow::Result<Value> {
        let url = format!(
            "{}/v1/kv/shepard/rollouts/default/{job}/greeter/greet?raw",
            self.consul_addr()
        );
        self.get_json(&url).await
    }

    /// Phase of each allocation (by index) from the agents' records.
    async fn phases(&self) -> anyhow::Result<BTreeMap<u64, (String, String, Option<u64>)>> {
        let url = format!("{}/v1/kv/shepard/state/?recurse", self.consul_addr());
        let entries = self.get_json(&url).await?;
        let mut phases = BTreeMap::new();
        for entry in entries.as_array().into_iter().flatten() {
            let key = entry["Key"].as_str().unwrap_or_default();
            let node = key.split('/').nth(2).unwrap_or_default().to_string();
            let Some(value) = entry["Value"].as_str().and_then(decode_base64) else {
                continue;
            };
            let Ok(record) = serde_json::from_str::<Value>(&value) else {
                continue;
            };
            let index = record["alloc_index"].as_u64().unwrap_or(0);
            let phase = record["phase"].as_str().unwrap_or("?").to_string();
            phases.insert(index, (node, phase, record["slot"].as_u64()));
        }
        Ok(phases)
    }
}

fn decode_base64(text: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// Prints a rollout as it happens.
pub struct Progress {
    t0: Instant,
    last: BTreeMap<u64, (String, String, Option<u64>)>,
    last_state: String,
}

impl Progress {
    pub fn new(t0: Instant) -> Self {
        Self {
            t0,
            last: BTreeMap::new(),
            last_state: String::new(),
        }
    }

    /// Follows the job's rollout until its state is one of `until`; returns that state.
    pub async fn follow(
        &mut self,
        world: &World,
        job: &str,
        until: &[&str],
        within: Duration,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + within;
        loop {
            let rollout = world.rollout(job).await?;
            let state = rollout["state"].as_str().unwrap_or("-").to_string();
            let generation = rollout["generation"].as_u64().unwrap_or(0);
            let phases = world.phases().await?;
            for (index, now) in &phases {
                if self.last.get(index) != Some(now) {
                    let (node, phase, slot) = now;
                    let slot = slot.map(|s| format!(" (slot {s})")).unwrap_or_default();
                    println!(
                        "  {:>6.1}s  greeter[{index}] on {node:<11} {phase}{slot}",
                        self.t0.elapsed().as_secs_f64()
                    );
                }
            }
            self.last = phases;
            if state != self.last_state {
                println!(
                    "  {:>6.1}s  rollout generation {generation}: {state}",
                    self.t0.elapsed().as_secs_f64()
                );
                self.last_state = state.clone();
            }
            if until.contains(&state.as_str()) && generation > 0 {
                return Ok(state);
            }
            if Instant::now() > deadline {
                bail!("the rollout did not reach {until:?} (it is {state})");
            }
            let _ = std::io::stdout().flush();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
