//! Follows one stream of one task through Nomad's rotating files (`<task>.<stream>.N`).
//!
//! - Reading holds the current file open, so a file Nomad deletes while it is being read is
//!   still read to its end.
//! - At the end of a file, a scan of the directory decides: a file with a higher index means
//!   the current one is complete (it is read once more to its end, then the next is opened);
//!   none means the task has written nothing new yet (a restarted task appends to the newest
//!   file, which is where reading already is). While the directory's modification time stays
//!   what it was at a scan that found nothing newer, no file was added or removed, so an idle
//!   stream costs one `stat` of the directory per poll instead of a scan.
//! - Files that disappeared before they could be opened are a loss: their sizes as last seen
//!   by a scan are reported (a lower bound) and logged — never skipped silently. Scans go on
//!   while reading is paused (at most once per `paused_rescan`, the reader's poll interval),
//!   so those sizes are known.
//! - Reads are sized by the memory budget; with no room, reading pauses (back-pressure).
//! - Every chunk carries the position after its last line; resuming from a checkpoint
//!   reopens that file (same index and inode) at that offset.
//! - A read becomes a few chunks, not one object per line: its whole lines as one run, plus
//!   the lines that had to be cut or joined. A large read's run is a slice of the read buffer
//!   itself, which goes along with it; a small read's run is copied (a trickle of short reads
//!   must not hold, and be charged, a whole buffer each).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use super::budget::{Budget, CHUNK_OVERHEAD, Charge};
use super::clock::Clock;
use super::line::{Chunk, ChunkText, LineMark, Position, StreamKey, StreamSource};
use super::logfiles::{self, LogFile};
use super::readbuf::ReadBuffer;
use super::splitter::{LineSplitter, Piece};

/// Largest single read: the size of the read buffer the reader lends every tailer.
pub const CHUNK: usize = ReadBuffer::SIZE;

/// Reads at least this large hand their buffer over instead of copying their lines out.
const HAND_OVER: usize = CHUNK / 4;

/// How old a directory's modification time must be before an unchanged time is taken to mean
/// an unchanged directory. Timestamps are coarse (a clock tick): a file created in the same
/// tick as the previous change would leave the time as it was, but not once that tick lies
/// this far in the past.
const SETTLED: Duration = Duration::from_secs(1);

/// What a tailer needs to start: where the files are, whose they are, where to resume.
#[derive(Debug, Clone)]
pub struct TailerSpec {
    /// The allocation's `alloc/logs` directory.
    pub dir: PathBuf,
    pub source: Arc<StreamSource>,
    /// The acknowledged position from the checkpoint; `None` starts at the oldest file.
    pub resume: Option<Position>,
}

/// Why a poll returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TailState {
    /// Everything written so far has been read.
    CaughtUp,
    /// The memory budget has no room: reading waits for acknowledgements.
    Paused,
    /// The per-poll read limit was reached; there may be more.
    Limit,
    /// Draining finished: every file was read to its end. The tailer is done.
    Finished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollReport {
    pub state: TailState,
    pub bytes_read: u64,
    /// Bytes rotated away before they could be read (as last seen; a lower bound).
    pub lost_bytes: u64,
}

struct OpenFile {
    index: u64,
    inode: u64,
    file: File,
    offset: u64,
    /// A newer file exists: this one is complete once read to its end again.
    superseded: bool,
}

pub struct Tailer {
    dir: PathBuf,
    source: Arc<StreamSource>,
    splitter: LineSplitter,
    held: Charge,
    current: Option<OpenFile>,
    resume: Option<Position>,
    /// Every file seen by a scan and not yet passed, by index, with its last seen size: what a
    /// file rotated away before it was opened held (at least).
    seen: BTreeMap<u64, LogFile>,
    /// When the directory was last scanned.
    last_scan: Option<Instant>,
    /// The directory's modification time before the last scan, when that scan found nothing
    /// newer than the file being read (or no file at all) and the time was settled.
    quiet_since: Option<SystemTime>,
    /// How long a paused tailer goes without a scan. A saturated sink wakes the reader at
    /// every acknowledged batch; a scan each time costs more than the sizes it refreshes are
    /// worth.
    paused_rescan: Duration,
    draining: bool,
    finished: bool,
    emitted: u64,
    /// What the splitter made of the last read (kept for its allocation).
    pieces: Vec<Piece>,
}

