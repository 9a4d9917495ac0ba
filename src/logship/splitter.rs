//! Cuts a stream of bytes into lines. A line ends at `\n` (not included); bytes after the last
//! `\n` are held until the rest of the line arrives — in the same file or, after a rotation,
//! in the next one, since Nomad splits a line across files only when it does not fit. A line
//! longer than `max_line_bytes` is cut into parts of at most that size, on a UTF-8 character
//! boundary when there is one, each part marked. Whole lines inside a read come out as runs
//! (ranges of the read), not one by one: the bulk of a log is never handled line by line here.

use bytes::{Buf, Bytes, BytesMut};
use memchr::memchr;

use super::line::LineMark;

/// The smallest `max_line_bytes` honoured: a part must be able to hold any UTF-8 character.
pub const MIN_LINE: usize = 4;

/// One line (or part) cut from a read: its text, its mark, and how many bytes of the read
/// lie before the point just after it (where reading would resume).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub text: Bytes,
    pub mark: LineMark,
    pub end_in_chunk: usize,
}

/// What a read is cut into, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// `read[start..end]` is `lines` whole lines, each with its `\n`, none longer than the limit.
    Run {
        start: usize,
        end: usize,
        lines: u32,
    },
    /// A line that is not a plain slice of the read: joined with held bytes, or a part.
    Cut(Cut),
}

impl Piece {
    /// Bytes of a run (0 for a cut line).
    pub fn run_len(&self) -> usize {
        match self {
            Piece::Run { start, end, .. } => end - start,
            Piece::Cut(_) => 0,
        }
    }
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
            max_line: max_line.max(MIN_LINE),
            parts: 0,
        }
    }

    /// The longest line (or part) it emits.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Bytes held for an unfinished line.
    pub fn held(&self) -> usize {
        self.partial.len()
    }

    /// Cuts `read`, calling `emit` for every run of whole lines and every other line or part
    /// it completes.
    pub fn feed(&mut self, read: &[u8], mut emit: impl FnMut(Piece)) {
        let mut pos = 0;
        let (mut run_start, mut run_lines) = (0, 0u32);
        let flush = |emit: &mut dyn FnMut(Piece), start, end, lines: &mut u32| {
            if *lines > 0 {
                emit(Piece::Run {
                    start,
                    end,
                    lines: *lines,
                });
                *lines = 0;
            }
        };
        while pos < read.len() {
            let Some(rel) = memchr(b'\n', &read[pos..]) else {
                flush(&mut emit, run_start, pos, &mut run_lines);
                self.absorb(read, pos, read.len(), &mut emit);
                return;
            };
            let newline = pos + rel;
            if self.partial.is_empty() && rel <= self.max_line {
                if run_lines == 0 {
                    run_start = pos;
                }
                run_lines += 1;
                pos = newline + 1;
                continue;
            }
            flush(&mut emit, run_start, pos, &mut run_lines);
            self.absorb(read, pos, newline, &mut emit);
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
            emit(Piece::Cut(Cut {
                text: self.take_held(self.partial.len()),
                mark,
                end_in_chunk: pos,
            }));
        }
        flush(&mut emit, run_start, pos, &mut run_lines);
    }

    /// The held bytes of a line that will never be finished (its task stopped, or the rest was
    /// rotated away), marked unterminated.
    pub fn finish(&mut self) -> Option<Bytes> {
        self.parts = 0;
        (!self.partial.is_empty()).then(|| self.take_held(self.partial.len()))
    }

    /// The first `n` held bytes, as an exact-size copy: the memory a cut line keeps alive is
    /// what is charged for it, and the held buffer keeps its allocation for the next line.
    fn take_held(&mut self, n: usize) -> Bytes {
        let text = Bytes::copy_from_slice(&self.partial[..n]);
        self.partial.advance(n);
        text
    }

    /// Adds `chunk[from..to]` (no `\n` in it) to the held line, emitting parts while the line
    /// is longer than `max_line`.
    fn absorb(&mut self, chunk: &[u8], mut from: usize, to: usize, emit: &mut impl FnMut(Piece)) {
        while self.partial.len() + (to - from) > self.max_line {
            let take = self.max_line - self.partial.len();
            self.partial.extend_from_slice(&chunk[from..from + take]);
            from += take;
            let cut = utf8_cut(&self.partial);
            let text = self.take_held(cut);
            self.parts += 1;
            // The bytes kept back for the next part were read but not emitted: the resume
            // point lies before them (at worst at the chunk's start, which re-reads a little).
            let kept = self.partial.len();
            emit(Piece::Cut(Cut {
                text,
                mark: LineMark::Split {
                    part: self.parts,
                    last: false,
                },
                end_in_chunk: from.saturating_sub(kept),
            }));
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
