//! With three agents, only the holder of `locks/gc` deletes cluster-wide entries: the
//! per-agent `shepard_gc_deleted_keys_total` of the cluster-wide kinds counts every deleted key
//! on the holder and none on the others. When the holder stops, another agent takes the lock
//! and carries on alone. Unparseable keys survive every agent's passes and are counted. An
//! agent's exposition with the GC metrics passes `promtool check metrics`.

mod e2e;
mod gc_support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::World;
use gc_support::{agent_metric, cluster_deletes, gc_holder, kv_tree, put};
use shepard_testkit::poll;

/// Cluster-wide garbage: rollouts and locks of `jobs` jobs that Nomad never heard of.
async fn plant_garbage(consul: &str, tag: &str, jobs: usize) -> Vec<String> {
    let mut keys = Vec::new();
    for j in 0..jobs {
        let task = format!("default/{tag}-{j}/web/app");
        keys.push(format!("shepard/rollouts/{task}"));
        keys.push(format!("shepard/locks/{task}/task_lock"));
        keys.push(format!("shepard/locks/{task}/restart_lock/0"));
    }
    for key in &keys {
        put(consul, key, "{}").await;
    }
    keys
}

async fn wait_gone(consul: &str, keys: &[String]) {
    poll::until_async(
        "the planted garbage deleted",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            let tree = kv_tree(consul, "shepard/").await;
            keys.iter().all(|k| !tree.contains_key(k)).then_some(())
        },
    )
    .await;
}

fn agent_index(node: &str) -> usize {
    node.strip_prefix("sim-node-").unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_gc_lock_holder_deletes_cluster_wide_entries() {
    let mut world = World::start(3, &["--resync-interval", "5s"]).await;
    let consul = world.cluster.consul.http_addr();
    put(&consul, "shepard/notes", "kept").await;
    put(&consul, "shepard/state/only-two", "kept").await;
    let holder = agent_index(&gc_holder(&consul, Duration::from_secs(20)).await);

    let first = plant_garbage(&consul, "first", 4).await;
    wait_gone(&consul, &first).await;
    let counts: Vec<f64> = world.cluster.agents.iter().map(cluster_deletes).collect();
    for (i, count) in counts.iter().enumerate() {
        let expected = if i == holder { first.len() as f64 } else { 0.0 };
        assert_eq!(
            *count, expected,
            "agent {i} (holder {holder}) deletes: {counts:?}"
        );
    }
    for (i, agent) in world.cluster.agents.iter().enumerate() {
        let leader = agent_metric(agent, "shepard_gc_leader", &[]);
        assert_eq!(
            leader,
            f64::from(u8::from(i == holder)),
            "agent {i} shepard_gc_leader"
        );
    }

    // The holder stops (releasing the lock); another agent takes over.
    world.cluster.agents[holder].signal_and_wait("TERM", Duration::from_secs(15));
    let successor = poll::until_async(
        "another agent holding the GC lock",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            let node = gc_holder(&consul, Duration::from_secs(20)).await;
            Some(agent_index(&node)).filter(|i| *i != holder)
        },
    )
    .await;
    let second = plant_garbage(&consul, "second", 4).await;
    wait_gone(&consul, &second).await;
    for (i, agent) in world.cluster.agents.iter().enumerate() {
        if i == holder {
            continue;
        }
        let expected = if i == successor {
            second.len() as f64
        } else {
            0.0
        };
        assert_eq!(
            cluster_deletes(agent),
            expected,
            "agent {i} after the handover"
        );
    }

    let tree = kv_tree(&consul, "shepard/").await;
    assert!(tree.contains_key("shepard/notes") && tree.contains_key("shepard/state/only-two"));
    for (i, agent) in world.cluster.agents.iter().enumerate() {
        if i != holder {
            assert_eq!(
                agent_metric(agent, "shepard_gc_unparseable_keys", &[]),
                2.0,
                "agent {i}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_exposition_with_gc_metrics_passes_promtool() {
    let world = World::start(1, &[]).await;
    let agent = &world.cluster.agents[0];
    gc_support::wait_for_a_pass(agent, Duration::from_secs(20)).await;
    let (_, body) = agent.get("/metrics").unwrap();
    for name in [
        "shepard_gc_pass_duration_seconds_count",
        "shepard_gc_last_pass_timestamp_seconds",
        "shepard_gc_unparseable_keys",
        "shepard_gc_leader",
    ] {
        assert!(
            body.lines().any(|l| l.starts_with(name)),
            "{name} missing:\n{body}"
        );
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (run `make test`, which installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_cannot_list_nomad_collects_no_cluster_wide_keys_until_it_can() {
    let world = World::start(3, &["--resync-interval", "5s"]).await;
    let consul = world.cluster.consul.http_addr();
    let nomad = world.cluster.sim.addr().to_string();
    let holder = agent_index(&gc_holder(&consul, Duration::from_secs(20)).await);
    let agent = &world.cluster.agents[holder];
    let other = (holder + 1) % 3;
    poll::until_async(
        "the holder's cluster listings answered",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            let answered = ["nodes", "jobs", "allocations"].iter().all(|op| {
                let ok = [("api", "nomad"), ("op", op), ("code", "200")];
                agent_metric(agent, "shepard_api_requests_total", &ok) > 0.0
            });
            answered.then_some(())
        },
    )
    .await;
    let fault = format!("/sim/node/sim-node-{holder}/fault");
    let answer = reqwest::Client::new()
        .put(format!("{nomad}{fault}"))
        .json(&serde_json::json!({"status": 500}))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    // A node listing change ends the holder's blocking query; its next call fails.
    gc_support::sim(
        &nomad,
        reqwest::Method::POST,
        &format!("/sim/node/sim-node-{other}/down"),
    )
    .await;
    gc_support::sim(
        &nomad,
        reqwest::Method::POST,
        &format!("/sim/node/sim-node-{other}/up"),
    )
    .await;
    poll::until_async(
        "the holder's node listing failing",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            let failed = agent_metric(
                agent,
                "shepard_api_requests_total",
                &[("api", "nomad"), ("op", "nodes"), ("code", "500")],
            );
            (failed > 0.0).then_some(())
        },
    )
    .await;

    let garbage = plant_garbage(&consul, "meanwhile", 2).await;
    gc_support::wait_for_a_pass(agent, Duration::from_secs(20)).await;
    gc_support::wait_for_a_pass(agent, Duration::from_secs(20)).await;
    let tree = kv_tree(&consul, "shepard/").await;
    for key in &garbage {
        assert!(tree.contains_key(key), "{key} deleted from a stale view");
    }
    assert_eq!(cluster_deletes(agent), 0.0);

    gc_support::sim(&nomad, reqwest::Method::DELETE, &fault).await;
    wait_gone(&consul, &garbage).await;
    assert_eq!(cluster_deletes(agent), garbage.len() as f64);
}
