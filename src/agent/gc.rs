//! The GC reconciler as the runtime runs it: one pass over the whole prefix per reconcile of
//! its single key. Every agent collects its own node's `keys/` and `state/`; the holder of the
//! GC lock, once its cluster watches have answered, collects everything (see
//! `shepard_reconcilers::gc::lead`). Deletes are CAS on the index listed, one by one: a key
//! rewritten since the listing survives, and the next pass judges it again. Keys under the
//! prefix that match no entry of the layout are logged once and counted, never touched.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use shepard_reconcilers::gc::lead::{self, GcLead, lead_gc};
use shepard_reconcilers::gc::{
    GcDecision, GcDeletion, GcPass, GcReason, GcScope, reconcile_gc_pass,
};
use shepard_reconcilers::{Action, ProblemKind};

use super::gc_metrics::GcMetrics;
use super::gc_recent::RecentDeletes;
use super::gc_snapshot::{self, ClusterSources};
use super::shared::Shared;
use super::snapshot;
use crate::apply::{Applier, ApplyError};
use crate::consul::Consistency;
use crate::observe::cluster::ClusterStore;
use crate::runtime::Reconciler;

/// After a refused acquire of the GC lock (held, or within Consul's lock delay after the last
/// holder's session ended), try again this much later rather than at once: every agent of the
/// cluster may be trying.
pub const LEADERSHIP_RETRY: Duration = Duration::from_secs(5);

/// The GC work queue's only key: one pass over the prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GcKey;

impl fmt::Display for GcKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("gc")
    }
}

/// Runs the decision core's GC pass.
pub struct GcReconciler {
    shared: Arc<Shared>,
    cluster: ClusterStore,
    metrics: GcMetrics,
    rollout_history: Duration,
    /// Unparseable keys already logged, so each is logged once while it exists.
    reported: Mutex<BTreeSet<String>>,
    /// Deletes the KV view may not show yet.
    recent: RecentDeletes,
}

/// A pass as decided, before anything is applied.
struct Planned {
    lead: GcLead,
    scope: GcScope,
    decided: GcDecision,
}

/// What applying a pass's deletions did.
#[derive(Debug, Default)]
pub struct Deleted {
    /// Deleted.
    pub deleted: Vec<GcDeletion>,
    /// Left alone: rewritten (or deleted) since the listing, so the CAS did not match.
    pub kept: Vec<GcDeletion>,
    /// The first error other than a refused CAS; the remaining deletes were still tried.
    pub error: Option<ApplyError>,
}

/// Applies `deletions` one by one (CAS on the listed index): a refused one does not stop
/// the others.
pub async fn delete_all(applier: &Applier, deletions: &[GcDeletion]) -> Deleted {
    let mut out = Deleted::default();
    for deletion in deletions {
        let action = Action::DeleteKey {
            key: deletion.key.clone(),
            cas: deletion.cas,
            kind: deletion.kind,
        };
        match applier.apply(std::slice::from_ref(&action)).await {
            Ok(()) => {
                tracing::info!(key = %deletion.key, reason = %deletion.reason, "deleted");
                out.deleted.push(deletion.clone());
            }
            Err(ApplyError::Refused(why)) => {
                tracing::debug!(key = %deletion.key, %why, "kept: changed since it was listed");
                out.kept.push(deletion.clone());
            }
            Err(e) => {
                tracing::warn!(key = %deletion.key, error = %e, "cannot delete");
                out.error.get_or_insert(e);
            }
        }
    }
    out
}

/// Whether a deletion is of this node's own entries (any agent) or cluster-wide (lock holder).
pub fn is_own(deletion: &GcDeletion) -> bool {
    matches!(
        deletion.reason,
        GcReason::TriggerUnused | GcReason::AllocGone { .. }
    )
}

impl GcReconciler {
    pub fn new(
        shared: Arc<Shared>,
        cluster: ClusterStore,
        metrics: GcMetrics,
        rollout_history: Duration,
    ) -> Self {
        Self {
            shared,
            cluster,
            metrics,
            rollout_history,
            reported: Mutex::default(),
            recent: RecentDeletes::default(),
        }
    }

