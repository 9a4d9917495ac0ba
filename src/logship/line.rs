//! One log line as it travels from a tailer to the sinks: its bytes, when it was read, which
//! stream it came from (with that stream's tags), how it was cut, and the file position just
//! after it — the checkpoint it earns once every sink acknowledged it.

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

/// One line read from a task's log files.
#[derive(Clone)]
pub struct LogLine {
    /// When the tailer read it (Nomad's files carry no timestamps).
    pub ts: SystemTime,
    pub text: Bytes,
    pub mark: LineMark,
    pub source: Arc<StreamSource>,
    /// Position just after this line (its `\n` included): where reading resumes once this
    /// line is acknowledged.
    pub end: Position,
    /// Holds this line's share of the memory budget until the line is dropped.
    pub(crate) _charge: Arc<Charge>,
}

impl fmt::Debug for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogLine")
            .field("stream", &self.source.key)
            .field("text", &String::from_utf8_lossy(&self.text))
            .field("mark", &self.mark)
            .field("end", &self.end)
            .finish()
    }
}
