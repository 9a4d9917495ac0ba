//! SIGTERM to an agent holding a restart slot: it starts nothing new, releases its slots
//! (at once, without Consul's lock delay), destroys its session and exits within 5 s; a new
//! agent on the node finishes the rollout.

mod e2e;

use std::path::Path;
use std::time::{Duration, Instant};

use e2e::World;
use serde_json::Value;
use shepard_testkit::{GreetJob, poll};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_slots_destroys_the_session_and_exits_quickly() {
    let mut world = World::start(3, &[]).await;
    let mut job = GreetJob::new("term", 6, "term/config");
    job.max_parallel = 2;
    job.min_healthy_time = Duration::from_secs(3);
    world.run_job(job).await;

    world.put_config("term", "name: two\n").await;
    let (node, session) = poll::until_async(
        "a restart slot to be held",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || async { world.a_slot_holder("term").await },
    )
    .await;
    let index = world
        .cluster
        .sim
        .nodes()
        .iter()
        .position(|n| n.name == node)
        .expect("holder node");

    let sent = Instant::now();
    let status = world.cluster.agents[index].signal_and_wait("TERM", Duration::from_secs(10));
    let took = sent.elapsed();
    assert!(status.success(), "exit status {status}");
    assert!(
        took < Duration::from_secs(5),
        "the agent took {took:?} to exit"
    );

    let sessions = world.sessions().await;
    assert!(
        !sessions.contains(&session),
        "session {session} still exists"
    );
    let held: Vec<String> = world.slot_sessions("term").await;
    assert!(
        !held.contains(&session),
        "a slot is still held by the stopped agent"
    );

    let shepard = Path::new(env!("CARGO_BIN_EXE_shepard")).to_path_buf();
    world.cluster.restart_agent(
        &shepard,
        index,
        &["--consul-session-ttl", "10s", "--consul-lock-delay", "1s"],
    );
    world
        .wait_rollout_state("term", "complete", Duration::from_secs(90))
        .await;
}

impl World {
    async fn slot_entries(&self, job: &str) -> Vec<Value> {
        let url = format!(
            "{}/v1/kv/shepard/locks/default/{job}/greeter/greet/restart_lock/?recurse",
            self.cluster.consul.http_addr()
        );
        match reqwest::get(url).await {
            Ok(answer) => answer.json().await.unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }

    /// Node and session of a held slot of `job`.
    async fn a_slot_holder(&self, job: &str) -> Option<(String, String)> {
        self.slot_entries(job).await.iter().find_map(|e| {
            let session = e["Session"].as_str()?.to_string();
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(e["Value"].as_str()?)
                .ok()?;
            let holder: Value = serde_json::from_slice(&bytes).ok()?;
            Some((holder["node"].as_str()?.to_string(), session))
        })
    }

    async fn slot_sessions(&self, job: &str) -> Vec<String> {
        self.slot_entries(job)
            .await
            .iter()
            .filter_map(|e| e["Session"].as_str().map(str::to_string))
            .collect()
    }

    async fn sessions(&self) -> Vec<String> {
        let url = format!("{}/v1/session/list", self.cluster.consul.http_addr());
        let list: Vec<Value> = reqwest::get(url).await.unwrap().json().await.unwrap();
        list.iter()
            .filter_map(|s| s["ID"].as_str().map(str::to_string))
            .collect()
    }
}
