//! The blocking-query watch shared by every Consul and Nomad source: [`watch`] turns a fetch
//! function into a `Stream` of snapshots that follows the index rules of Consul and Nomad blocking queries (and of
//! Consul's "blocking queries" documentation).
//!
//! # State machine
//!
//! The watch is in one of two states, plus a pending backoff that delays the next call:
//!
//! - **Initial** (`index = None`): the next call is non-blocking (no `index`).
//!   - response → emit it; go to *Watching(max(index, 1))*. An index of 0 becomes 1: a
//!     later `index=0` would be non-blocking and spin.
//!   - error → yield the error; stay *Initial*; back off.
//! - **Watching(i)**: the next call blocks with `index = i` for `wait`.
//!   - response with index > i → emit it; go to *Watching(index)*.
//!   - response with index = i → the wait ran out with nothing new: emit nothing, call again.
//!   - response with index < i → the index went backwards (server state restored or
//!     rebuilt, raft snapshot, a different server): count
//!     `shepard_watch_index_resets_total{api,source}`, go to *Initial* and re-read at once.
//!   - error, or no answer within [`request_timeout`]`(wait)` plus a margin → yield the
//!     error; stay *Watching(i)*; back off.
//!
//! Backoff is exponential with jitter, capped, and starts over after any response. Every
//! call, first or not, first takes a token from a small [`TokenBucket`], so even a server
//! that answers at once with ever-changing indexes cannot make the watch spin.
//!
//! The stream never ends: errors are yielded so the caller can report them (readiness,
//! logs), and the watch carries on by itself.

mod rate_limit;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use futures::Stream;

use crate::api_metrics::{Api, ApiMetrics};
use crate::blocking::{BlockingParams, Indexed};
pub use rate_limit::TokenBucket;

/// Added to a blocking query's client timeout on top of the server's jitter allowance:
/// time for the connection, the server's own processing and the response.
pub const TIMEOUT_MARGIN: Duration = Duration::from_secs(5);

/// The client timeout for a blocking query that asked to wait `wait`: Consul and Nomad may
/// hold it up to `wait + wait/16` (they add random jitter of up to 1/16), plus
/// [`TIMEOUT_MARGIN`].
pub fn request_timeout(wait: Duration) -> Duration {
    wait + wait / 16 + TIMEOUT_MARGIN
}

/// Settings of one watch.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// Which API the watch queries (metric label).
    pub api: Api,
    /// What is watched, e.g. `kv:shepard/` (metric label `source`).
    pub source: String,
    /// How long the server may hold each blocking query. The caller keeps it within the
    /// server's cap (Consul 10 min, Nomad 300 s).
    pub wait: Duration,
    /// First pause after an error.
    pub backoff_min: Duration,
    /// Longest pause after repeated errors.
    pub backoff_max: Duration,
    /// Calls allowed back to back.
    pub rate_burst: u32,
    /// Sustained calls per second.
    pub rate_per_second: f64,
}

impl WatchConfig {
    /// Defaults: back off 250 ms doubling to 30 s; bursts of 20 calls, then 20 per second.
    ///
    /// The rate is a ceiling, not a pace: a blocking query only returns early when something
    /// changed, so a watch makes as many calls as there are changes, up to the ceiling. It
    /// must stay above the write rate of a busy rollout (a few writes per restart step), or
    /// every step that waits for a write to come back through the watch waits for a token;
    /// and low enough that a server answering at once with ever-new indexes cannot make the
    /// watch spin.
    pub fn new(api: Api, source: impl Into<String>, wait: Duration) -> Self {
        Self {
            api,
            source: source.into(),
            wait,
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            rate_burst: 20,
            rate_per_second: 20.0,
        }
    }
}

/// Why a watch call produced no snapshot. The watch goes on after it.
#[derive(Debug, thiserror::Error)]
pub enum WatchError<E> {
    /// The fetch function failed.
    #[error(transparent)]
    Fetch(E),
    /// The fetch function did not finish within the blocking query's timeout.
    #[error("watch {watch}: no answer within {timeout:?}")]
    Timeout { watch: String, timeout: Duration },
}

