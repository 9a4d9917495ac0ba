//! Tailing through Nomad's rotation at speed: a writer that rotates like Nomad (size limit,
//! oldest deleted beyond max_files, a restart appending to the newest file, lines written in
//! pieces) forces dozens of rotations while the shipper ships to the file sink; every sequence
//! number must arrive exactly once, in order per stream, with every tag right.

#[path = "logship_support/mod.rs"]
mod support;

use std::time::Duration;

use shepard::logship::{LogMetrics, LogShipper, sinks};
use shepard_testkit::poll;
use support::nomad_rotator::NomadRotator;

const LINES: u64 = 12_000;
const FILE_SIZE: u64 = 32 * 1024;
const MAX_FILES: usize = 10;

fn line_size(seq: u64) -> usize {
    40 + (seq as usize * 37) % 160
}

/// Writes `LINES` lines per stream through Nomad-style rotators; the task "restarts" halfway
/// (the rotators reopen and append to the newest file). Returns the rotations per stream.
fn write_task_logs(dir: &std::path::Path) -> Vec<u64> {
    let open = |stream| NomadRotator::open(dir, "web", stream, FILE_SIZE, MAX_FILES);
    let mut writers = vec![("stdout", open("stdout")), ("stderr", open("stderr"))];
    let mut rotations = vec![0; 2];
    for seq in 0..LINES {
        if seq == LINES / 2 {
            for (i, (stream, writer)) in writers.iter_mut().enumerate() {
                rotations[i] += writer.rotations;
                *writer = open(stream);
            }
        }
        for (stream, writer) in &mut writers {
            let line = support::seq_line(stream, seq, line_size(seq));
            if seq % 10 == 0 {
                // In two writes: the tailer may see the first half alone.
                let (a, b) = line.as_bytes().split_at(line.len() / 2);
                writer.write(a);
                writer.write(b);
            } else {
                writer.write(line.as_bytes());
            }
        }
        if seq % 32 == 31 {
            // Pacing of the load, not synchronisation: ~1.5 MB/s per stream, so Nomad's
            // deletion of old files stays behind a reader that keeps up.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    for (i, (_, writer)) in writers.iter().enumerate() {
        rotations[i] += writer.rotations;
    }
    rotations
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_arrives_once_in_order_through_dozens_of_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("alloc/logs");
    let sink_path = dir.path().join("out/tasks.jsonl");
    let mut config = support::logs_config();
    config.max_batch_bytes = 64 * 1024;
    config.file = Some(shepard::config::FileSink {
        max_file_size: 512 * 1024,
        ..support::file_sink(&sink_path)
    });
    let metrics = LogMetrics::unregistered();
    let handle = LogShipper::start(
        support::settings(config.clone(), &dir.path().join("state")),
        sinks::build(&config).unwrap(),
        metrics.clone(),
    )
    .unwrap();
    handle.track(support::task_logs(&log_dir, "alloc-1", "web"));

    let writer_dir = log_dir.clone();
    let rotations = tokio::task::spawn_blocking(move || write_task_logs(&writer_dir))
        .await
        .unwrap();
    assert!(
        rotations.iter().all(|r| *r >= 24),
        "rotations per stream: {rotations:?}"
    );

    let lines = poll::until_async(
        "every line in the file sink",
        Duration::from_secs(60),
        Duration::from_millis(50),
        || {
            let path = sink_path.clone();
            async move {
                let lines = support::read_file_sink(&path);
                (lines.len() as u64 >= 2 * LINES).then_some(lines)
            }
        },
    )
    .await;
    let seqs = support::sequences(&lines);
    assert_eq!(seqs.len(), 2, "streams: {:?}", seqs.keys());
    for (key, seqs) in &seqs {
        support::assert_exactly_once_in_order(&format!("{key:?}"), seqs, LINES);
    }
    assert_eq!(metrics.lost_bytes(), 0);
    assert_eq!(metrics.lines_shipped("file"), 2 * LINES);

    let tags = &lines[0]["tags"];
    for (name, value) in [
        ("node", "node-1"),
        ("datacenter", "dc1"),
        ("namespace", "default"),
        ("job", "web"),
        ("group", "frontend"),
        ("task", "web"),
        ("alloc_id", "alloc-1"),
        ("alloc_index", "0"),
        ("team", "blue"),
    ] {
        assert_eq!(tags[name], value, "tag {name} in {tags}");
    }
    let sink_files = std::fs::read_dir(sink_path.parent().unwrap())
        .unwrap()
        .count();
    assert!(
        sink_files > 2,
        "the file sink rotated too ({sink_files} files)"
    );

    tokio::time::timeout(
        Duration::from_secs(30),
        handle.untrack("alloc-1", "web", true),
    )
    .await
    .expect("draining a stopped task ends");
    assert!(handle.tracked().is_empty());
    assert!(
        handle.checkpointed().is_empty(),
        "a drained task's checkpoints are dropped"
    );
    handle.shutdown().await;
}
