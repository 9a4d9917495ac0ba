//! One agent talks to Consul through a bad link: every chunk delayed up to 300 ms, some
//! connections reset mid-stream, some refused. Its writes may land late, its answers may be
//! lost after the write took effect, its watches break and resume. A prober reads every
//! instance throughout: never more than `max_parallel` down, each allocation restarted once,
//! and the rollout completes.

mod e2e;

use std::path::Path;
use std::time::Duration;

use e2e::World;
use shepard_testkit::{Chaos, ChaosProxy, GreetJob};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_through_a_bad_link_to_consul_keeps_max_parallel_and_completes() {
    let mut world = World::start(3, &[]).await;
    let seed = std::env::var("SHEPARD_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::from(std::process::id()));
    let chaos = Chaos {
        max_delay: Duration::from_millis(300),
        reset_per_mille: 20,
        refuse_per_mille: 50,
        seed,
    };
    let proxy = ChaosProxy::start(world.cluster.consul.http_port(), chaos).await;
    let shepard = Path::new(env!("CARGO_BIN_EXE_shepard")).to_path_buf();
    world.cluster.restart_agent_via(
        &shepard,
        0,
        &proxy.http_addr(),
        &["--consul-session-ttl", "10s", "--consul-lock-delay", "1s"],
    );

    let mut job = GreetJob::new("chaos", 6, "chaos/config");
    job.max_parallel = 2;
    job.min_healthy_time = Duration::from_secs(2);
    job.healthy_deadline = Duration::from_secs(60);
    world.run_job(job).await;
    let prober = world.probe("chaos").await;

    world.put_config("chaos", "name: two\n").await;
    world
        .wait_rollout_state("chaos", "complete", Duration::from_secs(180))
        .await;
    for alloc in world.running_allocs("chaos").await {
        assert_eq!(
            alloc.restarts,
            1,
            "alloc {} restarted {} times (chaos seed {seed})\n{}",
            alloc.id,
            alloc.restarts,
            world.failure_report(30).await
        );
    }
    let worst = prober.worst().unwrap();
    assert!(
        worst.bad.len() <= 2,
        "instances down at once (chaos seed {seed}): {worst:?}"
    );
    assert_eq!(
        world.passing_greetings("chaos").await,
        vec!["Hello, two"; 6]
    );
}
