//! Shared by the operator command tests: a real Consul holding realistic records (built with
//! the decision core's own types, fixed timestamps), and a runner for the real `shepard`
//! binary with a cleared environment.

// Each operator test binary uses a part of this module.
#![allow(dead_code)]

use std::process::{Command, Output};
use std::time::Duration;

use shepard::api_metrics::ApiMetrics;
use shepard::consul::{Consistency, ConsulClient};
use shepard::operator::Connection;
use shepard::tls::TlsConfig;
use shepard_reconcilers::model::{
    AllocRecord, Fingerprint, Phase, RolloutRecord, RolloutState, TaskId,
};
use shepard_reconcilers::{Key, Prefix, Timestamp};
use shepard_testkit::ConsulDev;

/// `t(s)`: `s` seconds after 2023-11-14T22:13:20Z.
pub fn t(secs: u64) -> Timestamp {
    Timestamp::from_unix_secs(1_700_000_000 + secs)
}

/// The web task most tests use.
pub fn web() -> TaskId {
    TaskId::new("default", "web", "web", "app")
}

/// A task whose job ID and task name need escaping in keys.
pub fn batch() -> TaskId {
    TaskId::new("default", "batch/run-1", "work", "do it")
}

/// A fixed allocation ID per task and index.
pub fn alloc_id(task_no: u32, index: u32) -> String {
    format!("{task_no:04x}{index:04x}-0000-4000-8000-00000000000{index}")
}

/// A rollout record of `task` in `state`, generation 3, created at t(10).
pub fn rollout(state: RolloutState, instances: u32) -> RolloutRecord {
    RolloutRecord {
        id: "r-web-3".into(),
        generation: 3,
        state,
        max_parallel: 2,
        min_healthy_time: Duration::from_secs(10),
        healthy_deadline: Duration::from_secs(300),
        instance_count: instances,
        reason: format!("configuration changed on {instances} of {instances} allocations"),
        created_at: t(10),
        created_by: "node-1".into(),
        updated_at: t(12),
        finished_at: None,
        skipped: Default::default(),
        aborted_targets: None,
        progress: None,
    }
}

/// An allocation record in `phase`; in-flight phases claim slot `index % 2`, triggered at
/// t(20 + index).
pub fn alloc(task: &TaskId, index: u32, phase: Phase) -> AllocRecord {
    let mut r = AllocRecord::new(task.clone(), index, t(30 + u64::from(index)));
    r.phase = phase;
    r.run_started_at = Some(t(1));
    r.applied
        .insert("local/config.yml".into(), Fingerprint::new("sha256:aaaa"));
    if phase != Phase::InSync {
        r.target
            .insert("local/config.yml".into(), Fingerprint::new("sha256:bbbb"));
        r.drift_detected_at = Some(t(11));
    }
    if phase.in_flight() {
        r.slot = Some(index % 2);
        r.token = Some(format!("tok-{index}"));
        r.claimed_at = Some(t(20 + u64::from(index)));
        r.triggered_at = Some(t(20 + u64::from(index)));
        r.generation = Some(3);
        r.restarts_at_trigger = Some(0);
    }
    if phase == Phase::Stuck {
        r.stuck_at = Some(t(320));
        r.last_error = Some("missed healthy_deadline: check greeter-http is critical".to_owned());
    }
    r
}

/// A real Consul and a client for it.
pub struct Kv {
    pub consul: ConsulDev,
    pub client: ConsulClient,
    pub prefix: Prefix,
}

impl Kv {
    pub fn start() -> Self {
        let consul = ConsulDev::start();
        let client = ConsulClient::new(
            &consul.http_addr(),
            None,
            &TlsConfig::default(),
            ApiMetrics::unregistered(),
        )
        .unwrap();
        Kv {
            consul,
            client,
            prefix: Prefix::default(),
        }
    }

    pub fn connection(&self) -> Connection {
        Connection {
            client: self.client.clone(),
            prefix: self.prefix.clone(),
        }
    }

    pub async fn put(&self, key: &Key, value: &str) {
        self.client
            .kv_put(&key.render(&self.prefix), value.as_bytes(), 0)
            .await
            .unwrap();
    }

    pub async fn put_rollout(&self, task: &TaskId, record: &RolloutRecord) {
        self.put(&Key::Rollout(task.clone()), &record.to_json())
            .await;
    }

    pub async fn put_alloc(&self, node: &str, alloc_id: &str, record: &AllocRecord) {
        self.put(
            &Key::state(node, alloc_id, &record.task.task),
            &record.to_json(),
        )
        .await;
    }

    pub async fn rollout(&self, task: &TaskId) -> (RolloutRecord, u64) {
        let key = Key::Rollout(task.clone()).render(&self.prefix);
        let pair = self
            .client
            .kv_get(&key, Consistency::Consistent)
            .await
            .unwrap()
            .unwrap();
        let record = RolloutRecord::from_json(std::str::from_utf8(&pair.value).unwrap()).unwrap();
        (record, pair.modify_index)
    }

    /// Six allocations of the web task on three nodes, mid-rollout: two in sync, one
    /// verifying, one triggered, two waiting. The batch task is stuck on one of two
    /// allocations; a third task has records but no rollout; one rollout record is corrupt.
    pub async fn fleet(&self) {
        self.put_rollout(&web(), &rollout(RolloutState::Rolling, 6))
            .await;
        let phases = [
            Phase::InSync,
            Phase::InSync,
            Phase::Verifying,
            Phase::Triggered,
            Phase::Waiting,
            Phase::Waiting,
        ];
        for (index, phase) in (0u32..).zip(phases) {
            let node = format!("node-{}", index % 3 + 1);
            let record = alloc(&web(), index, phase);
            self.put_alloc(&node, &alloc_id(1, index), &record).await;
        }
        let mut stuck = rollout(RolloutState::Stuck, 2);
        stuck.id = "r-batch-1".into();
        stuck.generation = 1;
        stuck.reason = format!(
            "allocation {} is stuck: missed healthy_deadline: check greeter-http is critical",
            alloc_id(2, 0)
        );
        self.put_rollout(&batch(), &stuck).await;
        self.put_alloc("node-1", &alloc_id(2, 0), &alloc(&batch(), 0, Phase::Stuck))
            .await;
        self.put_alloc(
            "node-2",
            &alloc_id(2, 1),
            &alloc(&batch(), 1, Phase::Waiting),
        )
        .await;
        let quiet = TaskId::new("default", "cache", "cache", "redis");
        self.put_alloc("node-3", &alloc_id(3, 0), &alloc(&quiet, 0, Phase::InSync))
            .await;
        self.put(
            &Key::Rollout(TaskId::new("default", "broken", "g", "t")),
            "{\"state\": ",
        )
        .await;
    }

    /// Runs the binary with `args` against this Consul, environment cleared.
    pub fn shepard(&self, args: &[&str]) -> Output {
        shepard(args, &[("CONSUL_HTTP_ADDR", &self.consul.http_addr())])
    }
}

/// Runs the built binary with a cleared environment plus `env`.
pub fn shepard(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shepard"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run shepard")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
