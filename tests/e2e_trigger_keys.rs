//! Trigger keys end to end (real Consul, nomad-sim, one node with a real agent): job `web` runs
//! in namespaces `default` and `staging`, one allocation each on the node, both reading
//! `web/config`. With the legacy trigger template both allocations render the same key: a
//! configuration change restarts neither (while job `api`, reading the same key, rolls out),
//! the problem shows in `shepard status`, the allocation records and
//! `shepard_problems_total`; once the staging job is stopped the default one rolls out. With
//! the alloc-ID template both roll out, each through its own key.

mod e2e;

use std::process::Output;
use std::time::Duration;

use e2e::World;
use serde_json::Value;
use shepard_testkit::{GreetJob, locate_binary, poll, submit_job};

const CONFIG: &str = "web/config";
const WITHIN: Duration = Duration::from_secs(60);
const TICK: Duration = Duration::from_millis(100);

fn greeter(id: &str, namespace: &str, legacy: bool) -> GreetJob {
    let mut job = GreetJob::new(id, 1, CONFIG);
    job.namespace = namespace.into();
    job.legacy_trigger = legacy;
    job.min_healthy_time = Duration::from_secs(1);
    job
}

async fn get(url: String) -> Option<Value> {
    let answer = reqwest::get(url).await.ok()?;
    if !answer.status().is_success() {
        return None;
    }
    answer.json().await.ok()
}

/// Registers job `web` in both namespaces and waits until the agent manages both tasks.
async fn run_web_twice(world: &World, legacy: bool) {
    world.put_config("web", "name: one\n").await;
    for namespace in ["default", "staging"] {
        let job = greeter("web", namespace, legacy);
        submit_job(
            world.cluster.sim.addr(),
            job.to_json(&locate_binary("greet")),
        )
        .await;
    }
    poll::until_async("both web tasks managed", WITHIN, TICK, || async {
        (world.metric_sum("shepard_managed_tasks", &[]) == 2.0).then_some(())
    })
    .await;
}

/// The running allocation of `web` in `namespace`.
async fn web_alloc(world: &World, namespace: &str) -> Value {
    let url = format!(
        "{}/v1/job/web/allocations?namespace={namespace}",
        world.cluster.sim.addr()
    );
    poll::until_async("the web allocation running", WITHIN, TICK, || async {
        let allocs = get(url.clone()).await?;
        allocs
            .as_array()?
            .iter()
            .find(|a| a["ClientStatus"] == "running")
            .cloned()
    })
    .await
}

fn restarts(alloc: &Value) -> u64 {
    alloc["TaskStates"]["greet"]["Restarts"]
        .as_u64()
        .unwrap_or(0)
}

fn alloc_id(alloc: &Value) -> String {
    alloc["ID"].as_str().unwrap_or_default().to_string()
}

/// The agent's record of an allocation's task.
async fn record(world: &World, alloc_id: &str) -> Option<Value> {
    let url = format!(
        "{}/v1/kv/shepard/state/sim-node-0/{alloc_id}/greet?raw",
        world.cluster.consul.http_addr()
    );
    get(url).await
}

async fn rollout_state(world: &World, namespace: &str) -> Option<String> {
    let url = format!(
        "{}/v1/kv/shepard/rollouts/{namespace}/web/greeter/greet?raw",
        world.cluster.consul.http_addr()
    );
    let record = get(url).await?;
    record["state"].as_str().map(str::to_string)
}

/// Waits until the rollout of `web` in `namespace` is in `state`; fails with the KV content
/// and the agent's log otherwise.
async fn wait_rollout(world: &World, namespace: &str, state: &str) {
    let deadline = std::time::Instant::now() + WITHIN;
    while rollout_state(world, namespace).await.as_deref() != Some(state) {
        assert!(
            std::time::Instant::now() < deadline,
            "rollout of web in {namespace} not {state} after {WITHIN:?}\n{}",
            world.failure_report(40).await
        );
        tokio::time::sleep(TICK).await;
    }
}

async fn key_exists(world: &World, key: &str) -> bool {
    let url = format!("{}/v1/kv/{key}", world.cluster.consul.http_addr());
    reqwest::get(url)
        .await
        .is_ok_and(|a| a.status().is_success())
}

