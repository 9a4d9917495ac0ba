//! Wall clocks that are wrong, end to end. A node's clock (its agent's, through libfaketime, and
//! its Nomad client's, through nomad-sim's node clock) is minutes off the other nodes', Consul's
//! and the Nomad servers', or it steps while a restart of that node is being verified. A prober
//! reads every instance's endpoint and checks throughout: never more than `max_parallel` down
//! or unhealthy, each allocation restarted once, and the rollout completes (a good
//! configuration) or stops after one restart (a bad one).

mod e2e;

use std::path::Path;
use std::time::{Duration, Instant};

use e2e::World;
use e2e::probe::{Prober, Sample};
use shepard_testkit::{FakeClock, GreetJob};

/// Puts node `i` on `clock`: its agent is started again reading the wall clock through it, and
/// its Nomad client's clock is set to the same offset.
async fn put_node_on(world: &mut World, i: usize, clock: &FakeClock, offset_secs: i64) {
    set_node_clock(world, i, clock, offset_secs).await;
    let shepard = Path::new(env!("CARGO_BIN_EXE_shepard")).to_path_buf();
    let consul = world.cluster.consul.http_addr();
    world
        .cluster
        .restart_agent_with_env(&shepard, i, &consul, &[], &clock.env());
    assert_agent_clock(world, i, offset_secs);
}

/// The agent of node `i` stamps its log lines `offset_secs` off true time: the fault is real.
fn assert_agent_clock(world: &World, i: usize, offset_secs: i64) {
    let lines = world.cluster.agents[i].log_lines();
    let stamp = lines
        .iter()
        .rev()
        .find_map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).ok()?;
            humantime::parse_rfc3339_weak(event["timestamp"].as_str()?).ok()
        })
        .expect("a log line with a timestamp");
    let now = std::time::SystemTime::now();
    let off = match stamp.duration_since(now) {
        Ok(ahead) => ahead.as_secs_f64(),
        Err(behind) => -behind.duration().as_secs_f64(),
    };
    assert!(
        (off - offset_secs as f64).abs() < 30.0,
        "agent {i} logs {off:.0} s off true time, not {offset_secs} s"
    );
}

/// Moves node `i`'s clock (agent and Nomad client) to `offset_secs` off true time.
async fn set_node_clock(world: &World, i: usize, clock: &FakeClock, offset_secs: i64) {
    clock.set_offset_secs(offset_secs);
    let url = format!("{}/sim/node/{i}/clock", world.cluster.sim.addr());
    let answer = reqwest::Client::new()
        .put(url)
        .json(&serde_json::json!({ "offset_ms": offset_secs * 1000 }))
        .send()
        .await
        .expect("nomad-sim answers");
    assert!(answer.status().is_success(), "{answer:?}");
}

fn worst(prober: &Prober) -> Sample {
    prober.worst().unwrap_or_else(|| Sample {
        at: Duration::ZERO,
        bad: Default::default(),
    })
}

