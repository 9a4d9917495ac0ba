//! What the garbage-collection tests read and poke besides the shared end-to-end world: the
//! KV tree under `shepard/` with each key's index and value, raw KV writes, nomad-sim calls
//! (stop a job or an allocation, take a node down or up), the allocations of a job, and one
//! agent's metrics.

// Each test binary includes this module and uses a part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use shepard_testkit::{AgentProcess, poll};

/// One KV entry as the tests compare them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub modify_index: u64,
    pub value: String,
    pub session: Option<String>,
}

/// Every key under `prefix` (e.g. `shepard/`), or of the whole store for `""`.
pub async fn kv_tree(consul_addr: &str, prefix: &str) -> BTreeMap<String, Entry> {
    let url = format!("{consul_addr}/v1/kv/{prefix}?recurse");
    let answer = reqwest::get(url).await.unwrap();
    if answer.status() == 404 {
        return BTreeMap::new();
    }
    let pairs: Vec<Value> = answer.json().await.unwrap();
    pairs
        .iter()
        .map(|p| {
            let value = p["Value"].as_str().map_or_else(String::new, |b64| {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap();
                String::from_utf8_lossy(&bytes).into_owned()
            });
            let entry = Entry {
                modify_index: p["ModifyIndex"].as_u64().unwrap(),
                value,
                session: p["Session"].as_str().map(str::to_string),
            };
            (p["Key"].as_str().unwrap().to_string(), entry)
        })
        .collect()
}

/// Keys of `tree` starting with any of `prefixes`.
pub fn under<'a>(
    tree: &'a BTreeMap<String, Entry>,
    prefixes: &[&str],
) -> BTreeMap<&'a str, &'a Entry> {
    tree.iter()
        .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p)))
        .map(|(k, e)| (k.as_str(), e))
        .collect()
}

pub async fn put(consul_addr: &str, key: &str, value: &str) {
    let answer = reqwest::Client::new()
        .put(format!("{consul_addr}/v1/kv/{key}"))
        .body(value.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.text().await.unwrap().trim(), "true", "put {key}");
}

/// `method path` on the simulator; panics unless it answers 2xx.
pub async fn sim(nomad_addr: &str, method: reqwest::Method, path: &str) -> Value {
    let answer = reqwest::Client::new()
        .request(method, format!("{nomad_addr}{path}"))
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let body = answer.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

/// Allocation stubs of `job` (every status).
pub async fn job_allocs(nomad_addr: &str, job: &str) -> Vec<Value> {
    let url = format!("{nomad_addr}/v1/job/{job}/allocations");
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// Waits until no allocation of `job` is pending or running.
pub async fn wait_all_stopped(nomad_addr: &str, job: &str) {
    poll::until_async(
        &format!("every allocation of {job} terminal"),
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            let allocs = job_allocs(nomad_addr, job).await;
            allocs
                .iter()
                .all(|a| !matches!(a["ClientStatus"].as_str(), Some("pending" | "running")))
                .then_some(())
        },
    )
    .await;
}

/// Sum of the samples of `name` on one agent whose labels include `labels`; 0 when the agent
/// does not answer or has no such sample.
pub fn agent_metric(agent: &AgentProcess, name: &str, labels: &[(&str, &str)]) -> f64 {
    let Some((_, body)) = agent.get("/metrics") else {
        return 0.0;
    };
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            let all = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            (metric == name && all)
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// Keys of the cluster-wide kinds an agent deleted (`rollout`, `task_lock`, `slot`, `agent`).
pub fn cluster_deletes(agent: &AgentProcess) -> f64 {
    ["rollout", "task_lock", "slot", "agent"]
        .iter()
        .map(|kind| agent_metric(agent, "shepard_gc_deleted_keys_total", &[("kind", kind)]))
        .sum()
}

/// Waits until `agent` finished a GC pass that started after this call.
pub async fn wait_for_a_pass(agent: &AgentProcess, within: Duration) {
    let before = agent_metric(agent, "shepard_gc_pass_duration_seconds_count", &[]);
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    poll::until_async(
        "a further GC pass",
        within,
        Duration::from_millis(100),
        || async {
            let count = agent_metric(agent, "shepard_gc_pass_duration_seconds_count", &[]);
            let last = agent_metric(agent, "shepard_gc_last_pass_timestamp_seconds", &[]);
            (count > before && last > since).then_some(())
        },
    )
    .await;
}

/// The node name the GC lock's holder wrote into it, once the lock is held.
pub async fn gc_holder(consul_addr: &str, within: Duration) -> String {
    poll::until_async(
        "the GC lock to be held",
        within,
        Duration::from_millis(100),
        || async {
            let tree = kv_tree(consul_addr, "shepard/locks/gc").await;
            let entry = tree.get("shepard/locks/gc")?;
            entry.session.as_ref()?;
            let holder: Value = serde_json::from_str(&entry.value).ok()?;
            holder["node"].as_str().map(str::to_string)
        },
    )
    .await
}
