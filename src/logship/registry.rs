//! The tracked streams and how far each is acknowledged: the one place that moves
//! checkpoints (after an acknowledgement), counts acknowledged lines per stream, and completes
//! drains — a drained stream is done once the reader read its files to the end and every line
//! it emitted was acknowledged; then its checkpoint is dropped and its waiters are told.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::batch::Batch;
use super::checkpoint::{CheckpointError, CheckpointStore};
use super::line::{Position, StreamKey};

#[derive(Debug, Default)]
struct Entry {
    serial: u64,
    acked_lines: u64,
    /// Lines the reader emitted in all, once it finished draining the stream.
    finished_after: Option<u64>,
    waiters: Vec<oneshot::Sender<()>>,
}

impl Entry {
    fn drained(&self) -> bool {
        self.finished_after
            .is_some_and(|total| self.acked_lines >= total)
    }
}

pub struct Registry {
    streams: Mutex<HashMap<StreamKey, Entry>>,
    checkpoints: Mutex<CheckpointStore>,
}

impl Registry {
    pub fn new(checkpoints: CheckpointStore) -> Self {
        Self {
            streams: Mutex::new(HashMap::new()),
            checkpoints: Mutex::new(checkpoints),
        }
    }

    fn streams(&self) -> MutexGuard<'_, HashMap<StreamKey, Entry>> {
        // Every mutation is a single map operation: a panic elsewhere leaves it consistent.
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn checkpoints(&self) -> MutexGuard<'_, CheckpointStore> {
        self.checkpoints.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts tracking `key` under `serial`; returns where to resume, or `None` when it is
    /// tracked already.
    pub fn track(&self, key: &StreamKey, serial: u64) -> Option<Option<Position>> {
        let mut streams = self.streams();
        if streams.contains_key(key) {
            return None;
        }
        streams.insert(
            key.clone(),
            Entry {
                serial,
                ..Entry::default()
            },
        );
        Some(self.checkpoints().get(key))
    }

    pub fn tracked(&self) -> Vec<StreamKey> {
        self.streams().keys().cloned().collect()
    }

    pub fn checkpointed(&self) -> Vec<StreamKey> {
        self.checkpoints().keys().cloned().collect()
    }

    /// Stops tracking `key` at once and forgets its checkpoint.
    pub fn forget(&self, key: &StreamKey) -> Result<(), CheckpointError> {
        self.streams().remove(key);
        let mut checkpoints = self.checkpoints();
        if checkpoints.remove(key) {
            checkpoints.save()?;
        }
        Ok(())
    }

    /// Registers a waiter for the end of `key`'s drain; `false` when it is not tracked.
    pub fn wait_drained(&self, key: &StreamKey, waiter: oneshot::Sender<()>) -> bool {
        match self.streams().get_mut(key) {
            Some(entry) => {
                entry.waiters.push(waiter);
                true
            }
            None => false,
        }
    }

    /// The reader finished draining the stream `serial` after emitting `emitted` lines.
    pub fn reader_finished(
        &self,
        key: &StreamKey,
        serial: u64,
        emitted: u64,
    ) -> Result<(), CheckpointError> {
        let done = {
            let mut streams = self.streams();
            match streams.get_mut(key) {
                Some(entry) if entry.serial == serial => {
                    entry.finished_after = Some(emitted);
                    entry.drained()
                }
                _ => false,
            }
        };
        if done {
            self.complete(std::slice::from_ref(key))
        } else {
            Ok(())
        }
    }

    /// Every sink acknowledged `batch`: checkpoints move to its last line per stream, and
    /// drains it completes end.
    pub fn acknowledged(&self, batch: &Batch) -> Result<(), CheckpointError> {
        let mut moved = Vec::new();
        let mut drained = Vec::new();
        {
            let mut streams = self.streams();
            for progress in batch.per_stream() {
                // Lines of a stream untracked (or tracked anew) meanwhile move nothing.
                let Some(entry) = streams
                    .get_mut(&progress.key)
                    .filter(|e| e.serial == progress.serial)
                else {
                    continue;
                };
                entry.acked_lines += progress.lines;
                if entry.drained() {
                    drained.push(progress.key.clone());
                }
                moved.push((progress.key, progress.end));
            }
        }
        if !moved.is_empty() {
            let mut checkpoints = self.checkpoints();
            for (key, position) in moved {
                checkpoints.set(key, position);
            }
            checkpoints.save()?;
        }
        if drained.is_empty() {
            Ok(())
        } else {
            self.complete(&drained)
        }
    }

    /// Ends drained streams: forgets their checkpoints and wakes their waiters.
    fn complete(&self, keys: &[StreamKey]) -> Result<(), CheckpointError> {
        let mut waiters = Vec::new();
        {
            let mut streams = self.streams();
            for key in keys {
                if let Some(entry) = streams.remove(key) {
                    waiters.extend(entry.waiters);
                }
            }
        }
        let result = {
            let mut checkpoints = self.checkpoints();
            let mut changed = false;
            for key in keys {
                changed |= checkpoints.remove(key);
            }
            if changed { checkpoints.save() } else { Ok(()) }
        };
        for waiter in waiters {
            let _ = waiter.send(());
        }
        result
    }
}
