//! Log forwarding across a crash: the agent is killed with SIGKILL in the middle of a batch —
//! the file sink has written it, an HTTP sink holds the request without answering — and
//! started again with the same data dir. Checkpoints only move after every sink acknowledged
//! a batch, so nothing is missing and exactly the batch in flight arrives twice.

mod e2e;
mod e2e_logs_world;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;

use e2e::World;
use e2e_logs_world::{
    SeqJob, allocations, check_sequence, count_file_sink_lines, read_file_sink, sequences,
    wait_allocs, wait_drained,
};
use serde_json::Value;
use shepard_testkit::poll;

const LINES: u64 = 10_000;
const LINE_SIZE: u64 = 200;
const MAX_BATCH_BYTES: u64 = 64 * 1024;

/// An HTTP sink that, once told to hold, keeps the next requests without ever answering: a
/// batch in flight for as long as the test wants.
#[derive(Default)]
struct Holding {
    hold: AtomicBool,
    held: Mutex<Vec<Bytes>>,
}

async fn holding_receiver() -> (SocketAddr, Arc<Holding>) {
    let state = Arc::new(Holding::default());
    let handler_state = Arc::clone(&state);
    let app = Router::new().fallback(post(move |body: Bytes| {
        let state = Arc::clone(&handler_state);
        async move {
            if state.hold.load(Ordering::SeqCst) {
                state.held.lock().unwrap().push(body);
                std::future::pending::<()>().await;
            }
            StatusCode::NO_CONTENT
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, state)
}

/// The file sink's last complete line.
fn last_file_sink_line(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    let complete = &text[..text.rfind('\n')?];
    serde_json::from_str(complete.rsplit('\n').next()?).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_misses_nothing_and_repeats_at_most_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("shipped.jsonl");
    let sink_arg = sink.display().to_string();
    let batch_arg = MAX_BATCH_BYTES.to_string();
    let (receiver, holding) = holding_receiver().await;
    let http_arg = format!("http://{receiver}/ingest");
    let agent_args = [
        "--consul-session-ttl",
        "10s",
        "--consul-lock-delay",
        "1s",
        "--logs-file-path",
        &sink_arg,
        "--ship-log-interval",
        "100ms",
        "--logs-max-batch-bytes",
        &batch_arg,
        "--logs-http-url",
        &http_arg,
    ];
    let mut world = World::start(1, &agent_args[4..]).await;
    let nomad = world.cluster.sim.addr().to_string();
    let mut job = SeqJob::new("seq-crash", LINES);
    job.line_size = LINE_SIZE;
    job.rate = 1000;
    job.submit(&nomad).await;

    // Batches leave every 100 ms while the task writes: the next one after a third of the
    // lines is held by the HTTP sink, after the file sink wrote it.
    poll::until(
        "a third of the lines shipped",
        Duration::from_secs(60),
        Duration::from_millis(10),
        || (count_file_sink_lines(&sink) > 2 * LINES / 3).then_some(()),
    );
    holding.hold.store(true, Ordering::SeqCst);
    let held = poll::until(
        "a batch held in flight",
        Duration::from_secs(10),
        Duration::from_millis(5),
        || holding.held.lock().unwrap().first().cloned(),
    );
    let held = String::from_utf8(held.to_vec()).unwrap();
    let in_flight = held.lines().count() as u64;
    let last_held: Value = serde_json::from_str(held.lines().last().unwrap()).unwrap();
    poll::until(
        "the file sink to have written the batch in flight",
        Duration::from_secs(10),
        Duration::from_millis(5),
        || (last_file_sink_line(&sink)?["line"] == last_held["line"]).then_some(()),
    );
    let status = world.cluster.agents[0].signal_and_wait("KILL", Duration::from_secs(5));
    assert!(!status.success());
    let allocs = allocations(&nomad, "seq-crash").await;
    assert_eq!(
        allocs[0]["ClientStatus"], "running",
        "the task still writes while the agent is down"
    );
    let shepard = Path::new(env!("CARGO_BIN_EXE_shepard")).to_path_buf();
    holding.hold.store(false, Ordering::SeqCst);
    world.cluster.restart_agent(&shepard, 0, &agent_args);

    let allocs = wait_allocs(&nomad, "seq-crash", 1, "failed").await;
    let id = allocs[0]["ID"].as_str().unwrap();
    wait_drained(&world.cluster.agents[0], id, Duration::from_secs(60));

    let records = read_file_sink(&sink);
    let streams = sequences(&records, id);
    assert_eq!(streams.len(), 2);
    let mut duplicated = 0;
    for (stream, seqs) in &streams {
        let check = check_sequence(seqs, LINES);
        assert!(check.missing.is_empty(), "{stream}: missing {check:?}");
        duplicated += check.duplicated;
    }
    // The batch in flight was written by the file sink but never acknowledged by the HTTP
    // sink: it is shipped again, and nothing else is.
    let one_batch = MAX_BATCH_BYTES / LINE_SIZE + 1;
    assert!(
        in_flight > 0 && in_flight <= one_batch,
        "{in_flight} lines in flight"
    );
    assert_eq!(
        duplicated, in_flight,
        "lines shipped twice: the batch in flight and nothing more"
    );
}
