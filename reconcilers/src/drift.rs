//! Drift of one allocation's task (DESIGN §4): a watched file's content changed after the
//! current run started and differs from what that run started with (when recorded). After
//! a restart `StartedAt` moves past every render, so the same rule reports "in sync" again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Fingerprint, RenderedFile};
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

/// What a run that started at `run_started_at` read: the fingerprints of the watched files
/// last written before it started. A file written since is known only if its content is what
/// `known` says the file held before (the restart's target, or the previous run's applied
/// content): then it was re-rendered unchanged. Otherwise it is left out: its content at the
/// start is unknown, so it counts as drifted.
pub fn baseline(
    files: &[RenderedFile],
    watched_paths: &[String],
    run_started_at: Timestamp,
    known: &BTreeMap<String, Fingerprint>,
) -> BTreeMap<String, Fingerprint> {
    watched(files, watched_paths)
        .filter(|f| {
            f.changed_at <= run_started_at || known.get(&f.dest_path) == Some(&f.fingerprint)
        })
        .map(|f| (f.dest_path.clone(), f.fingerprint.clone()))
        .collect()
}

/// The drift of a run that started at `run_started_at` and read `applied`, if any.
pub fn detect(
    files: &[RenderedFile],
    watched_paths: &[String],
    run_started_at: Timestamp,
    applied: &BTreeMap<String, Fingerprint>,
) -> Option<Drift> {
    let changed: Vec<&RenderedFile> = watched(files, watched_paths)
        .filter(|f| {
            f.changed_at > run_started_at && applied.get(&f.dest_path) != Some(&f.fingerprint)
        })
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
