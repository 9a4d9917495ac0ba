//! Consul restarted in the middle of a rollout (a single server with its state on disk, so
//! keys and sessions survive, as in a real restart): the agents ride it out on their watches'
//! backoff and their sessions, without being restarted, and the rollout completes within its
//! limits.

mod e2e;

use std::time::Duration;

use e2e::{World, restart_windows};
use shepard_testkit::{ConsulDevOptions, GreetJob, poll};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_recover_from_a_consul_restart_mid_rollout() {
    let consul = ConsulDevOptions {
        persistent: true,
        ..ConsulDevOptions::default()
    };
    let mut world = World::start_with(3, &[], consul).await;
    let mut job = GreetJob::new("steady", 6, "steady/config");
    job.max_parallel = 2;
    job.min_healthy_time = Duration::from_secs(2);
    world.run_job(job).await;

    let since = world.sim_event_seq().await;
    world.put_config("steady", "name: two\n").await;
    poll::until_async(
        "the first restarts to begin",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || async {
            let allocs = world.running_allocs("steady").await;
            allocs.iter().any(|a| a.restarts > 0).then_some(())
        },
    )
    .await;
    tokio::task::block_in_place(|| world.cluster.consul.restart());

    world
        .wait_rollout_state("steady", "complete", Duration::from_secs(120))
        .await;
    for agent in &mut world.cluster.agents {
        assert!(
            agent.is_running(),
            "an agent exited during the Consul restart"
        );
    }
    for alloc in world.running_allocs("steady").await {
        assert_eq!(
            alloc.restarts, 1,
            "alloc {} restarted {} times",
            alloc.id, alloc.restarts
        );
    }
    let windows = restart_windows(&world.sim_events_since(since).await, Duration::from_secs(2));
    assert!(e2e::max_overlap(&windows) <= 2, "{windows:?}");
}
