//! Log forwarding with its sink down for 30 s — an HTTP receiver answering 500, then a closed
//! port — while a task writes several times the memory cap: the agent keeps reconciling (a config
//! rollout completes, `/readyz` stays ready), its resident memory grows by less than the cap
//! plus a fixed allowance, the lag metric rises, and once the receiver is back every line is
//! delivered once, in order.

mod e2e;
mod e2e_logs_world;
// Shared with the log-shipping tests, which read what this test does not.
#[allow(dead_code)]
#[path = "logship_support/receiver.rs"]
mod receiver;

use std::time::Duration;

use e2e::World;
use e2e_logs_world::{
    SeqCheck, SeqJob, TASK, allocations, check_sequence, proc_status_kb, sequences, wait_allocs,
    wait_drained,
};
use receiver::Receiver;
use serde_json::Value;
use shepard_testkit::{AgentProcess, GreetJob, poll};

const LINES: u64 = 30_000;
const LINE_SIZE: u64 = 512;
const CAP: u64 = 4 * 1024 * 1024;
/// What the agent may use beyond the cap while lines wait: buffers of the batch being retried,
/// the allocator's slack.
const ALLOWANCE: u64 = 8 * 1024 * 1024;

fn records(receiver: &Receiver) -> Vec<Value> {
    receiver
        .accepted()
        .iter()
        .flat_map(|request| {
            String::from_utf8(request.body.clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

fn lag(world: &World) -> f64 {
    world.metric_max("shepard_log_ship_lag_seconds")
}

fn rss_bytes(agent: &AgentProcess) -> u64 {
    proc_status_kb(agent.pid(), "VmRSS") * 1024
}

/// Polls until the lag reaches `seconds`, checking on the way that the agent stays ready and
/// recording its largest resident size.
async fn down_until_lag(world: &World, seconds: f64, peak_rss: &mut u64) {
    let agent = &world.cluster.agents[0];
    poll::until_async(
        &format!("a lag of {seconds} s"),
        Duration::from_secs(90),
        Duration::from_millis(100),
        || {
            *peak_rss = (*peak_rss).max(rss_bytes(agent));
            let ready = agent.get("/readyz").map(|(status, _)| status);
            assert_eq!(ready, Some(200), "the agent stays ready");
            let lag = lag(world);
            async move { (lag >= seconds).then_some(()) }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_down_for_30s_costs_bounded_memory_and_loses_nothing() {
    let receiver = Receiver::start(0).await;
    let port = receiver.addr.port();
    let url = receiver.url("/ingest");
    let cap = CAP.to_string();
    let world = World::start(
        1,
        &[
            "--logs-http-url",
            &url,
            "--logs-memory-limit",
            &cap,
            "--logs-max-batch-bytes",
            "256KiB",
            "--ship-log-interval",
            "200ms",
        ],
    )
    .await;
    let nomad = world.cluster.sim.addr().to_string();
    world
        .run_job(GreetJob::new("hello", 1, "hello/config"))
        .await;
    let baseline_rss = rss_bytes(&world.cluster.agents[0]);

    // Down, answering 500, while the task writes 30 MB over 30 s.
    receiver.set_failing(true);
    let mut job = SeqJob::new("seq-down", LINES);
    job.line_size = LINE_SIZE;
    job.rate = 1000;
    job.max_file_size_mb = 1;
    job.max_files = 40;
    job.submit(&nomad).await;
    world.put_config("hello", "name: two\n").await;
    world
        .wait_rollout_state("hello", "complete", Duration::from_secs(60))
        .await;
    assert_eq!(world.passing_greetings("hello").await, ["Hello, two"]);
    let mut peak_rss = baseline_rss;
    down_until_lag(&world, 15.0, &mut peak_rss).await;
    assert!(receiver.refused() >= 2);
    let errors = world.metric_sum("shepard_log_ship_errors_total", &[("sink", "http")]);

    // A closed port: connections refused.
    receiver.stop().await;
    down_until_lag(&world, 30.0, &mut peak_rss).await;
    let errors_closed = world.metric_sum("shepard_log_ship_errors_total", &[("sink", "http")]);
    // Retries back off (up to 30 s apart), so a few attempts at most in 15 s.
    assert!(errors_closed > errors, "{errors} then {errors_closed}");
    let allocs = allocations(&nomad, "seq-down").await;
    let log_dir = world
        .cluster
        .sim
        .data_dir()
        .join("sim-node-0/alloc")
        .join(allocs[0]["ID"].as_str().unwrap())
        .join("alloc/logs");
    let written: u64 = std::fs::read_dir(&log_dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    // The kernel's high-water mark also covers the moments between samples.
    let peak_rss = peak_rss.max(proc_status_kb(world.cluster.agents[0].pid(), "VmHWM") * 1024);
    let grown = peak_rss.saturating_sub(baseline_rss);
    eprintln!(
        "sink down: {written} bytes written, agent RSS {baseline_rss} -> peak {peak_rss} (+{grown}), cap {CAP}"
    );
    // Without the cap, the reader would have held all of it.
    assert!(
        written > 2 * (CAP + ALLOWANCE),
        "the task wrote {written} bytes"
    );
    assert!(
        grown < CAP + ALLOWANCE,
        "RSS grew by {grown} bytes with a cap of {CAP}"
    );

    // Back: everything arrives, once, in order.
    let receiver = Receiver::start(port).await;
    let allocs = wait_allocs(&nomad, "seq-down", 1, "failed").await;
    let id = allocs[0]["ID"].as_str().unwrap();
    wait_drained(&world.cluster.agents[0], id, Duration::from_secs(120));
    let records = records(&receiver);
    let streams = sequences(&records, id);
    assert_eq!(streams.len(), 2);
    for (stream, seqs) in &streams {
        assert_eq!(
            check_sequence(seqs, LINES),
            SeqCheck::default(),
            "{stream}: every line once, in order"
        );
    }
    assert!(
        records
            .iter()
            .all(|r| r["tags"]["task"] == TASK || r["tags"]["job"] == "hello")
    );
    poll::until(
        "the lag to fall back",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || (lag(&world) < 5.0).then_some(()),
    );
}
