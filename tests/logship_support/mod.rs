//! What the log-shipping tests share: Nomad-style log writers, configuration, a fixed clock,
//! and readers that check the file sink's output line by line.
#![allow(dead_code)]

pub mod nomad_rotator;
pub mod receiver;
pub mod syslog;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use shepard::config::{FileSink, LogsConfig};
use shepard::logship::{Clock, RetryPolicy, ShipperSettings, TaskLogs, TaskTags};

/// Line timestamps for byte-for-byte comparisons.
#[derive(Debug)]
pub struct FixedClock;

pub const FIXED_TIME_SECS: u64 = 1_700_000_000;

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(FIXED_TIME_SECS)
    }
}

/// `logs` settings with no sink, the defaults of the configuration catalog.
pub fn logs_config() -> LogsConfig {
    LogsConfig {
        meta_tags: vec!["team".into()],
        max_line_bytes: 16 * 1024,
        max_batch_bytes: 1024 * 1024,
        memory_limit: 64 * 1024 * 1024,
        file: None,
        syslog: None,
        loki: None,
        http: None,
    }
}

pub fn file_sink(path: &Path) -> FileSink {
    FileSink {
        path: path.to_path_buf(),
        max_file_size: 1024 * 1024,
        max_files: 1000,
        direct_io: true,
    }
}

/// Settings for tests: quick polling, short retries and intervals.
pub fn settings(logs: LogsConfig, state_dir: &Path) -> ShipperSettings {
    let mut s = ShipperSettings::new(logs, Duration::from_millis(100), state_dir.to_path_buf());
    s.poll_interval = Duration::from_millis(10);
    s.retry = RetryPolicy {
        min: Duration::from_millis(20),
        max: Duration::from_millis(200),
    };
    s
}

pub fn task_tags(alloc_id: &str, task: &str, alloc_index: u32) -> TaskTags {
    TaskTags {
        node: "node-1".into(),
        datacenter: "dc1".into(),
        namespace: "default".into(),
        job: "web".into(),
        group: "frontend".into(),
        task: task.into(),
        alloc_id: alloc_id.into(),
        alloc_index,
        meta: vec![("team".into(), "blue".into())],
    }
}

pub fn task_logs(log_dir: &Path, alloc_id: &str, task: &str) -> TaskLogs {
    TaskLogs {
        log_dir: log_dir.to_path_buf(),
        tags: task_tags(alloc_id, task, 0),
    }
}

/// The sequence line `<stream> <seq> <padding>` that seqlog writes.
pub fn seq_line(stream: &str, seq: u64, size: usize) -> String {
    let mut text = format!("{stream} {seq:08} ");
    while text.len() + 1 < size {
        text.push('x');
    }
    text.push('\n');
    text
}

/// Every JSON line the file sink wrote at `path`, oldest rotated file first.
pub fn read_file_sink(path: &Path) -> Vec<serde_json::Value> {
    let mut files: Vec<(u32, PathBuf)> = Vec::new();
    let name = path.file_name().unwrap().to_str().unwrap().to_string();
    for entry in std::fs::read_dir(path.parent().unwrap()).unwrap() {
        let entry = entry.unwrap();
        let other = entry.file_name().into_string().unwrap();
        if other == name {
            files.push((0, entry.path()));
        } else if let Some(n) = other
            .strip_prefix(&format!("{name}."))
            .and_then(|n| n.parse().ok())
        {
            files.push((n, entry.path()));
        }
    }
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    let mut lines = Vec::new();
    for (_, file) in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for line in text.lines() {
            lines.push(serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")));
        }
    }
    lines
}

/// Sequence numbers per (alloc, task, stream), in the order shipped.
pub fn sequences(lines: &[serde_json::Value]) -> BTreeMap<(String, String, String), Vec<u64>> {
    let mut seqs: BTreeMap<(String, String, String), Vec<u64>> = BTreeMap::new();
    for line in lines {
        let tags = &line["tags"];
        let key = (
            tags["alloc_id"].as_str().unwrap().to_string(),
            tags["task"].as_str().unwrap().to_string(),
            tags["stream"].as_str().unwrap().to_string(),
        );
        let text = line["line"].as_str().unwrap();
        let mut words = text.split(' ');
        assert_eq!(
            words.next(),
            Some(key.2.as_str()),
            "line on the wrong stream: {text}"
        );
        let seq = words
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("no sequence number in {text:?}"));
        seqs.entry(key).or_default().push(seq);
    }
    seqs
}

/// Checks `seqs` is exactly `0..count`: nothing missing, nothing twice, in order.
pub fn assert_exactly_once_in_order(what: &str, seqs: &[u64], count: u64) {
    let seen: std::collections::HashSet<u64> = seqs.iter().copied().collect();
    let missing: Vec<u64> = (0..count).filter(|s| !seen.contains(s)).take(10).collect();
    assert!(
        missing.is_empty(),
        "{what}: missing sequence numbers (first 10) {missing:?}"
    );
    assert_eq!(seqs.len() as u64, count, "{what}: duplicated lines");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{what}: out of order");
}
