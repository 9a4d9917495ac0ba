//! Lines as they travel from a tailer to the sinks: in chunks — what one read of one stream
//! gave, with when it was read, which stream it came from (with that stream's tags), and the
//! file position just after it, the checkpoint it earns once every sink acknowledged it.
//! Lines are not objects of their own: a chunk's lines are found again where they are used.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use super::budget::Charge;
use super::tags::StreamTags;

/// A task's output stream, as Nomad names its log files (`<task>.stdout.N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub const ALL: [Stream; 2] = [Stream::Stdout, Stream::Stderr];

    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "stdout" => Some(Stream::Stdout),
            "stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Names one tailed stream: an allocation's task and one of its two outputs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    pub alloc_id: Arc<str>,
    pub task: Arc<str>,
    pub stream: Stream,
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.alloc_id, self.task, self.stream)
    }
}

/// Where reading stands in a stream: a file (Nomad's index in its name, and its inode, which
/// tells a file from a later one with the same name) and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    pub file_index: u64,
    pub inode: u64,
    pub offset: u64,
}

/// How a line was cut from the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineMark {
    /// A whole line; its `\n` is not part of the text.
    Whole,
    /// One part of a line longer than `max_line_bytes`; `part` counts from 1 and `last` is set
    /// on the part that ended with the `\n`.
    Split { part: u32, last: bool },
    /// The stream ended (its task stopped) without a final `\n`.
    Unterminated,
}

/// What every line of one tailed stream shares: its key and tags, and a serial number that
/// tells this tracking of the stream from an earlier one of the same key.
#[derive(Debug)]
pub struct StreamSource {
    pub key: StreamKey,
    pub tags: StreamTags,
    pub serial: u64,
}

/// What a chunk holds.
#[derive(Debug, Clone)]
pub enum ChunkText {
    /// Whole lines, each followed by its `\n`, none longer than `max_line_bytes`: the bulk of
    /// what is read, kept as one buffer however many lines it has.
    Lines { text: Bytes, count: u32 },
    /// One line cut as its mark says (its `\n`, if any, not included): a line joined across
    /// reads, a part of an over-long line, or an unterminated last line.
    Cut { text: Bytes, mark: LineMark },
}

/// Lines read from one stream at one time, shipped and acknowledged together.
pub struct Chunk {
    /// When the tailer read them (Nomad's files carry no timestamps).
    pub ts: SystemTime,
    pub text: ChunkText,
    pub source: Arc<StreamSource>,
    /// Position just after the chunk's last line (its `\n` included): where reading resumes
    /// once this chunk is acknowledged.
    pub end: Position,
    /// Holds this chunk's share of the memory budget until the chunk is dropped.
    pub(crate) _charge: Charge,
}

impl Chunk {
    /// How many lines (or parts) it holds.
    pub fn line_count(&self) -> u64 {
        match &self.text {
            ChunkText::Lines { count, .. } => u64::from(*count),
            ChunkText::Cut { .. } => 1,
        }
    }

    /// Bytes of line text, a line's `\n` counted as one.
    pub fn text_bytes(&self) -> usize {
        match &self.text {
            ChunkText::Lines { text, .. } => text.len(),
            ChunkText::Cut { text, .. } => text.len() + 1,
        }
    }

    /// Its lines in order, without their `\n`.
    pub fn lines(&self) -> ChunkLines<'_> {
        match &self.text {
            ChunkText::Lines { text, .. } => ChunkLines::Run(text),
            ChunkText::Cut { text, mark } => ChunkLines::One(Some((text, *mark))),
        }
    }
}

/// The lines of a [`Chunk`]: (text, mark).
pub enum ChunkLines<'a> {
    /// The rest of a run of `\n`-terminated lines.
    Run(&'a [u8]),
    One(Option<(&'a [u8], LineMark)>),
}

impl<'a> Iterator for ChunkLines<'a> {
    type Item = (&'a [u8], LineMark);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            ChunkLines::Run(rest) => {
                // Every line of a run ends with `\n`, so the last one leaves the rest empty.
                let end = memchr::memchr(b'\n', rest)?;
                let line = &rest[..end];
                *rest = &rest[end + 1..];
                Some((line, LineMark::Whole))
            }
            ChunkLines::One(line) => line.take(),
        }
    }
}

impl fmt::Debug for Chunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<_> = self
            .lines()
            .map(|(text, mark)| (String::from_utf8_lossy(text), mark))
            .collect();
        f.debug_struct("Chunk")
            .field("stream", &self.source.key)
            .field("lines", &lines)
            .field("end", &self.end)
            .finish()
    }
}
