//! shepard's decision core: every decision the agent takes, as pure functions of an observed
//! snapshot and `now`, returning data. No I/O, no clock reads, no randomness: the caller passes
//! `now` and any fresh token in, and applies the returned `Action`s.
//!
//! - [`task::reconcile_task`]: one allocation's task on this node (the restart phase machine);
//!   [`trigger::resolve`]: the trigger key it restarts through, if one is safe to write.
//! - [`rollout::reconcile_rollout`]: one task across the cluster (the rollout record).
//! - [`gc::reconcile_gc`]: deletion of keys whose allocation, job or node is gone;
//!   [`gc::lead::lead_gc`]: which agent collects the cluster-wide keys.

pub mod action;
pub mod context;
pub mod drift;
pub mod gc;
pub mod health;
pub mod keys;
pub mod model;
pub mod rollout;
pub mod settings;
pub mod slots;
pub mod task;
pub mod time;
pub mod trigger;

pub use action::{
    Action, Decision, Event, KeyAt, LockAt, LockGuard, Problem, ProblemKind, RestartResult,
    RolloutGuard,
};
pub use context::Context;
pub use keys::{Key, KeyKind, Prefix};
pub use time::Timestamp;
