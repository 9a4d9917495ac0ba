//! The product, end to end: three real agents, a real Consul, nomad-sim running real greeter
//! processes. A configuration change rolls through the six allocations at most two at a time,
//! each pair only after the previous one has been healthy for min_healthy_time, with either
//! restart method. A prober reads every instance's endpoint and checks throughout: at no
//! instant are more than two down or unhealthy.

mod e2e;

use std::time::Duration;

use e2e::{World, restart_windows};
use shepard_testkit::GreetJob;

const MIN_HEALTHY: Duration = Duration::from_secs(2);

async fn rolls_through(job: GreetJob) {
    let world = World::start(3, &[]).await;
    let name = job.id.clone();
    world.run_job(job).await;
    let prober = world.probe(&name).await;

    let since = world.sim_event_seq().await;
    world.put_config(&name, "name: two\n").await;
    world
        .wait_rollout_state(&name, "complete", Duration::from_secs(90))
        .await;

    let allocs = world.running_allocs(&name).await;
    assert_eq!(allocs.len(), 6);
    for alloc in &allocs {
        assert_eq!(
            alloc.restarts, 1,
            "alloc {} restarted {} times",
            alloc.id, alloc.restarts
        );
    }
    let windows = restart_windows(&world.sim_events_since(since).await, MIN_HEALTHY);
    assert_eq!(windows.len(), 6, "{windows:?}");
    let overlap = e2e::max_overlap(&windows);
    assert!(overlap <= 2, "{overlap} restarts overlapped: {windows:?}");
    let worst = prober.worst().unwrap();
    assert!(worst.bad.len() <= 2, "instances down at once: {worst:?}");
    // The prober was looking while restarts happened (a restart quicker than a probe round
    // can fall between two rounds, so not every one need be seen).
    let seen_down: std::collections::BTreeSet<_> = prober
        .samples()
        .into_iter()
        .flat_map(|s| s.bad.into_keys())
        .collect();
    assert!(!seen_down.is_empty(), "the prober saw no restart");
    assert_eq!(
        world.metric_sum("shepard_restarts_total", &[("result", "healthy")]),
        6.0
    );
    for greeting in world.greetings(&name).await {
        assert_eq!(greeting, "Hello, two");
    }
}

fn greeter(name: &str) -> GreetJob {
    let mut job = GreetJob::new(name, 6, &format!("{name}/config"));
    job.max_parallel = 2;
    job.min_healthy_time = MIN_HEALTHY;
    job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_change_rolls_through_at_most_max_parallel_at_a_time() {
    rolls_through(greeter("hello")).await;
}

/// The `nomad-api` method: no trigger template, `shepard_enabled`; shepard calls Nomad's
/// restart endpoint for each allocation instead of writing a trigger key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nomad_api_method_rolls_through_the_same_way() {
    let mut job = greeter("api");
    job.managed = false;
    job.task_meta = vec![("shepard_enabled".into(), "true".into())];
    rolls_through(job).await;
}
