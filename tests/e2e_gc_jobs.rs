//! Garbage collection of jobs and allocations that are gone, end to end (real Consul, nomad-sim,
//! real agents): a stopped job loses all its `keys/`, `state/`, `locks/` and `rollouts/`
//! entries within one resync interval while another job's stay as they were; an allocation
//! replaced on the same node loses its record and its own trigger key, while with the legacy
//! layout its successor keeps the shared trigger key; neither successor restarts.

mod e2e;
mod gc_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use e2e::World;
use gc_support::{Entry, job_allocs, kv_tree, sim, under, wait_all_stopped, wait_for_a_pass};
use reqwest::Method;
use shepard_testkit::{GreetJob, poll};

const RESYNC: Duration = Duration::from_secs(10);

fn greeter(name: &str, count: u32) -> GreetJob {
    let mut job = GreetJob::new(name, count, &format!("{name}/config"));
    job.min_healthy_time = Duration::from_secs(1);
    job
}

/// Runs the job and rolls a configuration change through it, so that it has entries of every
/// kind: triggers, records, slots, the leader lock and the rollout record.
async fn run_and_roll(world: &World, job: GreetJob) {
    let name = job.id.clone();
    world.run_job(job).await;
    world.put_config(&name, "name: two\n").await;
    world
        .wait_rollout_state(&name, "complete", Duration::from_secs(90))
        .await;
}

/// Entries of job `job` (task group `greeter`, task `greet`) by kind.
fn entries_of<'a>(
    tree: &'a std::collections::BTreeMap<String, Entry>,
    job: &str,
) -> Vec<(&'a str, &'a Entry)> {
    tree.iter()
        .filter(|(k, _)| {
            k.starts_with(&format!("shepard/rollouts/default/{job}/"))
                || k.starts_with(&format!("shepard/locks/default/{job}/"))
                || (k.starts_with("shepard/keys/") && k.contains(&format!("/{job}/greeter/")))
                || (k.starts_with("shepard/state/") && k.ends_with("/greet"))
        })
        .map(|(k, e)| (k.as_str(), e))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_jobs_entries_go_within_a_resync_interval_and_another_jobs_stay() {
    let world = World::start(3, &["--resync-interval", "10s"]).await;
    let consul = world.cluster.consul.http_addr();
    let nomad = world.cluster.sim.addr().to_string();
    run_and_roll(&world, greeter("gone", 3)).await;
    run_and_roll(&world, greeter("stays", 3)).await;

    let gone_allocs: Vec<String> = job_allocs(&nomad, "gone")
        .await
        .iter()
        .map(|a| a["ID"].as_str().unwrap().to_string())
        .collect();
    let before = kv_tree(&consul, "shepard/").await;
    let gone_prefixes: Vec<String> = [
        "shepard/rollouts/default/gone/".to_string(),
        "shepard/locks/default/gone/".to_string(),
    ]
    .into_iter()
    .chain((0..3).map(|i| format!("shepard/keys/sim-node-{i}/default/gone/")))
    .chain(
        gone_allocs
            .iter()
            .flat_map(|id| (0..3).map(move |i| format!("shepard/state/sim-node-{i}/{id}/"))),
    )
    .collect();
    let gone_refs: Vec<&str> = gone_prefixes.iter().map(String::as_str).collect();
    let gone_before = under(&before, &gone_refs);
    for kind in ["rollouts/", "locks/", "keys/", "state/"] {
        assert!(
            gone_before
                .keys()
                .any(|k| k.starts_with(&format!("shepard/{kind}"))),
            "job gone has {kind} entries before the stop: {gone_before:?}"
        );
    }
    let stays_before: Vec<(String, Entry)> = entries_of(&before, "stays")
        .into_iter()
        .filter(|(k, _)| !gone_allocs.iter().any(|id| k.contains(id.as_str())))
        .map(|(k, e)| (k.to_string(), e.clone()))
        .collect();
    assert!(stays_before.len() >= 3 + 3 + 2, "{stays_before:?}");

    sim(&nomad, Method::DELETE, "/v1/job/gone").await;
    wait_all_stopped(&nomad, "gone").await;
    let stopped = Instant::now();
    poll::until_async(
        "every entry of job gone deleted",
        RESYNC,
        Duration::from_millis(100),
        || async {
            let tree = kv_tree(&consul, "shepard/").await;
            under(&tree, &gone_refs).is_empty().then_some(())
        },
    )
    .await;
    let took = stopped.elapsed();

    let after = kv_tree(&consul, "shepard/").await;
    for (key, entry) in &stays_before {
        let now = after.get(key);
        let same = now.is_some_and(|e| e.value == entry.value || !key.starts_with("shepard/keys/"));
        assert!(now.is_some(), "{key} of job stays was deleted");
        assert!(same, "trigger {key} of job stays was rewritten");
    }
    for alloc in world.running_allocs("stays").await {
        assert_eq!(
            alloc.restarts, 1,
            "alloc {} of stays restarted again",
            alloc.id
        );
    }
    eprintln!("entries of the stopped job gone {took:?} after its allocations stopped");
}

/// Job `moved` (two allocations on one node) has rolled a change; allocation 0 is then
/// stopped and replaced. Returns the old allocation, its sibling and its successor, and the
/// KV tree from before the replacement.
async fn replace_alloc_0(
    world: &World,
    job: GreetJob,
) -> (String, String, String, BTreeMap<String, Entry>) {
    let consul = world.cluster.consul.http_addr();
    let nomad = world.cluster.sim.addr().to_string();
    run_and_roll(world, job).await;

    let allocs = job_allocs(&nomad, "moved").await;
    let old = allocs
        .iter()
        .find(|a| a["Name"] == "moved.greeter[0]")
        .map(|a| a["ID"].as_str().unwrap().to_string())
        .unwrap();
    let sibling = allocs
        .iter()
        .find(|a| a["Name"] == "moved.greeter[1]")
        .map(|a| a["ID"].as_str().unwrap().to_string())
        .unwrap();
    let before = kv_tree(&consul, "shepard/").await;
    sim(&nomad, Method::POST, &format!("/v1/allocation/{old}/stop")).await;
    let successor = poll::until_async(
        "the successor of alloc 0 running",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            job_allocs(&nomad, "moved").await.iter().find_map(|a| {
                let fresh = a["Name"] == "moved.greeter[0]" && a["ID"] != old.as_str();
                (fresh && a["ClientStatus"] == "running")
                    .then(|| a["ID"].as_str().unwrap().to_string())
            })
        },
    )
    .await;
    (old, sibling, successor, before)
}

