//! Task log files with Nomad's rotation (logmon): `alloc/logs/<task>.stdout.N` and
//! `.stderr.N`; a file is closed at `MaxFileSizeMB` and the next index opened; only the newest
//! `MaxFiles` are kept; a restarted task appends to the newest existing file.

use std::io;
use std::path::{Path, PathBuf};

use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Writes one stream of one task into its rotating files.
pub struct RotatingLog {
    dir: PathBuf,
    prefix: String,
    max_bytes: u64,
    max_files: usize,
    index: u64,
    size: u64,
    file: Option<File>,
}

impl RotatingLog {
    /// `prefix` is e.g. `greet.stdout`.
    pub async fn open(
        dir: &Path,
        prefix: &str,
        max_file_mb: i64,
        max_files: i64,
    ) -> io::Result<Self> {
        let index = newest_index(dir, prefix).unwrap_or(0);
        let mut log = Self {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            max_bytes: (max_file_mb.max(1) as u64) * 1024 * 1024,
            max_files: max_files.max(1) as usize,
            index,
            size: 0,
            file: None,
        };
        log.open_current().await?;
        Ok(log)
    }

    fn path(&self, index: u64) -> PathBuf {
        self.dir.join(format!("{}.{index}", self.prefix))
    }

    async fn open_current(&mut self) -> io::Result<()> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(self.index))
            .await?;
        self.size = file.metadata().await?.len();
        self.file = Some(file);
        Ok(())
    }

    async fn rotate(&mut self) -> io::Result<()> {
        if let Some(mut f) = self.file.take() {
            f.flush().await?;
        }
        self.index += 1;
        self.open_current().await?;
        // Drop the oldest files beyond MaxFiles.
        if self.index >= self.max_files as u64 {
            let oldest_kept = self.index + 1 - self.max_files as u64;
            for old in 0..oldest_kept {
                let _ = tokio::fs::remove_file(self.path(old)).await;
            }
        }
        Ok(())
    }

    pub async fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.size >= self.max_bytes {
                self.rotate().await?;
            }
            let room = (self.max_bytes - self.size) as usize;
            let (now, later) = data.split_at(room.min(data.len()));
            if let Some(f) = self.file.as_mut() {
                f.write_all(now).await?;
            }
            self.size += now.len() as u64;
            data = later;
        }
        if let Some(f) = self.file.as_mut() {
            f.flush().await?;
        }
        Ok(())
    }
}

fn newest_index(dir: &Path, prefix: &str) -> Option<u64> {
    let wanted = format!("{prefix}.");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix(&wanted)?.parse::<u64>().ok()
        })
        .max()
}

/// Copies a child's pipe into its rotating log until EOF.
pub async fn pump(mut source: impl AsyncRead + Unpin, mut log: RotatingLog) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match source.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if let Err(e) = log.write(&buf[..n]).await {
                    tracing::warn!(error = %e, "writing task log failed");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rotates_and_keeps_max_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = RotatingLog::open(dir.path(), "t.stdout", 1, 2)
            .await
            .expect("open");
        let mb = vec![b'x'; 1024 * 1024];
        for _ in 0..3 {
            log.write(&mb).await.expect("write");
        }
        log.write(b"tail").await.expect("write");
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["t.stdout.2", "t.stdout.3"]);
        // A new writer (a restarted task) appends to the newest file.
        let mut again = RotatingLog::open(dir.path(), "t.stdout", 1, 2)
            .await
            .expect("reopen");
        again.write(b"more").await.expect("write");
        let tail = std::fs::read(dir.path().join("t.stdout.3")).expect("read");
        assert_eq!(tail, b"tailmore");
    }
}
