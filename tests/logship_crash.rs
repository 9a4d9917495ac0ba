//! At-least-once across crashes: the shipper runs in a child process that is killed with
//! SIGKILL in the middle of shipping, several times, while a task keeps writing; each new
//! child resumes from the checkpoint file. In the end no sequence number is missing, and the
//! duplicates are at most one batch per kill.

#[path = "logship_support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use shepard::logship::{LogMetrics, LogShipper, sinks};
use shepard_testkit::poll;
use support::nomad_rotator::NomadRotator;

const CHILD_ENV: &str = "SHEPARD_LOGSHIP_CHILD_DIR";
const LINES: u64 = 40_000;
const LINE_SIZE: usize = 64;
const MAX_BATCH_BYTES: u64 = 16 * 1024;
const KILLS: usize = 4;

fn config(dir: &Path) -> shepard::config::LogsConfig {
    let mut config = support::logs_config();
    config.max_batch_bytes = MAX_BATCH_BYTES;
    config.file = Some(support::file_sink(&sink_path(dir)));
    config
}

fn sink_path(dir: &Path) -> PathBuf {
    dir.join("out/tasks.jsonl")
}

/// The shipper of the child process: runs until killed. Does nothing in a normal test run.
#[test]
#[ignore = "run by logship_crash as its child process"]
fn child_shipper_process() {
    let Some(dir) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = config(&dir);
        let mut settings = support::settings(config.clone(), &dir.join("state"));
        settings.ship_log_interval = Duration::from_millis(20);
        let handle = LogShipper::start(
            settings,
            sinks::build(&config).unwrap(),
            LogMetrics::unregistered(),
        )
        .unwrap();
        handle.track(support::task_logs(
            &dir.join("alloc/logs"),
            "alloc-1",
            "web",
        ));
        std::future::pending::<()>().await;
    });
}

fn spawn_child(dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_shipper_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .spawn()
        .unwrap()
}

/// Lines in the file sink so far (a line being written may be cut; it is not counted).
fn shipped_lines(dir: &Path) -> usize {
    let out = dir.join("out");
    std::fs::read_dir(&out)
        .map(|entries| {
            entries
                .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
                .map(|bytes| memchr::memchr_iter(b'\n', &bytes).count())
                .sum()
        })
        .unwrap_or(0)
}

fn write_task_logs(dir: &Path) {
    let log_dir = dir.join("alloc/logs");
    let mut stdout = NomadRotator::open(&log_dir, "web", "stdout", 256 * 1024, 1000);
    let mut stderr = NomadRotator::open(&log_dir, "web", "stderr", 256 * 1024, 1000);
    for seq in 0..LINES {
        stdout.write(support::seq_line("stdout", seq, LINE_SIZE).as_bytes());
        stderr.write(support::seq_line("stderr", seq, LINE_SIZE).as_bytes());
        if seq % 100 == 99 {
            // Pacing of the load: ~1.3 MB/s per stream, so the kills land mid-stream.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[test]
fn kill_9_mid_batch_loses_nothing_and_duplicates_at_most_a_batch_per_kill() {
    let dir = tempfile::tempdir().unwrap();
    let writer_dir = dir.path().to_path_buf();
    let writer = std::thread::spawn(move || write_task_logs(&writer_dir));

    for round in 0..KILLS {
        let before = shipped_lines(dir.path());
        let mut child = spawn_child(dir.path());
        poll::until(
            &format!("round {round}: the child ships"),
            Duration::from_secs(30),
            Duration::from_millis(5),
            || (shipped_lines(dir.path()) > before + 1500).then_some(()),
        );
        child.kill().unwrap(); // SIGKILL: no shutdown, no last checkpoint
        child.wait().unwrap();
    }
    writer.join().unwrap();

    let mut child = spawn_child(dir.path());
    let lines = poll::until(
        "every line shipped",
        Duration::from_secs(60),
        Duration::from_millis(50),
        || {
            (shipped_lines(dir.path()) as u64 >= 2 * LINES).then_some(())?;
            let lines = support::read_file_sink(&sink_path(dir.path()));
            let seqs = support::sequences(&lines);
            let unique: usize = seqs
                .values()
                .map(|s| s.iter().collect::<std::collections::HashSet<_>>().len())
                .sum();
            (unique as u64 == 2 * LINES).then_some(lines)
        },
    );
    child.kill().unwrap();
    child.wait().unwrap();

    let max_lines_per_batch = MAX_BATCH_BYTES as usize / LINE_SIZE;
    let mut duplicates = 0;
    for (key, seqs) in support::sequences(&lines) {
        let mut seen = std::collections::HashSet::new();
        let mut last = None;
        for seq in &seqs {
            if seen.insert(*seq) {
                // First deliveries stay in order; repeats are a resumed stretch.
                assert!(last < Some(*seq), "{key:?}: {seq} after {last:?}");
                last = Some(*seq);
            } else {
                duplicates += 1;
            }
        }
        assert_eq!(seen.len() as u64, LINES, "{key:?}: missing lines");
    }
    assert!(
        duplicates <= KILLS * max_lines_per_batch,
        "{duplicates} duplicates after {KILLS} kills; a batch holds at most {max_lines_per_batch} lines"
    );
    eprintln!("{duplicates} duplicated lines after {KILLS} kills");
}