/// A stream of snapshots of whatever `fetch` reads. `fetch` performs one (blocking) query
/// with the given parameters and returns the body with the server's index; it should apply
/// [`request_timeout`] itself (the watch enforces it as well, with a margin).
pub fn watch<T, E, F, Fut>(
    config: WatchConfig,
    metrics: ApiMetrics,
    fetch: F,
) -> impl Stream<Item = Result<Indexed<T>, WatchError<E>>>
where
    F: FnMut(BlockingParams) -> Fut,
    Fut: Future<Output = Result<Indexed<T>, E>>,
{
    let watcher = Watcher::new(config, metrics, fetch);
    futures::stream::unfold(watcher, |mut watcher| async move {
        let item = watcher.next().await;
        Some((item, watcher))
    })
}

struct Watcher<F> {
    config: WatchConfig,
    metrics: ApiMetrics,
    fetch: F,
    /// `None`: Initial; `Some(i)`: Watching(i).
    index: Option<u64>,
    backoff_builder: ExponentialBuilder,
    backoff: ExponentialBackoff,
    /// Pause to take before the next call, set after an error.
    pending_backoff: Option<Duration>,
    limiter: TokenBucket,
}

impl<F> Watcher<F> {
    fn new(config: WatchConfig, metrics: ApiMetrics, fetch: F) -> Self {
        let backoff_builder = ExponentialBuilder::default()
            .with_min_delay(config.backoff_min)
            .with_max_delay(config.backoff_max)
            .with_jitter()
            .without_max_times();
        Self {
            limiter: TokenBucket::new(config.rate_burst, config.rate_per_second),
            backoff: backoff_builder.build(),
            backoff_builder,
            pending_backoff: None,
            index: None,
            metrics,
            fetch,
            config,
        }
    }

    /// Runs calls until one produces something to yield: a new snapshot or an error.
    async fn next<T, E, Fut>(&mut self) -> Result<Indexed<T>, WatchError<E>>
    where
        F: FnMut(BlockingParams) -> Fut,
        Fut: Future<Output = Result<Indexed<T>, E>>,
    {
        loop {
            if let Some(pause) = self.pending_backoff.take() {
                tokio::time::sleep(pause).await;
            }
            self.limiter.acquire().await;
            let params = BlockingParams {
                index: self.index,
                wait: Some(self.config.wait),
            };
            let timeout = request_timeout(self.config.wait) + TIMEOUT_MARGIN;
            let response = match tokio::time::timeout(timeout, (self.fetch)(params)).await {
                Ok(Ok(response)) => response,
                Ok(Err(error)) => return Err(self.failed(WatchError::Fetch(error))),
                Err(_elapsed) => {
                    let error = WatchError::Timeout {
                        watch: self.config.source.clone(),
                        timeout,
                    };
                    return Err(self.failed(error));
                }
            };
            self.backoff = self.backoff_builder.build();
            // Never block on index 0 later: it would return at once, forever.
            let index = response.index.max(1);
            match self.index {
                Some(previous) if index == previous => continue,
                Some(previous) if index < previous => {
                    tracing::info!(source = %self.config.source, previous, index,
                        "watch index went backwards; re-reading from scratch");
                    self.metrics
                        .index_reset(self.config.api, &self.config.source);
                    self.index = None;
                    continue;
                }
                _ => {
                    self.index = Some(index);
                    return Ok(Indexed {
                        index,
                        value: response.value,
                    });
                }
            }
        }
    }

    fn failed<E>(&mut self, error: WatchError<E>) -> WatchError<E> {
        let pause = self
            .backoff
            .next()
            .unwrap_or(self.config.backoff_max)
            .min(self.config.backoff_max);
        self.pending_backoff = Some(pause);
        error
    }
}
