//! A sink that is down: an HTTP receiver answering 500, then a closed port. The shipper keeps
//! retrying, the tailers stop reading ahead at the memory cap, the lag metric rises, and once
//! the receiver is back every line arrives exactly once, in order. When Nomad deletes files the
//! paused tailers could not read, the loss is counted.

#[path = "logship_support/mod.rs"]
mod support;

use std::collections::HashSet;
use std::time::Duration;

use shepard::config::{ApiAddress, HttpSink, LogsConfig};
use shepard::logship::{LogMetrics, LogShipper, LogShipperHandle, sinks};
use shepard::tls::TlsConfig;
use shepard_testkit::poll;
use support::nomad_rotator::NomadRotator;
use support::receiver::Receiver;

const LINE_SIZE: usize = 100;

fn http_config(url: &str, memory_limit: u64) -> LogsConfig {
    let mut config = support::logs_config();
    config.max_batch_bytes = 16 * 1024;
    config.memory_limit = memory_limit;
    config.http = Some(HttpSink {
        url: ApiAddress::parse(url).unwrap(),
        token: None,
        tls: TlsConfig::default(),
    });
    config
}

fn start(config: &LogsConfig, dir: &std::path::Path, metrics: &LogMetrics) -> LogShipperHandle {
    LogShipper::start(
        support::settings(config.clone(), &dir.join("state")),
        sinks::build(config).unwrap(),
        metrics.clone(),
    )
    .unwrap()
}

/// Sequence numbers per stream from the NDJSON bodies the receiver accepted.
fn delivered(receiver: &Receiver) -> Vec<serde_json::Value> {
    receiver
        .accepted()
        .iter()
        .flat_map(|request| {
            String::from_utf8(request.body.clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn write_lines(dir: &std::path::Path, lines: u64, file_size: u64, max_files: usize, pace: bool) {
    let log_dir = dir.join("alloc/logs");
    let mut out = NomadRotator::open(&log_dir, "web", "stdout", file_size, max_files);
    let mut err = NomadRotator::open(&log_dir, "web", "stderr", file_size, max_files);
    for seq in 0..lines {
        out.write(support::seq_line("stdout", seq, LINE_SIZE).as_bytes());
        err.write(support::seq_line("stderr", seq, LINE_SIZE).as_bytes());
        if pace && seq % 20 == 19 {
            // Pacing of the load: a few files per second, so scans see each file.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_down_keeps_memory_under_the_cap_and_gets_everything_back() {
    const LINES: u64 = 20_000;
    const CAP: u64 = 256 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(0).await;
    receiver.set_failing(true);
    let port = receiver.addr.port();
    let config = http_config(&receiver.url("/ingest"), CAP);
    let metrics = LogMetrics::unregistered();
    let handle = start(&config, dir.path(), &metrics);
    handle.track(support::task_logs(
        &dir.path().join("alloc/logs"),
        "alloc-1",
        "web",
    ));
    let writer_dir = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || write_lines(&writer_dir, LINES, 1024 * 1024, 100, false))
        .await
        .unwrap();

    // Down, answering 500: retried, reading stops at the cap, the lag grows.
    let wait = Duration::from_secs(30);
    let step = Duration::from_millis(20);
    let budget = handle.budget().clone();
    poll::until_async("the tailers fill the budget", wait, step, || {
        let used = budget.used() as u64;
        async move { (used > CAP / 2).then_some(()) }
    })
    .await;
    poll::until_async("a second of lag", wait, step, || {
        let lag = metrics.ship_lag_seconds();
        async move { (lag >= 1.0).then_some(()) }
    })
    .await;
    assert!(receiver.refused() >= 2 && metrics.ship_errors("http") >= 2);
    assert!(receiver.accepted().is_empty());

    // A closed port: connection refused.
    receiver.stop().await;
    let errors = metrics.ship_errors("http");
    let lag_before = metrics.ship_lag_seconds();
    poll::until_async("connection errors", wait, step, || {
        let now = metrics.ship_errors("http");
        async move { (now >= errors + 2).then_some(()) }
    })
    .await;
    assert!(
        metrics.ship_lag_seconds() > lag_before,
        "the lag keeps rising"
    );
    assert!(
        budget.high_water() as u64 <= CAP,
        "high water {} over the cap {CAP}",
        budget.high_water()
    );

    // Back: everything arrives, once and in order.
    let receiver = Receiver::start(port).await;
    let lines = poll::until_async(
        "every line delivered",
        Duration::from_secs(60),
        Duration::from_millis(50),
        || {
            let lines = delivered(&receiver);
            async move { (lines.len() as u64 >= 2 * LINES).then_some(lines) }
        },
    )
    .await;
    for (key, seqs) in support::sequences(&lines) {
        support::assert_exactly_once_in_order(&format!("{key:?}"), &seqs, LINES);
    }
    assert!(
        budget.high_water() as u64 <= CAP,
        "high water {} over the cap {CAP}",
        budget.high_water()
    );
    poll::until_async("the lag back to zero", wait, step, || {
        let lag = metrics.ship_lag_seconds();
        async move { (lag == 0.0).then_some(()) }
    })
    .await;
    assert_eq!(metrics.lost_bytes(), 0);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_rotated_away_while_reading_waits_are_counted_as_lost() {
    const LINES: u64 = 3_000;
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(0).await;
    receiver.set_failing(true);
    let config = http_config(&receiver.url("/ingest"), 64 * 1024);
    let metrics = LogMetrics::unregistered();
    let handle = start(&config, dir.path(), &metrics);
    handle.track(support::task_logs(
        &dir.path().join("alloc/logs"),
        "alloc-1",
        "web",
    ));
    let writer_dir = dir.path().to_path_buf();
    // 300 KB per stream through 8 KiB files of which Nomad keeps 3: most are deleted unread.
    tokio::task::spawn_blocking(move || write_lines(&writer_dir, LINES, 8 * 1024, 3, true))
        .await
        .unwrap();
    receiver.set_failing(false);
    tokio::time::timeout(
        Duration::from_secs(30),
        handle.untrack("alloc-1", "web", true),
    )
    .await
    .expect("drained");

    let lines = delivered(&receiver);
    let mut missing_bytes = 0;
    for (key, seqs) in support::sequences(&lines) {
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{key:?}: in order, no duplicates"
        );
        let got: HashSet<u64> = seqs.iter().copied().collect();
        missing_bytes += (0..LINES).filter(|s| !got.contains(s)).count() * LINE_SIZE;
        assert!(
            got.contains(&(LINES - 1)),
            "{key:?}: the newest files are shipped"
        );
    }
    let lost = metrics.lost_bytes() as usize;
    assert!(missing_bytes > 0, "the test rotated files away");
    assert!(lost > 0, "lost bytes are counted");
    assert!(
        lost <= missing_bytes,
        "counted {lost} lost, but only {missing_bytes} are missing"
    );
    eprintln!("missing {missing_bytes} bytes, counted {lost} as lost");
    handle.shutdown().await;
}
