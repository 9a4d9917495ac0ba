//! Fixtures shared by shepard's integration tests. Each test that needs Consul starts its own
//! real `consul agent -dev` with [`ConsulDev`]; nothing is shared between tests.

mod consul_dev;
mod free_port;
mod http_get;
mod nomad_sim;
pub mod poll;

pub use consul_dev::{ConsulDev, ConsulDevOptions};
pub use free_port::free_port;
pub use nomad_sim::{NomadSim, NomadSimOptions, SimNode, locate_binary};
