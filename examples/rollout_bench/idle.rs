//! The idle measure: one node, one agent managing `count` allocations, nothing changing. Reads
//! the agent's `shepard_api_requests_total` before and after a window, per operation, its CPU
//! time from `/proc/<pid>/stat` over the same window, and its resident memory from
//! `/proc/<pid>/status`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use shepard_testkit::AgentProcess;

/// Operations the agent runs as blocking watches (the KV prefix, this node's
/// checks, this node's allocations, the jobs and their allocations). A watch that returns
/// with nothing new (on its wait timeout) is the only request an idle agent may repeat.
pub const WATCH_OPS: &[&str] = &[
    "kv_list",
    "health_node",
    "node_allocations",
    "job",
    "job_allocations",
];

/// Requests per `(api, op)` over the window.
#[derive(Debug)]
pub struct IdleReport {
    pub window: Duration,
    pub per_op: BTreeMap<(String, String), f64>,
    pub rss_kib: u64,
    /// CPU seconds (user + system) the agent used in the window.
    pub cpu_secs: f64,
}

impl IdleReport {
    pub fn watch_requests(&self) -> f64 {
        self.filtered(true)
    }

    pub fn other_requests(&self) -> f64 {
        self.filtered(false)
    }

    fn filtered(&self, watches: bool) -> f64 {
        self.per_op
            .iter()
            .filter(|((_, op), _)| WATCH_OPS.contains(&op.as_str()) == watches)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn per_second(&self, requests: f64) -> f64 {
        requests / self.window.as_secs_f64()
    }
}

/// Counts the agent's requests over `window` (a measurement window, not a synchronisation).
pub async fn measure(agent: &AgentProcess, window: Duration) -> anyhow::Result<IdleReport> {
    let before = requests(agent)?;
    let cpu_before = cpu_secs(agent.pid())?;
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let cpu_secs = cpu_secs(agent.pid())? - cpu_before;
    let after = requests(agent)?;
    let window = started.elapsed();
    let mut per_op = BTreeMap::new();
    for (series, n) in &after {
        let delta = n - before.get(series).copied().unwrap_or(0.0);
        if delta > 0.0 {
            per_op.insert(series.clone(), delta);
        }
    }
    Ok(IdleReport {
        window,
        per_op,
        rss_kib: rss_kib(agent.pid())?,
        cpu_secs,
    })
}

/// `shepard_api_requests_total` summed over `code`, by `(api, op)`.
fn requests(agent: &AgentProcess) -> anyhow::Result<BTreeMap<(String, String), f64>> {
    let Some((200, body)) = agent.get("/metrics") else {
        bail!("the agent's /metrics did not answer");
    };
    let mut out = BTreeMap::new();
    for line in body.lines() {
        let Some(rest) = line.strip_prefix("shepard_api_requests_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_string())
                .unwrap_or_default()
        };
        let value: f64 = value.trim().parse().unwrap_or(0.0);
        *out.entry((label("api"), label("op"))).or_insert(0.0) += value;
    }
    Ok(out)
}

/// CPU seconds (user + system) process `pid` has used: `utime` and `stime` of
/// `/proc/<pid>/stat`, in clock ticks.
fn cpu_secs(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("read /proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces: fields are counted from after its `)`.
    let rest = stat
        .rsplit_once(')')
        .context("no `)` in /proc/<pid>/stat")?
        .1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .context("short /proc/<pid>/stat")?
            .parse::<f64>()?)
    };
    // SAFETY: sysconf only reads a configuration value.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    Ok((ticks(11)? + ticks(12)?) / per_sec)
}

/// `VmRSS` of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS line")
}
