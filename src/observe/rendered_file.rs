//! What the agent knows about one rendered template file: when it was last written and a
//! fingerprint of its content. The fingerprint is recorded in Consul when a run starts and
//! compared later, so it must be stable across agent versions and platforms: SHA-256, hex.

use std::io;
use std::path::Path;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

/// A rendered file as seen on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Last modification time.
    pub modified: SystemTime,
    /// `sha256:<hex>` of the content.
    pub fingerprint: String,
}

/// Reads `path`; `Ok(None)` when it does not exist (not rendered yet, or the alloc is gone).
pub fn read(path: &Path) -> io::Result<Option<RenderedFile>> {
    let content = match std::fs::read(path) {
        Ok(content) => content,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // Read after the content: a write between the two makes the file look newer, never older,
    // so a change is never missed.
    let modified = std::fs::metadata(path)?.modified()?;
    Ok(Some(RenderedFile {
        modified,
        fingerprint: fingerprint(&content),
    }))
}

/// The fingerprint of a file's content.
pub fn fingerprint(content: &[u8]) -> String {
    let digest = Sha256::digest(content);
    let mut hex = String::with_capacity(7 + digest.len() * 2);
    hex.push_str("sha256:");
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // The expected value is `printf 'name: Samantha\n' | sha256sum`.
    fn fingerprint_is_sha256_hex() {
        assert_eq!(
            fingerprint(b"name: Samantha\n"),
            "sha256:5ce9ed2e0a99ae8f3829564b379d563250cfaca533c5510340c629a8400ca4bd"
        );
    }

    #[test]
    fn missing_file_is_none_and_existing_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yml");
        assert_eq!(read(&path).unwrap(), None);
        std::fs::write(&path, b"name: Samantha\n").unwrap();
        let file = read(&path).unwrap().unwrap();
        assert_eq!(file.fingerprint, fingerprint(b"name: Samantha\n"));
        assert!(file.modified <= SystemTime::now());
    }
}

/// When each file's *content* last changed, as far as this agent has seen: a rewrite with the
/// same fingerprint keeps the earlier time, so a re-render that changes nothing is not a
/// change. Without history (first sight, or after an agent restart) the mtime is taken.
#[derive(Debug, Default)]
pub struct ContentClock {
    seen: std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, (String, SystemTime)>>,
}

impl ContentClock {
    /// The time `file` (read from `path`) last changed content.
    pub fn changed_at(&self, path: &Path, file: &RenderedFile) -> SystemTime {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match seen.get(path) {
            Some((fingerprint, at)) if *fingerprint == file.fingerprint => *at,
            _ => {
                seen.insert(
                    path.to_path_buf(),
                    (file.fingerprint.clone(), file.modified),
                );
                file.modified
            }
        }
    }

    /// Forgets files under `dir` (an allocation that is gone).
    pub fn forget_under(&self, dir: &Path) {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|path, _| !path.starts_with(dir));
    }
}
