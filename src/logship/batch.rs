//! Chunks of lines between the reader and the sinks: the pending queue the reader appends to
//! (in read order, so order per stream is kept) and the batches the shipper takes from its
//! front, at most `max_batch_bytes` of line text each (or one chunk). Also remembers the read
//! time of the oldest line not yet acknowledged, for the lag metric.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use tokio::sync::Notify;

use super::line::{Chunk, LineMark, Position, StreamKey, StreamSource};

/// How far a batch takes one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamProgress {
    pub key: StreamKey,
    pub serial: u64,
    /// Position after the stream's last line in the batch.
    pub end: Position,
    pub lines: u64,
}

/// Lines in flight to the sinks, shipped and acknowledged together.
#[derive(Debug, Default)]
pub struct Batch {
    pub chunks: Vec<Chunk>,
    /// Bytes of line text (a line's `\n` counted as one).
    pub text_bytes: usize,
    pub line_count: u64,
}

/// One line of a batch, as the sinks see it.
#[derive(Debug, Clone, Copy)]
pub struct LineRef<'a> {
    pub text: &'a [u8],
    pub mark: LineMark,
    pub ts: SystemTime,
    pub source: &'a StreamSource,
}

impl Chunk {
    /// Its lines as the sinks see them.
    pub fn line_refs(&self) -> impl Iterator<Item = LineRef<'_>> {
        self.lines().map(|(text, mark)| LineRef {
            text,
            mark,
            ts: self.ts,
            source: &self.source,
        })
    }
}

impl Batch {
    /// Every line, in order.
    pub fn lines(&self) -> impl Iterator<Item = LineRef<'_>> {
        self.chunks.iter().flat_map(Chunk::line_refs)
    }

    /// Per stream: its key, its serial, the position after its last line here, and how many
    /// lines it has here. A batch holds few streams, mostly in runs: a short list beats a map.
    pub fn per_stream(&self) -> Vec<StreamProgress> {
        let mut streams: Vec<StreamProgress> = Vec::new();
        let mut current = usize::MAX;
        for chunk in &self.chunks {
            let serial = chunk.source.serial;
            if streams.get(current).is_none_or(|s| s.serial != serial) {
                current = match streams.iter().position(|s| s.serial == serial) {
                    Some(i) => i,
                    None => {
                        streams.push(StreamProgress {
                            key: chunk.source.key.clone(),
                            serial,
                            end: chunk.end,
                            lines: 0,
                        });
                        streams.len() - 1
                    }
                };
            }
            let stream = &mut streams[current];
            stream.end = chunk.end;
            stream.lines += chunk.line_count();
        }
        streams
    }

    pub fn oldest(&self) -> Option<SystemTime> {
        self.chunks.iter().map(|c| c.ts).min()
    }
}

#[derive(Default)]
struct Inner {
    chunks: VecDeque<Chunk>,
    text_bytes: usize,
    in_flight_oldest: Option<SystemTime>,
}

/// The queue of chunks read and not yet taken into a batch.
pub struct Pending {
    inner: Mutex<Inner>,
    full: Notify,
    max_batch_bytes: usize,
}

impl Pending {
    pub fn new(max_batch_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            full: Notify::new(),
            max_batch_bytes: max_batch_bytes.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every mutation is a single queue operation: a panic elsewhere leaves it consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `chunks` (emptying the vector); wakes the shipper when a full batch is waiting.
    pub fn push(&self, chunks: &mut Vec<Chunk>) {
        if chunks.is_empty() {
            return;
        }
        let full = {
            let mut inner = self.lock();
            for chunk in chunks.drain(..) {
                inner.text_bytes += chunk.text_bytes();
                inner.chunks.push_back(chunk);
            }
            inner.text_bytes >= self.max_batch_bytes
        };
        if full {
            self.full.notify_one();
        }
    }

    /// Bytes of line text waiting.
    pub fn text_bytes(&self) -> usize {
        self.lock().text_bytes
    }

    pub fn is_full(&self) -> bool {
        self.text_bytes() >= self.max_batch_bytes
    }

    /// Waits until a full batch is waiting (returns at once if a wake-up is already stored).
    pub async fn wait_full(&self) {
        self.full.notified().await;
    }

    /// Takes the next batch: chunks from the front up to `max_batch_bytes` (at least one).
    pub fn take_batch(&self) -> Option<Batch> {
        let mut inner = self.lock();
        let mut batch = Batch::default();
        while let Some(chunk) = inner.chunks.front() {
            let w = chunk.text_bytes();
            if !batch.chunks.is_empty() && batch.text_bytes + w > self.max_batch_bytes {
                break;
            }
            batch.text_bytes += w;
            batch.line_count += chunk.line_count();
            inner.text_bytes -= w;
            if let Some(chunk) = inner.chunks.pop_front() {
                batch.chunks.push(chunk);
            }
        }
        if batch.chunks.is_empty() {
            return None;
        }
        inner.in_flight_oldest = batch.oldest();
        Some(batch)
    }

    /// The batch taken last is acknowledged (or given up at shutdown).
    pub fn batch_done(&self) {
        self.lock().in_flight_oldest = None;
    }

    /// Read time of the oldest line not yet acknowledged, in flight or waiting.
    pub fn oldest_unacked(&self) -> Option<SystemTime> {
        let inner = self.lock();
        // Chunks wait in read order, so the front one is the oldest.
        let waiting = inner.chunks.front().map(|c| c.ts);
        match (inner.in_flight_oldest, waiting) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
