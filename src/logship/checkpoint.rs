//! The local state file of log shipping: per stream, the file (index and inode) and byte
//! offset up to which every sink acknowledged the lines. It is rewritten only after an
//! acknowledgement, atomically — write a second file, fsync it, rename it into place, fsync the
//! directory (see `statefile`) — so a crash leaves either the old or the new state, and a
//! restart resumes at or before what was delivered: at-least-once.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::line::{Position, Stream, StreamKey};
use super::logfiles;
use super::statefile::StateFile;

/// Name of the state file inside the state directory.
pub const FILE_NAME: &str = "logship-checkpoints.json";

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The state directory could not be created.
    #[error("cannot create state directory {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    /// The state file exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    /// Writing, syncing or renaming the new state failed.
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedState {
    version: u32,
    streams: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    alloc_id: String,
    task: String,
    stream: Stream,
    /// The file's name, for people reading the state; `file_index` is what counts.
    file: String,
    #[serde(flatten)]
    position: Position,
}

impl Serialize for Stream {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Stream {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Stream::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown stream {text:?}")))
    }
}

/// The acknowledged positions, in memory, and the file that keeps them.
#[derive(Debug)]
pub struct CheckpointStore {
    file: StateFile,
    positions: BTreeMap<StreamKey, Position>,
}

impl CheckpointStore {
    /// Opens the state in `state_dir`, creating the directory. A state file that does not
    /// parse is moved aside (`.corrupt`) and logged: starting over re-ships lines (duplicates)
    /// but loses none.
    pub fn open(state_dir: &Path) -> Result<Self, CheckpointError> {
        fs::create_dir_all(state_dir).map_err(|source| CheckpointError::CreateDir {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = state_dir.join(FILE_NAME);
        let mut positions = BTreeMap::new();
        match fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<SavedState>(&bytes) {
                Ok(state) => {
                    for e in state.streams {
                        let key = StreamKey {
                            alloc_id: Arc::from(e.alloc_id),
                            task: Arc::from(e.task),
                            stream: e.stream,
                        };
                        positions.insert(key, e.position);
                    }
                }
                Err(error) => {
                    let aside = path.with_extension("json.corrupt");
                    tracing::error!(path = %path.display(), %error, moved_to = %aside.display(),
                        "log-shipping state file is unreadable; starting over (lines may be shipped twice)");
                    fs::rename(&path, &aside).map_err(|source| CheckpointError::Write {
                        path: path.clone(),
                        source,
                    })?;
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(CheckpointError::Read { path, source }),
        }
        Ok(Self {
            file: StateFile::new(path),
            positions,
        })
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    pub fn get(&self, key: &StreamKey) -> Option<Position> {
        self.positions.get(key).copied()
    }

    pub fn set(&mut self, key: StreamKey, position: Position) {
        self.positions.insert(key, position);
    }

    pub fn remove(&mut self, key: &StreamKey) -> bool {
        self.positions.remove(key).is_some()
    }

    pub fn keys(&self) -> impl Iterator<Item = &StreamKey> {
        self.positions.keys()
    }

    /// Writes the state atomically and durably.
    pub fn save(&mut self) -> Result<(), CheckpointError> {
        let state = SavedState {
            version: 1,
            streams: self
                .positions
                .iter()
                .map(|(key, position)| Entry {
                    alloc_id: key.alloc_id.to_string(),
                    task: key.task.to_string(),
                    stream: key.stream,
                    file: logfiles::file_name(&key.task, key.stream, position.file_index),
                    position: *position,
                })
                .collect(),
        };
        let bytes = serde_json::to_vec_pretty(&state).map_err(io::Error::other);
        bytes
            .and_then(|bytes| self.file.replace(&bytes))
            .map_err(|source| CheckpointError::Write {
                path: self.file.path().to_path_buf(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(alloc: &str, stream: Stream) -> StreamKey {
        StreamKey {
            alloc_id: Arc::from(alloc),
            task: Arc::from("web"),
            stream,
        }
    }

    #[test]
    fn positions_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = CheckpointStore::open(dir.path()).unwrap();
        let p = Position {
            file_index: 3,
            inode: 77,
            offset: 1234,
        };
        store.set(key("a1", Stream::Stdout), p);
        store.set(key("a1", Stream::Stderr), Position { offset: 9, ..p });
        store.save().unwrap();
        store.remove(&key("a1", Stream::Stderr));
        store.save().unwrap();

        let reopened = CheckpointStore::open(dir.path()).unwrap();
        assert_eq!(reopened.get(&key("a1", Stream::Stdout)), Some(p));
        assert_eq!(reopened.get(&key("a1", Stream::Stderr)), None);
        let text = fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(text.contains("\"file\": \"web.stdout.3\""), "{text}");
        // Beside it, at most an earlier complete state (the spare the next save writes into).
        let spare = dir.path().join("logship-checkpoints.json.tmp");
        if let Ok(spare) = fs::read(&spare) {
            serde_json::from_slice::<SavedState>(&spare).unwrap();
        }
    }

    #[test]
    fn a_corrupt_state_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE_NAME), b"{not json").unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        assert_eq!(store.keys().count(), 0);
        assert!(dir.path().join("logship-checkpoints.json.corrupt").exists());
    }
}
