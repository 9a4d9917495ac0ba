//! A restart call through Nomad's API that times out, end to end. The greeters drain for 12 s
//! on SIGTERM and Nomad answers a restart only once the old process has exited, so every call
//! outlives the agent's 10 s request timeout. A timed-out call was taken: it is not retried
//! (each allocation restarts once), it holds its slot until the restart is proven healthy (a
//! prober reads every instance throughout: never more than `max_parallel` down), and the
//! rollout completes.

mod e2e;

use std::time::Duration;

use e2e::World;
use shepard_testkit::GreetJob;

const SLOW_STOP: &str = "stop_delay_ms: 12000\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_call_that_times_out_restarts_once_and_keeps_max_parallel() {
    let world = World::start(2, &[]).await;
    let mut job = GreetJob::new("slowstop", 4, "slowstop/config");
    job.managed = false;
    job.task_meta = vec![("shepard_enabled".into(), "true".into())];
    job.max_parallel = 2;
    job.min_healthy_time = Duration::from_secs(1);
    job.healthy_deadline = Duration::from_secs(60);
    job.kill_timeout = Duration::from_secs(20);
    world
        .run_job_with_config(job, &format!("name: one\n{SLOW_STOP}"))
        .await;
    let prober = world.probe("slowstop").await;

    world
        .put_config("slowstop", &format!("name: two\n{SLOW_STOP}"))
        .await;
    world
        .wait_rollout_state("slowstop", "complete", Duration::from_secs(150))
        .await;

    for alloc in world.running_allocs("slowstop").await {
        assert_eq!(
            alloc.restarts,
            1,
            "alloc {} restarted {} times\n{}",
            alloc.id,
            alloc.restarts,
            world.failure_report(40).await
        );
    }
    // The calls did time out: the fault is real.
    let timed_out = world
        .cluster
        .agents
        .iter()
        .flat_map(|a| a.log_lines())
        .filter(|line| line.contains("restart call timed out"))
        .count();
    assert_eq!(timed_out, 4, "restart calls that timed out");
    let worst = prober.worst().unwrap();
    assert!(
        worst.bad.len() <= 2,
        "{} instances down at once: {worst:?}",
        worst.bad.len()
    );
    assert_eq!(
        world.passing_greetings("slowstop").await,
        vec!["Hello, two"; 4]
    );
}
