use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::logship::line::Stream;
use crate::logship::readbuf::BufferPool;
use crate::logship::tags::{StreamTags, TaskTags};

#[derive(Debug)]
struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> std::time::SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }
}

fn source() -> Arc<StreamSource> {
    let tags = TaskTags {
        task: "web".into(),
        alloc_id: "a1".into(),
        ..TaskTags::default()
    };
    Arc::new(StreamSource {
        key: StreamKey {
            alloc_id: Arc::from("a1"),
            task: Arc::from("web"),
            stream: Stream::Stdout,
        },
        tags: StreamTags::new(&tags, Stream::Stdout),
        serial: 1,
    })
}

fn append(dir: &Path, index: u64, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("web.stdout.{index}")))
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn tailer(dir: &Path, resume: Option<Position>) -> Tailer {
    let spec = TailerSpec {
        dir: dir.to_path_buf(),
        source: source(),
        resume,
    };
    // Paused tailers scan every time, so that a test sees each scan's effect at once.
    Tailer::new(spec, &Budget::new(1 << 30), 1024, Duration::ZERO)
}

/// One poll: the lines read, the report, and the chunks they came in.
fn poll(t: &mut Tailer, budget: &Arc<Budget>) -> (Vec<String>, PollReport, Vec<Chunk>) {
    let mut out = Vec::new();
    let mut buf = ReadBuffer::new(Arc::new(BufferPool::default()));
    let report = t
        .poll(budget, &FixedClock, usize::MAX, &mut buf, &mut out)
        .unwrap();
    let texts = out
        .iter()
        .flat_map(Chunk::lines)
        .map(|(text, _)| String::from_utf8_lossy(text).into_owned())
        .collect();
    (texts, report, out)
}

fn marks(chunks: &[Chunk]) -> Vec<LineMark> {
    chunks
        .iter()
        .flat_map(Chunk::lines)
        .map(|(_, m)| m)
        .collect()
}

#[test]
fn follows_appends_and_holds_a_partial_line() {
    let dir = tempfile::tempdir().unwrap();
    let budget = Budget::new(1 << 30);
    let mut t = tailer(dir.path(), None);
    assert_eq!(poll(&mut t, &budget).1.state, TailState::CaughtUp);
    append(dir.path(), 0, "one\ntw");
    let (lines, report, _) = poll(&mut t, &budget);
    assert_eq!(lines, vec!["one"]);
    assert_eq!(report.state, TailState::CaughtUp);
    append(dir.path(), 0, "o\n");
    assert_eq!(poll(&mut t, &budget).0, vec!["two"]);
}

#[test]
fn rotation_moves_to_the_next_file_and_joins_a_split_line() {
    let dir = tempfile::tempdir().unwrap();
    let budget = Budget::new(1 << 30);
    append(dir.path(), 0, "a\nb\nhal");
    let mut t = tailer(dir.path(), None);
    assert_eq!(poll(&mut t, &budget).0, vec!["a", "b"]);
    append(dir.path(), 1, "f\nc\n");
    let (lines, _, out) = poll(&mut t, &budget);
    assert_eq!(lines, vec!["half", "c"]);
    assert_eq!(out[0].end.file_index, 1);
    assert_eq!(out[0].end.offset, 2);
    assert_eq!(out[1].end.offset, 4);
}

#[test]
fn files_rotated_away_unread_are_counted_as_lost() {
    let dir = tempfile::tempdir().unwrap();
    let budget = Budget::new(1 << 30);
    append(dir.path(), 0, "a\n");
    let mut t = tailer(dir.path(), None);
    assert_eq!(poll(&mut t, &budget).0, vec!["a"]);
    append(dir.path(), 1, "lost-1\n");
    // Seen by the scan at the end of file 0 while reading waits for budget.
    let full = Budget::new(0);
    assert_eq!(poll(&mut t, &full).1.state, TailState::Paused);
    fs::remove_file(dir.path().join("web.stdout.1")).unwrap();
    append(dir.path(), 2, "c\n");
    let (lines, report, _) = poll(&mut t, &budget);
    assert_eq!(lines, vec!["c"]);
    assert_eq!(report.lost_bytes, 7);
}

#[test]
fn a_file_deleted_while_open_is_still_read_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let budget = Budget::new(1 << 30);
    append(dir.path(), 0, "a\n");
    let mut t = tailer(dir.path(), None);
    assert_eq!(poll(&mut t, &budget).0, vec!["a"]);
    append(dir.path(), 0, "b\n");
    append(dir.path(), 1, "c\n");
    fs::remove_file(dir.path().join("web.stdout.0")).unwrap();
    let (lines, report, _) = poll(&mut t, &budget);
    assert_eq!(lines, vec!["b", "c"]);
    assert_eq!(report.lost_bytes, 0);
}

#[test]
fn resumes_at_a_checkpoint_and_after_a_gone_file_at_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let budget = Budget::new(1 << 30);
    append(dir.path(), 3, "old\nnew\n");
    let inode = std::os::unix::fs::MetadataExt::ino(
        &fs::metadata(dir.path().join("web.stdout.3")).unwrap(),
    );
    let at = |offset| Position {
        file_index: 3,
        inode,
        offset,
    };
    assert_eq!(
        poll(&mut tailer(dir.path(), Some(at(4))), &budget).0,
        vec!["new"]
    );
    // Same name, other inode: not the checkpointed file.
    let other = Position {
        inode: inode + 1,
        ..at(4)
    };
    append(dir.path(), 4, "next\n");
    assert_eq!(
        poll(&mut tailer(dir.path(), Some(other)), &budget).0,
        vec!["next"]
    );
}

