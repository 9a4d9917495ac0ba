//! What the log-forwarding end-to-end tests share: a job running `seqlog` (sequence-numbered
//! lines on stdout and stderr) in Nomad's JSON job form, the shipped lines read back from the
//! file sink (rotated files included) or an HTTP receiver's bodies, per-stream sequence checks,
//! the allocations as Nomad reports them, and the agent's memory from `/proc`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use shepard_testkit::{AgentProcess, TRIGGER_TEMPLATE, locate_binary, poll, submit_job};

/// Name of the seqlog task in every job here.
pub const TASK: &str = "seq";
/// Name of the group.
pub const GROUP: &str = "logger";

/// A service job whose task runs `seqlog`.
#[derive(Debug, Clone)]
pub struct SeqJob {
    pub id: String,
    pub count: u32,
    /// Opt in with the trigger template.
    pub managed: bool,
    /// Lines per stream, then the task exits (and is not restarted: the allocation fails).
    pub lines: u64,
    /// Lines per second per stream; 0: as fast as possible.
    pub rate: u64,
    /// Bytes per line, newline included.
    pub line_size: u64,
    pub max_file_size_mb: u32,
    pub max_files: u32,
    pub job_meta: Vec<(&'static str, &'static str)>,
    pub task_meta: Vec<(&'static str, &'static str)>,
}

impl SeqJob {
    pub fn new(id: &str, lines: u64) -> Self {
        Self {
            id: id.into(),
            count: 1,
            managed: true,
            lines,
            rate: 1000,
            line_size: 100,
            max_file_size_mb: 10,
            max_files: 10,
            job_meta: Vec::new(),
            task_meta: Vec::new(),
        }
    }