/// Waits until the old allocation's record is gone and the successor's written, then for
/// one more pass of the agent; returns the KV tree then.
async fn settled_after_replacement(
    world: &World,
    old: &str,
    successor: &str,
) -> BTreeMap<String, Entry> {
    let consul = world.cluster.consul.http_addr();
    let old_record = format!("shepard/state/sim-node-0/{old}/greet");
    let successor_record = format!("shepard/state/sim-node-0/{successor}/greet");
    poll::until_async(
        "the old record gone and the successor's written",
        RESYNC,
        Duration::from_millis(100),
        || async {
            let tree = kv_tree(&consul, "shepard/").await;
            (!tree.contains_key(&old_record) && tree.contains_key(&successor_record)).then_some(())
        },
    )
    .await;
    // Another pass of the agent changes nothing more.
    wait_for_a_pass(&world.cluster.agents[0], RESYNC * 2).await;
    let after = kv_tree(&consul, "shepard/").await;
    assert!(!after.contains_key(&old_record));
    assert!(after.contains_key(&successor_record));
    after
}

async fn assert_not_restarted(world: &World, successor: &str) {
    let running = world.running_allocs("moved").await;
    let successor_view = running.iter().find(|a| a.id == successor).unwrap();
    assert_eq!(
        successor_view.restarts, 0,
        "the successor was not restarted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_alloc_loses_its_record_and_trigger_and_its_sibling_keeps_its_own() {
    let world = World::start(1, &["--resync-interval", "10s"]).await;
    let (old, sibling, successor, before) = replace_alloc_0(&world, greeter("moved", 2)).await;
    let trigger =
        |alloc: &str| format!("shepard/keys/sim-node-0/default/moved/greeter/greet/{alloc}");
    let sibling_record = format!("shepard/state/sim-node-0/{sibling}/greet");
    for key in [trigger(&old), trigger(&sibling), sibling_record.clone()] {
        assert!(before.contains_key(&key), "{key} before the replacement");
    }

    let after = settled_after_replacement(&world, &old, &successor).await;
    assert!(
        !after.contains_key(&trigger(&old)),
        "the old trigger is collected"
    );
    assert_eq!(
        after.get(&trigger(&sibling)),
        before.get(&trigger(&sibling))
    );
    assert!(after.contains_key(&sibling_record));
    assert_not_restarted(&world, &successor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_alloc_loses_its_record_and_its_successor_keeps_the_legacy_trigger() {
    let world = World::start(1, &["--resync-interval", "10s"]).await;
    let mut job = greeter("moved", 2);
    job.legacy_trigger = true;
    let (old, sibling, successor, before) = replace_alloc_0(&world, job).await;
    let trigger0 = "shepard/keys/sim-node-0/moved/greeter/greet/0";
    let trigger1 = "shepard/keys/sim-node-0/moved/greeter/greet/1";
    let old_record = format!("shepard/state/sim-node-0/{old}/greet");
    let sibling_record = format!("shepard/state/sim-node-0/{sibling}/greet");
    for key in [trigger0, trigger1, &old_record, &sibling_record] {
        assert!(before.contains_key(key), "{key} before the replacement");
    }

    let after = settled_after_replacement(&world, &old, &successor).await;
    assert_eq!(
        after.get(trigger0),
        before.get(trigger0),
        "shared trigger untouched"
    );
    assert_eq!(after.get(trigger1), before.get(trigger1));
    assert!(after.contains_key(&sibling_record));
    assert_not_restarted(&world, &successor).await;
}
