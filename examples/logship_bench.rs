//! Throughput of log shipping from Nomad-style log files into the `file` sink, measured in the
//! same run against `cat` of the same files into a file (the physical limit), and the memory
//! used while 100 files are tailed.
//!
//! ```text
//! cargo run --release --example logship_bench -- [--mb 512] [--dir /path/on/the/disk/to/test]
//! ```
//!
//! Per-core figures divide by CPU time (user + system, every thread), so they do not depend on
//! how many cores the machine has; each side runs five times and the best run counts, as other
//! work on the machine only ever slows a run down. On a virtual machine, kernel time for
//! writing into the page cache varies a lot from run to run (the hypervisor backs guest pages
//! lazily): the user/system split shows which part moved.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use shepard::config::{FileSink, LogsConfig};
use shepard::logship::sinks::append::{AppendFile, BLOCK};
use shepard::logship::{LogMetrics, LogShipper, ShipperSettings, TaskLogs, TaskTags, sinks};

const NOMAD_FILE_SIZE: u64 = 10 * 1024 * 1024;

struct Args {
    mb: u64,
    dir: Option<PathBuf>,
}

fn args() -> anyhow::Result<Args> {
    let mut out = Args { mb: 512, dir: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--mb" => out.mb = value.parse()?,
            "--dir" => out.dir = Some(PathBuf::from(value)),
            other => bail!("unknown option {other}"),
        }
    }
    Ok(out)
}

/// CPU seconds in user space and in the kernel, of this process (`RUSAGE_SELF`) or of its
/// waited-for children.
fn cpu_split(who: libc::c_int) -> (f64, f64) {
    // SAFETY: getrusage only writes into the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(who, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(usage.ru_utime), secs(usage.ru_stime))
}

/// CPU seconds (user + system).
fn cpu_seconds(who: libc::c_int) -> f64 {
    let (user, system) = cpu_split(who);
    user + system
}

/// Measured runs per side; the best counts.
const ROUNDS: usize = 5;

fn rss_bytes() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Writes `bytes` of log lines per stream for `task` the way Nomad lays them out (files of
/// `file_size`, split at line ends). Returns (bytes, lines) written for both streams.
fn write_task(dir: &Path, task: &str, bytes: u64, file_size: u64) -> anyhow::Result<(u64, u64)> {
    let words = [
        "GET",
        "/api/v1/orders",
        "200",
        "user=4711",
        "took=12ms",
        "cache=miss",
        "region=eu-west-1",
        "trace=9f86d081884c7d65",
    ];
    let mut total = (0, 0);
    for stream in ["stdout", "stderr"] {
        let (mut index, mut in_file, mut written, mut seq) = (0u64, 0u64, 0u64, 0u64);
        let mut file = BufWriter::new(File::create(dir.join(format!("{task}.{stream}.0")))?);
        while written < bytes {
            let mut line = format!("2024-05-01T12:00:00.000Z INFO {seq:010}");
            for i in 0..(seq % 12 + 2) {
                line.push(' ');
                line.push_str(words[((seq + i) % words.len() as u64) as usize]);
            }
            line.push('\n');
            if in_file + line.len() as u64 > file_size {
                index += 1;
                in_file = 0;
                file = BufWriter::new(File::create(dir.join(format!("{task}.{stream}.{index}")))?);
            }
            file.write_all(line.as_bytes())?;
            in_file += line.len() as u64;
            written += line.len() as u64;
            seq += 1;
        }
        file.flush()?;
        total.0 += written;
        total.1 += seq;
    }
    Ok(total)
}

fn all_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for alloc in fs::read_dir(dir)? {
        for file in fs::read_dir(alloc?.path().join("alloc/logs"))? {
            files.push(file?.path());
        }
    }
    files.sort();
    Ok(files)
}

fn logs_config(sink: &Path) -> LogsConfig {
    LogsConfig {
        meta_tags: vec![],
        max_line_bytes: 16 * 1024,
        max_batch_bytes: 1024 * 1024,
        memory_limit: 64 * 1024 * 1024,
        file: Some(FileSink {
            path: sink.to_path_buf(),
            max_file_size: 64 * 1024 * 1024 * 1024,
            max_files: 1,
            direct_io: true,
        }),
        syslog: None,
        loki: None,
        http: None,
    }
}

