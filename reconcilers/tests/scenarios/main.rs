//! Named scenarios of every reconciler, each a snapshot of the `Decision` it takes. Review a
//! changed snapshot as a change of behaviour.

mod fixture;
mod gc;
mod rollout;
mod settings;
mod task;
mod trigger;