impl Tailer {
    pub fn new(
        spec: TailerSpec,
        budget: &Arc<Budget>,
        max_line_bytes: usize,
        paused_rescan: Duration,
    ) -> Self {
        Self {
            dir: spec.dir,
            source: spec.source,
            splitter: LineSplitter::new(max_line_bytes),
            held: budget.charge(0),
            current: None,
            resume: spec.resume,
            seen: BTreeMap::new(),
            last_scan: None,
            quiet_since: None,
            paused_rescan,
            draining: false,
            finished: false,
            emitted: 0,
            pieces: Vec::new(),
        }
    }

    pub fn key(&self) -> &StreamKey {
        &self.source.key
    }

    pub fn source(&self) -> &Arc<StreamSource> {
        &self.source
    }

    /// From now on, reaching the end of the newest file finishes the stream (its task has
    /// stopped): the held partial line is shipped, marked unterminated.
    pub fn drain(&mut self) {
        self.draining = true;
    }

    pub fn has_open_file(&self) -> bool {
        self.current.is_some()
    }

    /// Lines emitted since this tailer started.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Reads what is there, up to `limit` bytes and as far as the budget allows, into
    /// `buf` (shared by all tailers), appending chunks to `out`.
    pub fn poll(
        &mut self,
        budget: &Arc<Budget>,
        clock: &dyn Clock,
        limit: usize,
        buf: &mut ReadBuffer,
        out: &mut Vec<Chunk>,
    ) -> io::Result<PollReport> {
        let mut report = PollReport {
            state: TailState::CaughtUp,
            bytes_read: 0,
            lost_bytes: 0,
        };
        if self.finished {
            report.state = TailState::Finished;
            return Ok(report);
        }
        if self.current.is_none() && !self.open_first()? {
            report.state = self.caught_up(budget, clock, out);
            return Ok(report);
        }
        loop {
            let remaining = limit.saturating_sub(report.bytes_read as usize);
            if remaining == 0 {
                report.state = TailState::Limit;
                return Ok(report);
            }
            let want = budget.readable(CHUNK.min(remaining), self.splitter.max_line());
            if want == 0 {
                // Keep the sizes of files Nomad may delete while reading waits.
                if self
                    .last_scan
                    .is_none_or(|at| at.elapsed() >= self.paused_rescan)
                {
                    self.rescan()?;
                }
                report.state = TailState::Paused;
                return Ok(report);
            }
            let n = self.read_chunk(want, buf, budget, clock, out)?;
            if n > 0 {
                report.bytes_read += n as u64;
                continue;
            }
            match self.at_end_of_file(budget, clock, out)? {
                EndOfFile::ReadAgain => {}
                EndOfFile::Switched { lost } => report.lost_bytes += lost,
                EndOfFile::Newest => {
                    report.state = self.caught_up(budget, clock, out);
                    return Ok(report);
                }
            }
        }
    }

    /// End of the newest file: done when draining, else waiting for more.
    fn caught_up(
        &mut self,
        budget: &Arc<Budget>,
        clock: &dyn Clock,
        out: &mut Vec<Chunk>,
    ) -> TailState {
        if !self.draining {
            return TailState::CaughtUp;
        }
        self.flush_unterminated(budget, clock, out);
        self.finished = true;
        self.current = None;
        TailState::Finished
    }

    /// Scans the directory. Returns its files and the directory's modification time from just
    /// before the scan, if settled (see [`SETTLED`]).
    fn rescan(&mut self) -> io::Result<(Vec<LogFile>, Option<SystemTime>)> {
        let settled = dir_mtime(&self.dir).filter(|m| {
            SystemTime::now()
                .duration_since(*m)
                .is_ok_and(|age| age >= SETTLED)
        });
        let files = logfiles::scan(&self.dir, &self.source.key.task, self.source.key.stream)?;
        self.last_scan = Some(Instant::now());
        self.quiet_since = None;
        for file in &files {
            self.seen.insert(file.index, *file);
        }
        Ok((files, settled))
    }

    /// Whether the directory is as it was at the last scan that found nothing new.
    fn dir_unchanged(&self) -> bool {
        self.quiet_since
            .is_some_and(|quiet| dir_mtime(&self.dir) == Some(quiet))
    }

