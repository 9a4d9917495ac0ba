//! Cuts a stream of bytes into lines. A line ends at `\n` (not included); bytes after the last
//! `\n` are held until the rest of the line arrives — in the same file or, after a rotation,
//! in the next one, since Nomad splits a line across files only when it does not fit. A line
//! longer than `max_line_bytes` is cut into parts of at most that size, on a UTF-8 character
//! boundary when there is one, each part marked. Whole lines inside a read are zero-copy
//! slices of it.

use bytes::{Bytes, BytesMut};
use memchr::memchr;

use super::line::LineMark;

/// One line (or part) cut from a chunk: its text, its mark, and how many bytes of the chunk
/// lie before the point just after it (where reading would resume).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub text: Bytes,
    pub mark: LineMark,
    pub end_in_chunk: usize,
}

#[derive(Debug)]
pub struct LineSplitter {
    /// The start of a line whose `\n` has not been read yet; never longer than `max_line`.
    partial: BytesMut,
    max_line: usize,
    /// Parts already emitted of the line being assembled.
    parts: u32,
}

impl LineSplitter {
    pub fn new(max_line: usize) -> Self {
        Self {
            partial: BytesMut::new(),
            max_line: max_line.max(4),
            parts: 0,
        }
    }

    /// Bytes held for an unfinished line.
    pub fn held(&self) -> usize {
        self.partial.len()
    }

    /// Cuts `chunk`, calling `emit` for every line or part it completes.
    pub fn feed(&mut self, chunk: &Bytes, mut emit: impl FnMut(Cut)) {
        let mut pos = 0;
        while pos < chunk.len() {
            let Some(rel) = memchr(b'\n', &chunk[pos..]) else {
                self.absorb(chunk, pos, chunk.len(), &mut emit);
                return;
            };
            let newline = pos + rel;
            let text = if self.partial.is_empty() && newline - pos <= self.max_line {
                chunk.slice(pos..newline)
            } else {
                self.absorb(chunk, pos, newline, &mut emit);
                self.partial.split().freeze()
            };
            let mark = if self.parts > 0 {
                LineMark::Split {
                    part: self.parts + 1,
                    last: true,
                }
            } else {
                LineMark::Whole
            };
            self.parts = 0;
            pos = newline + 1;
            emit(Cut {
                text,
                mark,
                end_in_chunk: pos,
            });
        }
    }

    /// The held bytes of a line that will never be finished (its task stopped, or the rest was
    /// rotated away), marked unterminated.
    pub fn finish(&mut self) -> Option<Bytes> {
        self.parts = 0;
        (!self.partial.is_empty()).then(|| self.partial.split().freeze())
    }

    /// Adds `chunk[from..to]` (no `\n` in it) to the held line, emitting parts while the line
    /// is longer than `max_line`.
    fn absorb(&mut self, chunk: &Bytes, mut from: usize, to: usize, emit: &mut impl FnMut(Cut)) {
        while self.partial.len() + (to - from) > self.max_line {
            let take = self.max_line - self.partial.len();
            self.partial.extend_from_slice(&chunk[from..from + take]);
            from += take;
            let cut = utf8_cut(&self.partial);
            let text = self.partial.split_to(cut).freeze();
            self.parts += 1;
            // The bytes kept back for the next part were read but not emitted: the resume
            // point lies before them (at worst at the chunk's start, which re-reads a little).
            let kept = self.partial.len();
            emit(Cut {
                text,
                mark: LineMark::Split {
                    part: self.parts,
                    last: false,
                },
                end_in_chunk: from.saturating_sub(kept),
            });
        }
        self.partial.extend_from_slice(&chunk[from..to]);
    }
}

/// How much of `bytes` (a full part) to emit without ending inside a UTF-8 character: all of
/// it, or up to the start of a last character that is incomplete. Bytes that are not UTF-8
/// are cut anywhere.
fn utf8_cut(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=len.min(4) {
        let byte = bytes[len - back];
        if byte & 0xc0 == 0x80 {
            continue; // a continuation byte: the character started further back
        }
        let needed = match byte {
            0xf0.. => 4,
            0xe0.. => 3,
            0xc0.. => 2,
            _ => 1,
        };
        return if needed > back && back < len {
            len - back
        } else {
            len
        };
    }
    len
}

#[cfg(test)]
#[path = "splitter_tests.rs"]
mod tests;
