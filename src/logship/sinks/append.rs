//! The file sink's output file, appended to at explicit offsets. With `direct` on (and where
//! the filesystem takes `O_DIRECT`), whole blocks go straight to the device instead of being
//! copied into the page cache: the sink writes about three times the bytes it reads, that copy
//! was most of its CPU time, and a file written once and fsynced at once gains nothing from
//! being cached, while the node's tasks lose the memory it takes. Only the partial last block
//! goes through the page cache; it is kept in memory (`carry`) and written again, completed, as
//! the start of the next append. Readers of the file see the same bytes either way.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Alignment of direct writes: offset, length and memory. A multiple of every common logical
/// block size (512 and 4096 bytes).
pub const BLOCK: usize = 4096;

pub struct AppendFile {
    file: File,
    /// The same file opened with `O_DIRECT`, while direct writes work.
    direct: Option<File>,
    size: u64,
    /// The file's bytes from its last block boundary to its end.
    carry: Vec<u8>,
}

impl AppendFile {
    /// Opens (creating) the file at `path`, cutting off a torn last line.
    pub fn open(path: &Path, direct: bool) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)?;
        let size = cut_torn_tail(&mut file)?;
        let tail = size % BLOCK as u64;
        let mut carry = vec![0u8; tail as usize];
        file.read_exact_at(&mut carry, size - tail)?;
        let direct = if direct { open_direct(path) } else { None };
        Ok(Self {
            file,
            direct,
            size,
            carry,
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the file still has the size this handle wrote it to. Appends go to explicit
    /// offsets, so a file truncated by someone else (a `copytruncate` rotation) must be opened
    /// again rather than written past its end.
    pub fn size_unchanged(&self) -> io::Result<bool> {
        Ok(self.file.metadata()?.len() == self.size)
    }

    /// Whether appends go to the device directly.
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Prepares `buf` for [`AppendFile::append_staged`]: cleared, room for `more` bytes, and
    /// filled up to the returned index with padding and then the carried bytes, so that what
    /// follows them starts where a direct write can.
    pub fn stage(&self, buf: &mut Vec<u8>, more: usize) -> usize {
        buf.clear();
        buf.reserve(BLOCK + self.carry.len() + more);
        let pad = buf.as_ptr().align_offset(BLOCK).min(BLOCK);
        buf.resize(pad, 0);
        buf.extend_from_slice(&self.carry);
        pad
    }

    /// Appends what was added to `buf` after [`AppendFile::stage`] returned `start`.
    pub fn append_staged(&mut self, buf: &[u8], start: usize) -> io::Result<()> {
        let data = &buf[start..];
        let base = self.size - self.carry.len() as u64;
        let whole = data.len() / BLOCK * BLOCK;
        if whole > 0
            && data.as_ptr().align_offset(BLOCK) == 0
            && let Some(direct) = &self.direct
        {
            match direct.write_all_at(&data[..whole], base) {
                Ok(()) => {
                    self.file
                        .write_all_at(&data[whole..], base + whole as u64)?;
                    self.size = base + data.len() as u64;
                    self.carry.clear();
                    self.carry.extend_from_slice(&data[whole..]);
                    return Ok(());
                }
                Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => {
                    // Alignment rules stricter than `BLOCK`: written through the page cache from
                    // now on (the sink does not try again with its next file either).
                    tracing::warn!(error = %e, "direct write refused; the log sink file is written through the page cache");
                    self.direct = None;
                }
                Err(e) => return Err(e),
            }
        }
        self.append(&data[self.carry.len()..])
    }

    /// Appends `bytes` through the page cache.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all_at(bytes, self.size)?;
        self.size += bytes.len() as u64;
        let tail = (self.size % BLOCK as u64) as usize;
        if bytes.len() >= tail {
            self.carry.clear();
            self.carry.extend_from_slice(&bytes[bytes.len() - tail..]);
        } else {
            self.carry.extend_from_slice(bytes);
        }
        Ok(())
    }

    /// Cuts the file back to `size` (at most its current size).
    pub fn truncate(&mut self, size: u64) -> io::Result<()> {
        self.file.set_len(size)?;
        self.size = size;
        let tail = size % BLOCK as u64;
        self.carry.resize(tail as usize, 0);
        self.file.read_exact_at(&mut self.carry, size - tail)
    }

    pub fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    pub fn sync_all(&self) -> io::Result<()> {
        self.file.sync_all()
    }
}

