//! An agent killed with SIGKILL while it holds a restart slot: nothing releases the slot but
//! the expiry of its session; Nomad starts the agent again (here: the test), the new agent
//! picks up the allocation's restart where the record says it was, and the rollout completes
//! without ever exceeding max_parallel.

mod e2e;

use std::path::Path;
use std::time::Duration;

use e2e::{World, restart_windows};
use shepard_testkit::{GreetJob, poll};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_slot_holder_delays_but_does_not_break_the_rollout() {
    let mut world = World::start(3, &[]).await;
    let mut job = GreetJob::new("crash", 6, "crash/config");
    job.max_parallel = 2;
    job.min_healthy_time = Duration::from_secs(2);
    world.run_job(job).await;

    let since = world.sim_event_seq().await;
    world.put_config("crash", "name: two\n").await;
    let holder = poll::until_async(
        "a restart slot to be taken",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || async { world.slot_holder_node("crash").await },
    )
    .await;
    let victim = world.node_index(&holder);
    let status = world.cluster.agents[victim].signal_and_wait("KILL", Duration::from_secs(5));
    assert!(!status.success());
    // Nomad restarts a system job's task; here the test does.
    let shepard = Path::new(env!("CARGO_BIN_EXE_shepard")).to_path_buf();
    world.cluster.restart_agent(
        &shepard,
        victim,
        &["--consul-session-ttl", "10s", "--consul-lock-delay", "1s"],
    );

    world
        .wait_rollout_state("crash", "complete", Duration::from_secs(120))
        .await;
    for alloc in world.running_allocs("crash").await {
        assert_eq!(
            alloc.restarts, 1,
            "alloc {} restarted {} times",
            alloc.id, alloc.restarts
        );
    }
    let windows = restart_windows(&world.sim_events_since(since).await, Duration::from_secs(2));
    let overlap = e2e::max_overlap(&windows);
    assert!(overlap <= 2, "{overlap} restarts overlapped: {windows:?}");
}
