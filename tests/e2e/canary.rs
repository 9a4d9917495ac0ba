//! Canaries in the end-to-end world: a job's next version with one canary, which nomad-sim
//! places on index 0 beside the old allocation `[0]` (one node), its promotion, and the
//! evidence the canary tests read (allocation records, trigger keys, rendered trigger files).

use std::time::Duration;

use serde_json::{Value, json};
use shepard_testkit::{GreetJob, locate_binary, poll, submit_job};

use super::World;

const WITHIN: Duration = Duration::from_secs(60);
const TICK: Duration = Duration::from_millis(100);

/// The three allocations once the canary runs: the canary and the old allocations `[0]` (the
/// index the canary reuses) and `[1]`.
#[derive(Debug, Clone)]
pub struct Placed {
    pub canary: String,
    pub old_zero: String,
    pub old_one: String,
}

impl Placed {
    pub fn all(&self) -> [&str; 3] {
        [&self.canary, &self.old_zero, &self.old_one]
    }
}

/// `job`'s next version with `Canary = 1`: a changed environment, so a destructive update.
pub fn canary_version(job: &GreetJob) -> Value {
    let mut spec = job.to_json(&locate_binary("greet"));
    spec["TaskGroups"][0]["Update"]["Canary"] = json!(1);
    spec["TaskGroups"][0]["Tasks"][0]["Env"] = json!({"VERSION": "2"});
    spec
}

fn id_of(alloc: &Value) -> String {
    alloc["ID"].as_str().unwrap_or_default().to_string()
}

impl World {
    /// Every allocation Nomad lists for `job` (namespace `default`).
    pub async fn job_alloc_json(&self, job: &str) -> Vec<Value> {
        let url = format!("{}/v1/job/{job}/allocations", self.nomad());
        match self.http.get(url).send().await {
            Ok(answer) => answer.json().await.unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }

    /// The listing of one allocation of `job`.
    pub async fn alloc_stub(&self, job: &str, alloc_id: &str) -> Value {
        self.job_alloc_json(job)
            .await
            .into_iter()
            .find(|a| a["ID"] == alloc_id)
            .unwrap_or_else(|| panic!("allocation {alloc_id} of {job} not listed"))
    }

    /// Registers `job`'s canary version (the job runs two allocations on one node) and waits
    /// until the canary runs beside them, all three pass their checks and the agent manages
    /// them. Checks that the canary reuses index 0 on the node of the old `[0]`.
    pub async fn place_canary(&self, job: &GreetJob) -> Placed {
        let managed_before = self.metric_sum("shepard_managed_tasks", &[]);
        submit_job(self.nomad(), canary_version(job)).await;
        let running = poll::until_async("the canary running", WITHIN, TICK, || async {
            let allocs: Vec<Value> = self
                .job_alloc_json(&job.id)
                .await
                .into_iter()
                .filter(|a| a["ClientStatus"] == "running" && a["DesiredStatus"] == "run")
                .collect();
            (allocs.len() == 3).then_some(allocs)
        })
        .await;
        let canary = running
            .iter()
            .find(|a| a["DeploymentStatus"]["Canary"] == true)
            .unwrap_or_else(|| panic!("no canary among {running:?}"));
        let old = |name: String| {
            running
                .iter()
                .find(|a| a["Name"] == name.as_str() && a["JobVersion"] == 0)
                .unwrap_or_else(|| panic!("no old {name} among {running:?}"))
        };
        let (old_zero, old_one) = (
            old(format!("{}.greeter[0]", job.id)),
            old(format!("{}.greeter[1]", job.id)),
        );
        assert_eq!(
            canary["Name"], old_zero["Name"],
            "the canary reuses index 0"
        );
        assert_eq!(canary["NodeName"], old_zero["NodeName"]);
        // A canary whose check has not passed yet is down because Nomad just placed it.
        poll::until_async("the canary passing its check", WITHIN, TICK, || async {
            (self.passing_checks(&job.id).await == 3).then_some(())
        })
        .await;
        poll::until_async("the canary managed", WITHIN, TICK, || async {
            let now = self.metric_sum("shepard_managed_tasks", &[]);
            (now == managed_before + 1.0).then_some(())
        })
        .await;
        Placed {
            canary: id_of(canary),
            old_zero: id_of(old_zero),
            old_one: id_of(old_one),
        }
    }

    /// The record of `alloc_id`'s task `greet` on `sim-node-0`.
    pub async fn record_of(&self, alloc_id: &str) -> Option<Value> {
        let key = format!("shepard/state/sim-node-0/{alloc_id}/greet");
        serde_json::from_str(&self.kv_raw(&key).await?).ok()
    }

    /// The raw value of a Consul key, if it exists.
    pub async fn kv_raw(&self, key: &str) -> Option<String> {
        let url = format!("{}/v1/kv/{key}?raw", self.cluster.consul.http_addr());
        let answer = self.http.get(url).send().await.ok()?;
        if !answer.status().is_success() {
            return None;
        }
        answer.text().await.ok()
    }

    /// Every key under `prefix`.
    pub async fn kv_keys(&self, prefix: &str) -> Vec<String> {
        let url = format!("{}/v1/kv/{prefix}?keys", self.cluster.consul.http_addr());
        match self.http.get(url).send().await {
            Ok(answer) => answer.json().await.unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }

    /// What `alloc_id`'s trigger template rendered (on `sim-node-0`).
    pub fn rendered_trigger(&self, alloc_id: &str) -> String {
        let path = self
            .cluster
            .sim
            .data_dir()
            .join("sim-node-0/alloc")
            .join(alloc_id)
            .join("greet/local/shepard.tpl");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Promotes `job`'s latest deployment once its canary is healthy.
    pub async fn promote(&self, job: &str, canary: &str) {
        poll::until_async("the canary healthy", WITHIN, TICK, || async {
            let stub = self.alloc_stub(job, canary).await;
            (stub["DeploymentStatus"]["Healthy"] == true).then_some(())
        })
        .await;
        let url = format!("{}/v1/job/{job}/deployment", self.nomad());
        let deployment: Value = self
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = deployment["ID"].as_str().expect("a deployment").to_string();
        let url = format!("{}/v1/deployment/promote/{id}", self.nomad());
        let answer = self
            .http
            .post(url)
            .json(&json!({"DeploymentID": id, "All": true}))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{:?}", answer.text().await);
    }
}
