//! Named scenarios of every reconciler, each a snapshot of the `Decision` it takes. Review a
//! changed snapshot as a change of behaviour.

mod clock;
mod fixture;
mod gc;
mod health;
mod rollout;
mod settings;
mod stall;
mod task;
mod trigger;
