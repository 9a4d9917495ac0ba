//! A canary that shares an index, end to end (real Consul, nomad-sim, one node with a real
//! agent): job `greet` runs `[0]` and `[1]`; its next version with `canary = 1` runs a canary
//! named `[0]` beside the old `[0]` on the same node, unpromoted, while the configuration
//! changes.
//!
//! With the alloc-ID trigger layout the canary and the old `[0]` render different keys: the
//! change restarts each of the three allocations once, each through its own key, never more
//! than `max_parallel` (1) down at once as the prober sees it, and the rollout counts all three.
//! With the legacy layout both render `keys/sim-node-0/<job>/greeter/greet/0`: shepard writes it
//! for neither and restarts neither (a `shared_trigger_key` problem in `shepard status` and
//! `shepard_problems_total`) while `[1]` rolls out; once the deployment is promoted and the
//! old `[0]` is gone, the canary is restarted through the key, which now names it alone.

mod e2e;

use std::collections::BTreeSet;
use std::time::Duration;

use e2e::{World, max_overlap, restart_windows};
use serde_json::Value;
use shepard_testkit::{GreetJob, poll};

const WITHIN: Duration = Duration::from_secs(60);
const TICK: Duration = Duration::from_millis(100);
const MIN_HEALTHY: Duration = Duration::from_secs(1);
const SHARED: &str = "render the same trigger key";

fn greeter(id: &str, legacy: bool) -> GreetJob {
    let mut job = GreetJob::new(id, 2, &format!("{id}/config"));
    job.max_parallel = 1;
    job.min_healthy_time = MIN_HEALTHY;
    job.legacy_trigger = legacy;
    job
}

fn restarts(stub: &Value) -> u64 {
    stub["TaskStates"]["greet"]["Restarts"]
        .as_u64()
        .unwrap_or(0)
}

