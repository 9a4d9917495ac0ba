//! The blocking-query watch shared by every Consul and Nomad source: a `Stream` of snapshots that follows the index rules of DESIGN §5.
