//! Where line timestamps come from: the system clock in the agent, a fixed or stepping clock
//! in tests that compare encoded output byte for byte.

use std::fmt::Debug;
use std::time::SystemTime;

pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> SystemTime;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}
