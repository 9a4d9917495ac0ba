//! Property tests: key paths round-trip for arbitrary Nomad names; the task reconciler's slot
//! discipline over random observation sequences; GC never deletes a running allocation's keys.

mod gc;
mod keys;
mod task;
