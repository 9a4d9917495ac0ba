//! The file watcher against real files and real inotify.

use std::time::Duration;

use super::*;

/// The next reported path, or `None` when nothing arrives within the deadline.
async fn next_change(
    rx: &mut mpsc::UnboundedReceiver<PathBuf>,
    within: Duration,
) -> Option<PathBuf> {
    tokio::time::timeout(within, rx.recv()).await.ok().flatten()
}

fn drain(rx: &mut mpsc::UnboundedReceiver<PathBuf>) {
    while rx.try_recv().is_ok() {}
}

#[tokio::test]
async fn reports_writes_and_rename_replacements_of_registered_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    let other = dir.path().join("other.txt");
    std::fs::write(&config, "name: a\n").unwrap();
    let (mut watcher, mut rx) = FileWatcher::new().unwrap();
    assert!(watcher.watch(&config).unwrap());

    std::fs::write(&other, "unrelated").unwrap();
    std::fs::write(&config, "name: b\n").unwrap();
    assert_eq!(
        next_change(&mut rx, Duration::from_secs(5)).await,
        Some(config.clone())
    );
    drain(&mut rx);

    // How template renderers write: a temporary file renamed over the destination.
    let tmp = dir.path().join(".config.yml.tmp");
    std::fs::write(&tmp, "name: c\n").unwrap();
    std::fs::rename(&tmp, &config).unwrap();
    assert_eq!(
        next_change(&mut rx, Duration::from_secs(5)).await,
        Some(config.clone())
    );

    watcher.unwatch(&config);
    // The rename may still be reported after the first event: anything sent for the file was
    // sent before `unwatch` returned (the handler checks the registry under its lock), so one
    // drain now leaves only what comes after.
    drain(&mut rx);
    std::fs::write(&config, "name: d\n").unwrap();
    std::fs::write(&other, "still unrelated").unwrap();
    assert_eq!(next_change(&mut rx, Duration::from_millis(500)).await, None);
}

#[tokio::test]
async fn a_file_in_a_missing_directory_is_not_watched_yet() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alloc").join("local").join("config.yml");
    let (mut watcher, _rx) = FileWatcher::new().unwrap();
    assert!(!watcher.watch(&file).unwrap());
    assert!(!watcher.is_watched(&file));
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    assert!(watcher.watch(&file).unwrap());
    assert!(watcher.is_watched(&file));
}

#[tokio::test]
async fn two_files_in_one_directory_share_its_watch() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.yml");
    let b = dir.path().join("b.yml");
    let (mut watcher, mut rx) = FileWatcher::new().unwrap();
    watcher.watch(&a).unwrap();
    watcher.watch(&b).unwrap();
    watcher.unwatch(&a);
    std::fs::write(&b, "x").unwrap();
    assert_eq!(next_change(&mut rx, Duration::from_secs(5)).await, Some(b));
}
