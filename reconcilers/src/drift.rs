//! Drift of one allocation's task (see `reconcilers/README.md`): a watched file's content changed after the
//! current run started and differs from what that run started with (when recorded). After
//! a restart `StartedAt` moves past every render, so the same rule reports "in sync" again.
//!
//! Nomad records `StartedAt` only after the driver started the process, and the process may
//! read its configuration in between. So a restarted run is judged from its *read cutoff*, the
//! last moment before it was spawned that is known: a change after it may not have been read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Fingerprint, RenderedFile, TaskEvent};
use crate::time::Timestamp;

/// The changed files of a drifted task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    /// Fingerprint of every changed watched file: what a restart rolls out.
    pub target: BTreeMap<String, Fingerprint>,
    /// The latest content change among them.
    pub newest_change: Timestamp,
}

fn watched<'a>(
    files: &'a [RenderedFile],
    watched: &'a [String],
) -> impl Iterator<Item = &'a RenderedFile> {
    files.iter().filter(|f| watched.contains(&f.dest_path))
}

/// The time up to which the run that started at `started` read every watched-file change: the
/// last event Nomad recorded before spawning it (a restart's `Restarting`, `Terminated`, …);
/// failing that (events trimmed), the restart's trigger `triggered_at` if it came before the
/// start; else `started`, as for a first run, whose files are rendered before it starts and
/// for which nothing earlier is known.
pub fn read_cutoff(
    started: Timestamp,
    triggered_at: Option<Timestamp>,
    events: &[TaskEvent],
) -> Timestamp {
    events
        .iter()
        .filter(|e| e.time < started && TaskEvent::BEFORE_RESTARTED_RUN.contains(&e.kind.as_str()))
        .map(|e| e.time)
        .max()
        .or(triggered_at)
        .map_or(started, |t| t.min(started))
}

/// What a run read, given its [`read_cutoff`]: the fingerprints of the watched files last written
/// before the cutoff. A file written since is known only if its content is what
/// `known` says the file held before (the restart's target, or the previous run's applied
/// content): then it was re-rendered unchanged. Otherwise it is left out: its content at the
/// start is unknown, so it counts as drifted.
pub fn baseline(
    files: &[RenderedFile],
    watched_paths: &[String],
    read_cutoff: Timestamp,
    known: &BTreeMap<String, Fingerprint>,
) -> BTreeMap<String, Fingerprint> {
    watched(files, watched_paths)
        .filter(|f| f.changed_at <= read_cutoff || known.get(&f.dest_path) == Some(&f.fingerprint))
        .map(|f| (f.dest_path.clone(), f.fingerprint.clone()))
        .collect()
}

/// The drift of a run that read `applied` (changes up to its [`read_cutoff`]), if any.
pub fn detect(
    files: &[RenderedFile],
    watched_paths: &[String],
    read_cutoff: Timestamp,
    applied: &BTreeMap<String, Fingerprint>,
) -> Option<Drift> {
    let changed: Vec<&RenderedFile> = watched(files, watched_paths)
        .filter(|f| f.changed_at > read_cutoff && applied.get(&f.dest_path) != Some(&f.fingerprint))
        .collect();
    let newest_change = changed.iter().map(|f| f.changed_at).max()?;
    let target = changed
        .iter()
        .map(|f| (f.dest_path.clone(), f.fingerprint.clone()))
        .collect();
    Some(Drift {
        target,
        newest_change,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64) -> Timestamp {
        Timestamp::from_unix_secs(secs)
    }

    #[test]
    fn rewrite_after_start_with_new_content_is_drift() {
        let watched = vec!["local/a".to_owned()];
        let files = vec![RenderedFile::new("local/a", t(20), "v2")];
        let applied = BTreeMap::from([("local/a".to_owned(), Fingerprint::new("v1"))]);
        let drift = detect(&files, &watched, t(10), &applied);
        assert_eq!(drift.map(|d| d.newest_change), Some(t(20)));
    }

    #[test]
    fn identical_rerender_and_unwatched_files_are_not_drift() {
        let watched = vec!["local/a".to_owned()];
        let files = vec![
            RenderedFile::new("local/a", t(20), "v1"),
            RenderedFile::new("local/b", t(30), "x"),
        ];
        let applied = BTreeMap::from([("local/a".to_owned(), Fingerprint::new("v1"))]);
        assert_eq!(detect(&files, &watched, t(10), &applied), None);
    }

    fn event(kind: &str, secs: u64) -> TaskEvent {
        TaskEvent {
            kind: kind.into(),
            time: t(secs),
        }
    }

    #[test]
    fn read_cutoff_is_the_earliest_known_moment_before_the_spawn() {
        let first_run = [event("Received", 1), event("Started", 10)];
        assert_eq!(read_cutoff(t(10), None, &first_run), t(10));
        // Restarted by Nomad: the last event before the spawn.
        let restarted = [
            event("Started", 10),
            event("Terminated", 40),
            event("Restarting", 41),
            event("Started", 45),
        ];
        assert_eq!(read_cutoff(t(45), None, &restarted), t(41));
        // Nomad's events, when there are any, are closer to the spawn than the trigger (and a
        // trigger long ago may have been followed by restarts of Nomad's own).
        assert_eq!(read_cutoff(t(45), Some(t(39)), &restarted), t(41));
        // Without them (trimmed), the trigger.
        assert_eq!(read_cutoff(t(45), Some(t(39)), &first_run[..1]), t(39));
        // A trigger after the run started (not landed yet) says nothing of this run.
        assert_eq!(read_cutoff(t(10), Some(t(39)), &first_run), t(10));
        // Events after the start belong to a later restart.
        assert_eq!(read_cutoff(t(10), None, &restarted), t(10));
    }

    #[test]
    fn baseline_leaves_out_files_written_after_the_start() {
        let watched = vec!["local/a".to_owned(), "local/b".to_owned()];
        let files = vec![
            RenderedFile::new("local/a", t(5), "a1"),
            RenderedFile::new("local/b", t(15), "b2"),
        ];
        let base = baseline(&files, &watched, t(10), &BTreeMap::new());
        assert_eq!(base.keys().collect::<Vec<_>>(), vec!["local/a"]);
        assert!(detect(&files, &watched, t(10), &base).is_some());
        let known = BTreeMap::from([("local/b".to_owned(), Fingerprint::new("b2"))]);
        assert_eq!(baseline(&files, &watched, t(10), &known).len(), 2);
    }
}
