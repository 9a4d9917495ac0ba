//! `shepard rollout watch` as a real process following a real Consul: the test writes records
//! one change at a time, waiting for the watcher to print each before the next, and checks
//! the lines (snapshot) and the exit status: 0 when the rollout completes, 2 when it is stuck,
//! 3 when it is aborted, 1 when Consul cannot be reached.

#[path = "operator_support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use insta::assert_snapshot;
use shepard_reconcilers::model::{Phase, RolloutState};
use shepard_testkit::poll;
use support::{Kv, alloc, alloc_id, rollout, shepard, stderr, t, web};

/// A running `shepard rollout watch` whose stdout lines are collected as they come.
struct Watcher {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Watcher {
    fn start(kv: &Kv, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shepard"))
            .args(["rollout", "watch"])
            .args(args)
            .env_clear()
            .env("CONSUL_HTTP_ADDR", kv.consul.http_addr())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start shepard rollout watch");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Watcher {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// Waits until a printed line contains `text`.
    async fn saw(&self, text: &str) {
        poll::until_async(
            &format!("a line containing {text:?}"),
            Duration::from_secs(20),
            Duration::from_millis(20),
            || async { self.output().contains(text).then_some(()) },
        )
        .await;
    }

    fn output(&self) -> String {
        let lines = self.lines.lock().unwrap();
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    /// Waits for the process to exit.
    fn exit(&mut self) -> ExitStatus {
        let status = poll::until(
            "shepard rollout watch to exit",
            Duration::from_secs(20),
            Duration::from_millis(20),
            || self.child.try_wait().unwrap(),
        );
        // The pipe is closed now: the reader ends once it has every line.
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        status
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three allocations of the web task: index 0 in sync, 1 and 2 waiting, all on node-1.
async fn three_allocs(kv: &Kv) {
    kv.put_rollout(&web(), &rollout(RolloutState::Rolling, 3))
        .await;
    for (index, phase) in [(0, Phase::InSync), (1, Phase::Waiting), (2, Phase::Waiting)] {
        kv.put_alloc("node-1", &alloc_id(1, index), &alloc(&web(), index, phase))
            .await;
    }
}

/// Allocation `index` moves to `phase`, the record written at t(`at`).
async fn phase(kv: &Kv, index: u32, phase: Phase, at: u64) {
    let mut record = alloc(&web(), index, phase);
    record.updated_at = t(at);
    kv.put_alloc("node-1", &alloc_id(1, index), &record).await;
}

#[tokio::test]
async fn watch_follows_a_rollout_to_completion_and_exits_0() {
    let kv = Kv::start();
    three_allocs(&kv).await;
    let mut watcher = Watcher::start(&kv, &["default/web/web/app"]);
    watcher.saw("1/3 in sync, 2 waiting  [rolling]").await;

    for index in [1, 2] {
        for (step, (p, seen)) in (0..).zip([
            (Phase::Triggered, "waiting -> triggered"),
            (Phase::Restarted, "triggered -> restarted"),
            (Phase::Verifying, "restarted -> verifying"),
            (Phase::InSync, "verifying -> in_sync"),
        ]) {
            phase(&kv, index, p, 100 + u64::from(index) * 10 + step).await;
            watcher.saw(&format!("#{index}  {seen}")).await;
        }
    }
    let mut done = rollout(RolloutState::Complete, 3);
    done.finished_at = Some(t(200));
    kv.put_rollout(&web(), &done).await;

    let status = watcher.exit();
    assert_eq!(status.code(), Some(0), "{}", watcher.output());
    assert_snapshot!(watcher.output());
}

#[tokio::test]
async fn watch_exits_2_when_the_rollout_gets_stuck() {
    let kv = Kv::start();
    three_allocs(&kv).await;
    let mut watcher = Watcher::start(&kv, &["r-web-3"]);
    watcher.saw("1/3 in sync, 2 waiting  [rolling]").await;
    phase(&kv, 1, Phase::Triggered, 100).await;
    watcher.saw("#1  waiting -> triggered (slot 1)").await;
    phase(&kv, 1, Phase::Stuck, 400).await;
    watcher
        .saw("#1  triggered -> stuck (slot 1): missed healthy_deadline")
        .await;
    let mut stuck = rollout(RolloutState::Stuck, 3);
    stuck.reason = format!("allocation {} is stuck", alloc_id(1, 1));
    kv.put_rollout(&web(), &stuck).await;

    let status = watcher.exit();
    assert_eq!(status.code(), Some(2), "{}", watcher.output());
    assert_snapshot!(watcher.output());
}

#[tokio::test]
async fn watch_next_skips_a_finished_rollout_and_exits_3_on_abort() {
    let kv = Kv::start();
    let mut old = rollout(RolloutState::Complete, 3);
    old.finished_at = Some(t(20));
    kv.put_rollout(&web(), &old).await;
    let mut watcher = Watcher::start(&kv, &["default/web/web/app", "--next"]);
    watcher.saw("waiting for the next one").await;

    let mut new = rollout(RolloutState::Rolling, 3);
    new.id = "r-web-4".into();
    new.generation = 4;
    kv.put_rollout(&web(), &new).await;
    watcher.saw("[rolling]").await;
    new.state = RolloutState::Aborted;
    new.reason = "aborted by an operator (was rolling)".into();
    kv.put_rollout(&web(), &new).await;

    let status = watcher.exit();
    assert_eq!(status.code(), Some(3), "{}", watcher.output());
    assert!(
        watcher.output().ends_with(
            "Rollout r-web-4 (generation 4) of default/web/web/app was aborted: \
             aborted by an operator (was rolling).\n"
        ),
        "{}",
        watcher.output()
    );
}

#[tokio::test]
async fn watch_of_a_finished_rollout_reports_it_at_once() {
    let kv = Kv::start();
    let mut done = rollout(RolloutState::Complete, 0);
    done.finished_at = Some(t(20));
    kv.put_rollout(&web(), &done).await;
    let out = kv.shepard(&["rollout", "watch", "default/web/web/app"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        support::stdout(&out).ends_with("is complete: 0/0 in sync.\n"),
        "{}",
        support::stdout(&out)
    );

    let unreachable = shepard(
        &[
            "rollout",
            "watch",
            "default/web/web/app",
            "--consul-addr",
            "127.0.0.1:1",
        ],
        &[],
    );
    assert_eq!(unreachable.status.code(), Some(1));
    assert!(
        stderr(&unreachable).starts_with("error: kv_list: request failed"),
        "{}",
        stderr(&unreachable)
    );
}
