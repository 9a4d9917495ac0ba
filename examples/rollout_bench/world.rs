//! The benchmark's world: a test-kit `Cluster` running the greeter job with the `nomad-api`
//! restart method, and the reads the measures need (rollout record, an allocation's config
//! file mtime and its `Restart Signaled` time, the agents' metrics).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use shepard_reconcilers::Timestamp;
use shepard_reconcilers::model::{RolloutRecord, RolloutState};
use shepard_testkit::{Cluster, GreetJob, locate_binary, submit_job};

use crate::history::{Generation, StateHistory};

pub const JOB: &str = "bench";

pub struct BenchWorld {
    cluster: Cluster,
    http: reqwest::Client,
    count: usize,
}

/// When an allocation's configuration file was last rewritten and its last restart signal.
pub struct AllocTiming {
    pub config_mtime: Option<Timestamp>,
    pub last_restart_signaled: Option<Timestamp>,
}

impl BenchWorld {
    pub async fn start(shepard: &Path, nodes: usize, extra: &[&str]) -> Self {
        let shepard = shepard.to_path_buf();
        let args: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        let cluster = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Cluster::start(&shepard, nodes, &args)
        })
        .await
        .expect("start the cluster");
        Self {
            cluster,
            http: reqwest::Client::new(),
            count: 0,
        }
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    pub fn consul_addr(&self) -> String {
        self.cluster.consul.http_addr()
    }

    pub async fn put_config(&self, text: &str) -> anyhow::Result<()> {
        let url = format!("{}/v1/kv/{JOB}/config", self.consul_addr());
        let answer = self.http.put(url).body(text.to_string()).send().await?;
        if answer.text().await?.trim() != "true" {
            bail!("consul refused the config write");
        }
        Ok(())
    }

    async fn get_json(&self, url: &str) -> anyhow::Result<Value> {
        let answer = self.http.get(url).send().await.context(url.to_string())?;
        if answer.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(Value::Null);
        }
        answer.json().await.context(url.to_string())
    }

    /// Registers the greeter job (`count` allocations, `nomad-api` method, HTTP check every
    /// `check_interval`) and waits until all pass their check and are managed.
    pub async fn run_job(
        &mut self,
        count: u32,
        max_parallel: u32,
        min_healthy: Duration,
        check_interval: Duration,
    ) -> anyhow::Result<()> {
        self.count = count as usize;
        self.put_config("name: start\n").await?;
        let mut spec = GreetJob::new(JOB, count, &format!("{JOB}/config"));
        spec.managed = false;
        spec.task_meta = vec![("shepard_enabled".into(), "true".into())];
        spec.max_parallel = max_parallel;
        spec.min_healthy_time = min_healthy;
        let mut job = spec.to_json(&locate_binary("greet"));
        job["TaskGroups"][0]["Tasks"][0]["Services"][0]["Checks"][0]["Interval"] =
            Value::from(u64::try_from(check_interval.as_nanos())?);
        submit_job(self.cluster.sim.addr(), job).await;
        let started = Instant::now();
        let url = format!(
            "{}/v1/health/service/{JOB}-greeter?passing=true",
            self.consul_addr()
        );
        loop {
            let passing = self.get_json(&url).await?.as_array().map_or(0, Vec::len);
            let managed = self.metric_sum("shepard_managed_tasks");
            if passing == self.count && managed >= count as f64 {
                break;
            }
            if started.elapsed() > Duration::from_secs(240) {
                bail!("{passing} of {count} passing, {managed} managed after 240 s");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        println!(
            "  {count} allocations running, passing and managed after {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    pub async fn rollout(&self) -> anyhow::Result<Option<RolloutRecord>> {
        let url = format!(
            "{}/v1/kv/shepard/rollouts/default/{JOB}/greeter/greet?raw",
            self.consul_addr()
        );
        let answer = self.http.get(url).send().await?;
        if !answer.status().is_success() {
            return Ok(None);
        }
        Ok(Some(RolloutRecord::from_json(&answer.text().await?)?))
    }

    /// Waits for a rollout newer than generation `before` to complete.
    pub async fn wait_complete(
        &self,
        before: u64,
        within: Duration,
    ) -> anyhow::Result<RolloutRecord> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(r) = self.rollout().await?
                && r.generation > before
                && r.state == RolloutState::Complete
            {
                return Ok(r);
            }
            if Instant::now() > deadline {
                bail!("no rollout after generation {before} completed within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The record history of `generation`, once it shows every allocation triggered and back
    /// in sync (or after 5 s).
    pub async fn wait_generation_settled(
        &self,
        history: &StateHistory,
        generation: u64,
    ) -> Generation {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let g = Generation::from_versions(&history.versions(), generation);
            let done = g.triggers.len() >= self.count && g.releases.len() >= self.count;
            if done || Instant::now() > deadline {
                return g;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn alloc_timing(&self, alloc_id: &str) -> anyhow::Result<AllocTiming> {
        let url = format!("{}/v1/allocation/{alloc_id}", self.cluster.sim.addr());
        let alloc = self.get_json(&url).await?;
        let node = alloc["NodeName"].as_str().unwrap_or_default();
        let file = self
            .cluster
            .sim
            .data_dir()
            .join(node)
            .join("alloc")
            .join(alloc_id)
            .join("greet/local/config.yml");
        let config_mtime = std::fs::metadata(&file)
            .and_then(|m| m.modified())
            .ok()
            .map(Timestamp::from_system_time);
        let last_restart_signaled = alloc["TaskStates"]["greet"]["Events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["Type"] == "Restart Signaled")
            .filter_map(|e| e["Time"].as_u64())
            .max()
            .map(Timestamp::from_unix_nanos);
        Ok(AllocTiming {
            config_mtime,
            last_restart_signaled,
        })
    }

    /// Sum over every agent of the samples of `name`.
    pub fn metric_sum(&self, name: &str) -> f64 {
        self.metric_sum_where(name, "")
    }

    /// Sum over every agent of the samples of `name` whose series contains `label` (e.g.
    /// `op="kv_list"`).
    pub fn metric_sum_where(&self, name: &str, label: &str) -> f64 {
        self.cluster
            .agents
            .iter()
            .filter_map(|agent| agent.get("/metrics"))
            .flat_map(|(_, body)| {
                body.lines()
                    .filter(|l| !l.starts_with('#'))
                    .filter_map(|l| {
                        let (series, value) = l.rsplit_once(' ')?;
                        let metric = series.split_once('{').map_or(series, |(m, _)| m);
                        (metric == name && series.contains(label))
                            .then(|| value.parse::<f64>().ok())
                            .flatten()
                    })
                    .collect::<Vec<_>>()
            })
            .sum()
    }
}

/// The median (the upper one of an even count); zero for no samples.
pub fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
