//! Log forwarding: ships the log lines of the tasks the agent manages, tagged with their
//! Nomad metadata, to one or more sinks, with nothing lost.
//!
//! ```text
//!  alloc/logs/<task>.<stream>.N ──► tailer ─┐ (reader thread: reads as far as the memory
//!  (rotated by Nomad)               tailer ─┼─► pending ──► shipper ──► sinks: file, syslog,
//!                                   tailer ─┘   queue       │           loki, http
//!                                                            └─► checkpoints (after every
//!                                                                sink acknowledged)
//! ```
//!
//! The seam for the agent's `logs` reconciler is [`LogShipper::start`] and
//! [`LogShipperHandle`] (`track`, `untrack`, `shutdown`). Delivery is at-least-once: a crash
//! re-ships at most the batch that was in flight.

pub mod batch;
pub mod budget;
pub mod checkpoint;
pub mod clock;
pub mod encode;
pub mod handle;
pub mod line;
pub mod logfiles;
pub mod metrics;
pub mod readbuf;
mod reader;
mod registry;
pub mod settings;
mod shipper;
pub mod sinks;
pub mod splitter;
mod statefile;
pub mod tags;
pub mod tailer;

pub use budget::Budget;
pub use clock::{Clock, SystemClock};
pub use handle::{LogShipper, LogShipperHandle, StartError, TaskLogs};
pub use line::{Chunk, LineMark, Position, Stream, StreamKey};
pub use metrics::LogMetrics;
pub use settings::{RetryPolicy, ShipperSettings};
pub use sinks::Sink;
pub use tags::{TaskTags, resolve_meta};