    /// Opens the file to start from: the checkpointed one at its offset, else the oldest.
    /// `false` when the stream has no files yet.
    fn open_first(&mut self) -> io::Result<bool> {
        if self.dir_unchanged() {
            return Ok(false);
        }
        let (files, settled) = self.rescan()?;
        let Some(oldest) = files.first().copied() else {
            self.quiet_since = settled;
            return Ok(false);
        };
        let key = &self.source.key;
        let (start, offset) = match self.resume.take() {
            None => (oldest, 0),
            Some(p) => match files.iter().find(|f| f.index == p.file_index) {
                Some(f) if f.inode == p.inode && p.offset <= f.size => (*f, p.offset),
                Some(f) if f.inode == p.inode => {
                    tracing::warn!(stream = %key, file = f.index, offset = p.offset, size = f.size,
                        "checkpointed log file is shorter than its checkpoint; reading it again from the start");
                    (*f, 0)
                }
                Some(_) | None => {
                    let next = files
                        .iter()
                        .find(|f| f.index > p.file_index)
                        .unwrap_or(&oldest);
                    tracing::warn!(stream = %key, checkpointed_file = p.file_index, offset = p.offset,
                        resumed_at = next.index,
                        "log files were rotated away while they were not being read; what they held after the checkpoint is lost (size unknown)");
                    (*next, 0)
                }
            },
        };
        self.seen.retain(|index, _| *index >= start.index);
        match self.open(start, offset) {
            Ok(()) => Ok(true),
            // Purged between the scan and the open: the next poll scans again.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn open(&mut self, file: LogFile, offset: u64) -> io::Result<()> {
        let path = logfiles::file_path(
            &self.dir,
            &self.source.key.task,
            self.source.key.stream,
            file.index,
        );
        let mut handle = File::open(path)?;
        let inode = handle.metadata()?.ino();
        if offset > 0 {
            handle.seek(SeekFrom::Start(offset))?;
        }
        self.current = Some(OpenFile {
            index: file.index,
            inode,
            file: handle,
            offset,
            superseded: false,
        });
        Ok(())
    }

    /// Reads up to `want` bytes into `buf` and cuts what came into chunks; 0 at the end of
    /// the file.
    fn read_chunk(
        &mut self,
        want: usize,
        buf: &mut ReadBuffer,
        budget: &Arc<Budget>,
        clock: &dyn Clock,
        out: &mut Vec<Chunk>,
    ) -> io::Result<usize> {
        let Some(current) = self.current.as_mut() else {
            return Ok(0);
        };
        let space = &mut buf.space()[..want];
        let n = loop {
            match current.file.read(space) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            return Ok(0);
        }
        let (index, inode, start) = (current.index, current.inode, current.offset);
        current.offset += n as u64;

        let pieces = &mut self.pieces;
        self.splitter
            .feed(buf.filled(n), |piece| pieces.push(piece));
        // The held partial shrinks first: its bytes move into the chunks charged below.
        self.held.resize(self.splitter.held());
        let run_bytes: usize = self.pieces.iter().map(Piece::run_len).sum();
        // Only a full-size read hands its buffer over, so that the buffer's charge stays
        // within what the budget allowed for the read.
        let shared = (want == CHUNK && n >= HAND_OVER && run_bytes > 0).then(|| buf.hand_over(n));
        let last_run = self.pieces.iter().rposition(|p| p.run_len() > 0);
        let ts = clock.now();
        for (i, piece) in self.pieces.drain(..).enumerate() {
            let mut extra = 0;
            let (text, end_in_read) = match piece {
                Piece::Run { start, end, lines } => {
                    let text = match &shared {
                        Some(whole) => {
                            // The last run also carries what no run holds of the buffer: it
                            // is dropped last, with the buffer.
                            if Some(i) == last_run {
                                extra = CHUNK - run_bytes;
                            }
                            whole.slice(start..end)
                        }
                        // An exact-size copy: the memory a chunk keeps alive is its charge.
                        None => Bytes::copy_from_slice(&buf.filled(n)[start..end]),
                    };
                    (ChunkText::Lines { text, count: lines }, end)
                }
                Piece::Cut(cut) => (
                    ChunkText::Cut {
                        text: cut.text,
                        mark: cut.mark,
                    },
                    cut.end_in_chunk,
                ),
            };
            let end = Position {
                file_index: index,
                inode,
                offset: start + end_in_read as u64,
            };
            out.push(new_chunk(&self.source, budget, ts, text, end, extra));
            self.emitted += out.last().map_or(0, Chunk::line_count);
        }
        Ok(n)
    }

    fn at_end_of_file(
        &mut self,
        budget: &Arc<Budget>,
        clock: &dyn Clock,
        out: &mut Vec<Chunk>,
    ) -> io::Result<EndOfFile> {
        if self.dir_unchanged()
            && let Some(current) = self.current.as_mut()
        {
            check_truncation(current, &self.source.key)?;
            return Ok(EndOfFile::Newest);
        }
        let (files, settled) = self.rescan()?;
        let Some(current) = self.current.as_mut() else {
            return Ok(EndOfFile::Newest);
        };
        let Some(next) = files.iter().find(|f| f.index > current.index).copied() else {
            check_truncation(current, &self.source.key)?;
            self.quiet_since = settled;
            return Ok(EndOfFile::Newest);
        };
        if !current.superseded {
            // Nomad may have written the file's last bytes between the read that found its
            // end and the scan that found its successor.
            current.superseded = true;
            return Ok(EndOfFile::ReadAgain);
        }
        let from = current.index;
        let held = self.current.take();
        match self.open(next, 0) {
            Ok(()) => {}
            Err(e) => {
                self.current = held;
                // Purged between the scan and the open: the next end of file scans again and
                // counts it with whatever else is gone.
                return if e.kind() == io::ErrorKind::NotFound {
                    Ok(EndOfFile::ReadAgain)
                } else {
                    Err(e)
                };
            }
        }
        let mut lost = 0;
        let mut unseen = 0;
        for index in from + 1..next.index {
            match self.seen.get(&index) {
                Some(file) => lost += file.size,
                None => unseen += 1,
            }
        }
        self.seen.retain(|index, _| *index >= next.index);
        if next.index > from + 1 {
            // The rest of a held line was in a file that is gone.
            let end = held.as_ref().map(|c| Position {
                file_index: c.index,
                inode: c.inode,
                offset: c.offset,
            });
            self.flush_unterminated_at(end, budget, clock, out);
            tracing::warn!(stream = %self.source.key, from_file = from, to_file = next.index,
                lost_bytes = lost, files_never_seen = unseen,
                "log files were rotated away before they could be read");
        }
        Ok(EndOfFile::Switched { lost })
    }

    fn flush_unterminated(
        &mut self,
        budget: &Arc<Budget>,
        clock: &dyn Clock,
        out: &mut Vec<Chunk>,
    ) {
        let end = self.current.as_ref().map(|c| Position {
            file_index: c.index,
            inode: c.inode,
            offset: c.offset,
        });
        self.flush_unterminated_at(end, budget, clock, out);
    }

    /// Emits the held bytes of a line that will not be finished, ending at `end`.
    fn flush_unterminated_at(
        &mut self,
        end: Option<Position>,
        budget: &Arc<Budget>,
        clock: &dyn Clock,
        out: &mut Vec<Chunk>,
    ) {
        let (Some(end), Some(text)) = (end, self.splitter.finish()) else {
            return;
        };
        self.held.resize(0);
        let text = ChunkText::Cut {
            text,
            mark: LineMark::Unterminated,
        };
        out.push(new_chunk(&self.source, budget, clock.now(), text, end, 0));
        self.emitted += 1;
    }
}

enum EndOfFile {
    /// The file was superseded; read it to its end once more.
    ReadAgain,
    /// Moved on to the next file; `lost` bytes were in files skipped over.
    Switched { lost: u64 },
    /// This is the newest file.
    Newest,
}

/// A chunk of `source`, charged to `budget` for its text, its overhead and `extra` bytes.
fn new_chunk(
    source: &Arc<StreamSource>,
    budget: &Arc<Budget>,
    ts: std::time::SystemTime,
    text: ChunkText,
    end: Position,
    extra: usize,
) -> Chunk {
    let len = match &text {
        ChunkText::Lines { text, .. } | ChunkText::Cut { text, .. } => text.len(),
    };
    Chunk {
        ts,
        text,
        source: Arc::clone(source),
        end,
        _charge: budget.charge(len + CHUNK_OVERHEAD + extra),
    }
}

/// Nomad never truncates its files, but a file shorter than the read offset can only mean
/// it was; reading starts over rather than waiting forever at a dead offset.
/// The directory's modification time; `None` when it cannot be read (missing, for one).
fn dir_mtime(dir: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(dir).and_then(|m| m.modified()).ok()
}

fn check_truncation(current: &mut OpenFile, key: &StreamKey) -> io::Result<()> {
    let size = current.file.metadata()?.len();
    if size < current.offset {
        tracing::warn!(stream = %key, file = current.index, offset = current.offset, size,
            "log file was truncated; reading it again from the start");
        current.file.seek(SeekFrom::Start(0))?;
        current.offset = 0;
    }
    Ok(())
}

#[cfg(test)]
#[path = "tailer_tests.rs"]
mod tests;
