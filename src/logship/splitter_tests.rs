use super::*;

/// Every line or part `feed` gives, runs taken apart: (text, mark, end in its read).
fn lines_of(read: &[u8], piece: Piece) -> Vec<(String, LineMark, usize)> {
    match piece {
        Piece::Cut(cut) => vec![(
            String::from_utf8_lossy(&cut.text).into_owned(),
            cut.mark,
            cut.end_in_chunk,
        )],
        Piece::Run { start, end, lines } => {
            assert_eq!(read[end - 1], b'\n', "a run ends with a newline");
            let mut out = Vec::new();
            let mut at = start;
            for line in read[start..end - 1].split(|b| *b == b'\n') {
                at += line.len() + 1;
                out.push((
                    String::from_utf8_lossy(line).into_owned(),
                    LineMark::Whole,
                    at,
                ));
            }
            assert_eq!(out.len(), lines as usize, "a run counts its lines");
            out
        }
    }
}

fn cut_all(max: usize, chunks: &[&[u8]]) -> (Vec<(String, LineMark, usize)>, usize) {
    let mut splitter = LineSplitter::new(max);
    let mut out = Vec::new();
    for chunk in chunks {
        splitter.feed(chunk, |piece| out.extend(lines_of(chunk, piece)));
    }
    (out, splitter.held())
}

#[test]
fn whole_lines_of_a_read_come_as_one_run() {
    let mut pieces = Vec::new();
    LineSplitter::new(100).feed(b"a\nbb\n\nccc", |p| pieces.push(p));
    assert_eq!(
        pieces,
        vec![Piece::Run {
            start: 0,
            end: 6,
            lines: 3
        }]
    );
    let mut pieces = Vec::new();
    let mut splitter = LineSplitter::new(4);
    splitter.feed(b"x", |p| pieces.push(p));
    splitter.feed(b"y\nab\nabcdef\nz\n", |p| pieces.push(p));
    let kinds: Vec<_> = pieces
        .iter()
        .map(|p| match p {
            Piece::Run { start, end, .. } => format!("run {start}..{end}"),
            Piece::Cut(c) => format!("cut {}", String::from_utf8_lossy(&c.text)),
        })
        .collect();
    assert_eq!(
        kinds,
        vec!["cut xy", "run 2..5", "cut abcd", "cut ef", "run 12..14"]
    );
}

#[test]
fn whole_lines_and_a_held_partial() {
    let (lines, held) = cut_all(100, &[b"a\nbb\n\nccc"]);
    assert_eq!(
        lines,
        vec![
            ("a".into(), LineMark::Whole, 2),
            ("bb".into(), LineMark::Whole, 5),
            ("".into(), LineMark::Whole, 6),
        ]
    );
    assert_eq!(held, 3);
}

#[test]
fn a_partial_line_is_joined_with_the_next_chunk() {
    let (lines, held) = cut_all(100, &[b"hel", b"lo\nwor", b"ld\n"]);
    assert_eq!(
        lines,
        vec![
            ("hello".into(), LineMark::Whole, 3),
            ("world".into(), LineMark::Whole, 3),
        ]
    );
    assert_eq!(held, 0);
}

#[test]
fn long_lines_are_split_into_marked_parts() {
    let (lines, _) = cut_all(4, &[b"abcdefghij\nxyz\nabcd\n"]);
    let split = |part, last| LineMark::Split { part, last };
    assert_eq!(
        lines,
        vec![
            ("abcd".into(), split(1, false), 4),
            ("efgh".into(), split(2, false), 8),
            ("ij".into(), split(3, true), 11),
            ("xyz".into(), LineMark::Whole, 15),
            ("abcd".into(), LineMark::Whole, 20),
        ]
    );
}

#[test]
fn long_lines_across_chunks_keep_their_part_numbers() {
    let (lines, held) = cut_all(4, &[b"abc", b"defg", b"hi\n"]);
    let split = |part, last| LineMark::Split { part, last };
    assert_eq!(
        lines,
        vec![
            ("abcd".into(), split(1, false), 1),
            ("efgh".into(), split(2, false), 1),
            ("i".into(), split(3, true), 3),
        ]
    );
    assert_eq!(held, 0);
}

#[test]
fn parts_end_on_utf8_character_boundaries() {
    // "aé€x" = 61 c3a9 e282ac 78: a cut at 4 bytes would split "€".
    let (lines, _) = cut_all(4, &["aé€x\n".as_bytes()]);
    let texts: Vec<&str> = lines.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(texts, vec!["aé", "€x"]);
    // The resume point of the first part lies before the byte kept for the second.
    assert_eq!(lines[0].2, 3);
}

#[test]
fn finish_returns_the_held_bytes_once() {
    let mut splitter = LineSplitter::new(16);
    splitter.feed(b"done\nhalf", |_| {});
    assert_eq!(splitter.finish(), Some(Bytes::from_static(b"half")));
    assert_eq!(splitter.finish(), None);
}

proptest::proptest! {
    /// However the input is chunked, the parts (and what is held at the end) give back the
    /// input, no part is longer than the limit, and no part ends inside a character.
    #[test]
    fn any_chunking_gives_back_the_input(
        text in "[a-zé€\n]{0,200}",
        cuts in proptest::collection::vec(0usize..200, 0..8),
        max in 4usize..20,
    ) {
        let bytes = text.as_bytes();
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        points.push(0);
        points.push(bytes.len());
        points.sort_unstable();
        let chunks: Vec<&[u8]> = points.windows(2).map(|w| &bytes[w[0]..w[1]]).collect();
        let mut splitter = LineSplitter::new(max);
        let mut rebuilt = Vec::new();
        for chunk in chunks {
            splitter.feed(chunk, |piece| {
                for (text, mark, _) in lines_of(chunk, piece) {
                    assert!(text.len() <= max);
                    rebuilt.extend_from_slice(text.as_bytes());
                    if matches!(mark, LineMark::Whole | LineMark::Split { last: true, .. }) {
                        rebuilt.push(b'\n');
                    }
                }
            });
        }
        rebuilt.extend_from_slice(&splitter.finish().unwrap_or_default());
        proptest::prop_assert_eq!(String::from_utf8(rebuilt).unwrap(), text);
    }
}
