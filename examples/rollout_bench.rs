//! Performance of shepard's rolling restarts with the `nomad-api` method, on a real Consul,
//! nomad-sim and real agents, printed as a table of measured values against the targets:
//! detection (watched file rewritten → restart issued), hand-off (slot released → next
//! restart on that slot), rollout wall time against the ideal, and an idle agent's request
//! rate beyond its blocking watches, its memory and its CPU.
//!
//! `cargo build --release --workspace --bins && cargo run --release --example rollout_bench`
//! (options: `--rollouts N` (default 7), `--idle-allocs N` (100), `--idle-secs S` (60)).

#[path = "rollout_bench/history.rs"]
mod history;
#[path = "rollout_bench/idle.rs"]
mod idle;
#[path = "rollout_bench/world.rs"]
mod world;

use std::time::{Duration, Instant};

use anyhow::bail;
use shepard_testkit::locate_binary;
use world::{BenchWorld, median, ms};

const NODES: usize = 3;
const ALLOCS: u32 = 30;
const MAX_PARALLEL: u32 = 3;
const MIN_HEALTHY: Duration = Duration::from_secs(1);
const ROLLOUT_CHECK_INTERVAL: Duration = Duration::from_millis(250);
const REQUESTS: &str = "shepard_api_requests_total";
const KV_WATCH_OP: &str = "op=\"kv_list\"";
const IDLE_CHECK_INTERVAL: Duration = Duration::from_secs(10);

struct Options {
    rollouts: u32,
    idle_allocs: u32,
    idle_secs: u64,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        rollouts: 7,
        idle_allocs: 100,
        idle_secs: 60,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or_default();
        match pair[0].as_str() {
            "--rollouts" => o.rollouts = value.parse()?,
            "--idle-allocs" => o.idle_allocs = value.parse()?,
            "--idle-secs" => o.idle_secs = value.parse()?,
            other => bail!("unknown option {other}"),
        }
    }
    Ok(o)
}

/// What the rollouts gave.
struct RolloutMeasures {
    detection_trigger: Vec<Duration>,
    detection_signaled: Vec<Duration>,
    hand_offs: Vec<Duration>,
    restarts: Vec<Duration>,
    walls: Vec<Duration>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    let started = Instant::now();
    let shepard = locate_binary("shepard");
    println!(
        "shepard rollout benchmark (binaries: {})",
        shepard.display()
    );

    let rollouts = measure_rollouts(&shepard, options.rollouts).await?;
    let idle = measure_idle(&shepard, options.idle_allocs, options.idle_secs).await?;

