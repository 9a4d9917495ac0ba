//! Log forwarding end to end: a real agent tails the Nomad log files of tasks nomad-sim runs
//! (`seqlog`, sequence-numbered lines) and ships them to its file sink. Every line of a managed
//! task arrives once, in order per stream, with every tag right; an unmanaged task's lines are
//! not shipped; dozens of Nomad log rotations while shipping lose and duplicate nothing.

mod e2e;
mod e2e_logs_world;

use std::path::PathBuf;
use std::time::Duration;

use e2e::World;
use e2e_logs_world::{
    GROUP, SeqCheck, SeqJob, TASK, check_sequence, log_file_indexes, read_file_sink, sequences,
    wait_allocs, wait_drained,
};
use serde_json::{Value, json};

fn alloc_log_dir(world: &World, alloc: &Value) -> PathBuf {
    world
        .cluster
        .sim
        .data_dir()
        .join(alloc["NodeName"].as_str().unwrap())
        .join("alloc")
        .join(alloc["ID"].as_str().unwrap())
        .join("alloc/logs")
}

fn alloc_index(alloc: &Value) -> String {
    let name = alloc["Name"].as_str().unwrap();
    let open = name.rfind('[').unwrap();
    name[open + 1..name.len() - 1].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_of_a_managed_task_is_shipped_once_in_order_with_its_tags() {
    const LINES: u64 = 3000;
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("shipped.jsonl");
    let sink_arg = sink.display().to_string();
    let world = World::start(
        1,
        &[
            "--logs-file-path",
            &sink_arg,
            "--ship-log-interval",
            "200ms",
            "--logs-meta-tags",
            "team,tier",
        ],
    )
    .await;
    let nomad = world.cluster.sim.addr().to_string();
    let mut managed = SeqJob::new("seq-managed", LINES);
    managed.count = 2;
    managed.job_meta = vec![("tier", "gold"), ("team", "job-team")];
    managed.task_meta = vec![("team", "blue")];
    let mut plain = SeqJob::new("seq-plain", LINES);
    plain.managed = false;
    managed.submit(&nomad).await;
    plain.submit(&nomad).await;

    // seqlog exits after its last line and is not restarted: the allocation fails, and the
    // agent ships the rest of its files.
    let allocs = wait_allocs(&nomad, "seq-managed", 2, "failed").await;
    let plain_allocs = wait_allocs(&nomad, "seq-plain", 1, "failed").await;
    for alloc in &allocs {
        let id = alloc["ID"].as_str().unwrap();
        wait_drained(&world.cluster.agents[0], id, Duration::from_secs(60));
    }

    let records = read_file_sink(&sink);
    for alloc in &allocs {
        let id = alloc["ID"].as_str().unwrap();
        let streams = sequences(&records, id);
        assert_eq!(
            streams.keys().collect::<Vec<_>>(),
            ["stderr", "stdout"],
            "{id}"
        );
        for (stream, seqs) in &streams {
            assert_eq!(
                check_sequence(seqs, LINES),
                SeqCheck::default(),
                "alloc {id} {stream}: every line once, in order"
            );
        }
        for record in records.iter().filter(|r| r["tags"]["alloc_id"] == id) {
            let stream = record["line"].as_str().unwrap().split(' ').next().unwrap();
            let expected = json!({
                "node": "sim-node-0", "datacenter": "dc1", "namespace": "default",
                "job": "seq-managed", "group": GROUP, "task": TASK, "alloc_id": id,
                "alloc_index": alloc_index(alloc), "stream": stream,
                "team": "blue", "tier": "gold",
            });
            assert_eq!(record["tags"], expected);
            assert!(record["ts"].is_string() || record["ts"].is_number());
        }
    }

    // The unmanaged task wrote as much, and none of it was shipped.
    let plain_dir = alloc_log_dir(&world, &plain_allocs[0]);
    let written = std::fs::read_to_string(plain_dir.join(format!("{TASK}.stdout.0"))).unwrap();
    assert_eq!(written.lines().count() as u64, LINES);
    assert!(records.iter().all(|r| r["tags"]["job"] != "seq-plain"));
    assert_eq!(records.len() as u64, 2 * 2 * LINES);
    assert_eq!(world.metric_sum("shepard_log_lost_bytes_total", &[]), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dozens_of_log_rotations_while_shipping_lose_and_duplicate_nothing() {
    // Nomad's smallest file size is 1 MB (`MaxFileSizeMB` is whole megabytes): 32 MB of 4 KiB
    // lines per stream make 31 rotations each, at 4 MB/s per stream.
    const LINES: u64 = 8192;
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("shipped.jsonl");
    let sink_arg = sink.display().to_string();
    let world = World::start(
        1,
        &[
            "--logs-file-path",
            &sink_arg,
            "--ship-log-interval",
            "200ms",
        ],
    )
    .await;
    let nomad = world.cluster.sim.addr().to_string();
    let mut job = SeqJob::new("seq-rotate", LINES);
    job.line_size = 4096;
    job.rate = 1000;
    job.max_file_size_mb = 1;
    job.max_files = 5;
    job.submit(&nomad).await;

    let allocs = wait_allocs(&nomad, "seq-rotate", 1, "failed").await;
    let id = allocs[0]["ID"].as_str().unwrap();
    wait_drained(&world.cluster.agents[0], id, Duration::from_secs(120));

    let log_dir = alloc_log_dir(&world, &allocs[0]);
    for stream in ["stdout", "stderr"] {
        let indexes = log_file_indexes(&log_dir, stream);
        assert!(
            indexes.last().is_some_and(|i| *i >= 24) && indexes.len() <= 5,
            "{stream}: dozens of rotations, old files deleted: {indexes:?}"
        );
    }
    let records = read_file_sink(&sink);
    let streams = sequences(&records, id);
    assert_eq!(streams.len(), 2);
    for (stream, seqs) in &streams {
        assert_eq!(
            check_sequence(seqs, LINES),
            SeqCheck::default(),
            "{stream}: no line missing, none duplicated"
        );
    }
    assert_eq!(world.metric_sum("shepard_log_lost_bytes_total", &[]), 0.0);
}
