//! The product, end to end: three real agents, a real Consul, nomad-sim running real greeter
//! processes. A configuration change rolls through the six allocations at most two at a time,
//! each pair only after the previous one has been healthy for min_healthy_time.

mod e2e;

use std::time::Duration;

use e2e::{World, restart_windows};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_change_rolls_through_at_most_max_parallel_at_a_time() {
    let world = World::start(3, &[]).await;
    world
        .run_greeter("hello", 6, 2, Duration::from_secs(2))
        .await;

    let since = world.sim_event_seq().await;
    world.put_config("hello", "name: two\n").await;
    world
        .wait_rollout_state("hello", "complete", Duration::from_secs(90))
        .await;

    let allocs = world.running_allocs("hello").await;
    assert_eq!(allocs.len(), 6);
    for alloc in &allocs {
        assert_eq!(
            alloc.restarts, 1,
            "alloc {} restarted {} times",
            alloc.id, alloc.restarts
        );
    }
    let windows = restart_windows(&world.sim_events_since(since).await, Duration::from_secs(2));
    assert_eq!(windows.len(), 6, "{windows:?}");
    let overlap = e2e::max_overlap(&windows);
    assert!(overlap <= 2, "{overlap} restarts overlapped: {windows:?}");
    assert_eq!(
        world.metric_sum("shepard_restarts_total", &[("result", "healthy")]),
        6.0
    );
    for greeting in world.greetings("hello").await {
        assert_eq!(greeting, "Hello, two");
    }
}
