//! Virtual-time tests of the watch state machine against a scripted fetch function.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;

use super::*;

/// What the scripted server answers to each call, in order; `Pending` never answers.
#[derive(Clone)]
enum Answer {
    Index(u64),
    Fail,
    Pending,
}

#[derive(Default)]
struct Server {
    answers: VecDeque<Answer>,
    calls: Vec<(Duration, BlockingParams)>,
}

type Shared = Arc<Mutex<Server>>;

fn server(answers: &[Answer]) -> Shared {
    Arc::new(Mutex::new(Server {
        answers: answers.iter().cloned().collect(),
        calls: Vec::new(),
    }))
}

fn config() -> WatchConfig {
    let mut config = WatchConfig::new(Api::Consul, "kv:test/", Duration::from_secs(10));
    // Generous rate so the limiter stays out of the way unless a test is about it.
    config.rate_burst = 100;
    config.rate_per_second = 100.0;
    config
}

fn start(
    config: WatchConfig,
    metrics: ApiMetrics,
    server: Shared,
) -> impl Stream<Item = Result<Indexed<u64>, WatchError<&'static str>>> {
    let t0 = Instant::now();
    Box::pin(watch(config, metrics, move |params: BlockingParams| {
        let server = server.clone();
        async move {
            let answer = {
                let mut s = server.lock().unwrap();
                s.calls.push((Instant::now() - t0, params));
                s.answers.pop_front().unwrap_or(Answer::Pending)
            };
            match answer {
                Answer::Index(index) => Ok(Indexed {
                    index,
                    value: index,
                }),
                Answer::Fail => Err("boom"),
                Answer::Pending => futures::future::pending().await,
            }
        }
    }))
}

