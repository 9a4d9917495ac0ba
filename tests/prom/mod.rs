//! What the Prometheus end-to-end test needs besides the test world: a real Prometheus server,
//! the dashboards' queries, and the live agents' exposition checked against the metric
//! contract.

pub mod contract;
pub mod dashboards;
pub mod server;