    /// Decides the pass from the watched state; `None` before the KV prefix and this node's
    /// allocations have been read. The stores' locks are held only to copy what the pass
    /// reads, not while it decides.
    fn plan(&self) -> Option<Planned> {
        let shared = &self.shared;
        let now = snapshot::now();
        let (kv, own) = {
            let observed = shared.store.read();
            let kv = snapshot::kv_view(observed.kv.as_ref()?);
            let own = observed.node_allocs.as_ref()?;
            (kv, gc_snapshot::own_allocs(own, &shared.ctx.node))
        };
        self.recent.observe(&kv);
        let lead = lead_gc(&kv, &shared.ctx, shared.session().as_ref(), now);
        let (obs, scope) = {
            let cluster = self.cluster.read();
            let sources = match (&cluster.allocs, &cluster.jobs, &cluster.nodes) {
                (Some(allocs), Some(jobs), Some(nodes)) if lead.scope == GcScope::Cluster => {
                    Some(ClusterSources {
                        allocs,
                        jobs,
                        nodes: nodes.nodes(),
                        nodes_listed_since: nodes.listed_since().unwrap_or(now),
                    })
                }
                // Not the holder, or its watches have not all answered yet: this node only.
                _ => None,
            };
            let scope = if sources.is_some() {
                GcScope::Cluster
            } else {
                GcScope::Node
            };
            (gc_snapshot::observation(&kv, own, sources), scope)
        };
        let pass = GcPass {
            scope,
            rollout_history: Some(self.rollout_history),
        };
        let decided = reconcile_gc_pass(&obs, &pass, &shared.ctx, now);
        Some(Planned {
            lead,
            scope,
            decided,
        })
    }

    /// Logs each unparseable key once while it exists; publishes how many there are. Other
    /// problems go to the applier (logged and counted there).
    async fn report(&self, actions: &[Action]) {
        let mut unknown = BTreeSet::new();
        for action in actions {
            let Action::ReportProblem(problem) = action else {
                continue;
            };
            match problem.kind {
                ProblemKind::UnknownKey | ProblemKind::KeyOutsidePrefix => {
                    if problem.kind == ProblemKind::UnknownKey {
                        unknown.insert(problem.subject.clone());
                    }
                    let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
                    if reported.insert(problem.subject.clone()) {
                        tracing::warn!(key = %problem.subject, "{}", problem.detail);
                    }
                }
                _ => {
                    let _ = self
                        .shared
                        .applier
                        .apply(std::slice::from_ref(action))
                        .await;
                }
            }
        }
        let present: BTreeSet<&String> = actions
            .iter()
            .filter_map(|a| match a {
                Action::ReportProblem(p) => Some(&p.subject),
                _ => None,
            })
            .collect();
        self.reported
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|key| present.contains(key));
        self.metrics.set_unparseable(unknown.len());
    }

    /// Takes the GC lock if the pass found it free; `Some(retry)` when that failed.
    async fn lead(&self, lead: &GcLead) -> Option<Duration> {
        let acquire = lead.acquire.as_ref()?;
        match self
            .shared
            .applier
            .apply(std::slice::from_ref(acquire))
            .await
        {
            Ok(()) => {
                tracing::info!("acquired the GC lock: collecting cluster-wide keys");
                None
            }
            Err(e) => {
                tracing::debug!(error = %e, "GC lock not acquired");
                Some(LEADERSHIP_RETRY)
            }
        }
    }

    /// The sequencer check before cluster-wide deletes: the GC lock, read `?consistent`,
    /// is still held by our session.
    async fn still_leading(&self) -> Result<bool, ApplyError> {
        let Some(session) = self.shared.session() else {
            return Ok(false);
        };
        let key = lead::lock_key(&self.shared.ctx.prefix);
        let pair = self
            .shared
            .applier
            .consul
            .kv_get(&key, Consistency::Consistent)
            .await?;
        Ok(pair.and_then(|p| p.session).as_deref() == Some(session.as_str()))
    }
}

impl Reconciler<GcKey> for GcReconciler {
    type Error = ApplyError;

    fn name(&self) -> &'static str {
        "gc"
    }

    async fn reconcile(&self, _key: &GcKey) -> Result<Option<Duration>, ApplyError> {
        let started = Instant::now();
        let Some(planned) = self.plan() else {
            // Not observed yet; the watches enqueue the pass again when they answer.
            return Ok(None);
        };
        self.metrics
            .set_leader(planned.lead.scope == GcScope::Cluster);
        self.report(&planned.decided.decision.actions).await;
        let mut requeue = planned.decided.decision.requeue_after;
        if let Some(retry) = self.lead(&planned.lead).await {
            requeue = Some(requeue.map_or(retry, |r| r.min(retry)));
        }
        let (own, cluster): (Vec<GcDeletion>, Vec<GcDeletion>) =
            planned.decided.deletions.into_iter().partition(is_own);
        let mut deletions = own;
        if planned.scope == GcScope::Cluster && !cluster.is_empty() {
            if self.still_leading().await? {
                deletions.extend(cluster);
            } else {
                tracing::info!("lost the GC lock: leaving cluster-wide keys to its holder");
                self.metrics.set_leader(false);
            }
        }
        let deletions = self.recent.pending(deletions);
        let outcome = delete_all(&self.shared.applier, &deletions).await;
        self.recent.record(&outcome.deleted);
        let finished = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.metrics
            .pass_finished(started.elapsed().as_secs_f64(), finished);
        match outcome.error {
            Some(e) => Err(e),
            None => Ok(requeue),
        }
    }
}
