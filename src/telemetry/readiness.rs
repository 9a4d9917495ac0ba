//! Readiness: named conditions (`consul`, `nomad`, `session`) that parts of the agent set,
//! and that `/readyz` reports. The agent is ready when every registered condition is.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The local Consul agent answers.
pub const CONSUL: &str = "consul";
/// The local Nomad agent answers.
pub const NOMAD: &str = "nomad";
/// The agent holds a live Consul session.
pub const SESSION: &str = "session";

#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    ready: bool,
    detail: String,
}

/// The set of readiness conditions; cheap to clone, all clones share the conditions.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    conditions: Arc<Mutex<BTreeMap<&'static str, State>>>,
}

/// One condition's state, as `/readyz` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionReport {
    pub name: &'static str,
    pub ready: bool,
    /// Why it is not ready (or what it last saw), when the setter said.
    pub detail: String,
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<&'static str, State>> {
        // A panic while holding this lock cannot leave a map half-updated: keep serving.
        self.conditions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds condition `name`, not ready until set, and returns its handle. Registering a name
    /// again returns a handle to the same condition, keeping its state.
    pub fn register(&self, name: &'static str) -> Condition {
        self.lock().entry(name).or_insert_with(|| State {
            ready: false,
            detail: "not checked yet".into(),
        });
        Condition {
            name,
            readiness: self.clone(),
        }
    }

    /// True when at least one condition is registered and every one is ready. With none
    /// registered the agent is still starting, and is not ready.
    pub fn is_ready(&self) -> bool {
        let conditions = self.lock();
        !conditions.is_empty() && conditions.values().all(|s| s.ready)
    }

    /// Every condition, by name.
    pub fn report(&self) -> Vec<ConditionReport> {
        self.lock()
            .iter()
            .map(|(name, s)| ConditionReport {
                name,
                ready: s.ready,
                detail: s.detail.clone(),
            })
            .collect()
    }
}

/// The handle through which one part of the agent sets its condition.
#[derive(Debug, Clone)]
pub struct Condition {
    name: &'static str,
    readiness: Readiness,
}

impl Condition {
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn set_ready(&self) {
        self.set(true, String::new());
    }

    /// Marks the condition not ready; `reason` is shown on `/readyz`.
    pub fn set_not_ready(&self, reason: impl Into<String>) {
        self.set(false, reason.into());
    }

    fn set(&self, ready: bool, detail: String) {
        self.readiness
            .lock()
            .insert(self.name, State { ready, detail });
    }

    pub fn is_ready(&self) -> bool {
        self.readiness
            .lock()
            .get(self.name)
            .is_some_and(|s| s.ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_condition_is() {
        let readiness = Readiness::new();
        assert!(
            !readiness.is_ready(),
            "no conditions yet: starting, not ready"
        );
        let consul = readiness.register(CONSUL);
        let nomad = readiness.clone().register(NOMAD);
        assert!(!readiness.is_ready());
        consul.set_ready();
        assert!(!readiness.is_ready());
        nomad.set_ready();
        assert!(readiness.is_ready());
        nomad.set_not_ready("connection refused");
        assert!(!readiness.is_ready());
        let report = readiness.report();
        assert_eq!(report[1].name, NOMAD);
        assert_eq!(report[1].detail, "connection refused");
        // Registering again keeps the state.
        assert!(readiness.register(CONSUL).is_ready());
    }
}
