//! A wall clock off by a chosen offset for one process, and stepped while it runs: libfaketime
//! (Debian's `faketime` package, installed by `scripts/install-deps.sh`) preloaded into the
//! process, reading its offset from a file on every wall-clock read. The monotonic clock stays
//! true, as on a host whose wall clock is wrong or is stepped by NTP.

use std::path::PathBuf;

use tempfile::TempDir;

/// The offset file and the environment that makes a process read its wall clock through it.
pub struct FakeClock {
    dir: TempDir,
}

impl FakeClock {
    /// A clock `offset_secs` ahead of true time (negative: behind).
    pub fn new(offset_secs: i64) -> Self {
        let clock = Self {
            dir: tempfile::tempdir().expect("fake clock dir"),
        };
        clock.set_offset_secs(offset_secs);
        clock
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("offset")
    }

    /// Steps the clock: from the process's next wall-clock read on, it is `offset_secs` off.
    pub fn set_offset_secs(&self, offset_secs: i64) {
        // Written whole, then renamed, so the library never reads half a line.
        let tmp = self.dir.path().join("offset.tmp");
        std::fs::write(&tmp, format!("{offset_secs:+}s\n")).expect("write fake clock offset");
        std::fs::rename(&tmp, self.file()).expect("install fake clock offset");
    }

    /// The variables to start a process with.
    pub fn env(&self) -> Vec<(String, String)> {
        let file = self.file().display().to_string();
        vec![
            ("LD_PRELOAD".into(), library().display().to_string()),
            ("FAKETIME_TIMESTAMP_FILE".into(), file),
            // Read the file on every clock read, so a step takes effect at once.
            ("FAKETIME_NO_CACHE".into(), "1".into()),
            // A wrong or stepped wall clock leaves CLOCK_MONOTONIC alone.
            ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
            // File times come from the kernel, which keeps its own clock: not shifted on read.
            ("NO_FAKE_STAT".into(), "1".into()),
        ]
    }
}

/// The thread-safe build of libfaketime (the agent is multi-threaded).
fn library() -> PathBuf {
    let lib = std::fs::read_dir("/usr/lib")
        .expect("read /usr/lib")
        .filter_map(Result::ok)
        .map(|arch| arch.path().join("faketime/libfaketimeMT.so.1"))
        .find(|path| path.exists());
    lib.expect("libfaketime is missing: run scripts/install-deps.sh (Debian package faketime)")
}