    pub fn to_json(&self) -> Value {
        let meta = |pairs: &[(&str, &str)]| -> Value {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let templates: Vec<Value> = if self.managed {
            vec![json!({
                "DestPath": "local/shepard.tpl", "ChangeMode": "restart", "Splay": 0,
                "Wait": {"Min": 0, "Max": 0}, "EmbeddedTmpl": TRIGGER_TEMPLATE,
            })]
        } else {
            Vec::new()
        };
        let args: Vec<String> = [
            ("--count", self.lines),
            ("--rate", self.rate),
            ("--size", self.line_size),
        ]
        .iter()
        .flat_map(|(flag, value)| [flag.to_string(), value.to_string()])
        .collect();
        json!({
            "ID": self.id, "Name": self.id, "Type": "service", "Datacenters": ["dc1"],
            "Meta": meta(&self.job_meta),
            "TaskGroups": [{
                "Name": GROUP, "Count": self.count,
                "RestartPolicy": {"Attempts": 0, "Interval": 60_000_000_000_u64,
                                  "Delay": 100_000_000, "Mode": "fail"},
                "Tasks": [{
                    "Name": TASK, "Driver": "raw_exec",
                    "Config": {"command": locate_binary("seqlog").display().to_string(),
                               "args": args},
                    "Meta": meta(&self.task_meta),
                    "KillTimeout": 2_000_000_000,
                    "LogConfig": {"MaxFiles": self.max_files,
                                  "MaxFileSizeMB": self.max_file_size_mb},
                    "Templates": templates,
                }]
            }]
        })
    }

    pub async fn submit(&self, nomad_addr: &str) {
        submit_job(nomad_addr, self.to_json()).await;
    }
}

/// The allocations of `job` as Nomad lists them.
pub async fn allocations(nomad_addr: &str, job: &str) -> Vec<Value> {
    reqwest::get(format!("{nomad_addr}/v1/job/{job}/allocations"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until `job` has `count` allocations and every one of them is `status`.
pub async fn wait_allocs(nomad_addr: &str, job: &str, count: usize, status: &str) -> Vec<Value> {
    poll::until_async(
        &format!("{count} allocations of {job} {status}"),
        Duration::from_secs(120),
        Duration::from_millis(100),
        || async {
            let allocs = allocations(nomad_addr, job).await;
            let all = allocs.len() == count && allocs.iter().all(|a| a["ClientStatus"] == status);
            all.then_some(allocs)
        },
    )
    .await
}

/// Waits until `agent` logged that the rest of `alloc_id`'s task logs was shipped.
pub fn wait_drained(agent: &AgentProcess, alloc_id: &str, within: Duration) {
    let task = format!("{alloc_id}/{TASK}");
    poll::until(
        &format!("the logs of stopped allocation {alloc_id} shipped"),
        within,
        Duration::from_millis(100),
        || {
            agent.log_lines().iter().find_map(|line| {
                let event: Value = serde_json::from_str(line).ok()?;
                let fields = &event["fields"];
                (fields["message"] == "logs of a stopped task shipped" && fields["task"] == task)
                    .then_some(())
            })
        },
    );
}

/// Every line of the file sink at `path`, oldest first: `path.N` … `path.1`, then `path`.
pub fn read_file_sink(path: &Path) -> Vec<Value> {
    let numbered = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
    let oldest = (1..).take_while(|n| numbered(*n).exists()).last();
    let mut files: Vec<PathBuf> = (1..=oldest.unwrap_or(0)).rev().map(numbered).collect();
    files.push(path.to_path_buf());
    files
        .iter()
        .filter_map(|file| std::fs::read_to_string(file).ok())
        .flat_map(|text| {
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                .collect::<Vec<Value>>()
        })
        .collect()
}

/// Complete lines in the file sink's current file (a write in progress may end in a torn one).
pub fn count_file_sink_lines(path: &Path) -> u64 {
    std::fs::read(path).map_or(0, |bytes| {
        bytes.iter().filter(|b| **b == b'\n').count() as u64
    })
}

/// The sequence numbers of one allocation's task, per stream, in shipped order; every line's
/// `stream` tag must match the stream named in the line itself.
pub fn sequences(records: &[Value], alloc_id: &str) -> BTreeMap<String, Vec<u64>> {
    let mut streams: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for record in records.iter().filter(|r| r["tags"]["alloc_id"] == alloc_id) {
        let line = record["line"].as_str().unwrap();
        let mut words = line.split(' ');
        let stream = words.next().unwrap();
        let seq: u64 = words.next().unwrap().parse().unwrap();
        assert_eq!(record["tags"]["stream"], stream, "stream tag of {line:?}");
        streams.entry(stream.to_string()).or_default().push(seq);
    }
    streams
}

/// Per stream: lines missing from `0..expected` and lines shipped more than once.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeqCheck {
    pub missing: Vec<u64>,
    pub duplicated: u64,
    /// A line shipped after a later one (not counting re-shipped ones).
    pub out_of_order: u64,
}

pub fn check_sequence(seqs: &[u64], expected: u64) -> SeqCheck {
    let mut seen = vec![0u32; usize::try_from(expected).unwrap()];
    let mut check = SeqCheck::default();
    let mut highest: Option<u64> = None;
    for &seq in seqs {
        let slot = &mut seen[usize::try_from(seq).unwrap()];
        *slot += 1;
        if *slot > 1 {
            check.duplicated += 1;
        } else if highest.is_some_and(|h| seq < h) {
            check.out_of_order += 1;
        }
        highest = highest.max(Some(seq));
    }
    check.missing = (0..expected).filter(|s| seen[*s as usize] == 0).collect();
    check
}

/// A number (kB) from `/proc/<pid>/status`, e.g. `VmRSS` or `VmHWM` (the peak RSS).
pub fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// The files of one stream of the task in an allocation's log dir, by index.
pub fn log_file_indexes(log_dir: &Path, stream: &str) -> Vec<u64> {
    let prefix = format!("{TASK}.{stream}.");
    let mut indexes: Vec<u64> = std::fs::read_dir(log_dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            name.strip_prefix(&prefix)?.parse().ok()
        })
        .collect();
    indexes.sort();
    indexes
}
