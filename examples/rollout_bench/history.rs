//! Every version of every allocation record under `shepard/state/`, kept by a blocking watch of
//! the prefix while rollouts run, and what they tell about one rollout generation: when each
//! restart was triggered and on which slot, when each slot was released, how long each restart
//! took until the agent saw it healthy.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use shepard_reconcilers::Timestamp;
use shepard_reconcilers::model::{AllocRecord, Phase};

/// One version of one record, as the watch saw it.
#[derive(Debug, Clone)]
pub struct Version {
    /// `shepard/state/<node>/<alloc>/<task>`.
    pub key: String,
    pub record: AllocRecord,
}

/// The watch: a task that appends every new version until dropped.
pub struct StateHistory {
    versions: Arc<Mutex<Vec<Version>>>,
    task: tokio::task::JoinHandle<()>,
}

impl StateHistory {
    pub fn start(consul_addr: String) -> Self {
        let versions: Arc<Mutex<Vec<Version>>> = Arc::default();
        let task = tokio::spawn(watch(consul_addr, Arc::clone(&versions)));
        Self { versions, task }
    }

    pub fn versions(&self) -> Vec<Version> {
        self.versions.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Drop for StateHistory {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn watch(consul_addr: String, versions: Arc<Mutex<Vec<Version>>>) {
    let http = reqwest::Client::new();
    let mut index = 0u64;
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    loop {
        match read(&http, &consul_addr, index).await {
            Ok((next, entries)) => {
                // Consul's index may go backwards (e.g. after a snapshot restore): start over.
                index = if next < index { 0 } else { next };
                let mut versions = match versions.lock() {
                    Ok(v) => v,
                    Err(_) => return,
                };
                for (key, modify_index, text) in entries {
                    if seen.get(&key).is_some_and(|m| *m >= modify_index) {
                        continue;
                    }
                    seen.insert(key.clone(), modify_index);
                    if let Ok(record) = AllocRecord::from_json(&text) {
                        versions.push(Version { key, record });
                    }
                }
            }
            Err(e) => {
                eprintln!("state watch: {e:#}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

type Entries = Vec<(String, u64, String)>;

async fn read(http: &reqwest::Client, consul: &str, index: u64) -> anyhow::Result<(u64, Entries)> {
    let url = format!("{consul}/v1/kv/shepard/state/?recurse&index={index}&wait=30s");
    let answer = http.get(url).send().await.context("GET shepard/state/")?;
    let next = answer
        .headers()
        .get("x-consul-index")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if answer.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok((next, Vec::new()));
    }
    let entries: Vec<Value> = answer.json().await.context("decode shepard/state/")?;
    let entries = entries
        .iter()
        .filter_map(|e| {
            let key = e["Key"].as_str()?.to_string();
            let modify_index = e["ModifyIndex"].as_u64()?;
            let text = decode_base64(e["Value"].as_str()?)?;
            Some((key, modify_index, text))
        })
        .collect();
    Ok((next, entries))
}

fn decode_base64(text: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// A restart of generation `g`: its first trigger.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub key: String,
    pub alloc_id: String,
    pub slot: u32,
    pub triggered_at: Timestamp,
    /// When the agent first saw the drift this restart rolls out.
    pub drift_detected_at: Option<Timestamp>,
    /// Trigger → the record's first `verifying` version (the agent saw it healthy).
    pub restart: Option<Duration>,
}

/// A slot given back: its holder's record turned `in_sync` at `at`.
#[derive(Debug, Clone)]
pub struct Release {
    pub slot: u32,
    pub at: Timestamp,
}

/// What the record history says about rollout generation `generation`.
#[derive(Debug, Default)]
pub struct Generation {
    /// Sorted by `triggered_at`.
    pub triggers: Vec<Trigger>,
    pub releases: Vec<Release>,
}

impl Generation {
    pub fn from_versions(all: &[Version], generation: u64) -> Self {
        let mut by_key: BTreeMap<&str, Vec<&AllocRecord>> = BTreeMap::new();
        for v in all {
            by_key.entry(&v.key).or_default().push(&v.record);
        }
        let mut out = Generation::default();
        for (key, records) in by_key {
            let ours = |r: &&&AllocRecord| r.generation == Some(generation);
            let Some(first) = records
                .iter()
                .find(|r| ours(r) && r.triggered_at.is_some() && r.slot.is_some())
            else {
                continue;
            };
            let triggered_at = first.triggered_at.unwrap_or_default();
            let slot = first.slot.unwrap_or_default();
            let restart = records
                .iter()
                .find(|r| ours(r) && r.phase == Phase::Verifying)
                .map(|r| r.updated_at.since(triggered_at));
            out.triggers.push(Trigger {
                key: key.to_string(),
                alloc_id: key.split('/').nth(3).unwrap_or_default().to_string(),
                slot,
                triggered_at,
                drift_detected_at: first.drift_detected_at,
                restart,
            });
            for pair in records.windows(2) {
                let (before, after) = (pair[0], pair[1]);
                if before.generation == Some(generation)
                    && before.phase.in_flight()
                    && after.phase == Phase::InSync
                    && let Some(slot) = before.slot
                {
                    out.releases.push(Release {
                        slot,
                        at: after.updated_at,
                    });
                }
            }
        }
        out.triggers.sort_by_key(|t| t.triggered_at);
        out.releases.sort_by_key(|r| r.at);
        out
    }

    /// The restarts that got a slot at once: triggered before any slot of this generation was
    /// given back.
    pub fn first_wave(&self) -> Vec<&Trigger> {
        let first_release = self.releases.first().map(|r| r.at);
        self.triggers
            .iter()
            .filter(|t| first_release.is_none_or(|r| t.triggered_at < r))
            .collect()
    }

    /// For each later restart, the time from the last release of its slot before its trigger
    /// to that trigger.
    pub fn hand_offs(&self) -> Vec<Duration> {
        let first_wave: Vec<&str> = self.first_wave().iter().map(|t| t.key.as_str()).collect();
        self.triggers
            .iter()
            .filter(|t| !first_wave.contains(&t.key.as_str()))
            .filter_map(|t| {
                let release = self
                    .releases
                    .iter()
                    .filter(|r| r.slot == t.slot && r.at <= t.triggered_at)
                    .map(|r| r.at)
                    .max()?;
                Some(t.triggered_at.since(release))
            })
            .collect()
    }
}
