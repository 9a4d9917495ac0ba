//! The controller loop in virtual time: outcomes feed back into the queue as they should.

use std::collections::HashMap;
use std::sync::Mutex;

use super::*;
use crate::runtime::Backoff;

/// What one scripted reconcile returns.
type Outcome = Result<Option<Duration>, String>;

/// A reconciler that plays a script per key: each call pops the next outcome (`Ok(None)` once
/// the script is empty) and records when it ran.
struct Scripted {
    script: Mutex<HashMap<&'static str, Vec<Outcome>>>,
    runs: Mutex<Vec<(&'static str, Instant)>>,
}

impl Scripted {
    fn new(script: &[(&'static str, Vec<Outcome>)]) -> Arc<Self> {
        let script = script
            .iter()
            .map(|(k, v)| (*k, v.iter().rev().cloned().collect()))
            .collect();
        Arc::new(Self {
            script: Mutex::new(script),
            runs: Mutex::new(Vec::new()),
        })
    }

    fn run_times(&self, key: &str, start: Instant) -> Vec<Duration> {
        let runs = self.runs.lock().unwrap();
        runs.iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, at)| *at - start)
            .collect()
    }
}

impl Reconciler<&'static str> for Scripted {
    type Error = String;

    fn name(&self) -> &'static str {
        "task"
    }

    async fn reconcile(&self, key: &&'static str) -> Outcome {
        self.runs.lock().unwrap().push((key, Instant::now()));
        let next = self.script.lock().unwrap().get_mut(key).and_then(Vec::pop);
        next.unwrap_or(Ok(None))
    }
}

fn setup() -> (WorkQueue<&'static str>, RuntimeMetrics) {
    let metrics = RuntimeMetrics::unregistered();
    let backoff = Backoff {
        base: Duration::from_secs(1),
        cap: Duration::from_secs(60),
    };
    (WorkQueue::new(metrics.queue("task"), backoff), metrics)
}

#[tokio::test(start_paused = true)]
async fn requeue_after_and_errors_schedule_the_next_run() {
    let (queue, metrics) = setup();
    let reconciler = Scripted::new(&[
        ("slow", vec![Ok(Some(Duration::from_secs(10))), Ok(None)]),
        (
            "flaky",
            vec![Err("boom".into()), Err("boom".into()), Ok(None)],
        ),
    ]);
    let start = Instant::now();
    let runner = tokio::spawn(run(queue.clone(), reconciler.clone(), 2, metrics.clone()));
    queue.add("slow");
    queue.add("flaky");
    tokio::time::sleep(Duration::from_secs(120)).await;
    queue.shut_down();
    runner.await.unwrap();

    let secs = Duration::from_secs;
    assert_eq!(reconciler.run_times("slow", start), vec![secs(0), secs(10)]);
    // Backoff of 1 s, then 2 s; the success after that resets it.
    assert_eq!(
        reconciler.run_times("flaky", start),
        vec![secs(0), secs(1), secs(3)]
    );
    assert_eq!(queue.failures(&"flaky"), 0);
    assert_eq!(metrics.reconciles("task", ReconcileResult::Error), 2);
    assert_eq!(metrics.reconciles("task", ReconcileResult::RequeueAfter), 1);
    assert_eq!(metrics.reconciles("task", ReconcileResult::Success), 2);
}

#[tokio::test(start_paused = true)]
async fn resync_re_adds_every_key_each_interval() {
    let (queue, metrics) = setup();
    let reconciler = Scripted::new(&[]);
    let start = Instant::now();
    let runner = tokio::spawn(run(queue.clone(), reconciler.clone(), 1, metrics));
    let resyncer = tokio::spawn(resync(queue.clone(), Duration::from_secs(300), || {
        vec!["a", "b"]
    }));
    tokio::time::sleep(Duration::from_secs(650)).await;
    queue.shut_down();
    runner.await.unwrap();
    resyncer.abort();

    let secs = Duration::from_secs;
    assert_eq!(reconciler.run_times("a", start), vec![secs(300), secs(600)]);
    assert_eq!(reconciler.run_times("b", start), vec![secs(300), secs(600)]);
}