#[cfg(target_os = "linux")]
fn open_direct(path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let opened = OpenOptions::new()
        .write(true)
        .custom_flags(nix::fcntl::OFlag::O_DIRECT.bits())
        .open(path);
    match opened {
        Ok(file) => Some(file),
        Err(e) => {
            tracing::debug!(error = %e, "no direct writes for the log sink file");
            None
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_path: &Path) -> Option<File> {
    None
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

    /// Appends `pieces` the way the sink does (staged, some plain) and returns the file's bytes.
    fn write_pieces(path: &Path, direct: bool, pieces: &[Vec<u8>]) -> Vec<u8> {
        let mut file = AppendFile::open(path, direct).unwrap();
        let mut buf = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            if i % 3 == 2 {
                file.append(piece).unwrap();
            } else {
                let start = file.stage(&mut buf, piece.len());
                buf.extend_from_slice(piece);
                file.append_staged(&buf, start).unwrap();
            }
            assert_eq!(file.size(), std::fs::metadata(path).unwrap().len());
        }
        std::fs::read(path).unwrap()
    }

    fn pieces(seed: usize) -> Vec<Vec<u8>> {
        // Lengths around and across block boundaries, each piece whole lines.
        [1, 4095, 4096, 4097, 10_000, 3, 8192, 12_345, 70_000, 1]
            .iter()
            .enumerate()
            .map(|(i, &len)| {
                let mut piece = vec![b'a' + ((i + seed) % 26) as u8; len];
                piece[len - 1] = b'\n';
                piece
            })
            .collect()
    }

    #[test]
    fn appends_give_the_concatenation_with_or_without_direct_writes() {
        for direct in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("sink.jsonl");
            let first = pieces(0);
            let mut expected: Vec<u8> = first.concat();
            assert_eq!(
                write_pieces(&path, direct, &first),
                expected,
                "direct {direct}"
            );
            // Opened again: the carried block is read back and completed.
            let second = pieces(7);
            expected.extend(second.concat());
            assert_eq!(
                write_pieces(&path, direct, &second),
                expected,
                "direct {direct}"
            );
        }
    }

    #[test]
    fn truncating_reads_the_carried_block_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sink.jsonl");
        let all = write_pieces(&path, true, &pieces(0));
        let mut file = AppendFile::open(&path, true).unwrap();
        file.truncate(9000).unwrap();
        let mut buf = Vec::new();
        let start = file.stage(&mut buf, 5000);
        buf.extend_from_slice(&[b'z'; 5000]);
        file.append_staged(&buf, start).unwrap();
        let mut expected = all[..9000].to_vec();
        expected.extend([b'z'; 5000]);
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }

    #[test]
    fn a_size_changed_by_someone_else_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sink.jsonl");
        write_pieces(&path, true, &pieces(0));
        let file = AppendFile::open(&path, true).unwrap();
        assert!(file.size_unchanged().unwrap());
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        assert!(!file.size_unchanged().unwrap());
    }

    #[test]
    fn a_torn_tail_is_cut_at_the_last_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sink.jsonl");
        std::fs::write(&path, b"{\"a\":1}\n{\"b\":").unwrap();
        assert_eq!(AppendFile::open(&path, true).unwrap().size(), 8);
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}\n");
        std::fs::write(&path, b"no newline at all").unwrap();
        assert_eq!(AppendFile::open(&path, true).unwrap().size(), 0);
    }
}
