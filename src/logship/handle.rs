//! The log shipper's public face: [`LogShipper::start`] wires the reader thread, the shipping
//! loop and the state file together and returns a [`LogShipperHandle`], through which the
//! agent's `logs` reconciler tracks the tasks whose logs to ship, untracks them (draining the
//! rest of a stopped task's files first), and shuts everything down.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, watch};

use super::batch::Pending;
use super::budget::Budget;
use super::checkpoint::{CheckpointError, CheckpointStore};
use super::clock::{Clock, SystemClock};
use super::line::{Stream, StreamKey, StreamSource};
use super::metrics::LogMetrics;
use super::reader::{self, Reader, ReaderCmd};
use super::registry::Registry;
use super::settings::ShipperSettings;
use super::shipper::Shipper;
use super::sinks::Sink;
use super::tags::{StreamTags, TaskTags};
use super::tailer::TailerSpec;

/// Why the shipper could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The state directory or file is unusable.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The reader thread could not be spawned.
    #[error("cannot start the log reader thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// One task of one allocation whose logs are to be shipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLogs {
    /// The allocation's log directory: `<alloc_dir>/<alloc_id>/alloc/logs`.
    pub log_dir: PathBuf,
    /// The task's tags; `alloc_id` and `task` also name it for [`LogShipperHandle::untrack`].
    pub tags: TaskTags,
}

pub struct LogShipper;

impl LogShipper {
    /// Starts shipping to `sinks` (see [`super::sinks::build`]) with the system clock. Must be
    /// called inside a tokio runtime.
    pub fn start(
        settings: ShipperSettings,
        sinks: Vec<Sink>,
        metrics: LogMetrics,
    ) -> Result<LogShipperHandle, StartError> {
        Self::start_with_clock(settings, sinks, metrics, Arc::new(SystemClock))
    }

    /// [`LogShipper::start`] with line timestamps from `clock`.
    pub fn start_with_clock(
        settings: ShipperSettings,
        sinks: Vec<Sink>,
        metrics: LogMetrics,
        clock: Arc<dyn Clock>,
    ) -> Result<LogShipperHandle, StartError> {
        let registry = Arc::new(Registry::new(CheckpointStore::open(&settings.state_dir)?));
        let budget = Budget::new(settings.memory_limit());
        let pending = Arc::new(Pending::new(settings.max_batch_bytes()));
        for sink in &sinks {
            metrics.init_sink(sink.name());
        }
        let weak = Arc::downgrade(&pending);
        let lag_clock = Arc::clone(&clock);
        metrics.set_lag_source(move || {
            let oldest = weak.upgrade()?.oldest_unacked()?;
            Some((oldest, lag_clock.now()))
        });
        let (reader_tx, reader_thread) = reader::spawn(Reader {
            budget: Arc::clone(&budget),
            pending: Arc::clone(&pending),
            registry: Arc::clone(&registry),
            clock,
            metrics: metrics.clone(),
            max_line_bytes: settings.max_line_bytes(),
            poll_interval: settings.poll_interval,
        })
        .map_err(StartError::Thread)?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let shipper = Shipper {
            sinks,
            pending,
            registry: Arc::clone(&registry),
            metrics,
            interval: settings.ship_log_interval,
            retry: settings.retry,
            shutdown_grace: settings.shutdown_grace,
        };
        let ship_task = tokio::spawn(shipper.run(stop_rx));
        Ok(LogShipperHandle {
            inner: Arc::new(Inner {
                registry,
                budget,
                reader: Mutex::new(reader_tx),
                stop: stop_tx,
                running: Mutex::new(Some((ship_task, reader_thread))),
                next_serial: AtomicU64::new(1),
            }),
        })
    }
}

type Running = (tokio::task::JoinHandle<()>, std::thread::JoinHandle<()>);

struct Inner {
    registry: Arc<Registry>,
    budget: Arc<Budget>,
    reader: Mutex<Sender<ReaderCmd>>,
    stop: watch::Sender<bool>,
    running: Mutex<Option<Running>>,
    next_serial: AtomicU64,
}

/// Controls a running shipper; cheap to clone.
#[derive(Clone)]
pub struct LogShipperHandle {
    inner: Arc<Inner>,
}

