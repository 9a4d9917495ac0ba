//! Observed state: what the agent knows about the world, kept current by watchers and read by
//! the reconcilers' snapshot builders.

pub mod cluster;
pub mod file_watcher;
pub mod node_tracker;
pub mod rendered_file;
pub mod store;
pub mod wall_clock;
pub mod watchers;