fn sent_indexes(server: &Shared) -> Vec<Option<u64>> {
    server
        .lock()
        .unwrap()
        .calls
        .iter()
        .map(|(_, p)| p.index)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn first_call_does_not_block_and_zero_becomes_one() {
    let s = server(&[Answer::Index(0), Answer::Index(4)]);
    let mut stream = start(config(), ApiMetrics::unregistered(), s.clone());
    assert_eq!(stream.next().await.unwrap().unwrap().index, 1);
    assert_eq!(stream.next().await.unwrap().unwrap().index, 4);
    assert_eq!(sent_indexes(&s), vec![None, Some(1)]);
    let waits: Vec<_> = s
        .lock()
        .unwrap()
        .calls
        .iter()
        .map(|(_, p)| p.wait)
        .collect();
    assert!(waits.iter().all(|w| *w == Some(Duration::from_secs(10))));
}

#[tokio::test(start_paused = true)]
async fn unchanged_index_is_not_emitted() {
    let s = server(&[
        Answer::Index(5),
        Answer::Index(5),
        Answer::Index(5),
        Answer::Index(6),
    ]);
    let mut stream = start(config(), ApiMetrics::unregistered(), s.clone());
    assert_eq!(stream.next().await.unwrap().unwrap().index, 5);
    assert_eq!(stream.next().await.unwrap().unwrap().index, 6);
    assert_eq!(sent_indexes(&s), vec![None, Some(5), Some(5), Some(5)]);
}

#[tokio::test(start_paused = true)]
async fn index_going_backwards_resets_and_is_counted() {
    let metrics = ApiMetrics::unregistered();
    let s = server(&[
        Answer::Index(5),
        Answer::Index(7),
        Answer::Index(3),
        Answer::Index(3),
        Answer::Index(4),
    ]);
    let mut stream = start(config(), metrics.clone(), s.clone());
    assert_eq!(stream.next().await.unwrap().unwrap().index, 5);
    assert_eq!(stream.next().await.unwrap().unwrap().index, 7);
    // 3 < 7: reset, then a non-blocking read whose answer (3) is emitted.
    assert_eq!(stream.next().await.unwrap().unwrap().index, 3);
    assert_eq!(stream.next().await.unwrap().unwrap().index, 4);
    assert_eq!(
        sent_indexes(&s),
        vec![None, Some(5), Some(7), None, Some(3)]
    );
    assert_eq!(metrics.index_resets(Api::Consul, "kv:test/"), 1);
}

#[tokio::test(start_paused = true)]
async fn errors_back_off_exponentially_capped_and_keep_the_index() {
    let mut cfg = config();
    cfg.backoff_min = Duration::from_secs(1);
    cfg.backoff_max = Duration::from_secs(4);
    let mut answers = vec![Answer::Index(9)];
    answers.extend(std::iter::repeat_n(Answer::Fail, 6));
    answers.push(Answer::Index(10));
    answers.push(Answer::Fail);
    answers.push(Answer::Index(11));
    let s = server(&answers);
    let mut stream = start(cfg, ApiMetrics::unregistered(), s.clone());
    assert_eq!(stream.next().await.unwrap().unwrap().index, 9);
    for _ in 0..6 {
        assert!(matches!(
            stream.next().await,
            Some(Err(WatchError::Fetch("boom")))
        ));
    }
    assert_eq!(stream.next().await.unwrap().unwrap().index, 10);
    assert!(stream.next().await.unwrap().is_err());
    assert_eq!(stream.next().await.unwrap().unwrap().index, 11);
    let calls = &s.lock().unwrap().calls;
    let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1].0 - w[0].0).collect();
    // gaps[0] is 9 -> first failure (immediate). Jitter adds up to 100 %, the cap holds.
    assert_eq!(gaps[0], Duration::ZERO);
    let pauses = &gaps[1..7];
    assert!(pauses[0] >= Duration::from_secs(1) && pauses[0] <= Duration::from_secs(2));
    assert!(pauses[1] >= Duration::from_secs(2) && pauses[1] <= Duration::from_secs(4));
    assert!(
        pauses.iter().all(|p| *p <= Duration::from_secs(4)),
        "{pauses:?}"
    );
    assert!(
        pauses[3..].iter().all(|p| *p == Duration::from_secs(4)),
        "{pauses:?}"
    );
    // The failed calls kept blocking on the last good index.
    assert!(calls[1..7].iter().all(|(_, p)| p.index == Some(9)));
    // After a success the backoff starts over: the next error waits only the minimum.
    assert_eq!(gaps[7], Duration::ZERO);
    assert!(gaps[8] >= Duration::from_secs(1) && gaps[8] <= Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_call_that_never_answers_times_out() {
    let s = server(&[Answer::Index(2), Answer::Pending]);
    let mut stream = start(config(), ApiMetrics::unregistered(), s.clone());
    stream.next().await.unwrap().unwrap();
    let before = Instant::now();
    match stream.next().await {
        Some(Err(WatchError::Timeout { timeout, .. })) => {
            assert_eq!(
                timeout,
                request_timeout(Duration::from_secs(10)) + TIMEOUT_MARGIN
            );
            assert_eq!(Instant::now() - before, timeout);
        }
        _ => panic!("expected a timeout"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_rate_limiter_paces_a_churning_server() {
    let mut cfg = config();
    cfg.rate_burst = 2;
    cfg.rate_per_second = 1.0;
    let s = server(&(1..=6).map(Answer::Index).collect::<Vec<_>>());
    let start_time = Instant::now();
    let mut stream = start(cfg, ApiMetrics::unregistered(), s.clone());
    for expected in 1..=6 {
        assert_eq!(stream.next().await.unwrap().unwrap().index, expected);
    }
    // Two calls from the burst, then one per second.
    assert_eq!(Instant::now() - start_time, Duration::from_secs(4));
}

#[test]
fn client_timeout_covers_the_servers_jitter() {
    assert_eq!(
        request_timeout(Duration::from_secs(160)),
        Duration::from_secs(160 + 10) + TIMEOUT_MARGIN
    );
}
