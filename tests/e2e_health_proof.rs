//! A bad configuration behind a check that runs rarely, end to end: the check's status from
//! before a restart (a group service keeps its registration across task restarts), or a new
//! registration's `initial_status = "passing"`, must not pass a broken run. A prober reads
//! every instance's endpoint and checks throughout: at no instant may more than `max_parallel`
//! instances be down or unhealthy.

mod e2e;

use std::time::Duration;

use e2e::World;
use shepard_testkit::GreetJob;

/// Four greeters, one restart at a time, `min_healthy_time` far shorter than the check's
/// interval.
fn greeter(name: &str) -> GreetJob {
    let mut job = GreetJob::new(name, 4, &format!("{name}/config"));
    job.max_parallel = 1;
    job.min_healthy_time = Duration::from_secs(2);
    job.healthy_deadline = Duration::from_secs(30);
    job.check_interval = Duration::from_secs(15);
    job
}

async fn a_bad_config_stops_after_one_restart(job: GreetJob) {
    let name = job.id.clone();
    let world = World::start(2, &[]).await;
    world.run_job(job).await;
    let prober = world.probe(&name).await;

    world
        .put_config(&name, "name: broken\nhealthy: false\n")
        .await;
    // Until the rollout is stuck, and no longer: the prober's verdict comes first, so a
    // rollout that runs on through broken instances fails on what users saw.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while world.rollout_state(&name).await.as_deref() != Some("stuck") {
        let worst = prober.worst().unwrap_or_else(|| e2e::probe::Sample {
            at: Duration::ZERO,
            bad: Default::default(),
        });
        assert!(
            worst.bad.len() <= 1 && std::time::Instant::now() < deadline,
            "{} instances down or unhealthy at once (rollout {:?}): {worst:?}\n{}",
            worst.bad.len(),
            world.rollout_state(&name).await,
            world.failure_report(40).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let allocs = world.running_allocs(&name).await;
    let restarted: Vec<_> = allocs.iter().filter(|a| a.restarts > 0).collect();
    assert_eq!(restarted.len(), 1, "{allocs:?}");
    let samples = prober.samples();
    assert!(
        samples.len() > 100,
        "the prober ran {} rounds",
        samples.len()
    );
    // The prober sees the one broken instance.
    let last = samples.last().unwrap();
    assert_eq!(last.bad.len(), 1, "{last:?}");
    let worst = prober.worst().unwrap();
    assert!(
        worst.bad.len() <= 1,
        "{} instances down or unhealthy at once: {worst:?}\n{}",
        worst.bad.len(),
        world.failure_report(40).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_check_with_a_long_interval_does_not_pass_a_broken_run() {
    let mut job = greeter("groupcheck");
    job.group_service = true;
    a_bad_config_stops_after_one_restart(job).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_check_passing_at_registration_does_not_pass_a_broken_run() {
    let mut job = greeter("taskcheck");
    job.check_initial_status = Some("passing".into());
    a_bad_config_stops_after_one_restart(job).await;
}
