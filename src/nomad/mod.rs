//! Typed client for the Nomad HTTP API: the allocations, jobs, nodes and agent facts shepard reads, and the restart and stop calls it makes.