/// The types of the task's events that restarted it on a trigger template's re-render.
fn template_restarts(stub: &Value) -> usize {
    stub["TaskStates"]["greet"]["Events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["Type"] == "Restart Signaled")
        .filter(|e| e["DisplayMessage"] == "Template with change_mode restart re-rendered")
        .count()
}

async fn wait_phase(world: &World, alloc_id: &str, phase: &str) {
    poll::until_async(&format!("{alloc_id} {phase}"), WITHIN, TICK, || async {
        (world.record_of(alloc_id).await?["phase"] == phase).then_some(())
    })
    .await;
}

async fn problem(world: &World, alloc_id: &str) -> String {
    let record = world.record_of(alloc_id).await.expect("record");
    record["problem"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alloc_id_layout_restarts_the_canary_and_its_index_sharer_each_through_its_own_key() {
    let world = World::start(1, &[]).await;
    let job = greeter("greet", false);
    world.run_job(job.clone()).await;
    let placed = world.place_canary(&job).await;
    for id in placed.all() {
        wait_phase(&world, id, "in_sync").await;
    }
    let prober = world.probe("greet").await;
    assert_eq!(world.instances("greet").await.len(), 3);
    let since = world.sim_event_seq().await;

    let changed_at = prober.samples().last().map(|s| s.at);
    world.put_config("greet", "name: two\n").await;
    world.wait_rollout_state("greet", "complete", WITHIN).await;

    let rollout = world.rollout_record("greet").await.expect("rollout record");
    assert_eq!(rollout["instance_count"], 3, "{rollout}");
    let mut tokens = BTreeSet::new();
    for id in placed.all() {
        let stub = world.alloc_stub("greet", id).await;
        assert_eq!(restarts(&stub), 1, "allocation {id}: {stub}");
        assert_eq!(template_restarts(&stub), 1, "allocation {id}: {stub}");
        let key = format!("shepard/keys/sim-node-0/default/greet/greeter/greet/{id}");
        let token = world
            .kv_raw(&key)
            .await
            .unwrap_or_else(|| panic!("{key} unset"));
        assert_eq!(world.rendered_trigger(id).trim(), token.trim(), "{id}");
        tokens.insert(token);
        let record = world.record_of(id).await.expect("record");
        assert!(record.get("problem").is_none(), "{record}");
    }
    assert_eq!(tokens.len(), 3, "one trigger value per allocation");
    let keys = world.kv_keys("shepard/keys/").await;
    assert_eq!(keys.len(), 3, "only the alloc-ID keys: {keys:?}");

    let windows = restart_windows(&world.sim_events_since(since).await, MIN_HEALTHY);
    let restarted: BTreeSet<&str> = windows.iter().map(|w| w.alloc_id.as_str()).collect();
    assert_eq!(restarted, placed.all().into_iter().collect(), "{windows:?}");
    assert_eq!(windows.len(), 3, "{windows:?}");
    assert!(max_overlap(&windows) <= 1, "{windows:?}");
    let worst = prober.worst().expect("samples");
    assert!(
        worst.bad.len() <= 1,
        "instances down at once: {worst:?} ({placed:?}, change at {changed_at:?})"
    );
    let seen_down: BTreeSet<String> = prober
        .samples()
        .into_iter()
        .flat_map(|s| s.bad.into_keys())
        .collect();
    assert!(!seen_down.is_empty(), "the prober saw no restart");
    assert_eq!(
        world.metric_sum("shepard_restarts_total", &[("result", "healthy")]),
        3.0
    );
    assert_eq!(
        world.metric_sum("shepard_problems_total", &[("kind", "shared_trigger_key")]),
        0.0
    );
    for greeting in world.greetings("greet").await {
        assert_eq!(greeting, "Hello, two");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_layout_restarts_neither_the_canary_nor_its_index_sharer_through_the_shared_key() {
    let world = World::start(1, &[]).await;
    let job = greeter("web", true);
    world.run_job(job.clone()).await;
    let placed = world.place_canary(&job).await;
    for id in [&placed.canary, &placed.old_zero] {
        poll::until_async("the record names the problem", WITHIN, TICK, || async {
            let record = world.record_of(id).await?;
            record["problem"].as_str()?.contains(SHARED).then_some(())
        })
        .await;
    }
    wait_phase(&world, &placed.old_one, "in_sync").await;
    let since = world.sim_event_seq().await;

    world.put_config("web", "name: two\n").await;
    // [1] names its key alone: it rolls out, and shows that the change has been acted on.
    poll::until_async("[1] restarted and in sync", WITHIN, TICK, || async {
        let stub = world.alloc_stub("web", &placed.old_one).await;
        let record = world.record_of(&placed.old_one).await?;
        (restarts(&stub) == 1 && record["phase"] == "in_sync").then_some(())
    })
    .await;
    let shared_key = "shepard/keys/sim-node-0/web/greeter/greet/0";
    for id in [&placed.canary, &placed.old_zero] {
        let stub = world.alloc_stub("web", id).await;
        assert_eq!(restarts(&stub), 0, "allocation {id} was restarted: {stub}");
        let record = world.record_of(id).await.expect("record");
        assert_eq!(record["phase"], "drifted", "{record}");
        assert!(problem(&world, id).await.contains(SHARED));
    }
    assert!(
        world.kv_raw(shared_key).await.is_none(),
        "the shared trigger key was written"
    );
    assert!(
        world
            .kv_raw("shepard/keys/sim-node-0/web/greeter/greet/1")
            .await
            .is_some()
    );
    assert_eq!(world.rollout_state("web").await.as_deref(), Some("rolling"));
    let rollout = world.rollout_record("web").await.expect("rollout record");
    assert_eq!(rollout["instance_count"], 3, "{rollout}");
    assert!(world.metric_sum("shepard_problems_total", &[("kind", "shared_trigger_key")]) > 0.0);
    let status = world.operator(&["status"]).await;
    assert!(status.status.success(), "{status:?}");
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(text.matches("PROBLEM ").count(), 2, "{text}");
    assert_eq!(text.matches(SHARED).count(), 2, "{text}");
    for id in [&placed.canary, &placed.old_zero] {
        assert!(text.contains(&format!("PROBLEM {}", &id[..8])), "{text}");
    }

    // Promotion stops the old [0]: the key names the canary alone, and it rolls out.
    world.promote("web", &placed.canary).await;
    world.wait_rollout_state("web", "complete", WITHIN).await;
    let canary = world.alloc_stub("web", &placed.canary).await;
    assert_eq!(restarts(&canary), 1, "{canary}");
    assert!(
        world
            .record_of(&placed.canary)
            .await
            .expect("record")
            .get("problem")
            .is_none()
    );
    assert!(world.kv_raw(shared_key).await.is_some());
    let old_zero = world.alloc_stub("web", &placed.old_zero).await;
    assert_eq!(old_zero["DesiredStatus"], "stop");
    assert_eq!(restarts(&old_zero), 0, "{old_zero}");
    // The old [0] only ever stopped for good after the change: it never started again.
    let events = world.sim_events_since(since).await;
    let starts = events
        .iter()
        .filter(|e| e["kind"] == "task-started" && e["alloc_id"] == placed.old_zero.as_str())
        .count();
    assert_eq!(starts, 0, "{events:?}");
}
