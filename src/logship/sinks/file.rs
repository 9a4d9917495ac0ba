//! The `file` sink: JSON lines (`{"ts":…,"line":…,"tags":{…}}`, see `encode`) appended to a
//! local file, fsynced before a batch is acknowledged, rotated by size (`path` → `path.1` →
//! … → `path.<max_files>`, the oldest deleted). A line torn by a crash in the middle of a
//! write is cut off when the file is opened again; that batch was not acknowledged and is
//! written again whole.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::SinkError;
use super::append::AppendFile;
use crate::logship::batch::Batch;
use crate::logship::encode::{TsCache, json_chunk_bound, write_json_chunk, write_json_line};

pub struct FileSink {
    state: Arc<Mutex<FileState>>,
}

struct FileState {
    path: PathBuf,
    max_file_size: u64,
    max_files: u32,
    /// Whether whole blocks are written with `O_DIRECT` (see `append`).
    direct: bool,
    file: Option<AppendFile>,
    ts: TsCache,
    buf: Vec<u8>,
}

impl FileSink {
    pub fn new(path: PathBuf, max_file_size: u64, max_files: u32, direct: bool) -> Self {
        Self {
            state: Arc::new(Mutex::new(FileState {
                path,
                max_file_size: max_file_size.max(1),
                max_files,
                direct,
                file: None,
                ts: TsCache::nanos(),
                buf: Vec::new(),
            })),
        }
    }

    pub async fn send(&mut self, batch: &Arc<Batch>) -> Result<(), SinkError> {
        let state = Arc::clone(&self.state);
        let batch = Arc::clone(batch);
        // Encoding and file I/O block: they run off the async workers.
        tokio::task::spawn_blocking(move || {
            let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
            state.write_batch(&batch)
        })
        .await?
    }
}

impl FileState {
    fn err(&self, source: io::Error) -> SinkError {
        SinkError::File {
            path: self.path.clone(),
            source,
        }
    }

    /// The current file's size (0 with none open).
    fn size(&self) -> u64 {
        self.file.as_ref().map_or(0, AppendFile::size)
    }

    fn write_batch(&mut self, batch: &Batch) -> Result<(), SinkError> {
        if let Some(file) = &self.file
            && !file.size_unchanged().map_err(|e| self.err(e))?
        {
            tracing::warn!(path = %self.path.display(), "the log sink file was truncated or extended by another process; opening it again");
            self.file = None;
        }
        if self.file.is_none() {
            self.open().map_err(|e| self.err(e))?;
        }
        let size_before = self.size();
        let mut rotated = false;
        let result = self.encode_and_write(batch, &mut rotated);
        if result.is_err() {
            // Drop what this failed batch wrote (it is sent again), when it is all in the
            // current file; otherwise the retry duplicates part of it.
            if let (false, Some(file)) = (rotated, self.file.as_mut()) {
                let _ = file.truncate(size_before);
            }
            self.file = None;
        }
        result.map_err(|e| self.err(e))
    }

    fn encode_and_write(&mut self, batch: &Batch, rotated: &mut bool) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        let file = self.file.as_ref().ok_or_else(not_open)?;
        // Room for the worst case, so that the buffer never moves and stays aligned.
        let bound = batch.chunks.iter().map(json_chunk_bound).sum();
        let mut staged = Some(file.stage(&mut buf, bound));
        // Where the bytes not yet written start (the carried bytes are in the file already).
        let mut start = buf.len();
        for chunk in &batch.chunks {
            let size = self.size();
            let unwritten = (buf.len() - start) as u64;
            if size + unwritten + json_chunk_bound(chunk) as u64 <= self.max_file_size {
                write_json_chunk(&mut buf, chunk, &mut self.ts);
                continue;
            }
            // The file may fill up inside this chunk: line by line, rotating where it does.
            for line in chunk.line_refs() {
                let before = buf.len();
                write_json_line(&mut buf, &line, &mut self.ts);
                let size = self.size();
                let unwritten = (before - start) as u64;
                let this = (buf.len() - before) as u64;
                if size + unwritten + this > self.max_file_size && size + unwritten > 0 {
                    self.write_out(&buf[..before], start, staged.take())?;
                    start = before;
                    self.rotate()?;
                    *rotated = true;
                }
            }
        }
        self.write_out(&buf, start, staged)?;
        if let Some(file) = &self.file {
            file.sync_data()?;
        }
        self.buf = buf;
        Ok(())
    }

    /// Appends `buf[start..]`; `staged` is where [`AppendFile::stage`] put the file's carried
    /// bytes, when `buf` was staged for the current file.
    fn write_out(&mut self, buf: &[u8], start: usize, staged: Option<usize>) -> io::Result<()> {
        let file = self.file.as_mut().ok_or_else(not_open)?;
        let written = match staged {
            Some(staged) => file.append_staged(buf, staged),
            None => file.append(&buf[start..]),
        };
        // A refused direct write (already logged) is not tried again with the next file.
        self.direct &= file.is_direct();
        written
    }

    fn open(&mut self) -> io::Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let file = AppendFile::open(&self.path, self.direct)?;
        if self.direct && !file.is_direct() {
            // Said once: from now on this sink writes through the page cache.
            self.direct = false;
            tracing::warn!(path = %self.path.display(), "the log sink file's filesystem takes no direct writes; writing through the page cache");
        }
        self.file = Some(file);
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if let Some(file) = self.file.take() {
            file.sync_all()?;
        }
        let n = self.max_files;
        remove_if_present(&numbered(&self.path, n))?;
        for i in (1..n).rev() {
            rename_if_present(&numbered(&self.path, i), &numbered(&self.path, i + 1))?;
        }
        if n > 0 {
            fs::rename(&self.path, numbered(&self.path, 1))?;
        } else {
            remove_if_present(&self.path)?;
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        self.open()
    }
}

/// `path.<n>`.
pub fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn not_open() -> io::Error {
    io::Error::other("file not open")
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names_append_the_index() {
        assert_eq!(
            numbered(Path::new("/var/log/t.jsonl"), 2),
            PathBuf::from("/var/log/t.jsonl.2")
        );
    }
}
