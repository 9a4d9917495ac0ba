//! Fixtures shared by shepard's integration tests. Each test that needs Consul starts its own
//! real `consul agent -dev` with [`ConsulDev`]; nothing is shared between tests.

mod consul_dev;
mod free_port;
mod http_get;
pub mod poll;

pub use consul_dev::{ConsulDev, ConsulDevOptions};
pub use free_port::free_port;
