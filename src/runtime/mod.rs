//! The controller runtime: work queues with controller-runtime semantics, the loop that runs a
//! reconciler over them, and the runtime metrics listed in the README.

pub mod controller;
pub mod metrics;
pub mod workqueue;

pub use controller::Reconciler;
pub use metrics::{QueueMetrics, ReconcileResult, RuntimeMetrics};
pub use workqueue::{Backoff, WorkQueue};
