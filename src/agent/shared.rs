//! What every reconciler of the agent shares: the agent's facts, the observed state, the
//! session, the clients that apply actions, and the per-task phases behind the task gauges.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use shepard_reconcilers::Context;
use shepard_reconcilers::model::{Phase, SessionId};
use tokio::sync::watch;

use super::ids::IdSource;
use super::metrics::DomainMetrics;
use super::snapshot::TaskKey;
use crate::apply::{Applier, ApplyError};
use crate::observe::rendered_file::ContentClock;
use crate::observe::store::Store;

/// How soon a reconcile whose action was refused (stale view) runs again: long enough for the
/// KV watch to deliver the write that beat it, short enough to hand a slot over quickly.
pub const REFUSED_RETRY: Duration = Duration::from_millis(100);

/// Everything a reconcile reads or uses.
pub struct Shared {
    pub ctx: Context,
    /// This node's Nomad alloc dir, where templates are rendered.
    pub alloc_dir: PathBuf,
    pub store: Store,
    pub session: watch::Receiver<Option<String>>,
    pub applier: Applier,
    pub clock: ContentClock,
    pub ids: IdSource,
    pub metrics: DomainMetrics,
    /// The last decided phase of each managed task, for `shepard_managed_tasks` and
    /// `shepard_drifted_tasks`.
    phases: Mutex<HashMap<TaskKey, Phase>>,
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ctx: Context,
        alloc_dir: PathBuf,
        store: Store,
        session: watch::Receiver<Option<String>>,
        applier: Applier,
        metrics: DomainMetrics,
    ) -> Self {
        Self {
            ctx,
            alloc_dir,
            store,
            session,
            applier,
            clock: ContentClock::default(),
            ids: IdSource::new(),
            metrics,
            phases: Mutex::default(),
        }
    }

    pub fn session(&self) -> Option<SessionId> {
        self.session.borrow().clone().map(SessionId)
    }

    /// Records the phase of a managed task (`None`: not managed, or gone) and updates the
    /// task gauges.
    pub fn set_phase(&self, key: &TaskKey, phase: Option<Phase>) {
        let mut phases = self.phases.lock().unwrap_or_else(PoisonError::into_inner);
        match phase {
            Some(p) => {
                phases.insert(key.clone(), p);
            }
            None => {
                phases.remove(key);
            }
        }
        let drifted = phases.values().filter(|p| p.drifted()).count();
        self.metrics.set_task_counts(phases.len(), drifted);
    }

    /// Applies actions; a refusal becomes a quick requeue, other failures an error (backoff).
    pub async fn apply(
        &self,
        actions: &[shepard_reconcilers::Action],
        requeue_after: Option<Duration>,
    ) -> Result<Option<Duration>, ApplyError> {
        match self.applier.apply(actions).await {
            Ok(()) => Ok(requeue_after),
            Err(ApplyError::Refused(reason)) => {
                tracing::debug!(%reason, "action refused; reconciling again on fresher state");
                Ok(Some(REFUSED_RETRY))
            }
            Err(e) => Err(e),
        }
    }
}
