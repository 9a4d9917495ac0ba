//! Rollouts that do not go to plan, end to end: a bad configuration stops the rollout as
//! `stuck` after max_parallel restarts and a fix resumes it; a second change during a rollout
//! converges on the latest configuration; an identical re-render and an unmanaged task restart
//! nothing.

mod e2e;

use std::time::Duration;

use e2e::World;
use shepard_testkit::{GreetJob, poll};

fn greeter(name: &str) -> GreetJob {
    let mut job = GreetJob::new(name, 6, &format!("{name}/config"));
    job.max_parallel = 2;
    job.min_healthy_time = Duration::from_secs(2);
    job.healthy_deadline = Duration::from_secs(6);
    job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_stops_after_max_parallel_restarts_and_a_fix_completes_the_rollout() {
    let world = World::start(3, &[]).await;
    world.run_job(greeter("bad")).await;

    world
        .put_config("bad", "name: broken\nhealthy: false\n")
        .await;
    world
        .wait_rollout_state("bad", "stuck", Duration::from_secs(60))
        .await;
    let allocs = world.running_allocs("bad").await;
    let restarted: Vec<_> = allocs.iter().filter(|a| a.restarts > 0).collect();
    assert_eq!(restarted.len(), 2, "{allocs:?}");
    let serving = world.passing_greetings("bad").await;
    assert_eq!(serving, vec!["Hello, one"; 4]);
    poll::until_async(
        "shepard_rollout_stuck on /metrics",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async { (world.metric_max("shepard_rollout_stuck") == 1.0).then_some(()) },
    )
    .await;

    world.put_config("bad", "name: fixed\n").await;
    world
        .wait_rollout_state("bad", "complete", Duration::from_secs(90))
        .await;
    assert_eq!(
        world.passing_greetings("bad").await,
        vec!["Hello, fixed"; 6]
    );
    assert_eq!(world.metric_max("shepard_rollout_stuck"), 0.0);
}

// The second change may land while a restarted process starts, before Nomad records its
// `StartedAt`: the process may have read either config, so the allocation must not be taken
// for one on the newer config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_change_during_a_rollout_ends_on_the_latest_config() {
    let world = World::start(3, &[]).await;
    world.run_job(greeter("twice")).await;

    world.put_config("twice", "name: two\n").await;
    poll::until_async(
        "the first restarts to begin",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || async {
            let allocs = world.running_allocs("twice").await;
            allocs.iter().any(|a| a.restarts > 0).then_some(())
        },
    )
    .await;
    world.put_config("twice", "name: three\n").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let greetings = world.passing_greetings("twice").await;
        if greetings == vec!["Hello, three"; 6] {
            break;
        }
        if std::time::Instant::now() > deadline {
            panic!(
                "not every greeter on the latest config after 120 s: {greetings:?}\nallocs: {:?}\n{}",
                world.running_allocs("twice").await,
                world.failure_report(150).await
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    world
        .wait_rollout_state("twice", "complete", Duration::from_secs(60))
        .await;
    for alloc in world.running_allocs("twice").await {
        assert!(
            (1..=2).contains(&alloc.restarts),
            "alloc {} restarted {} times",
            alloc.id,
            alloc.restarts
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_rerenders_and_unmanaged_tasks_restart_nothing() {
    let world = World::start(3, &[]).await;
    world.run_job(greeter("same")).await;
    let mut plain = GreetJob::new("plain", 3, "same/config");
    plain.managed = false;
    world.run_job(plain).await;

    // Every rendered file of the managed job rewritten with the content it already has, as a
    // Nomad client does when it restarts: mtimes move, content does not.
    let reconciles_before = world.metric_sum("shepard_reconcile_total", &[("reconciler", "task")]);
    let files = world.rendered_files("same", "config.yml").await;
    assert_eq!(files.len(), 6);
    for path in files {
        // Written the way Nomad's template runner writes: a temporary file renamed over the
        // destination, so no reader ever sees it half-written.
        let content = std::fs::read(&path).unwrap();
        let tmp = path.with_extension("yml.tmp");
        std::fs::write(&tmp, content).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }
    // The agents looked (each file event reconciles its task) and found nothing to do.
    poll::until_async(
        "the agents to reconcile the rewritten files",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            let now = world.metric_sum("shepard_reconcile_total", &[("reconciler", "task")]);
            (now >= reconciles_before + 6.0).then_some(())
        },
    )
    .await;
    assert_eq!(world.metric_sum("shepard_drifted_tasks", &[]), 0.0);
    assert_eq!(
        world.rollout_state("same").await,
        None,
        "{}",
        world.dump_kv().await
    );

    // A real change: the managed job rolls, the unmanaged one is never touched by shepard
    // (it runs the old config until something else restarts it).
    world.put_config("same", "name: new\n").await;
    world
        .wait_rollout_state("same", "complete", Duration::from_secs(90))
        .await;
    for alloc in world.running_allocs("same").await {
        assert_eq!(alloc.restarts, 1);
    }
    for alloc in world.running_allocs("plain").await {
        assert_eq!(
            alloc.restarts, 0,
            "shepard restarted unmanaged alloc {}",
            alloc.id
        );
    }
    assert_eq!(
        world.passing_greetings("plain").await,
        vec!["Hello, one"; 3]
    );
    assert_eq!(world.rollout_state("plain").await, None);
}
