//! The consul-template subset: parsing, rendering against Consul KV, and the per-task
//! manager that watches keys and applies change modes.

pub mod manager;
pub mod parse;
pub mod render;
