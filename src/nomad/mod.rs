//! Typed client for the Nomad HTTP API: the allocations, jobs, nodes and agent facts shepard
//! reads, and the restart and stop calls it makes.
//!
//! - `client.rs`: [`NomadClient`] and the plumbing every request shares.
//! - `endpoints.rs`: one method per endpoint; blocking reads return [`Indexed`](crate::blocking::Indexed).
//! - `error.rs`: [`NomadError`].
//! - `listings.rs`: the cluster-wide job and allocation listings garbage collection reads.
//! - `local_node.rs`: [`LocalNode`], the node shepard runs on.
//! - `models/`: the API documents.

mod client;
mod endpoints;
mod error;
mod listings;
mod local_node;
pub mod models;

pub use client::{
    DEFAULT_REQUEST_TIMEOUT, MAX_WAIT, NomadClient, NomadClientOptions, blocking_timeout, decode,
};
pub use endpoints::op;
pub use error::NomadError;
pub use listings::JobListStub;
pub use local_node::LocalNode;