fn key(alloc_id: &str, task: &str, stream: Stream) -> StreamKey {
    StreamKey {
        alloc_id: Arc::from(alloc_id),
        task: Arc::from(task),
        stream,
    }
}

impl LogShipperHandle {
    fn send(&self, cmd: ReaderCmd) {
        let reader = self.inner.reader.lock().unwrap_or_else(|p| p.into_inner());
        // A stopped reader drops commands: the shipper is shutting down.
        let _ = reader.send(cmd);
    }

    /// Starts tailing both streams of a task, from its checkpoint if it has one, else from
    /// the start of its oldest file. Tracking a tracked task does nothing.
    pub fn track(&self, task: TaskLogs) {
        for stream in Stream::ALL {
            let key = key(&task.tags.alloc_id, &task.tags.task, stream);
            let serial = self.inner.next_serial.fetch_add(1, Ordering::Relaxed);
            let Some(resume) = self.inner.registry.track(&key, serial) else {
                continue;
            };
            let source = Arc::new(StreamSource {
                key,
                tags: StreamTags::new(&task.tags, stream),
                serial,
            });
            self.send(ReaderCmd::Track(TailerSpec {
                dir: task.log_dir.clone(),
                source,
                resume,
            }));
        }
    }

    /// Stops tailing a task. With `drain`, its files are first read to their end (the task
    /// has stopped) and the returned future completes once all of it was acknowledged;
    /// without, tailing stops now. Either way the task's checkpoints are then forgotten — also
    /// for a task only known from the state file (an allocation gone while the agent was
    /// down). To drain such a task, `track` it first.
    pub fn untrack(
        &self,
        alloc_id: &str,
        task: &str,
        drain: bool,
    ) -> impl Future<Output = ()> + Send + use<> {
        let mut waiters = Vec::new();
        for stream in Stream::ALL {
            let key = key(alloc_id, task, stream);
            if drain {
                let (tx, rx) = oneshot::channel();
                if self.inner.registry.wait_drained(&key, tx) {
                    waiters.push(rx);
                    self.send(ReaderCmd::Untrack { key, drain: true });
                    continue;
                }
            }
            self.send(ReaderCmd::Untrack {
                key: key.clone(),
                drain: false,
            });
            if let Err(error) = self.inner.registry.forget(&key) {
                tracing::error!(%error, "cannot update the log-shipping state file");
            }
        }
        async move {
            for waiter in waiters {
                // An error means the shipper shut down first: nothing more will happen.
                let _ = waiter.await;
            }
        }
    }

    /// Tasks being tailed, as (alloc ID, task).
    pub fn tracked(&self) -> Vec<(String, String)> {
        tasks(self.inner.registry.tracked())
    }

    /// Tasks with a checkpoint, as (alloc ID, task): after a restart, those whose allocation
    /// is gone can be forgotten with `untrack(…, false)`.
    pub fn checkpointed(&self) -> Vec<(String, String)> {
        tasks(self.inner.registry.checkpointed())
    }

    /// The memory budget: bytes read and not yet acknowledged, against the cap.
    pub fn budget(&self) -> &Arc<Budget> {
        &self.inner.budget
    }

    /// Stops reading, ships what was read (for at most the shutdown grace), and waits for the
    /// reader thread and the shipping loop to end.
    pub async fn shutdown(&self) {
        self.send(ReaderCmd::Stop);
        let running = self
            .inner
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some((ship_task, reader_thread)) = running else {
            return;
        };
        let joined = tokio::task::spawn_blocking(move || reader_thread.join()).await;
        if !matches!(joined, Ok(Ok(()))) {
            tracing::error!("log reader thread ended abnormally");
        }
        let _ = self.inner.stop.send(true);
        if let Err(error) = ship_task.await {
            tracing::error!(%error, "log shipping loop ended abnormally");
        }
    }
}

fn tasks(keys: Vec<StreamKey>) -> Vec<(String, String)> {
    let mut tasks: Vec<(String, String)> = keys
        .into_iter()
        .map(|k| (k.alloc_id.to_string(), k.task.to_string()))
        .collect();
    tasks.sort();
    tasks.dedup();
    tasks
}
