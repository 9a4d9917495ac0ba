//! Nomad's log file layout: a task's output goes to `alloc/logs/<task>.<stream>.<N>`, where
//! `N` starts at 0 and grows by one each time a file reaches the size limit; the oldest files
//! beyond `max_files` are deleted, and a restarted task appends to the newest. This file
//! names and lists those files.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::line::Stream;

/// One of a stream's files, as seen by a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogFile {
    pub index: u64,
    pub inode: u64,
    pub size: u64,
}

/// `<task>.<stream>.<index>`.
pub fn file_name(task: &str, stream: Stream, index: u64) -> String {
    format!("{task}.{stream}.{index}")
}

pub fn file_path(dir: &Path, task: &str, stream: Stream, index: u64) -> PathBuf {
    dir.join(file_name(task, stream, index))
}

/// The index in `name` if it is one of this stream's files. The rest after the prefix must be
/// digits only, so task `a` never picks up the files of a task named `a.stdout`.
pub fn parse_index(name: &str, task: &str, stream: Stream) -> Option<u64> {
    let rest = name
        .strip_prefix(task)?
        .strip_prefix('.')?
        .strip_prefix(stream.as_str())?
        .strip_prefix('.')?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

/// The stream's files in `dir`, by index. A missing directory has none (the task has not
/// started, or its allocation was garbage-collected).
pub fn scan(dir: &Path, task: &str, stream: Stream) -> io::Result<Vec<LogFile>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(index) = entry
            .file_name()
            .to_str()
            .and_then(|name| parse_index(name, task, stream))
        else {
            continue;
        };
        // Deleted between listing and stat: Nomad purged it; the caller sees it missing.
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if meta.is_file() {
            files.push(LogFile {
                index,
                inode: meta.ino(),
                size: meta.len(),
            });
        }
    }
    files.sort_by_key(|f| f.index);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_only_for_their_own_stream() {
        assert_eq!(parse_index("web.stdout.0", "web", Stream::Stdout), Some(0));
        assert_eq!(
            parse_index("web.stderr.12", "web", Stream::Stderr),
            Some(12)
        );
        assert_eq!(parse_index("web.stderr.12", "web", Stream::Stdout), None);
        assert_eq!(parse_index("web.stdout.", "web", Stream::Stdout), None);
        assert_eq!(parse_index("web.stdout.1x", "web", Stream::Stdout), None);
        assert_eq!(
            parse_index("web.stdout.stdout.3", "web", Stream::Stdout),
            None
        );
        assert_eq!(
            parse_index("web.stdout.stdout.3", "web.stdout", Stream::Stdout),
            Some(3)
        );
        assert_eq!(parse_index("webx.stdout.3", "web", Stream::Stdout), None);
        assert_eq!(file_name("web", Stream::Stdout, 7), "web.stdout.7");
    }

    #[test]
    fn scan_lists_by_index_with_inode_and_size() {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in [
            ("t.stdout.10", "abc"),
            ("t.stdout.2", "de"),
            ("t.stderr.0", "x"),
            ("other.stdout.0", "y"),
        ] {
            std::fs::write(dir.path().join(name), body).unwrap();
        }
        let files = scan(dir.path(), "t", Stream::Stdout).unwrap();
        let summary: Vec<(u64, u64)> = files.iter().map(|f| (f.index, f.size)).collect();
        assert_eq!(summary, vec![(2, 2), (10, 3)]);
        assert_ne!(files[0].inode, files[1].inode);
        assert!(
            scan(&dir.path().join("missing"), "t", Stream::Stdout)
                .unwrap()
                .is_empty()
        );
    }
}