#[test]
fn draining_ships_the_held_partial_line_and_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let budget = Budget::new(1 << 30);
    append(dir.path(), 0, "a\nno newline");
    let mut t = tailer(dir.path(), None);
    t.drain();
    let (lines, report, out) = poll(&mut t, &budget);
    assert_eq!(lines, vec!["a", "no newline"]);
    assert_eq!(marks(&out), vec![LineMark::Whole, LineMark::Unterminated]);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].end.offset, 12);
    assert_eq!(report.state, TailState::Finished);
    assert_eq!(t.emitted(), 2);
}

#[test]
fn reading_stops_at_the_memory_budget_and_charges_what_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let line = "x".repeat(99) + "\n";
    append(dir.path(), 0, &line.repeat(1000));
    let budget = Budget::new(crate::logship::budget::worst_case_cost(1000, 1024));
    let mut t = tailer(dir.path(), None);
    let (lines, report, out) = poll(&mut t, &budget);
    assert_eq!(report.state, TailState::Paused);
    assert!(!lines.is_empty() && lines.len() < 1000, "{}", lines.len());
    assert!(budget.used() <= budget.cap());
    assert!(budget.used() >= lines.len() * 100);
    assert!(
        out.len() < lines.len(),
        "lines come in chunks, not one by one"
    );
    drop(out);
    assert_eq!(budget.used(), 0);
    let (more, _, _) = poll(&mut t, &budget);
    assert!(!more.is_empty());
}

#[test]
fn a_large_read_hands_its_buffer_over_and_charges_all_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let budget = Budget::new(1 << 30);
    let line = "y".repeat(99) + "\n";
    append(dir.path(), 0, &(line.repeat(CHUNK / 100 + 1) + "tail"));
    let pool = Arc::new(BufferPool::default());
    let mut buf = ReadBuffer::new(Arc::clone(&pool));
    let mut t = tailer(dir.path(), None);
    let mut out = Vec::new();
    t.poll(&budget, &FixedClock, CHUNK, &mut buf, &mut out)
        .unwrap();
    let lines: usize = out.iter().map(|c| c.line_count() as usize).sum();
    assert_eq!(lines, CHUNK / 100, "whole lines of the first read");
    assert_eq!(out.len(), 1, "one run");
    // The whole buffer is charged (plus the chunk's overhead), not just the lines.
    assert!(budget.used() >= CHUNK, "{}", budget.used());
    assert_eq!(pool.idle(), 0);
    drop(out);
    assert_eq!(
        pool.idle(),
        1,
        "the buffer is back once its lines are dropped"
    );
    assert_eq!(budget.used(), 0);
}

/// Sets the directory's modification time to `time`.
fn set_dir_time(dir: &Path, time: SystemTime) {
    File::open(dir).unwrap().set_modified(time).unwrap();
}

#[test]
fn an_idle_stream_looks_at_its_directory_time_instead_of_scanning() {
    let dir = tempfile::tempdir().unwrap();
    let budget = Budget::new(1 << 30);
    append(dir.path(), 0, "a\n");
    let settled = SystemTime::now() - Duration::from_secs(60);
    set_dir_time(dir.path(), settled);
    let mut t = tailer(dir.path(), None);
    assert_eq!(poll(&mut t, &budget).0, vec!["a"]);
    // A new file whose creation left the directory's time as it was is not looked for...
    append(dir.path(), 1, "b\n");
    set_dir_time(dir.path(), settled);
    assert!(poll(&mut t, &budget).0.is_empty(), "no scan");
    // ...while the file being read is still followed,
    append(dir.path(), 0, "c\n");
    set_dir_time(dir.path(), settled);
    assert_eq!(poll(&mut t, &budget).0, vec!["c"]);
    // and any other time of the directory brings a scan, which finds the new file.
    set_dir_time(dir.path(), settled + Duration::from_secs(1));
    assert_eq!(poll(&mut t, &budget).0, vec!["b"]);
}

#[test]
fn a_directory_changed_within_the_last_second_is_scanned_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let budget = Budget::new(1 << 30);
    append(dir.path(), 0, "a\n");
    let mut t = tailer(dir.path(), None);
    assert_eq!(poll(&mut t, &budget).0, vec!["a"]);
    // A file created in the same clock tick as the directory's last change leaves its time as
    // it was; a time that recent is never taken to mean "unchanged".
    let recent = fs::metadata(dir.path()).unwrap().modified().unwrap();
    append(dir.path(), 1, "b\n");
    set_dir_time(dir.path(), recent);
    assert_eq!(poll(&mut t, &budget).0, vec!["b"]);
}

#[test]
fn a_stream_without_files_yet_waits_on_its_directory_time() {
    let dir = tempfile::tempdir().unwrap();
    let budget = Budget::new(1 << 30);
    let settled = SystemTime::now() - Duration::from_secs(60);
    set_dir_time(dir.path(), settled);
    let mut t = tailer(dir.path(), None);
    assert!(poll(&mut t, &budget).0.is_empty());
    append(dir.path(), 0, "first\n");
    set_dir_time(dir.path(), settled);
    assert!(poll(&mut t, &budget).0.is_empty(), "no scan");
    set_dir_time(dir.path(), settled + Duration::from_secs(1));
    assert_eq!(poll(&mut t, &budget).0, vec!["first"]);
}