fn task(allocs: &Path, i: usize) -> TaskLogs {
    TaskLogs {
        log_dir: allocs.join(format!("alloc-{i}/alloc/logs")),
        tags: TaskTags {
            node: "bench-node".into(),
            datacenter: "dc1".into(),
            namespace: "default".into(),
            job: "bench".into(),
            group: "web".into(),
            task: "app".into(),
            alloc_id: format!("{i:08}-0000-4000-8000-000000000000"),
            alloc_index: i as u32,
            meta: vec![],
        },
    }
}

/// What one shipping run took.
struct Run {
    wall: Duration,
    user: f64,
    system: f64,
    metrics: LogMetrics,
    high_water: u64,
}

/// Ships every task's files to the file sink (tracking, then draining them) and returns the
/// wall time and the CPU time used.
async fn ship_all(allocs: &Path, tasks: usize, work: &Path) -> anyhow::Result<Run> {
    let sink = work.join("out/tasks.jsonl");
    let config = logs_config(&sink);
    let mut settings =
        ShipperSettings::new(config.clone(), Duration::from_secs(1), work.join("state"));
    settings.poll_interval = Duration::from_millis(50);
    let metrics = LogMetrics::unregistered();
    let cpu = cpu_split(libc::RUSAGE_SELF);
    let started = Instant::now();
    let handle = LogShipper::start(settings, sinks::build(&config)?, metrics.clone())?;
    for i in 0..tasks {
        handle.track(task(allocs, i));
    }
    let drains: Vec<_> = (0..tasks)
        .map(|i| handle.untrack(&task(allocs, i).tags.alloc_id, "app", true))
        .collect();
    futures::future::join_all(drains).await;
    let wall = started.elapsed();
    let (user, system) = cpu_split(libc::RUSAGE_SELF);
    let high_water = handle.budget().high_water() as u64;
    handle.shutdown().await;
    Ok(Run {
        wall,
        user: user - cpu.0,
        system: system - cpu.1,
        metrics,
        high_water,
    })
}

