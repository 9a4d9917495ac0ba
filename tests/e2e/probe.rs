//! What users see during a rollout: every instance of a job probed throughout, its HTTP
//! endpoint and its Consul checks, so a test can assert how many instances were down or
//! unhealthy at each instant, not only how process lifetimes overlapped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How often every instance is probed.
const EVERY: Duration = Duration::from_millis(100);
/// An instance that does not answer within this is down.
const ANSWER_WITHIN: Duration = Duration::from_millis(500);

/// One instance: an allocation and the host port its endpoint listens on.
#[derive(Debug, Clone)]
pub struct Instance {
    pub alloc_id: String,
    pub port: u16,
}

/// One round of probes: which instances were down or unhealthy, and why.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Duration,
    pub bad: BTreeMap<String, String>,
}

/// A background prober of a job's instances. Stops when dropped.
pub struct Prober {
    samples: Arc<Mutex<Vec<Sample>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Prober {
    /// Probes `instances` every 100 ms: `GET /` must answer 200, and every Consul check of
    /// the allocation's services (on `consul_addr`'s node) must exist and pass.
    pub fn start(consul_addr: &str, instances: Vec<Instance>) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let http = reqwest::Client::builder()
            .timeout(ANSWER_WITHIN)
            .build()
            .expect("HTTP client");
        let checks_url = format!("{consul_addr}/v1/agent/checks");
        let sink = samples.clone();
        let task = tokio::spawn(async move {
            let began = Instant::now();
            loop {
                let checks = checks_by_alloc(&http, &checks_url).await;
                let mut bad = BTreeMap::new();
                for instance in &instances {
                    let url = format!("http://127.0.0.1:{}/", instance.port);
                    let answer = http.get(url).send().await;
                    let endpoint = match answer {
                        Ok(a) if a.status().is_success() => None,
                        Ok(a) => Some(format!("answered {}", a.status().as_u16())),
                        Err(e) => Some(format!("no answer ({e})")),
                    };
                    let check = match checks.as_ref().map(|c| c.get(&instance.alloc_id)) {
                        Err(e) => Some(e.clone()),
                        Ok(None) => Some("no check registered".to_owned()),
                        Ok(Some(statuses)) => statuses
                            .iter()
                            .find(|s| s.as_str() != "passing")
                            .map(|s| format!("check {s}")),
                    };
                    if let Some(why) = endpoint
                        .into_iter()
                        .chain(check)
                        .reduce(|a, b| a + "; " + &b)
                    {
                        bad.insert(instance.alloc_id.clone(), why);
                    }
                }
                let sample = Sample {
                    at: began.elapsed(),
                    bad,
                };
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(sample);
                tokio::time::sleep(EVERY).await;
            }
        });
        Prober { samples, task }
    }

    /// Every sample so far.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The sample with the most instances down or unhealthy (the first of them).
    pub fn worst(&self) -> Option<Sample> {
        self.samples().into_iter().reduce(|worst, s| {
            if s.bad.len() > worst.bad.len() {
                s
            } else {
                worst
            }
        })
    }

    /// How many rounds ran.
    pub fn rounds(&self) -> usize {
        self.samples().len()
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The status of every check of every allocation's services on the local Consul agent
/// (service IDs `_nomad-task-<alloc_id>-…`), by allocation ID.
async fn checks_by_alloc(
    http: &reqwest::Client,
    url: &str,
) -> Result<BTreeMap<String, Vec<String>>, String> {
    let answer = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("Consul: {e}"))?;
    let checks: BTreeMap<String, Value> =
        answer.json().await.map_err(|e| format!("Consul: {e}"))?;
    let mut by_alloc: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for check in checks.values() {
        let service = check["ServiceID"].as_str().unwrap_or_default();
        let Some(rest) = service.strip_prefix("_nomad-task-") else {
            continue;
        };
        // Allocation IDs are UUIDs: 36 characters.
        let alloc_id = rest.get(..36).unwrap_or(rest).to_owned();
        let status = check["Status"].as_str().unwrap_or("unknown").to_owned();
        by_alloc.entry(alloc_id).or_default().push(status);
    }
    Ok(by_alloc)
}
