//! An agent paused (SIGSTOP) for longer than twice its session TTL while it holds a restart
//! slot, then continued: its session is gone when it wakes, and whatever it had decided before
//! the pause must not act on it. Other agents go on with the slot its claim does not keep. A
//! prober reads every instance throughout: never more than `max_parallel` down, each
//! allocation restarted once, and the rollout completes.

mod e2e;

use std::time::Duration;

use e2e::World;
use shepard_testkit::{GreetJob, poll};

/// The agents' session TTL in these tests (`World::start`).
const TTL: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_paused_past_its_session_restarts_nothing_on_a_stale_decision() {
    let world = World::start(3, &[]).await;
    let mut job = GreetJob::new("paused", 6, "paused/config");
    job.max_parallel = 2;
    job.min_healthy_time = Duration::from_secs(2);
    job.healthy_deadline = Duration::from_secs(60);
    world.run_job(job).await;
    let prober = world.probe("paused").await;

    world.put_config("paused", "name: two\n").await;
    let holder = poll::until_async(
        "a restart slot to be taken",
        Duration::from_secs(30),
        Duration::from_millis(5),
        || async { world.slot_holder_node("paused").await },
    )
    .await;
    let victim = world.node_index(&holder);
    world.cluster.agents[victim].signal("STOP");
    // The fault itself: stopped for 2.5 TTLs, so Consul has dropped its session for sure.
    tokio::time::sleep(TTL * 5 / 2).await;
    world.cluster.agents[victim].signal("CONT");

    world
        .wait_rollout_state("paused", "complete", Duration::from_secs(120))
        .await;
    for alloc in world.running_allocs("paused").await {
        assert_eq!(
            alloc.restarts,
            1,
            "alloc {} restarted {} times\n{}",
            alloc.id,
            alloc.restarts,
            world.failure_report(30).await
        );
    }
    let worst = prober.worst().unwrap();
    assert!(worst.bad.len() <= 2, "instances down at once: {worst:?}");
    assert_eq!(
        world.passing_greetings("paused").await,
        vec!["Hello, two"; 6]
    );
}