async fn shepard_status(world: &World) -> String {
    let output: Output = tokio::process::Command::new(env!("CARGO_BIN_EXE_shepard"))
        .arg("status")
        .env_clear()
        .env("CONSUL_HTTP_ADDR", world.cluster.consul.http_addr())
        .output()
        .await
        .expect("run shepard status");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const SHARED: &str = "render the same trigger key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_layout_same_job_in_two_namespaces_restarts_neither_until_one_is_gone() {
    let world = World::start(1, &[]).await;
    run_web_twice(&world, true).await;
    let (default, staging) = (
        web_alloc(&world, "default").await,
        web_alloc(&world, "staging").await,
    );
    let ids = [alloc_id(&default), alloc_id(&staging)];
    poll::until_async("both records name the problem", WITHIN, TICK, || async {
        for id in &ids {
            let problem = record(&world, id).await?["problem"].as_str()?.to_string();
            problem.contains(SHARED).then_some(())?;
        }
        Some(())
    })
    .await;
    // A job without a conflict reads the same configuration key: it shows when the change has
    // been acted on.
    world.run_job(greeter("api", "default", true)).await;

    world.put_config("web", "name: two\n").await;
    world.wait_rollout_state("api", "complete", WITHIN).await;
    for namespace in ["default", "staging"] {
        wait_rollout(&world, namespace, "rolling").await;
    }
    for (namespace, id) in [("default", &ids[0]), ("staging", &ids[1])] {
        let alloc = web_alloc(&world, namespace).await;
        assert_eq!(alloc_id(&alloc), *id);
        assert_eq!(restarts(&alloc), 0, "web in {namespace} was restarted");
        let record = record(&world, id).await.expect("record");
        assert_eq!(record["phase"], "drifted", "{record}");
        assert!(
            record["problem"]
                .as_str()
                .unwrap_or_default()
                .contains(SHARED)
        );
    }
    assert!(
        !key_exists(&world, "shepard/keys/sim-node-0/web/greeter/greet/0").await,
        "the shared trigger key was written"
    );
    assert!(world.metric_sum("shepard_problems_total", &[("kind", "shared_trigger_key")]) > 0.0);
    let status = shepard_status(&world).await;
    assert_eq!(status.matches("PROBLEM ").count(), 2, "{status}");

    // The staging job goes: the key names the default allocation alone again.
    let stop = format!("{}/v1/job/web?namespace=staging", world.cluster.sim.addr());
    let answer = reqwest::Client::new().delete(stop).send().await.unwrap();
    assert!(answer.status().is_success());
    world.wait_rollout_state("web", "complete", WITHIN).await;
    let alloc = web_alloc(&world, "default").await;
    assert_eq!(restarts(&alloc), 1);
    let record = record(&world, &ids[0]).await.expect("record");
    assert_eq!(record["phase"], "in_sync", "{record}");
    assert!(record.get("problem").is_none(), "{record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alloc_id_layout_same_job_in_two_namespaces_restarts_each_through_its_own_key() {
    let world = World::start(1, &[]).await;
    run_web_twice(&world, false).await;
    // Both run the first configuration before it changes.
    for namespace in ["default", "staging"] {
        let id = alloc_id(&web_alloc(&world, namespace).await);
        poll::until_async("the web record in sync", WITHIN, TICK, || async {
            (record(&world, &id).await?["phase"] == "in_sync").then_some(())
        })
        .await;
    }
    world.put_config("web", "name: two\n").await;
    for namespace in ["default", "staging"] {
        wait_rollout(&world, namespace, "complete").await;
        let alloc = web_alloc(&world, namespace).await;
        assert_eq!(restarts(&alloc), 1, "web in {namespace}");
        let id = alloc_id(&alloc);
        let key = format!("shepard/keys/sim-node-0/{namespace}/web/greeter/greet/{id}");
        assert!(key_exists(&world, &key).await, "{key}");
        let record = record(&world, &id).await.expect("record");
        assert!(record.get("problem").is_none(), "{record}");
    }
    assert_eq!(
        world.metric_sum("shepard_problems_total", &[("kind", "shared_trigger_key")]),
        0.0
    );
}
