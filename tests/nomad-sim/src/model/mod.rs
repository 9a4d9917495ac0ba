//! Nomad's data model as the simulator stores and encodes it.

pub mod alloc;
pub mod canonical;
pub mod deployment;
pub mod job;
pub mod node;
pub mod task_state;
