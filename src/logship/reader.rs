//! The reader thread: drives every tailer in turn, a bounded read each, and appends the chunks
//! to the pending queue. File reads block, so this is a plain thread, not async tasks. It
//! waits for new data by polling every `poll_interval`; a command (track, untrack, stop) or
//! the budget getting room again wakes it early.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::batch::Pending;
use super::budget::Budget;
use super::clock::Clock;
use super::line::{Chunk, StreamKey};
use super::metrics::LogMetrics;
use super::readbuf::{BufferPool, ReadBuffer};
use super::registry::Registry;
use super::tailer::{CHUNK, TailState, Tailer, TailerSpec};

/// Bytes one tailer reads per turn, so one busy stream does not starve the others.
const TURN_LIMIT: usize = 4 * CHUNK;

pub enum ReaderCmd {
    Track(TailerSpec),
    /// Stop now (`drain: false`), or read the stream's files to their end first.
    Untrack {
        key: StreamKey,
        drain: bool,
    },
    /// The budget has room again.
    Wake,
    Stop,
}

pub struct Reader {
    pub budget: Arc<Budget>,
    pub pending: Arc<Pending>,
    pub registry: Arc<Registry>,
    pub clock: Arc<dyn Clock>,
    pub metrics: LogMetrics,
    pub max_line_bytes: usize,
    pub poll_interval: Duration,
}

/// Starts the reader thread; it runs until [`ReaderCmd::Stop`] or every sender is dropped.
pub fn spawn(reader: Reader) -> std::io::Result<(Sender<ReaderCmd>, JoinHandle<()>)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let wake = tx.clone();
    reader.budget.on_room(move || {
        let _ = wake.send(ReaderCmd::Wake);
    });
    let thread = std::thread::Builder::new()
        .name("logship-reader".into())
        .spawn(move || reader.run(&rx))?;
    Ok((tx, thread))
}

impl Reader {
    fn run(self, commands: &Receiver<ReaderCmd>) {
        let mut tailers: Vec<Tailer> = Vec::new();
        let mut failing: HashSet<StreamKey> = HashSet::new();
        let mut chunks: Vec<Chunk> = Vec::new();
        // One read buffer for all tailers: reading is one at a time.
        let mut buf = ReadBuffer::new(Arc::new(BufferPool::default()));
        loop {
            loop {
                match commands.try_recv() {
                    Ok(cmd) => {
                        if !self.apply(cmd, &mut tailers) {
                            return;
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            let (busy, paused) = self.turn(&mut tailers, &mut failing, &mut buf, &mut chunks);
            self.metrics
                .set_tailed_files(tailers.iter().filter(|t| t.has_open_file()).count());
            if busy {
                continue;
            }
            if paused {
                self.budget.reader_paused();
            }
            match commands.recv_timeout(self.poll_interval) {
                Ok(cmd) => {
                    if !self.apply(cmd, &mut tailers) {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// One read for every tailer; returns (some tailer has more to read, reading paused for
    /// lack of memory budget).
    fn turn(
        &self,
        tailers: &mut Vec<Tailer>,
        failing: &mut HashSet<StreamKey>,
        buf: &mut ReadBuffer,
        chunks: &mut Vec<Chunk>,
    ) -> (bool, bool) {
        let (mut busy, mut paused) = (false, false);
        let mut i = 0;
        while i < tailers.len() {
            let tailer = &mut tailers[i];
            let result = tailer.poll(&self.budget, self.clock.as_ref(), TURN_LIMIT, buf, chunks);
            self.pending.push(chunks);
            match result {
                Ok(report) => {
                    if failing.remove(tailer.key()) {
                        tracing::info!(stream = %tailer.key(), "reading log files again");
                    }
                    if report.lost_bytes > 0 {
                        self.metrics.lost(report.lost_bytes);
                    }
                    match report.state {
                        TailState::Limit => busy = true,
                        TailState::Paused => paused = true,
                        TailState::CaughtUp => {}
                        TailState::Finished => {
                            let done = tailers.swap_remove(i);
                            self.finished(&done);
                            continue;
                        }
                    }
                }
                Err(error) => {
                    // Logged once per failure spell; the next turns try again.
                    if failing.insert(tailer.key().clone()) {
                        tracing::warn!(stream = %tailer.key(), %error, "cannot read log files; retrying");
                    }
                }
            }
            i += 1;
        }
        (busy, paused)
    }

    fn finished(&self, tailer: &Tailer) {
        let source = tailer.source();
        if let Err(error) =
            self.registry
                .reader_finished(&source.key, source.serial, tailer.emitted())
        {
            tracing::error!(%error, "cannot update the log-shipping state file");
        }
    }

    /// Applies a command; `false` to stop.
    fn apply(&self, cmd: ReaderCmd, tailers: &mut Vec<Tailer>) -> bool {
        match cmd {
            ReaderCmd::Track(spec) => {
                tailers.retain(|t| t.key() != &spec.source.key);
                tailers.push(Tailer::new(
                    spec,
                    &self.budget,
                    self.max_line_bytes,
                    self.poll_interval,
                ));
            }
            ReaderCmd::Untrack { key, drain: false } => tailers.retain(|t| t.key() != &key),
            ReaderCmd::Untrack { key, drain: true } => {
                if let Some(tailer) = tailers.iter_mut().find(|t| t.key() == &key) {
                    tailer.drain();
                }
            }
            ReaderCmd::Wake => {}
            ReaderCmd::Stop => return false,
        }
        true
    }
}
