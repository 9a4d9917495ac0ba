//! Observed state: what the agent knows about the world, kept current by watchers and read by
//! the reconcilers' snapshot builders.

pub mod file_watcher;
pub mod rendered_file;
