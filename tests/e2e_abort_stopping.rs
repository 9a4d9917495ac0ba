//! Abort while restarts are still stopping: the greeters take 3 s to exit on SIGTERM, and the
//! operator aborts the rollout while two of them are stopping. Those two come back on the new
//! configuration; nothing else restarts, no new rollout starts from the old drift, and at no
//! instant are more than two instances down. A later configuration change rolls out as usual.

mod e2e;

use std::time::{Duration, Instant};

use e2e::World;
use shepard_testkit::{GreetJob, poll};

const SLOW_STOP: &str = "stop_delay_ms: 3000\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_while_restarts_stop_starts_nothing_more() {
    let world = World::start(3, &[]).await;
    let mut job = GreetJob::new("abortstop", 6, "abortstop/config");
    job.max_parallel = 2;
    job.min_healthy_time = Duration::from_secs(2);
    job.kill_timeout = Duration::from_secs(10);
    world
        .run_job_with_config(job, &format!("name: one\n{SLOW_STOP}"))
        .await;
    let prober = world.probe("abortstop").await;

    world
        .put_config("abortstop", &format!("name: two\n{SLOW_STOP}"))
        .await;
    poll::until_async(
        "two restarts triggered",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || async {
            let records = world.alloc_records("abortstop").await;
            let triggered = records.iter().filter(|r| r["phase"] == "triggered").count();
            (triggered == 2).then_some(())
        },
    )
    .await;
    let aborted = world
        .operator(&["rollout", "abort", "default/abortstop/greeter/greet"])
        .await;
    assert!(aborted.status.success(), "{aborted:?}");

    // The two restarts land (their processes stop within 3 s and start again); nothing more.
    poll::until_async(
        "the two aborted restarts back up and nothing in flight",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            let restarted = world
                .running_allocs("abortstop")
                .await
                .iter()
                .filter(|a| a.restarts > 0)
                .count();
            let records = world.alloc_records("abortstop").await;
            let in_flight = records.iter().any(|r| {
                matches!(
                    r["phase"].as_str(),
                    Some("triggered" | "restarted" | "verifying")
                )
            });
            (restarted == 2 && !in_flight).then_some(())
        },
    )
    .await;
    // And it stays so: watched for 10 s (longer than a restart takes here).
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        let record = world.rollout_record("abortstop").await.unwrap();
        assert_eq!(record["state"], "aborted", "{record}");
        assert_eq!(record["generation"], 1, "{record}");
        let allocs = world.running_allocs("abortstop").await;
        let restarted = allocs.iter().filter(|a| a.restarts > 0).count();
        assert_eq!(restarted, 2, "{allocs:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let worst = prober.worst().unwrap();
    assert!(worst.bad.len() <= 2, "instances down at once: {worst:?}");

    // A later change starts a new rollout, which goes through every allocation.
    world
        .put_config("abortstop", &format!("name: three\n{SLOW_STOP}"))
        .await;
    world
        .wait_rollout_state("abortstop", "complete", Duration::from_secs(120))
        .await;
    let record = world.rollout_record("abortstop").await.unwrap();
    assert_eq!(record["generation"], 2, "{record}");
    assert_eq!(
        world.passing_greetings("abortstop").await,
        vec!["Hello, three"; 6]
    );
}
