//! Operators steering real rollouts, end to end (three agents, real Consul, nomad-sim): `pause`
//! lets restarts in flight finish and starts no new one, `resume` completes the rollout; a
//! stuck rollout resumed goes on past its stuck allocations, and a fixed configuration then
//! reaches every allocation, the skipped ones included.

mod e2e;

use std::process::Output;
use std::time::{Duration, Instant};

use e2e::{World, max_overlap, restart_windows};
use shepard::api_metrics::ApiMetrics;
use shepard::consul::ConsulClient;
use shepard::operator::Connection;
use shepard::operator::status::read_view;
use shepard::operator::view::TaskView;
use shepard::tls::TlsConfig;
use shepard_reconcilers::Prefix;
use shepard_reconcilers::model::{RolloutState, TaskId};
use shepard_testkit::{GreetJob, poll};

const MIN_HEALTHY: Duration = Duration::from_secs(2);

fn greeter(name: &str) -> GreetJob {
    let mut job = GreetJob::new(name, 6, &format!("{name}/config"));
    job.max_parallel = 2;
    job.min_healthy_time = MIN_HEALTHY;
    job.healthy_deadline = Duration::from_secs(6);
    job
}

fn task(job: &str) -> TaskId {
    TaskId::new("default", job, "greeter", "greet")
}

/// Runs the `shepard` binary against the world's Consul.
async fn operator(world: &World, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_shepard"))
        .args(args)
        .env_clear()
        .env("CONSUL_HTTP_ADDR", world.cluster.consul.http_addr())
        .output()
        .await
        .expect("run shepard")
}

fn connection(world: &World) -> Connection {
    let client = ConsulClient::new(
        &world.cluster.consul.http_addr(),
        None,
        &TlsConfig::default(),
        ApiMetrics::unregistered(),
    )
    .unwrap();
    Connection {
        client,
        prefix: Prefix::default(),
    }
}

/// The task's rollout and allocation records, as `shepard status` reads them.
async fn records(conn: &Connection, job: &str) -> Option<TaskView> {
    read_view(conn).await.ok()?.task(&task(job)).cloned()
}

async fn restarted(world: &World, job: &str) -> usize {
    let allocs = world.running_allocs(job).await;
    allocs.iter().filter(|a| a.restarts > 0).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_lets_restarts_in_flight_finish_and_resume_completes_the_rollout() {
    let world = World::start(3, &[]).await;
    world.run_job(greeter("paused")).await;
    let conn = connection(&world);
    let since = world.sim_event_seq().await;

    world.put_config("paused", "name: two\n").await;
    poll::until_async(
        "the first restart",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || async { (restarted(&world, "paused").await > 0).then_some(()) },
    )
    .await;
    let out = operator(
        &world,
        &["rollout", "pause", "default/paused/greeter/greet"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The restarts in flight finish: no record claims a slot any more, the rest wait.
    let view = poll::until_async(
        "the restarts in flight to finish",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            let view = records(&conn, "paused").await?;
            let p = view.progress;
            (view.state() == Some(RolloutState::Paused) && p.restarting == 0 && p.waiting > 0)
                .then_some(view)
        },
    )
    .await;
    let done = restarted(&world, "paused").await;
    assert_eq!(view.progress.in_sync as usize, done, "{:?}", view.progress);
    assert!(
        (1..=4).contains(&done),
        "{done} restarted before the pause took hold"
    );

    // While paused nothing new starts. Observed for three times min_healthy_time: without the
    // pause the next pair would have been triggered at once, and be running by then.
    let window = Instant::now() + 3 * MIN_HEALTHY;
    while Instant::now() < window {
        assert_eq!(
            restarted(&world, "paused").await,
            done,
            "a restart while paused"
        );
        let view = records(&conn, "paused").await.unwrap();
        assert_eq!(view.progress.restarting, 0, "a restart while paused");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let out = operator(
        &world,
        &["rollout", "resume", "default/paused/greeter/greet"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    world
        .wait_rollout_state("paused", "complete", Duration::from_secs(90))
        .await;
    for alloc in world.running_allocs("paused").await {
        assert_eq!(alloc.restarts, 1, "alloc {} restarts", alloc.id);
    }
    let windows = restart_windows(&world.sim_events_since(since).await, MIN_HEALTHY);
    assert_eq!(windows.len(), 6, "{windows:?}");
    assert!(max_overlap(&windows) <= 2, "{windows:?}");
    assert_eq!(
        world.passing_greetings("paused").await,
        vec!["Hello, two"; 6]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_stuck_rollout_goes_on_past_its_stuck_allocations() {
    let world = World::start(3, &[]).await;
    world.run_job(greeter("skip")).await;
    let conn = connection(&world);

    world
        .put_config("skip", "name: broken\nhealthy: false\n")
        .await;
    world
        .wait_rollout_state("skip", "stuck", Duration::from_secs(60))
        .await;
    // The rollout is stuck from the first missed deadline; the second follows.
    let stuck: Vec<String> = poll::until_async(
        "both restarted allocations stuck",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            let stuck = records(&conn, "skip").await?.stuck_allocs();
            (stuck.len() == 2).then(|| stuck.into_iter().map(|a| a.alloc_id).collect())
        },
    )
    .await;
    assert_eq!(restarted(&world, "skip").await, 2);

    let out = operator(&world, &["rollout", "resume", "default/skip/greeter/greet"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("stuck -> rolling"), "{said}");
    assert!(
        said.contains(&stuck[0]) && said.contains(&stuck[1]),
        "{said}"
    );

    // The stuck pair gives up its slots, so the next pair restarts (and, the configuration
    // being bad, gets stuck in turn).
    poll::until_async(
        "the next pair to restart",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async { (restarted(&world, "skip").await == 4).then_some(()) },
    )
    .await;
    let view = poll::until_async(
        "the next pair stuck",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            let view = records(&conn, "skip").await?;
            (view.state() == Some(RolloutState::Stuck) && view.progress.stuck == 2).then_some(view)
        },
    )
    .await;
    let record = &view.rollout.as_ref().unwrap().record;
    assert_eq!(record.skipped.keys().cloned().collect::<Vec<_>>(), {
        let mut s = stuck.clone();
        s.sort();
        s
    });
    assert_eq!(world.passing_greetings("skip").await.len(), 2);

    // A fix reaches every allocation, the skipped ones included.
    world.put_config("skip", "name: fixed\n").await;
    poll::until_async(
        "every greeter on the fixed config",
        Duration::from_secs(120),
        Duration::from_millis(200),
        || async {
            let greetings = world.passing_greetings("skip").await;
            (greetings == vec!["Hello, fixed"; 6]).then_some(())
        },
    )
    .await;
    world
        .wait_rollout_state("skip", "complete", Duration::from_secs(60))
        .await;
}
