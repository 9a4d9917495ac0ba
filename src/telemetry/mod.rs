//! Telemetry: the Prometheus registry's build-info metric, the HTTP server for `/metrics`,
//! `/healthz` and `/readyz`, the readiness conditions behind `/readyz`, and the `tracing`
//! subscriber.

pub mod build_info;
pub mod logging;
pub mod readiness;
pub mod server;

pub use readiness::{Condition, Readiness};
pub use server::{TelemetryError, TelemetryServer, router, serve};
