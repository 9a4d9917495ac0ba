//! `make demo`: a real Consul, a simulated three-node Nomad cluster running six real greeter
//! processes, and one real shepard agent per node. It changes the greeters' configuration and
//! shows the coordinated rolling restart live, then pushes a bad configuration and shows the
//! rollout stop after two restarts while four instances keep serving, then fixes it.

#[path = "demo/view.rs"]
mod view;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use shepard_testkit::{Cluster, locate_binary};
use view::{Progress, World};

const JOB: &str = "hello-world";
const CONFIG_KEY: &str = "hello-world/config";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let shepard = locate_binary("shepard");
    println!(
        "shepard demo: Consul {}, nomad-sim with 3 nodes, 3 shepard agents",
        consul_version()
    );
    let cluster = tokio::task::spawn_blocking(move || {
        Cluster::start(
            &shepard,
            3,
            &["--consul-session-ttl", "10s", "--consul-lock-delay", "1s"],
        )
    })
    .await?;
    let world = World::new(cluster);
    println!("  consul      {}", world.consul_addr());
    for (node, agent) in world.cluster.sim.nodes().iter().zip(&world.cluster.agents) {
        println!(
            "  {:<11} nomad {}   shepard http://{}/metrics",
            node.name,
            node.addr,
            agent.listen()
        );
    }

    world.put(CONFIG_KEY, "name: Samantha\n").await?;
    let job = job_spec()?;
    world.submit(job).await?;
    println!(
        "\n▶ registered job {JOB}: 6 greeters, update {{ max_parallel = 2, min_healthy_time = \"2s\" }}"
    );
    world.wait_all_serving(6, "Hello, Samantha").await?;
    world.wait_managed(6).await?;
    println!("  all 6 allocations healthy and managed by shepard");

    println!("\n▶ consul kv put {CONFIG_KEY} 'name: SAMANTHA'");
    let seq = world.sim_seq().await?;
    let t0 = Instant::now();
    world.put(CONFIG_KEY, "name: SAMANTHA\n").await?;
    let mut progress = Progress::new(t0);
    let state = progress
        .follow(&world, JOB, &["complete"], Duration::from_secs(90))
        .await?;
    let took = t0.elapsed();
    let summary = world.restart_summary(seq).await?;
    println!("\n  rollout {state} in {:.1}s", took.as_secs_f64());
    println!(
        "  restarts per allocation: {:?}; at most {} down at once",
        summary.per_alloc, summary.max_down
    );
    println!(
        "  every greeter now answers: {:?}",
        world.distinct_greetings().await?
    );
    println!(
        "  Nomad's own change_mode = \"restart\" would have restarted all 6 at once: \
         the whole service down."
    );
    if summary.max_down > 2 || summary.per_alloc.iter().any(|n| *n != 1) {
        bail!("the rollout broke its limits: {summary:?}");
    }

    println!("\n▶ consul kv put {CONFIG_KEY} 'name: broken / healthy: false'  (a bad push)");
    let seq = world.sim_seq().await?;
    let t0 = Instant::now();
    world
        .put(CONFIG_KEY, "name: broken\nhealthy: false\n")
        .await?;
    let mut progress = Progress::new(t0);
    let state = progress
        .follow(&world, JOB, &["stuck"], Duration::from_secs(90))
        .await?;
    let summary = world.restart_summary(seq).await?;
    let restarted: usize = summary.per_alloc.iter().filter(|n| **n > 0).count();
    let serving = world.greetings_passing().await?;
    println!("\n  rollout {state}: {restarted} allocations restarted, then shepard stopped");
    println!(
        "  still serving the previous configuration: {} instances {:?}",
        serving.len(),
        dedup(&serving)
    );
    println!(
        "  /metrics: shepard_rollout_stuck = {} (the ShepardRolloutStuck alert fires on this)",
        world.metric_max("shepard_rollout_stuck")
    );
    if restarted > 2 {
        bail!("a bad push restarted {restarted} allocations");
    }

    println!("\n▶ consul kv put {CONFIG_KEY} 'name: Samantha'  (the fix)");
    let t0 = Instant::now();
    world.put(CONFIG_KEY, "name: Samantha\n").await?;
    let mut progress = Progress::new(t0);
    let state = progress
        .follow(&world, JOB, &["complete"], Duration::from_secs(120))
        .await?;
    println!(
        "\n  rollout {state} in {:.1}s; every greeter answers {:?}",
        t0.elapsed().as_secs_f64(),
        world.distinct_greetings().await?
    );

    println!(
        "\nstopping everything (demo took {:.0}s)",
        started.elapsed().as_secs_f64()
    );
    drop(world);
    Ok(())
}

/// The example job from `deploy/`, with the greeter binary of this build.
fn job_spec() -> anyhow::Result<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples/hello-world.nomad.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let mut job: Value = serde_json::from_str(&text).context("parse the example job")?;
    job["Job"]["TaskGroups"][0]["Tasks"][0]["Config"]["command"] =
        Value::String(locate_binary("greet").display().to_string());
    Ok(job)
}

fn consul_version() -> String {
    std::process::Command::new("consul")
        .arg("version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "(not found: run `make demo`)".into())
}

fn dedup(items: &[String]) -> Vec<String> {
    let mut unique: Vec<String> = items.to_vec();
    unique.sort();
    unique.dedup();
    unique
}
