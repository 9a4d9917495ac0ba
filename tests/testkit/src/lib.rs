//! Fixtures shared by shepard's integration tests. Each test that needs Consul starts its own
//! real `consul agent -dev` with [`ConsulDev`]; nothing is shared between tests.

mod agent_process;
mod chaos_proxy;
mod cluster;
mod consul_dev;
mod fake_clock;
mod free_port;
mod greet_job;
mod http_get;
mod log_capture;
mod nomad_sim;
pub mod poll;
mod tcp_proxy;

pub use agent_process::AgentProcess;
pub use chaos_proxy::{Chaos, ChaosProxy};
pub use cluster::Cluster;
pub use consul_dev::{ACL_MASTER_TOKEN, ConsulDev, ConsulDevOptions, TlsFiles};
pub use fake_clock::FakeClock;
pub use free_port::{free_port, free_ports};
pub use greet_job::{GreetJob, LEGACY_TRIGGER_TEMPLATE, TRIGGER_TEMPLATE, submit_job};
pub use log_capture::LogCapture;
pub use nomad_sim::{NomadSim, NomadSimOptions, SimNode, locate_binary};
pub use tcp_proxy::TcpProxy;
