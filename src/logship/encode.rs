//! The JSON form of a shipped line, shared by the `file` and `http` sinks (and the line body of
//! `loki`): `{"ts":"<RFC 3339>","line":"…","tags":{…}}`, plus `"split":{"part":N,"last":B}` on
//! the parts of an over-long line and `"unterminated":true` on a last line without `\n`.
//! Hand-written because it runs once per line: tags come pre-encoded per stream, timestamps
//! are formatted once per read, and string escaping copies unescaped runs whole.

use std::time::SystemTime;

use super::batch::LineRef;
use super::line::{Chunk, ChunkText, LineMark};

/// Whether `bytes` can be copied as is: ASCII (so valid UTF-8) with nothing to escape. Most
/// log lines can; the inner loop has no early exit so that it compiles to vector instructions.
fn plain_ascii(bytes: &[u8]) -> bool {
    !bytes.chunks(64).any(|chunk| {
        chunk.iter().fold(false, |acc, &b| {
            acc | !(0x20..0x80).contains(&b) | (b == b'"') | (b == b'\\')
        })
    })
}

/// Whether every line of a run (lines with their `\n`) can be copied as is: the same test as
/// [`plain_ascii`], newlines allowed — one pass over the whole run instead of one per line.
fn plain_ascii_lines(bytes: &[u8]) -> bool {
    !bytes.chunks(64).any(|chunk| {
        chunk.iter().fold(false, |acc, &b| {
            acc | (!(0x20..0x80).contains(&b) & (b != b'\n')) | (b == b'"') | (b == b'\\')
        })
    })
}

/// Per byte: 0 when it is written as is, else the character after `\` (`u` for `\u00XX`).
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes `bytes` as a JSON string. Bytes that are not UTF-8 become U+FFFD, as JSON has no
/// way to carry them.
pub fn write_json_str(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    if plain_ascii(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => escape_into(out, text.as_bytes()),
        Err(_) => escape_into(out, String::from_utf8_lossy(bytes).as_bytes()),
    }
    out.push(b'"');
}

fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let escape = ESCAPE[usize::from(byte)];
        if escape == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if escape == b'u' {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        } else {
            out.push(b'\\');
            out.push(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// RFC 3339 timestamps, remembering the last one: lines of one read share their time.
#[derive(Debug, Default)]
pub struct TsCache {
    last: Option<SystemTime>,
    text: String,
    micros: bool,
}

impl TsCache {
    /// Nanosecond precision, for JSON.
    pub fn nanos() -> Self {
        Self::default()
    }

    /// Microsecond precision: RFC 5424 allows at most six fractional digits.
    pub fn micros() -> Self {
        Self {
            micros: true,
            ..Self::default()
        }
    }

    pub fn format(&mut self, ts: SystemTime) -> &str {
        if self.last != Some(ts) {
            self.text = if self.micros {
                humantime::format_rfc3339_micros(ts).to_string()
            } else {
                humantime::format_rfc3339_nanos(ts).to_string()
            };
            self.last = Some(ts);
        }
        &self.text
    }
}

/// Writes the fields that mark a cut line (none for a whole one), each with a leading comma.
pub fn write_mark_fields(out: &mut Vec<u8>, mark: LineMark) {
    match mark {
        LineMark::Whole => {}
        LineMark::Split { part, last } => {
            out.extend_from_slice(b",\"split\":{\"part\":");
            out.extend_from_slice(part.to_string().as_bytes());
            out.extend_from_slice(if last {
                b",\"last\":true}"
            } else {
                b",\"last\":false}"
            });
        }
        LineMark::Unterminated => out.extend_from_slice(b",\"unterminated\":true"),
    }
}

/// Appends one line in the JSON-lines format, `\n` included.
pub fn write_json_line(out: &mut Vec<u8>, line: &LineRef<'_>, ts: &mut TsCache) {
    out.extend_from_slice(b"{\"ts\":\"");
    out.extend_from_slice(ts.format(line.ts).as_bytes());
    out.extend_from_slice(b"\",\"line\":");
    write_json_str(out, line.text);
    out.extend_from_slice(b",\"tags\":");
    out.extend_from_slice(line.source.tags.json().as_bytes());
    write_mark_fields(out, line.mark);
    out.extend_from_slice(b"}\n");
}

/// Bytes of a JSON line besides its text and tags, at most: `{"ts":"` with a nanosecond RFC
/// 3339 time, `","line":""`, `,"tags":`, the longest mark fields and `}\n`.
const JSON_LINE_FRAME: usize = 128;

/// The most bytes [`write_json_chunk`] can append for `chunk` (every text byte escaped).
pub fn json_chunk_bound(chunk: &Chunk) -> usize {
    let per_line = JSON_LINE_FRAME + chunk.source.tags.json().len();
    chunk.text_bytes() * 6 + chunk.line_count() as usize * per_line
}

/// Appends every line of `chunk` in the JSON-lines format, exactly as [`write_json_line`]
/// would one by one, with what its lines share (time, tags) formatted once.
pub fn write_json_chunk(out: &mut Vec<u8>, chunk: &Chunk, ts: &mut TsCache) {
    let mut head = Vec::with_capacity(64);
    head.extend_from_slice(b"{\"ts\":\"");
    head.extend_from_slice(ts.format(chunk.ts).as_bytes());
    head.extend_from_slice(b"\",\"line\":");
    let mut tail = Vec::with_capacity(chunk.source.tags.json().len() + 16);
    tail.extend_from_slice(b",\"tags\":");
    tail.extend_from_slice(chunk.source.tags.json().as_bytes());
    out.reserve(chunk.text_bytes() + chunk.line_count() as usize * (head.len() + tail.len() + 4));
    if let ChunkText::Lines { text, .. } = &chunk.text
        && plain_ascii_lines(text)
    {
        // Nothing to escape and no marks: each line is copied between its frame.
        head.push(b'"');
        tail.splice(..0, *b"\"");
        tail.extend_from_slice(b"}\n");
        let mut rest = &text[..];
        while let Some(end) = memchr::memchr(b'\n', rest) {
            out.extend_from_slice(&head);
            out.extend_from_slice(&rest[..end]);
            out.extend_from_slice(&tail);
            rest = &rest[end + 1..];
        }
        return;
    }
    for (text, mark) in chunk.lines() {
        out.extend_from_slice(&head);
        write_json_str(out, text);
        out.extend_from_slice(&tail);
        write_mark_fields(out, mark);
        out.extend_from_slice(b"}\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn json(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        write_json_str(&mut out, bytes);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_what_json_requires_and_nothing_else() {
        assert_eq!(json(b"plain"), r#""plain""#);
        assert_eq!(json(b"a\"b\\c\nd\te\x01"), r#""a\"b\\c\nd\te\u0001""#);
        assert_eq!(json("grüße ✓".as_bytes()), "\"grüße ✓\"");
        assert_eq!(json(b"\xffok"), "\"\u{fffd}ok\"");
        for sample in ["x\u{7f}y", "\u{1b}[31mred", "tab\there"] {
            let parsed: String = serde_json::from_str(&json(sample.as_bytes())).unwrap();
            assert_eq!(parsed, sample);
        }
    }

    fn chunk(text: ChunkText) -> Chunk {
        use crate::logship::line::{Position, Stream, StreamKey, StreamSource};
        use crate::logship::tags::{StreamTags, TaskTags};
        use std::sync::Arc;
        let tags = TaskTags {
            task: "web".into(),
            alloc_id: "a1".into(),
            ..TaskTags::default()
        };
        let source = StreamSource {
            key: StreamKey {
                alloc_id: Arc::from("a1"),
                task: Arc::from("web"),
                stream: Stream::Stderr,
            },
            tags: StreamTags::new(&tags, Stream::Stderr),
            serial: 1,
        };
        Chunk {
            ts: UNIX_EPOCH + Duration::new(1_700_000_000, 5),
            text,
            source: Arc::new(source),
            end: Position {
                file_index: 0,
                inode: 1,
                offset: 2,
            },
            _charge: crate::logship::Budget::new(1 << 20).charge(0),
        }
    }

    fn line_by_line(chunk: &Chunk) -> Vec<u8> {
        let mut out = Vec::new();
        let mut ts = TsCache::nanos();
        for line in chunk.line_refs() {
            write_json_line(&mut out, &line, &mut ts);
        }
        out
    }

    #[test]
    fn a_chunk_encodes_as_its_lines_do_and_within_its_bound() {
        use bytes::Bytes;
        let chunks = [
            chunk(ChunkText::Lines {
                text: Bytes::from_static(b"GET /x 200\n\nplain ascii ~ {} []\n"),
                count: 3,
            }),
            chunk(ChunkText::Lines {
                text: Bytes::from_static(b"plain\n\x01\x02\"\\\xff\n\n"),
                count: 3,
            }),
            chunk(ChunkText::Cut {
                text: Bytes::from_static(b"\x01\x01\x01\x01"),
                mark: LineMark::Split {
                    part: u32::MAX,
                    last: false,
                },
            }),
        ];
        for chunk in &chunks {
            let mut out = Vec::new();
            write_json_chunk(&mut out, chunk, &mut TsCache::nanos());
            assert_eq!(out, line_by_line(chunk));
            assert!(out.len() <= json_chunk_bound(chunk), "{} bytes", out.len());
            let lines: Vec<serde_json::Value> = out
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).unwrap())
                .collect();
            assert_eq!(lines.len() as u64, chunk.line_count());
        }
    }

    #[test]
    fn only_runs_without_anything_to_escape_are_plain() {
        assert!(plain_ascii_lines(b"a b\n~\n\n"));
        for bad in [&b"a\"b\n"[..], b"a\\b\n", b"tab\there\n", "é\n".as_bytes()] {
            assert!(!plain_ascii_lines(bad), "{bad:?}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let ts = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        assert_eq!(
            TsCache::nanos().format(ts),
            "2023-11-14T22:13:20.123456789Z"
        );
        assert_eq!(TsCache::micros().format(ts), "2023-11-14T22:13:20.123456Z");
    }
}