/// CPU seconds of the I/O alone that shipping into the file sink cannot avoid: reading every
/// input file into memory (64 KiB reads, as the tailers do) and writing `out_bytes` from memory
/// the way the sink writes (whole blocks with `O_DIRECT` where the filesystem allows), in
/// pieces of one batch's output rounded to whole blocks, each followed by `fdatasync` (the sink
/// acknowledges a batch only once it is on disk). One round.
fn io_floor(
    files: &[PathBuf],
    out_bytes: u64,
    per_batch: usize,
    dir: &Path,
) -> anyhow::Result<f64> {
    let piece_len = per_batch.div_ceil(BLOCK).max(1) * BLOCK;
    let mut buf = vec![0u8; 64 * 1024];
    let cpu = cpu_seconds(libc::RUSAGE_SELF);
    for path in files {
        let mut file = File::open(path)?;
        while std::io::Read::read(&mut file, &mut buf)? > 0 {}
    }
    let out_path = dir.join("floor.out");
    let mut out = AppendFile::open(&out_path, true)?;
    // Whole blocks leave nothing to carry: one staged piece serves every write.
    let start = out.stage(&mut buf, piece_len);
    buf.resize(start + piece_len, b'x');
    let mut written = 0u64;
    while written < out_bytes {
        let n = piece_len.min(usize::try_from(out_bytes - written)?);
        out.append_staged(&buf[..start + n], start)?;
        out.sync_data()?;
        written += n as u64;
    }
    let used = cpu_seconds(libc::RUSAGE_SELF) - cpu;
    drop(out);
    fs::remove_file(out_path)?;
    Ok(used)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

fn generate(
    allocs: &Path,
    tasks: usize,
    bytes_per_stream: u64,
    file_size: u64,
) -> anyhow::Result<(u64, u64)> {
    let mut total = (0, 0);
    for i in 0..tasks {
        let dir = allocs.join(format!("alloc-{i}/alloc/logs"));
        fs::create_dir_all(&dir)?;
        let (b, l) = write_task(&dir, "app", bytes_per_stream, file_size)?;
        total.0 += b;
        total.1 += l;
    }
    Ok(total)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let root = match &args.dir {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let mb = |b: f64| b / (1024.0 * 1024.0);

    // Throughput: 8 tasks, both streams, Nomad-sized files.
    let allocs = root.path().join("allocs");
    let tasks = 8;
    let (bytes, lines) = generate(
        &allocs,
        tasks,
        args.mb * 1024 * 1024 / (2 * tasks as u64),
        NOMAD_FILE_SIZE,
    )?;
    let files = all_files(&allocs)?;
    println!(
        "input: {:.0} MiB, {lines} lines, {} files in {}",
        mb(bytes as f64),
        files.len(),
        root.path().display()
    );

    // `cat` of the same files into a file: once to warm the page cache, then measured.
    let (mut cat_result, mut all_cat) = ((Duration::MAX, f64::MAX), Vec::new());
    for round in 0..=ROUNDS {
        let out = File::create(root.path().join("cat.out"))?;
        let cpu = cpu_seconds(libc::RUSAGE_CHILDREN);
        let started = Instant::now();
        let status = Command::new("cat")
            .args(&files)
            .stdout(Stdio::from(out))
            .status()?;
        if !status.success() {
            bail!("cat failed: {status}");
        }
        let run = (started.elapsed(), cpu_seconds(libc::RUSAGE_CHILDREN) - cpu);
        // Round 0 only warms the page cache.
        if round > 0 {
            all_cat.push(run.1);
            if run.1 < cat_result.1 {
                cat_result = run;
            }
        }
        fs::remove_file(root.path().join("cat.out"))?;
    }
    let (cat_wall, cat_cpu) = cat_result;

    // Rounds alternate between shepard and the I/O floor, so that both meet the same state of
    // the page cache (and of the hypervisor behind it).
    let (mut best, mut out_bytes, mut all_cpu) = (None::<Run>, 0, Vec::new());
    let (mut floor, mut all_floor) = (f64::MAX, Vec::new());
    for round in 0..ROUNDS {
        let work = root.path().join(format!("run{round}"));
        let run = ship_all(&allocs, tasks, &work).await?;
        let shipped = run.metrics.lines_shipped("file");
        if shipped != lines {
            bail!("shipped {shipped} lines of {lines}");
        }
        all_cpu.push(run.user + run.system);
        let written = fs::metadata(work.join("out/tasks.jsonl"))?.len();
        if best
            .as_ref()
            .is_none_or(|b| run.user + run.system < b.user + b.system)
        {
            out_bytes = written;
            best = Some(run);
        }
        fs::remove_dir_all(&work)?;
        // The floor writes what this run wrote, in pieces of one batch's output.
        let per_batch = (written as f64 / bytes as f64 * 1024.0 * 1024.0) as usize;
        let used = io_floor(&files, written, per_batch, root.path())?;
        all_floor.push(used);
        floor = floor.min(used);
    }
    let best = best.context("no run")?;
    let (wall, cpu, high_water) = (best.wall, best.user + best.system, best.high_water);
    let per_core = mb(bytes as f64) / cpu;
    let cat_per_core = mb(bytes as f64) / cat_cpu;
    println!(
        "cat > file      : {:>8.1} MiB/s wall, {:>8.1} MiB/s per core ({:.2} s wall, {:.2} s CPU)",
        mb(bytes as f64) / cat_wall.as_secs_f64(),
        cat_per_core,
        cat_wall.as_secs_f64(),
        cat_cpu
    );
    println!(
        "shepard → file  : {:>8.1} MiB/s wall, {:>8.1} MiB/s per core ({:.2} s wall, {:.2} s CPU), {:.2} M lines/s per core",
        mb(bytes as f64) / wall.as_secs_f64(),
        per_core,
        wall.as_secs_f64(),
        cpu,
        lines as f64 / cpu / 1e6
    );
    println!(
        "shepard CPU     : {:.2} s user (parsing, tagging, encoding), {:.2} s system (reads, writes, fsync); all {ROUNDS} runs: {}",
        best.user,
        best.system,
        all_cpu
            .iter()
            .map(|c| format!("{c:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "ratio per core  : {:.1} % of cat (wall: {:.1} %); budget high water {:.1} MiB",
        100.0 * per_core / cat_per_core,
        100.0 * cat_wall.as_secs_f64() / wall.as_secs_f64(),
        mb(high_water as f64)
    );
    println!(
        "bytes written   : {:.0} MiB of JSON lines ({:.1}x the input), {:.1} MiB/s per core: {:.1} % of cat's",
        mb(out_bytes as f64),
        out_bytes as f64 / bytes as f64,
        mb(out_bytes as f64) / cpu,
        100.0 * (mb(out_bytes as f64) / cpu) / cat_per_core
    );
    // The typical run, for a machine where the best one is far from the rest.
    println!(
        "median runs     : {:.1} % of cat per core ({:.2} s shepard, {:.2} s cat, {:.2} s floor)",
        100.0 * median(&all_cat) / median(&all_cpu),
        median(&all_cpu),
        median(&all_cat),
        median(&all_floor)
    );
    // What any implementation of this output format pays: the same reads and writes alone.
    let ceiling = mb(bytes as f64) / floor;
    println!(
        "I/O floor       : reading the input and writing the output alone take {:.2} s CPU: at most {:.1} MiB/s per core, {:.1} % of cat; shepard spends {:.2} s beyond it; all {ROUNDS} runs: {}",
        floor,
        ceiling,
        100.0 * ceiling / cat_per_core,
        cpu - floor,
        all_floor
            .iter()
            .map(|c| format!("{c:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    fs::remove_dir_all(&allocs)?;

    // Memory: 50 tasks × 2 streams = 100 files tailed at once.
    let many = root.path().join("many");
    let (bytes, _) = generate(&many, 50, 512 * 1024, NOMAD_FILE_SIZE)?;
    let before = rss_bytes();
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (Arc::clone(&peak), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let high_water = ship_all(&many, 50, &root.path().join("many-run"))
        .await?
        .high_water;
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    println!(
        "100 files tailed: {:.0} MiB shipped, RSS {:.1} MiB before, peak {:.1} MiB (+{:.1} MiB), budget high water {:.1} MiB of 64",
        mb(bytes as f64),
        mb(before as f64),
        mb(peak.load(Ordering::Relaxed) as f64),
        mb(peak.load(Ordering::Relaxed).saturating_sub(before) as f64),
        mb(high_water as f64)
    );
    idle_cpu(root.path()).await?;
    Ok(())
}

/// CPU of shipping that has nothing to do: 100 tasks tracked (both streams of each, with a few
/// Nomad files already shipped), nothing written, the default poll interval. What an agent on
/// a node of quiet tasks pays for log shipping.
async fn idle_cpu(root: &Path) -> anyhow::Result<()> {
    let tasks = 100;
    let allocs = root.join("idle");
    let (_, lines) = generate(&allocs, tasks, 64 * 1024, 16 * 1024)?;
    let work = root.join("idle-run");
    let config = logs_config(&work.join("out/tasks.jsonl"));
    let settings = ShipperSettings::new(config.clone(), Duration::from_secs(1), work.join("state"));
    let poll = settings.poll_interval;
    let metrics = LogMetrics::unregistered();
    let handle = LogShipper::start(settings, sinks::build(&config)?, metrics.clone())?;
    for i in 0..tasks {
        handle.track(task(&allocs, i));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while metrics.lines_shipped("file") < lines {
        if Instant::now() > deadline {
            bail!(
                "idle set-up: shipped {} lines of {lines}",
                metrics.lines_shipped("file")
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A measurement window, not a wait for something to happen.
    let window = Duration::from_secs(10);
    let cpu = cpu_seconds(libc::RUSAGE_SELF);
    tokio::time::sleep(window).await;
    let used = cpu_seconds(libc::RUSAGE_SELF) - cpu;
    handle.shutdown().await;
    println!(
        "idle            : {tasks} tasks tracked ({} streams, {} files), nothing written, poll every {poll:?}: {:.2} % of a core ({:.3} s CPU in {:.0} s)",
        2 * tasks,
        all_files(&allocs)?.len(),
        100.0 * used / window.as_secs_f64(),
        used,
        window.as_secs_f64()
    );
    Ok(())
}
