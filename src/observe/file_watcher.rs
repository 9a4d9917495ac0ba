//! Change notification for rendered template files (inotify through `notify`).
//!
//! Template renderers replace files by writing a temporary file and renaming it over the
//! destination, which detaches a watch on the old inode. So the watcher watches each file's
//! *directory* and reports events whose path is one of the registered files. Events only say
//! "look again": the agent re-reads the file, and the periodic resync covers anything missed.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Errors of the file watcher.
#[derive(Debug, thiserror::Error)]
pub enum FileWatchError {
    /// The operating system's notification facility refused (e.g. inotify watch limit).
    #[error("cannot watch {path}: {source}")]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
    /// The notification facility could not be set up at all.
    #[error("cannot start the file watcher: {0}")]
    Start(#[source] notify::Error),
}

/// Watches a changing set of files; changed paths arrive on the receiver from [`FileWatcher::new`].
pub struct FileWatcher {
    watcher: RecommendedWatcher,
    /// Registered files, shared with the event handler running on notify's thread.
    files: Arc<Mutex<HashSet<PathBuf>>>,
    /// Watched directories and how many registered files each holds.
    dirs: HashMap<PathBuf, usize>,
}

impl FileWatcher {
    pub fn new() -> Result<(Self, mpsc::UnboundedReceiver<PathBuf>), FileWatchError> {
        let files: Arc<Mutex<HashSet<PathBuf>>> = Arc::default();
        let (tx, rx) = mpsc::unbounded_channel();
        let handler_files = Arc::clone(&files);
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else {
                // Overflow or a watch error: a missed event is caught by the periodic resync.
                return;
            };
            if matches!(event.kind, EventKind::Access(_)) {
                return;
            }
            let files = handler_files.lock().unwrap_or_else(PoisonError::into_inner);
            for path in event.paths {
                if files.contains(&path) {
                    // The receiver is gone only when the agent is shutting down.
                    let _ = tx.send(path);
                }
            }
        })
        .map_err(FileWatchError::Start)?;
        Ok((
            Self {
                watcher,
                files,
                dirs: HashMap::new(),
            },
            rx,
        ))
    }

    /// Registers `file`. Returns `Ok(false)` when its directory does not exist yet (the
    /// allocation is still being set up); the caller registers it again later.
    pub fn watch(&mut self, file: &Path) -> Result<bool, FileWatchError> {
        if self.is_watched(file) {
            return Ok(true);
        }
        let Some(dir) = file.parent() else {
            return Ok(false);
        };
        if !dir.is_dir() {
            return Ok(false);
        }
        if !self.dirs.contains_key(dir) {
            self.watcher
                .watch(dir, RecursiveMode::NonRecursive)
                .map_err(|source| FileWatchError::Watch {
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
        *self.dirs.entry(dir.to_path_buf()).or_insert(0) += 1;
        self.files_lock().insert(file.to_path_buf());
        Ok(true)
    }

    /// Forgets `file`; its directory is unwatched with its last file.
    pub fn unwatch(&mut self, file: &Path) {
        if !self.files_lock().remove(file) {
            return;
        }
        let Some(dir) = file.parent() else { return };
        if let Some(count) = self.dirs.get_mut(dir) {
            *count -= 1;
            if *count == 0 {
                self.dirs.remove(dir);
                // Fails only when the directory is already gone, which ends the watch anyway.
                let _ = self.watcher.unwatch(dir);
            }
        }
    }

    pub fn is_watched(&self, file: &Path) -> bool {
        self.files_lock().contains(file)
    }

    fn files_lock(&self) -> std::sync::MutexGuard<'_, HashSet<PathBuf>> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
#[path = "file_watcher_tests.rs"]
mod tests;
