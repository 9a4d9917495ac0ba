//! A small file replaced atomically and durably, over and over: the new content goes into a
//! second file beside it (`<name>.tmp`), is synced, and takes the first one's place in one
//! rename; then the directory is synced. A crash leaves the old content or the new, never a
//! mix.
//!
//! Where the kernel and filesystem support it (`renameat2` with `RENAME_EXCHANGE`, Linux),
//! both files stay open and trade places at each save: a save then creates and frees no inode,
//! which is most of what it costs besides the syncs. Elsewhere the second file is created anew
//! each time and renamed over the first.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    spare_path: PathBuf,
    /// The directory, kept open for its syncs.
    dir: Option<File>,
    /// Both files, while they are swapped by exchange.
    kept: Option<Kept>,
    exchange: bool,
}

/// `current` is at `path`, `spare` at `spare_path`.
#[derive(Debug)]
struct Kept {
    current: File,
    spare: File,
}

impl StateFile {
    pub fn new(path: PathBuf) -> Self {
        let mut spare = OsString::from(path.as_os_str());
        spare.push(".tmp");
        Self {
            path,
            spare_path: PathBuf::from(spare),
            dir: None,
            kept: None,
            exchange: cfg!(all(target_os = "linux", target_env = "gnu")),
        }
    }

    /// The file that holds the content.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes `bytes` the file's content, durably.
    pub fn replace(&mut self, bytes: &[u8]) -> io::Result<()> {
        // Kept files mean the content file exists: no `stat` on the way of every save.
        if self.exchange && (self.kept.is_some() || self.path.exists()) {
            match self.replace_by_exchange(bytes) {
                Ok(()) => return Ok(()),
                Err(e) if exchange_unsupported(&e) => {
                    tracing::debug!(path = %self.path.display(), error = %e,
                        "no RENAME_EXCHANGE here; state files are replaced by rename");
                    self.exchange = false;
                }
                Err(e) => return Err(e),
            }
        }
        self.replace_by_rename(bytes)
    }

    fn replace_by_rename(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.kept = None;
        let mut file = File::create(&self.spare_path)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&self.spare_path, &self.path)?;
        self.sync_dir()
    }

    fn replace_by_exchange(&mut self, bytes: &[u8]) -> io::Result<()> {
        // Taken out while in use: after an error the files are opened again, by name.
        let kept = match self.kept.take() {
            Some(kept) => kept,
            None => Kept {
                current: OpenOptions::new().read(true).write(true).open(&self.path)?,
                spare: OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .read(true)
                    .write(true)
                    .open(&self.spare_path)?,
            },
        };
        write_whole(&kept.spare, bytes)?;
        kept.spare.sync_data()?;
        exchange(&self.spare_path, &self.path)?;
        // The next save overwrites the file now at `spare_path`: the exchange must be on disk
        // first, or a power loss could put that half-written file back at `path`.
        self.sync_dir()?;
        self.kept = Some(Kept {
            current: kept.spare,
            spare: kept.current,
        });
        Ok(())
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        let Some(parent) = self.path.parent() else {
            return Ok(());
        };
        let dir = match &self.dir {
            Some(dir) => dir,
            None if parent.as_os_str().is_empty() => self.dir.insert(File::open(".")?),
            None => self.dir.insert(File::open(parent)?),
        };
        dir.sync_all()
    }
}

/// Overwrites `file` from its start with `bytes`, cutting off what the old content had beyond.
fn write_whole(file: &File, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(bytes, 0)?;
    file.set_len(bytes.len() as u64)
}

/// Swaps the files at `a` and `b`. A kernel or filesystem without the flag answers
/// `Unsupported`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use nix::errno::Errno;
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    renameat2(AT_FDCWD, a, AT_FDCWD, b, RenameFlags::RENAME_EXCHANGE).map_err(|errno| match errno {
        Errno::EINVAL | Errno::ENOSYS => io::Error::new(io::ErrorKind::Unsupported, errno),
        other => io::Error::from(other),
    })
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn exchange(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Whether `error` means the exchange cannot work here at all (not that this save failed).
fn exchange_unsupported(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::Unsupported
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn each_save_replaces_the_content_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut file = StateFile::new(path.clone());
        for content in [
            "first, and long",
            "second",
            "a third, longer than the others",
        ] {
            file.replace(content.as_bytes()).unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
        }
        // A fresh instance (a restart) carries on from what is there.
        let mut again = StateFile::new(path.clone());
        again.replace(b"fourth").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "fourth");
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn saves_trade_two_files_instead_of_creating_one_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut file = StateFile::new(path.clone());
        let mut inodes = std::collections::BTreeSet::new();
        for i in 0..6 {
            file.replace(format!("save {i}").as_bytes()).unwrap();
            inodes.insert(std::fs::metadata(&path).unwrap().ino());
        }
        // The first save creates the file; after it, the same two inodes alternate.
        assert_eq!(inodes.len(), 2, "{inodes:?}");
        let spare = std::fs::read_to_string(dir.path().join("state.json.tmp")).unwrap();
        assert_eq!(spare, "save 4", "the spare holds the previous content");
    }

    #[test]
    fn a_spare_left_half_written_by_a_crash_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        StateFile::new(path.clone()).replace(b"good").unwrap();
        std::fs::write(dir.path().join("state.json.tmp"), b"torn garbage, longer").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "good");
        StateFile::new(path.clone()).replace(b"next").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "next");
    }
}
