//! shepard: a Nomad node agent that restarts the allocations of a task at most `max_parallel`
//! at a time, each only after the previous ones are healthy again, when the configuration
//! rendered into them changes. Coordination happens through Consul KV locks, a slot semaphore
//! and a rollout record.

pub mod agent;
pub mod api_metrics;
pub mod apply;
pub mod blocking;
pub mod cli;
pub mod config;
pub mod consul;
pub mod http_client;
pub mod logship;
pub mod nomad;
pub mod observe;
pub mod operator;
pub mod operator_gc;
pub mod runtime;
pub mod secret;
pub mod telemetry;
pub mod tls;
pub mod watch;
