//! End-to-end tests of nomad-sim: a real Consul dev agent and the real simulator process,
//! driven over HTTP exactly as shepard will drive them.

mod api_shapes;
mod blocking;
mod canary;
mod job_delete;
mod shape_rules;
mod support;
mod templates;