/// Waits for generation `generation` (or later) of the rollout of `job` to be `state`, failing
/// as soon as the prober saw more than `max_down` instances down or unhealthy at once.
async fn wait_state_within_budget(
    world: &World,
    prober: &Prober,
    (job, generation): (&str, u64),
    state: &str,
    max_down: usize,
    within: Duration,
) {
    let deadline = Instant::now() + within;
    let reached = |record: Option<serde_json::Value>| {
        record.is_some_and(|r| {
            r["state"] == state && r["generation"].as_u64().is_some_and(|g| g >= generation)
        })
    };
    while !reached(world.rollout_record(job).await) {
        let worst = worst(prober);
        assert!(
            worst.bad.len() <= max_down && Instant::now() < deadline,
            "{} instances down or unhealthy at once (rollout {:?}, waiting for {state}): \
             {worst:?}\n{}",
            worst.bad.len(),
            world.rollout_state(job).await,
            world.failure_report(40).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let worst = worst(prober);
    assert!(
        worst.bad.len() <= max_down,
        "{} instances down or unhealthy at once: {worst:?}",
        worst.bad.len()
    );
}

async fn assert_each_restarted_once(world: &World, job: &str) {
    for alloc in world.running_allocs(job).await {
        assert_eq!(
            alloc.restarts,
            1,
            "alloc {} restarted {} times\n{}",
            alloc.id,
            alloc.restarts,
            world.failure_report(40).await
        );
    }
}

/// The node holding `job`'s restart slot, once one is held.
async fn first_slot_holder(world: &World, job: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(node) = world.slot_holder_node(job).await {
            return world.node_index(&node);
        }
        assert!(Instant::now() < deadline, "no restart slot was taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_minutes_apart_roll_out_within_max_parallel_twice() {
    let mut world = World::start(3, &[]).await;
    let ahead = FakeClock::new(0);
    let behind = FakeClock::new(0);
    put_node_on(&mut world, 1, &ahead, 5 * 60).await;
    put_node_on(&mut world, 2, &behind, -7 * 60).await;

    let mut job = GreetJob::new("skew", 6, "skew/config");
    job.max_parallel = 2;
    job.min_healthy_time = Duration::from_secs(2);
    job.healthy_deadline = Duration::from_secs(60);
    world.run_job(job).await;
    let prober = world.probe("skew").await;

    world.put_config("skew", "name: two\n").await;
    wait_state_within_budget(
        &world,
        &prober,
        ("skew", 1),
        "complete",
        2,
        Duration::from_secs(120),
    )
    .await;
    assert_each_restarted_once(&world, "skew").await;
    assert_eq!(world.passing_greetings("skew").await, vec!["Hello, two"; 6]);

    // A second rollout, led by whichever agent holds the rollout lock now.
    world.put_config("skew", "name: three\n").await;
    wait_state_within_budget(
        &world,
        &prober,
        ("skew", 2),
        "complete",
        2,
        Duration::from_secs(120),
    )
    .await;
    for alloc in world.running_allocs("skew").await {
        assert_eq!(alloc.restarts, 2, "alloc {}", alloc.id);
    }
    let stuck = world.metric_sum("shepard_restarts_total", &[("result", "stuck")]);
    assert_eq!(stuck, 0.0, "{}", world.failure_report(40).await);
}

/// Four greeters on two nodes, one restart at a time, a check far slower than
/// `min_healthy_time`; both agents read a clock that can be stepped.
async fn stepping_world(job: &str) -> (World, [FakeClock; 2]) {
    let mut world = World::start(2, &[]).await;
    let clocks = [FakeClock::new(0), FakeClock::new(0)];
    for (i, clock) in clocks.iter().enumerate() {
        put_node_on(&mut world, i, clock, 0).await;
    }
    let mut spec = GreetJob::new(job, 4, &format!("{job}/config"));
    spec.max_parallel = 1;
    spec.min_healthy_time = Duration::from_secs(2);
    spec.healthy_deadline = Duration::from_secs(30);
    spec.check_interval = Duration::from_secs(15);
    spec.group_service = true;
    world.run_job(spec).await;
    (world, clocks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_stepped_forward_during_verification_does_not_pass_a_broken_run() {
    let (world, clocks) = stepping_world("stepfwd").await;
    let prober = world.probe("stepfwd").await;

    world
        .put_config("stepfwd", "name: broken\nhealthy: false\n")
        .await;
    // The node verifying the first restart jumps ten minutes ahead: every duration measured
    // across the step would look ten minutes long.
    let node = first_slot_holder(&world, "stepfwd").await;
    set_node_clock(&world, node, &clocks[node], 10 * 60).await;

    wait_state_within_budget(
        &world,
        &prober,
        ("stepfwd", 1),
        "stuck",
        1,
        Duration::from_secs(120),
    )
    .await;
    let allocs = world.running_allocs("stepfwd").await;
    let restarted: Vec<_> = allocs.iter().filter(|a| a.restarts > 0).collect();
    assert_eq!(restarted.len(), 1, "{allocs:?}");
    assert_step_reported(&world);
}

/// The stepped agent counted the step as a problem.
fn assert_step_reported(world: &World) {
    let steps = world.metric_sum("shepard_problems_total", &[("kind", "clock_step")]);
    assert!(
        steps >= 1.0,
        "no clock step counted in shepard_problems_total"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_stepped_back_during_verification_still_completes() {
    let (world, clocks) = stepping_world("stepback").await;
    let prober = world.probe("stepback").await;

    world.put_config("stepback", "name: two\n").await;
    // Five minutes back: the restarted run's start is dated before its trigger.
    let node = first_slot_holder(&world, "stepback").await;
    set_node_clock(&world, node, &clocks[node], -5 * 60).await;

    // Four restarts in a row, each proven by a 15 s check: well under the five minutes a
    // restart would hang if the step were counted.
    wait_state_within_budget(
        &world,
        &prober,
        ("stepback", 1),
        "complete",
        1,
        Duration::from_secs(150),
    )
    .await;
    assert_each_restarted_once(&world, "stepback").await;
    assert_step_reported(&world);
    assert_eq!(
        world.passing_greetings("stepback").await,
        vec!["Hello, two"; 4]
    );
}
