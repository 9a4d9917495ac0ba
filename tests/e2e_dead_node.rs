//! No silent stall, end to end. A node dies with its agent while one of its allocations holds
//! the only restart slot: the agent that would end the claim is gone, and Nomad lists the
//! allocation as lost; the rollout leader ends the claim, so the rollout completes. An agent
//! that dies while its allocations wait to be restarted (Nomad still runs them): nothing can
//! restart them, so the rollout goes `stuck` after `healthy_deadline` and the alert's metric
//! says so; the agent back and the rollout resumed, it completes. An agent that dies in the
//! middle of a restart (Nomad still runs the allocation): the claim stays, the rollout goes
//! `stuck` after twice `healthy_deadline`; the agent back, it calls its restart stuck (past
//! its deadline, unproven), and once resumed the rollout completes.

mod e2e;

use std::time::Duration;

use e2e::World;
use serde_json::Value;
use shepard_testkit::{GreetJob, poll};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claim_of_an_allocation_lost_with_its_node_does_not_stall_the_rollout() {
    let mut world = World::start(3, &[]).await;
    let mut job = GreetJob::new("deadnode", 6, "deadnode/config");
    job.max_parallel = 1;
    job.min_healthy_time = Duration::from_secs(2);
    job.healthy_deadline = Duration::from_secs(30);
    world.run_job(job).await;

    world.put_config("deadnode", "name: two\n").await;
    let holder = poll::until_async(
        "a restart slot to be taken",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || async { world.slot_holder_node("deadnode").await },
    )
    .await;
    // The claim is written after the slot is taken: wait for it, so the agent dies with it.
    poll::until_async(
        "the slot holder's record to claim the slot",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || async { world.claims_on(&holder).await.then_some(()) },
    )
    .await;
    let victim = world.node_index(&holder);
    // The node dies: its agent first, then Nomad marks it down and its allocations lost.
    let status = world.cluster.agents[victim].signal_and_wait("KILL", Duration::from_secs(5));
    assert!(!status.success());
    let url = format!("{}/sim/node/{holder}/down", world.cluster.sim.addr());
    let answer = reqwest::Client::new().post(url).send().await.unwrap();
    assert!(answer.status().is_success(), "{answer:?}");

    world
        .wait_rollout_state("deadnode", "complete", Duration::from_secs(90))
        .await;
    // Every allocation that runs (replacements included) serves the new configuration.
    let greetings = world.passing_greetings("deadnode").await;
    assert_eq!(
        greetings,
        vec!["Hello, two"; 6],
        "{}",
        world.failure_report(30).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_whose_drifted_allocations_nobody_can_restart_goes_stuck() {
    let mut world = World::start(3, &[]).await;
    let mut job = GreetJob::new("stall", 6, "stall/config");
    job.max_parallel = 1;
    job.min_healthy_time = Duration::from_secs(1);
    job.healthy_deadline = Duration::from_secs(10);
    world.run_job(job).await;

    world.put_config("stall", "name: two\n").await;
    // The operator pauses the new rollout at once, so that no new restart starts while node
    // 2's agent records its allocations' drift; it dies with one of them still drifted.
    poll::until_async(
        "the rollout to be created",
        Duration::from_secs(30),
        Duration::from_millis(5),
        || async { world.rollout_state("stall").await.map(|_| ()) },
    )
    .await;
    let paused = world
        .operator(&["rollout", "pause", "default/stall/greeter/greet"])
        .await;
    assert!(paused.status.success(), "{paused:?}");
    let node = world.cluster.sim.nodes()[2].name.clone();
    poll::until_async(
        "node 2 with a drifted allocation and none restarting",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || async {
            let phases = world.phases_on(&node).await;
            let drifted = phases.iter().any(|p| p == "drifted" || p == "waiting");
            let restarting = phases
                .iter()
                .any(|p| matches!(p.as_str(), "triggered" | "restarted" | "verifying"));
            (drifted && !restarting).then_some(())
        },
    )
    .await;
    let status = world.cluster.agents[2].signal_and_wait("KILL", Duration::from_secs(5));
    assert!(!status.success());
    let resumed = world
        .operator(&["rollout", "resume", "default/stall/greeter/greet"])
        .await;
    assert!(resumed.status.success(), "{resumed:?}");

    // The others are restarted; then nothing moves for 10 s + 15 s.
    world
        .wait_rollout_state("stall", "stuck", Duration::from_secs(90))
        .await;
    poll::until_async(
        "shepard_rollout_stuck on /metrics",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async { (world.metric_max("shepard_rollout_stuck") == 1.0).then_some(()) },
    )
    .await;
    let reason = world.rollout_reason("stall").await;
    assert!(reason.starts_with("no progress for"), "{reason}");

    // The operator brings the agent back and resumes the rollout.
    let shepard = std::path::Path::new(env!("CARGO_BIN_EXE_shepard")).to_path_buf();
    world.cluster.restart_agent(
        &shepard,
        2,
        &["--consul-session-ttl", "10s", "--consul-lock-delay", "1s"],
    );
    let resumed = world
        .operator(&["rollout", "resume", "default/stall/greeter/greet"])
        .await;
    assert!(resumed.status.success(), "{resumed:?}");
    world
        .wait_rollout_state("stall", "complete", Duration::from_secs(90))
        .await;
    assert_eq!(
        world.passing_greetings("stall").await,
        vec!["Hello, two"; 6]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_whose_agent_died_mid_way_stalls_the_rollout_until_the_agent_is_back() {
    let agent_args = ["--consul-session-ttl", "10s", "--consul-lock-delay", "1s"];
    let mut world = World::start(3, &[]).await;
    let mut job = GreetJob::new("midway", 6, "midway/config");
    job.max_parallel = 1;
    job.min_healthy_time = Duration::from_secs(1);
    job.healthy_deadline = Duration::from_secs(10);
    world.run_job(job).await;

    world.put_config("midway", "name: two\n").await;
    let holder = poll::until_async(
        "a restart slot to be taken",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || async { world.slot_holder_node("midway").await },
    )
    .await;
    poll::until_async(
        "the slot holder's record to claim the slot",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || async { world.claims_on(&holder).await.then_some(()) },
    )
    .await;
    // The agent dies mid-restart; its node and the allocation live on, so no one else may end
    // the claim: the restart may yet be landing.
    let victim = world.node_index(&holder);
    let status = world.cluster.agents[victim].signal_and_wait("KILL", Duration::from_secs(5));
    assert!(!status.success());

    // Nothing moves for 2 × 10 s + 15 s: stuck, and the alert's metric says so (on a live
    // leader's /metrics).
    world
        .wait_rollout_state("midway", "stuck", Duration::from_secs(90))
        .await;
    let reason = world.rollout_reason("midway").await;
    assert!(
        reason.starts_with("no progress for") && reason.ends_with("1 restarting"),
        "{reason}"
    );
    poll::until_async(
        "shepard_rollout_stuck on /metrics",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async { (world.metric_max("shepard_rollout_stuck") == 1.0).then_some(()) },
    )
    .await;

    // The agent back, past the restart's deadline and with no check seen since it: it can
    // only call the restart stuck. The operator resumes past it and the rollout completes.
    let shepard = std::path::Path::new(env!("CARGO_BIN_EXE_shepard")).to_path_buf();
    world.cluster.restart_agent(&shepard, victim, &agent_args);
    poll::until_async(
        "the returned agent to judge its restart",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || async {
            let phases = world.phases_on(&holder).await;
            phases.iter().any(|p| p == "stuck").then_some(())
        },
    )
    .await;
    let resumed = world
        .operator(&["rollout", "resume", "default/midway/greeter/greet"])
        .await;
    assert!(resumed.status.success(), "{resumed:?}");
    world
        .wait_rollout_state("midway", "complete", Duration::from_secs(90))
        .await;
    for alloc in world.running_allocs("midway").await {
        assert_eq!(alloc.restarts, 1, "alloc {}", alloc.id);
    }
    assert_eq!(
        world.passing_greetings("midway").await,
        vec!["Hello, two"; 6]
    );
}

impl World {
    /// The phases of the allocation records on `node`.
    async fn phases_on(&self, node: &str) -> Vec<String> {
        self.records_on(node)
            .await
            .iter()
            .filter_map(|r| r["phase"].as_str().map(str::to_owned))
            .collect()
    }

    async fn records_on(&self, node: &str) -> Vec<Value> {
        use base64::Engine;
        let url = format!(
            "{}/v1/kv/shepard/state/{node}/?recurse",
            self.cluster.consul.http_addr()
        );
        let Ok(answer) = reqwest::get(url).await else {
            return Vec::new();
        };
        let entries: Vec<Value> = answer.json().await.unwrap_or_default();
        entries
            .iter()
            .filter_map(|e| {
                e["Value"]
                    .as_str()
                    .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            })
            .collect()
    }

    async fn rollout_reason(&self, job: &str) -> String {
        let url = format!(
            "{}/v1/kv/shepard/rollouts/default/{job}/greeter/greet?raw",
            self.cluster.consul.http_addr()
        );
        let record: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        record["reason"].as_str().unwrap_or_default().to_owned()
    }

    /// Whether an allocation record on `node` claims a restart slot (an in-flight phase).
    async fn claims_on(&self, node: &str) -> bool {
        self.records_on(node).await.iter().any(|r| {
            r["slot"].is_u64()
                && matches!(
                    r["phase"].as_str(),
                    Some("triggered" | "restarted" | "verifying")
                )
        })
    }
}
