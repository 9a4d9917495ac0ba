//! The `file` sink: JSON lines (`{"ts":…,"line":…,"tags":{…}}`, see `encode`) appended to a
//! local file, fsynced before a batch is acknowledged, rotated by size (`path` → `path.1` →
//! … → `path.<max_files>`, the oldest deleted). A line torn by a crash in the middle of a
//! write is cut off when the file is opened again; that batch was not acknowledged and is
//! written again whole.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::SinkError;
use crate::logship::batch::Batch;
use crate::logship::encode::{TsCache, json_chunk_bound, write_json_chunk, write_json_line};

pub struct FileSink {
    state: Arc<Mutex<FileState>>,
}

struct FileState {
    path: PathBuf,
    max_file_size: u64,
    max_files: u32,
    file: Option<File>,
    size: u64,
    ts: TsCache,
    buf: Vec<u8>,
}

impl FileSink {
    pub fn new(path: PathBuf, max_file_size: u64, max_files: u32) -> Self {
        Self {
            state: Arc::new(Mutex::new(FileState {
                path,
                max_file_size: max_file_size.max(1),
                max_files,
                file: None,
                size: 0,
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

    fn write_batch(&mut self, batch: &Batch) -> Result<(), SinkError> {
        if self.file.is_none() {
            self.open().map_err(|e| self.err(e))?;
        }
        let size_before = self.size;
        let mut rotated = false;
        let result = self.encode_and_write(batch, &mut rotated);
        if result.is_err() {
            // Drop what this failed batch wrote (it is sent again), when it is all in the
            // current file; otherwise the retry duplicates part of it.
            if let (false, Some(file)) = (rotated, self.file.as_mut())
                && file.set_len(size_before).is_ok()
            {
                self.size = size_before;
            }
            self.file = None;
        }
        result.map_err(|e| self.err(e))
    }

    fn encode_and_write(&mut self, batch: &Batch, rotated: &mut bool) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let mut start = 0;
        for chunk in &batch.chunks {
            let unwritten = (buf.len() - start) as u64;
            if self.size + unwritten + json_chunk_bound(chunk) as u64 <= self.max_file_size {
                write_json_chunk(&mut buf, chunk, &mut self.ts);
                continue;
            }
            // The file may fill up inside this chunk: line by line, rotating where it does.
            for line in chunk.line_refs() {
                let before = buf.len();
                write_json_line(&mut buf, &line, &mut self.ts);
                let unwritten = (before - start) as u64;
                let this = (buf.len() - before) as u64;
                if self.size + unwritten + this > self.max_file_size && self.size + unwritten > 0 {
                    self.write_out(&buf[start..before])?;
                    start = before;
                    self.rotate()?;
                    *rotated = true;
                }
            }
        }
        self.write_out(&buf[start..])?;
        if let Some(file) = &self.file {
            file.sync_data()?;
        }
        self.buf = buf;
        Ok(())
    }

    fn write_out(&mut self, bytes: &[u8]) -> io::Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("file not open"))?;
        file.write_all(bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    fn open(&mut self) -> io::Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)?;
        self.size = cut_torn_tail(&mut file)?;
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

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Truncates `file` after its last `\n` (a write cut short by a crash) and returns its size.
fn cut_torn_tail(file: &mut File) -> io::Result<u64> {
    let size = file.metadata()?.len();
    let mut end = size;
    let mut block = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(block.len() as u64);
        let len = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block[..len])?;
        if let Some(i) = memchr::memrchr(b'\n', &block[..len]) {
            let keep = start + i as u64 + 1;
            if keep < size {
                tracing::warn!(
                    bytes = size - keep,
                    "cutting a torn last line off the log sink file"
                );
                file.set_len(keep)?;
            }
            return Ok(keep);
        }
        end = start;
    }
    if size > 0 {
        file.set_len(0)?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_tail_is_cut_at_the_last_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sink.jsonl");
        fs::write(&path, b"{\"a\":1}\n{\"b\":").unwrap();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .unwrap();
        assert_eq!(cut_torn_tail(&mut file).unwrap(), 8);
        assert_eq!(fs::read(&path).unwrap(), b"{\"a\":1}\n");
        fs::write(&path, b"no newline at all").unwrap();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .unwrap();
        assert_eq!(cut_torn_tail(&mut file).unwrap(), 0);
    }

    #[test]
    fn numbered_names_append_the_index() {
        assert_eq!(
            numbered(Path::new("/var/log/t.jsonl"), 2),
            PathBuf::from("/var/log/t.jsonl.2")
        );
    }
}
