//! A stand-in for Nomad's log rotator (`client/logmon/logging/rotator.go`), so tests write task
//! logs exactly the way Nomad lays them out: `<task>.<stream>.<N>` from 0, a new index when the
//! file reaches `file_size` (a line that does not fit starts the next file; a line without room
//! and without newline is split), the oldest files deleted beyond `max_files`, and on opening,
//! appending to the newest file (a restarted task).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Nomad scans this far ahead for a newline before splitting a line at the size limit.
const LINE_SCAN_LIMIT: u64 = 32 * 1024;

pub struct NomadRotator {
    dir: PathBuf,
    base: String,
    file_size: u64,
    max_files: usize,
    index: u64,
    file: File,
    written: u64,
    /// Files this rotator created (after the first).
    pub rotations: u64,
}

impl NomadRotator {
    /// Opens the newest file of `<task>.<stream>` in `dir`, as Nomad's `lastFile` does.
    pub fn open(dir: &Path, task: &str, stream: &str, file_size: u64, max_files: usize) -> Self {
        fs::create_dir_all(dir).unwrap();
        let base = format!("{task}.{stream}");
        let index = indexes(dir, &base).into_iter().max().unwrap_or(0);
        let (file, written) = open_append(&dir.join(format!("{base}.{index}")));
        Self {
            dir: dir.to_path_buf(),
            base,
            file_size,
            max_files,
            index,
            file,
            written,
            rotations: 0,
        }
    }

    pub fn write(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.written >= self.file_size {
                self.next_file();
            }
            let remaining = self.file_size - self.written;
            let take = if remaining.saturating_sub(LINE_SCAN_LIMIT) < data.len() as u64 {
                match memchr::memchr(b'\n', data) {
                    Some(idx) if (idx as u64) < remaining => idx + 1,
                    Some(_) if self.written > 0 => {
                        // The line does not fit: it goes to the next file.
                        self.written = self.file_size;
                        continue;
                    }
                    _ => data.len().min(remaining as usize),
                }
            } else {
                data.len()
            };
            self.file.write_all(&data[..take]).unwrap();
            self.written += take as u64;
            data = &data[take..];
        }
    }

    fn next_file(&mut self) {
        loop {
            self.index += 1;
            let path = self.dir.join(format!("{}.{}", self.base, self.index));
            match fs::metadata(&path) {
                Ok(meta) if meta.len() >= self.file_size => continue,
                _ => {
                    let (file, written) = open_append(&path);
                    self.file = file;
                    self.written = written;
                    self.rotations += 1;
                    break;
                }
            }
        }
        self.purge();
    }

    /// Deletes the oldest files beyond `max_files`.
    fn purge(&self) {
        let mut all = indexes(&self.dir, &self.base);
        if all.len() <= self.max_files {
            return;
        }
        all.sort_unstable();
        for index in &all[..all.len() - self.max_files] {
            let _ = fs::remove_file(self.dir.join(format!("{}.{index}", self.base)));
        }
    }
}

fn open_append(path: &Path) -> (File, u64) {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let len = file.metadata().unwrap().len();
    (file, len)
}

fn indexes(dir: &Path, base: &str) -> Vec<u64> {
    let prefix = format!("{base}.");
    fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix(&prefix)?.parse().ok()
        })
        .collect()
}
