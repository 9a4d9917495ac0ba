//! Cost of one GC pass as an agent runs it on every change of the watched state: converting
//! the KV listing and deciding, over a synthetic cluster (default 500 nodes × 20 allocations,
//! one managed task each, 200 jobs, a tenth of the allocations finished). Prints the best of
//! ten runs for a node pass (every agent) and a cluster pass (the GC lock holder).
//!
//! ```text
//! cargo run --release --example gc_pass_bench -- [--nodes 500] [--allocs-per-node 20]
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use shepard::agent::snapshot;
use shepard::consul::KvPair;
use shepard_reconcilers::gc::{
    GcAlloc, GcJob, GcNode, GcObservation, GcPass, GcScope, NodeStatus, reconcile_gc_pass,
};
use shepard_reconcilers::model::{AllocStatus, ClientStatus, DesiredStatus, TaskId};
use shepard_reconcilers::{Context, Key, Timestamp};

const JOBS: usize = 200;

fn args() -> anyhow::Result<(usize, usize)> {
    let (mut nodes, mut per_node) = (500, 20);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value: usize = it
            .next()
            .with_context(|| format!("{flag} needs a value"))?
            .parse()?;
        match flag.as_str() {
            "--nodes" => nodes = value,
            "--allocs-per-node" => per_node = value,
            other => bail!("unknown option {other}"),
        }
    }
    Ok((nodes, per_node))
}

fn pair(key: String, index: u64, value: &str) -> (String, KvPair) {
    let pair = KvPair {
        key: key.clone(),
        value: value.as_bytes().to_vec(),
        flags: 0,
        create_index: index,
        modify_index: index,
        lock_index: 0,
        session: None,
    };
    (key, pair)
}

fn main() -> anyhow::Result<()> {
    let (nodes, per_node) = args()?;
    let ctx = Context::new("node-0");
    let now = Timestamp::from_unix_secs(1_700_000_000);
    let mut kv = BTreeMap::new();
    let mut allocs = Vec::new();
    let mut index = 1;
    for n in 0..nodes {
        let node = format!("node-{n}");
        for a in 0..per_node {
            let job = format!("job-{}", (n * per_node + a) % JOBS);
            let id = format!("{n:08x}-{a:04x}-4000-8000-000000000000");
            let client = if a % 10 == 0 {
                ClientStatus::Complete
            } else {
                ClientStatus::Running
            };
            let trigger = Key::trigger(&node, &job, "web", "app", a as u32);
            kv.extend([pair(trigger.render(&ctx.prefix), index, "token")]);
            let state = Key::state(&node, &id, "app");
            kv.extend([pair(state.render(&ctx.prefix), index + 1, "{}")]);
            index += 2;
            allocs.push(GcAlloc {
                id,
                namespace: "default".into(),
                job_id: job.clone(),
                job_name: job,
                group: "web".into(),
                index: a as u32,
                node: node.clone(),
                status: AllocStatus {
                    desired: DesiredStatus::Run,
                    client,
                },
            });
        }
    }
    let mut jobs = Vec::new();
    for j in 0..JOBS {
        let task = TaskId::new("default", &format!("job-{j}"), "web", "app");
        for key in [
            Key::Rollout(task.clone()),
            Key::TaskLock(task.clone()),
            Key::Slot(task, 0),
        ] {
            kv.extend([pair(key.render(&ctx.prefix), index, "{}")]);
            index += 1;
        }
        jobs.push(GcJob {
            namespace: "default".into(),
            id: format!("job-{j}"),
            stop: false,
        });
    }
    let gc_nodes: Vec<GcNode> = (0..nodes)
        .map(|n| GcNode {
            name: format!("node-{n}"),
            status: NodeStatus::Ready,
            since: now,
        })
        .collect();
    let own: Vec<GcAlloc> = allocs
        .iter()
        .filter(|a| a.node == "node-0")
        .cloned()
        .collect();
    println!(
        "{} keys, {} allocations on {nodes} nodes, {JOBS} jobs",
        kv.len(),
        allocs.len()
    );
    for (scope, allocs) in [(GcScope::Node, &own), (GcScope::Cluster, &allocs)] {
        let mut best = Duration::MAX;
        let mut deletes = 0;
        for _ in 0..10 {
            let started = Instant::now();
            let view = snapshot::kv_view(&kv);
            let obs = GcObservation {
                kv: &view,
                allocs: allocs.clone(),
                jobs: jobs.clone(),
                nodes: gc_nodes.clone(),
                nodes_listed_since: now,
            };
            let pass = GcPass {
                scope,
                rollout_history: Some(Duration::from_secs(86_400)),
            };
            deletes = reconcile_gc_pass(&obs, &pass, &ctx, now).deletions.len();
            best = best.min(started.elapsed());
        }
        println!("{scope:?} pass: {best:?} (best of 10), {deletes} deletions decided");
    }
    Ok(())
}
