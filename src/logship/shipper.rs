//! The shipping loop: every `ship_log_interval`, or as soon as `max_batch_bytes` of lines are
//! waiting, take a batch and deliver it to every sink. A sink that fails is retried with
//! exponential, jittered backoff (backon) until it acknowledges — sinks that already did are
//! not sent the batch again — and only then do checkpoints move. One batch is in flight at a
//! time, which keeps the order per stream and bounds duplicates after a crash to that batch.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures::future::join_all;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::batch::{Batch, Pending};
use super::metrics::LogMetrics;
use super::registry::Registry;
use super::settings::RetryPolicy;
use super::sinks::Sink;

pub struct Shipper {
    pub sinks: Vec<Sink>,
    pub pending: Arc<Pending>,
    pub registry: Arc<Registry>,
    pub metrics: LogMetrics,
    pub interval: Duration,
    pub retry: RetryPolicy,
    pub shutdown_grace: Duration,
}

impl Shipper {
    /// Ships until `stop` turns true, then ships what was read for at most `shutdown_grace`.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // A batch whose delivery `stop` interrupted: it goes first in the final flush, since a
        // later batch's acknowledgement would move checkpoints past its lines.
        let mut interrupted = None;
        while !*stop.borrow() {
            let everything = tokio::select! {
                _ = ticks.tick() => true,
                () = self.pending.wait_full() => false,
                _ = stop.changed() => break,
            };
            while everything || self.pending.is_full() {
                let Some(batch) = self.pending.take_batch() else {
                    break;
                };
                let batch = Arc::new(batch);
                if !self.deliver(&batch, Some(&mut stop)).await {
                    interrupted = Some(batch);
                    break;
                }
            }
        }
        let pending = Arc::clone(&self.pending);
        let grace = self.shutdown_grace;
        let last = async {
            if let Some(batch) = interrupted {
                self.deliver(&batch, None).await;
            }
            while let Some(batch) = pending.take_batch() {
                self.deliver(&Arc::new(batch), None).await;
            }
        };
        if tokio::time::timeout(grace, last).await.is_err() {
            tracing::warn!("shutdown: lines not yet shipped are shipped after the next start");
        }
    }

    /// Delivers `batch` to every sink, retrying failed ones, then moves the checkpoints;
    /// `false` when `stop` ended the attempts first (the caller keeps the batch).
    async fn deliver(
        &mut self,
        batch: &Arc<Batch>,
        mut stop: Option<&mut watch::Receiver<bool>>,
    ) -> bool {
        let lines = batch.line_count;
        let bytes = batch.text_bytes as u64;
        let mut acked = vec![false; self.sinks.len()];
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(self.retry.min)
            .with_max_delay(self.retry.max)
            .with_jitter()
            .without_max_times()
            .build();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let sends = self
                .sinks
                .iter_mut()
                .zip(acked.iter())
                .enumerate()
                .filter(|(_, (_, done))| !**done)
                .map(|(i, (sink, _))| async move { (i, sink.name(), sink.send(batch).await) });
            for (i, name, result) in join_all(sends).await {
                match result {
                    Ok(()) => {
                        acked[i] = true;
                        self.metrics.shipped(name, lines, bytes);
                    }
                    Err(error) => {
                        self.metrics.ship_failed(name);
                        tracing::warn!(sink = name, %error, attempt, lines, "shipping task logs failed; retrying");
                    }
                }
            }
            if acked.iter().all(|a| *a) {
                break;
            }
            let delay = backoff.next().unwrap_or(self.retry.max);
            match stop.as_deref_mut() {
                Some(stop) => {
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = stop.changed() => return false,
                    }
                }
                None => tokio::time::sleep(delay).await,
            }
        }
        let registry = Arc::clone(&self.registry);
        let acked_batch = Arc::clone(batch);
        // Checkpoints are fsynced: off the async workers.
        let saved = tokio::task::spawn_blocking(move || registry.acknowledged(&acked_batch)).await;
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "cannot save log-shipping checkpoints"),
            Err(error) => tracing::error!(%error, "checkpoint writer task failed"),
        }
        self.pending.batch_done();
        true
    }
}