    let restart = median(&rollouts.restarts);
    let ideal = (restart + MIN_HEALTHY) * ALLOCS.div_ceil(MAX_PARALLEL);
    let wall = median(&rollouts.walls);
    let over = wall.as_secs_f64() / ideal.as_secs_f64() - 1.0;
    let other_rate = idle.per_second(idle.other_requests());
    let rss_mb = idle.rss_kib as f64 / 1024.0;
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };

    println!("\n== results (medians) ==");
    println!("{:<44} {:>22} {:>12}  ", "measure", "measured", "target");
    let row = |name: &str, measured: String, target: &str, ok: bool| {
        println!("{name:<44} {measured:>22} {target:>12}  {}", verdict(ok));
    };
    let detection = median(&rollouts.detection_trigger);
    row(
        &format!(
            "detection: file → triggered_at (n={})",
            rollouts.detection_trigger.len()
        ),
        format!("{:.1} ms", ms(detection)),
        "≤ 50 ms",
        detection <= Duration::from_millis(50),
    );
    let signaled = median(&rollouts.detection_signaled);
    row(
        &format!(
            "detection: file → Restart Signaled (n={})",
            rollouts.detection_signaled.len()
        ),
        format!("{:.1} ms", ms(signaled)),
        "≤ 50 ms",
        signaled <= Duration::from_millis(50),
    );
    let hand_off = median(&rollouts.hand_offs);
    row(
        &format!(
            "hand-off: in_sync → next trigger (n={})",
            rollouts.hand_offs.len()
        ),
        format!("{:.1} ms", ms(hand_off)),
        "≤ 20 ms",
        hand_off <= Duration::from_millis(20),
    );
    row(
        &format!(
            "rollout wall, {ALLOCS} allocs, p={MAX_PARALLEL} (n={})",
            rollouts.walls.len()
        ),
        format!(
            "{:.2} s (ideal {:.2} s, {:+.1} %)",
            wall.as_secs_f64(),
            ideal.as_secs_f64(),
            over * 100.0
        ),
        "≤ +10 %",
        over <= 0.10,
    );
    row(
        &format!(
            "idle, {} allocs: requests/s beyond watches",
            options.idle_allocs
        ),
        format!("{other_rate:.3} /s"),
        "≤ 0.1 /s",
        other_rate <= 0.1,
    );
    row(
        &format!("idle, {} allocs: agent VmRSS", options.idle_allocs),
        format!("{rss_mb:.1} MB"),
        "≤ 30 MB",
        rss_mb <= 30.0,
    );
    println!(
        "\nrestart (for the ideal) = record triggered_at → its first `verifying` version \
         (task restarted and its check seen passing), median {:.0} ms (n={}); \
         ideal = ceil({ALLOCS}/{MAX_PARALLEL}) × (restart + min_healthy_time {:.0} s)",
        ms(restart),
        rollouts.restarts.len(),
        MIN_HEALTHY.as_secs_f64()
    );
    println!(
        "idle window {:.0} s, requests by op (watches = {:?}):",
        idle.window.as_secs_f64(),
        idle::WATCH_OPS
    );
    for ((api, op), n) in &idle.per_op {
        println!(
            "  {api:<7} {op:<20} {n:>5}  ({:.3} /s)",
            idle.per_second(*n)
        );
    }
    println!(
        "  watches {:.3} /s, other {:.3} /s",
        idle.per_second(idle.watch_requests()),
        other_rate
    );
    println!(
        "  agent CPU {:.2} % of a core ({:.2} s in the window)",
        100.0 * idle.cpu_secs / idle.window.as_secs_f64(),
        idle.cpu_secs
    );
    println!(
        "\nreproduce: cargo build --release --workspace --bins && \
         cargo run --release --example rollout_bench   ({:.0} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn measure_rollouts(
    shepard: &std::path::Path,
    rollouts: u32,
) -> anyhow::Result<RolloutMeasures> {
    println!(
        "\n▶ {NODES} nodes, {ALLOCS} allocations, max_parallel {MAX_PARALLEL}, \
         min_healthy_time {MIN_HEALTHY:?}, check interval {ROLLOUT_CHECK_INTERVAL:?}, \
         {rollouts} rollouts"
    );
    let mut world = BenchWorld::start(shepard, NODES, &[]).await;
    world
        .run_job(ALLOCS, MAX_PARALLEL, MIN_HEALTHY, ROLLOUT_CHECK_INTERVAL)
        .await?;
    let history = history::StateHistory::start(world.consul_addr());
    let mut m = RolloutMeasures {
        detection_trigger: Vec::new(),
        detection_signaled: Vec::new(),
        hand_offs: Vec::new(),
        restarts: Vec::new(),
        walls: Vec::new(),
    };
    for round in 1..=rollouts {
        let before = world.rollout().await?.map_or(0, |r| r.generation);
        let kv_watch_calls = world.metric_sum_where(REQUESTS, KV_WATCH_OP);
        world.put_config(&format!("name: round {round}\n")).await?;
        let record = world
            .wait_complete(before, Duration::from_secs(180))
            .await?;
        let wall = record
            .finished_at
            .unwrap_or(record.updated_at)
            .since(record.created_at);
        // The last records may land after the rollout record: let the watch catch up.
        let generation = world
            .wait_generation_settled(&history, record.generation)
            .await;
        let first_wave = generation.first_wave();
        let hand_offs = generation.hand_offs();
        let kv_watch_rate = (world.metric_sum_where(REQUESTS, KV_WATCH_OP) - kv_watch_calls)
            / wall.as_secs_f64()
            / NODES as f64;
        let mut detections = Vec::new();
        let mut to_drift = Vec::new();
        let mut drift_to_rollout = Vec::new();
        let mut rollout_to_trigger = Vec::new();
        for t in &first_wave {
            let alloc = world.alloc_timing(&t.alloc_id).await?;
            let Some(rewritten) = alloc.config_mtime else {
                continue;
            };
            let trigger = t.triggered_at.since(rewritten);
            if let Some(drift) = t.drift_detected_at {
                to_drift.push(drift.since(rewritten));
                drift_to_rollout.push(record.created_at.since(drift));
            }
            rollout_to_trigger.push(t.triggered_at.since(record.created_at));
            m.detection_trigger.push(trigger);
            detections.push(ms(trigger));
            if let Some(signaled) = alloc.last_restart_signaled {
                m.detection_signaled.push(signaled.since(rewritten));
            }
        }
        m.restarts
            .extend(generation.triggers.iter().filter_map(|t| t.restart));
        println!(
            "  rollout {} (gen {}): {:.2} s; {} restarts, first wave detection {:?} ms, \
             hand-off median {:.1} ms (n={})",
            round,
            record.generation,
            wall.as_secs_f64(),
            generation.triggers.len(),
            detections.iter().map(|d| d.round()).collect::<Vec<_>>(),
            ms(median(&hand_offs)),
            hand_offs.len()
        );
        println!(
            "    first wave, medians: file → drift_detected_at {:.0} ms, → rollout created_at \
             {:.0} ms, → triggered_at {:.0} ms; KV prefix watch calls {kv_watch_rate:.2} /s per agent",
            ms(median(&to_drift)),
            ms(median(&drift_to_rollout)),
            ms(median(&rollout_to_trigger)),
        );
        m.hand_offs.extend(hand_offs);
        m.walls.push(wall);
    }
    drop(history);
    drop(world);
    Ok(m)
}

async fn measure_idle(
    shepard: &std::path::Path,
    allocs: u32,
    secs: u64,
) -> anyhow::Result<idle::IdleReport> {
    println!(
        "\n▶ idle: 1 node, {allocs} managed allocations, check interval {IDLE_CHECK_INTERVAL:?}, \
         window {secs} s"
    );
    let mut world = BenchWorld::start(shepard, 1, &[]).await;
    world
        .run_job(allocs, MAX_PARALLEL, MIN_HEALTHY, IDLE_CHECK_INTERVAL)
        .await?;
    let agent = &world.cluster().agents[0];
    println!(
        "  all running and managed; VmRSS now {:.1} MB; measuring",
        idle::rss_kib(agent.pid())? as f64 / 1024.0
    );
    let report = idle::measure(agent, Duration::from_secs(secs)).await?;
    drop(world);
    Ok(report)
}
