//! The typed Consul HTTP API client: KV, sessions (with a renewal task), health, agent
//! maintenance, and the lock and restart-slot semaphore built on them. Written against
//! Consul 1.8.7's observed behaviour (`refdata/consul/`).

mod agent_maintenance;
mod agent_self;
mod client;
mod error;
mod health;
mod key_guard;
mod kv;
mod lock;
mod reply;
mod semaphore;
mod session;
mod session_lease;
mod session_renewal;
mod status;
mod txn;

pub use agent_self::{AgentSelf, AgentSelfConfig};
pub use client::{Consistency, ConsulClient, DEFAULT_REQUEST_TIMEOUT, DEFAULT_WAIT, MAX_WAIT};
pub use error::{ConsulError, RefusedWrite};
pub use health::{CheckStatus, HealthCheck};
pub use key_guard::UnsafeKey;
pub use kv::KvPair;
pub use lock::{LOCK_FLAG_VALUE, Lock, LockAttempt};
pub use semaphore::{SLOT_FLAG_VALUE, Semaphore, Slot, SlotHolder};
pub use session::{ServiceCheckRef, SessionBehavior, SessionInfo, SessionRequest};
pub use session_lease::SessionLease;
pub use session_renewal::{LostReason, SessionHealth, SessionKeeper};
pub use txn::TxnOp;
