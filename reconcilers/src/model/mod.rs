//! The domain model: identities, what the agent observes in Nomad and Consul, and the records
//! shepard keeps in Consul KV. Plain data, serde-serializable; no behaviour beyond small
//! predicates and JSON (de)coding of the KV records.

pub mod files;
pub mod health;
pub mod identity;
pub mod kv;
pub mod nomad;
pub mod record;
pub mod rollout;
pub mod slot;
pub mod spec;

pub use files::{Fingerprint, RenderedFile};
pub use health::{CheckObservation, CheckStatus};
pub use identity::{AllocRef, SessionId, TaskId};
pub use kv::{KvEntry, KvView};
pub use nomad::{AllocStatus, ClientStatus, DesiredStatus, TaskEvent, TaskRun, TaskState};
pub use record::{AllocRecord, Phase};
pub use rollout::{Progress, RolloutRecord, RolloutState};
pub use slot::{LockHolder, SlotHolder};
pub use spec::{ChangeMode, TaskSpec, TemplateSpec, UpdateBlock};
