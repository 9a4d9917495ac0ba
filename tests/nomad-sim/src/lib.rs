//! nomad-sim: a simulated Nomad cluster (client nodes, jobs, allocations with real processes,
//! templates rendered from Consul KV, services registered in Consul) serving Nomad's HTTP API,
//! for shepard's end-to-end tests. See README.md for the command line and `/sim/` endpoints.

pub mod api;
pub mod clock;
pub mod consul;
pub mod deploy;
pub mod encode;
pub mod ids;
pub mod model;
pub mod runtime;
pub mod scheduler;
pub mod sim;
pub mod state;
pub mod template;
