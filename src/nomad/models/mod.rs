//! The typed form of the Nomad API documents shepard reads and writes. Decoding follows the
//! current server's encoding (see `FIELDS.md` of the Nomad reference data): Go field names,
//! unknown fields ignored, missing fields and `null` collections empty, durations in integer
//! nanoseconds, `time.Time` as RFC 3339 or `null`, event times in Unix nanoseconds.
//! `Serialize` writes the same encodings back (it does not reproduce omit-empty).

pub mod agent;
pub mod alloc_ops;
pub mod allocation;
pub mod duration;
pub mod job;
pub mod node;
pub mod nullable;
pub mod service;
mod string_enum;
pub mod task_state;
pub mod template;
pub mod time;

pub use agent::{AgentClientConfig, AgentConfig, AgentMember, AgentSelf};
pub use alloc_ops::{AllocFileInfo, AllocRestartRequest, AllocStopResponse};
pub use allocation::{
    Allocation, AllocationListStub, ClientStatus, DeploymentStatus, DesiredStatus,
    alloc_index_from_name,
};
pub use job::{
    HealthCheckMode, Job, Lifecycle, LogConfig, RestartMode, RestartPolicy, Task, TaskGroup,
    UpdateStrategy,
};
pub use node::{Node, NodeListStub, NodeStatus};
pub use service::{CheckRestart, Service, ServiceCheck};
pub use task_state::{TaskEvent, TaskEventType, TaskState, TaskStatus};
pub use template::{ChangeMode, Template, WaitConfig};
pub use time::{TimeParseError, UtcTime};
