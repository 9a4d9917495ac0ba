//! Carries out the reconcilers' actions against Consul and Nomad, in order, stopping at the
//! first that fails. Every shared write is a CAS or a session acquire (slot locks and slot
//! claims in a transaction with an index check). A trigger key is written in one transaction
//! with its guards: the slot locked by our session, the rollout record unchanged since a
//! `?consistent` read found it rolling. A restart call is preceded by the same checks as
//! `?consistent` reads and is made only while the session is certainly alive (see
//! [`crate::consul::SessionLease`]), so a stale view, a stall or a lost session can never
//! restart anything.

use shepard_reconcilers::model::{RolloutRecord, RolloutState};
use shepard_reconcilers::{Action, LockGuard, RolloutGuard};

use crate::agent::metrics::DomainMetrics;
use crate::consul::{
    Consistency, ConsulClient, ConsulError, LOCK_FLAG_VALUE, SLOT_FLAG_VALUE, SessionLease, TxnOp,
};
use crate::nomad::{NomadClient, NomadError};

/// Why an action was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Consul refused a CAS or an acquire, or a guard no longer holds: the view was stale.
    /// The reconcile is simply run again on fresher state.
    #[error("{0}")]
    Refused(String),
    /// A Consul call failed.
    #[error(transparent)]
    Consul(ConsulError),
    /// A Nomad call failed.
    #[error(transparent)]
    Nomad(#[from] NomadError),
}

impl From<ConsulError> for ApplyError {
    fn from(e: ConsulError) -> Self {
        if e.is_refused() || e.is_invalid_session() {
            ApplyError::Refused(e.to_string())
        } else {
            ApplyError::Consul(e)
        }
    }
}

/// The clients actions are applied with.
#[derive(Clone)]
pub struct Applier {
    pub consul: ConsulClient,
    pub nomad: NomadClient,
    pub metrics: DomainMetrics,
    /// How long the agent's session is certainly alive.
    pub lease: SessionLease,
}

impl Applier {
    /// Applies `actions` in order; returns at the first failure.
    pub async fn apply(&self, actions: &[Action]) -> Result<(), ApplyError> {
        for action in actions {
            self.apply_one(action).await?;
        }
        Ok(())
    }

    async fn apply_one(&self, action: &Action) -> Result<(), ApplyError> {
        let consul = &self.consul;
        match action {
            Action::AcquireSlot {
                key,
                session,
                holder,
                index,
                ..
            } => {
                let unchanged = TxnOp::unchanged(key, *index);
                let lock = TxnOp::Lock {
                    key: key.clone(),
                    session: session.as_str().to_owned(),
                    value: holder.to_json().into_bytes(),
                    flags: SLOT_FLAG_VALUE,
                };
                consul.kv_txn(&[unchanged, lock]).await?;
            }
            Action::ReleaseSlot {
                key,
                session,
                index,
                ..
            } => {
                let unchanged = TxnOp::unchanged(key, Some(*index));
                let unlock = TxnOp::Unlock {
                    key: key.clone(),
                    session: session.as_str().to_owned(),
                    value: Vec::new(),
                    flags: SLOT_FLAG_VALUE,
                };
                consul.kv_txn(&[unchanged, unlock]).await?;
            }
            Action::WriteTrigger {
                key,
                token,
                guard,
                rollout,
            } => {
                // Guard and trigger are one transaction: the slot still held by our session and
                // the rollout unchanged since it was read as rolling, or nothing is written.
                // A stall anywhere before it (a pause, a slow link) cannot start a restart the
                // rollout no longer allows.
                let mut ops = vec![TxnOp::CheckSession {
                    key: guard.key.clone(),
                    session: guard.session.as_str().to_owned(),
                }];
                if let Some(rollout) = rollout {
                    let index = self.check_rollout(rollout).await?;
                    ops.push(TxnOp::unchanged(&rollout.key, Some(index)));
                }
                ops.push(TxnOp::Set {
                    key: key.clone(),
                    value: token.as_bytes().to_vec(),
                    flags: 0,
                });
                consul.kv_txn(&ops).await?;
            }
            Action::CallRestartApi {
                alloc_id,
                task,
                guard,
                rollout,
            } => {
                self.check_guards(guard, rollout.as_ref()).await?;
                // Nomad cannot check a Consul session: the call goes out only while ours is
                // certainly alive, measured from its last renewal on the monotonic clock.
                if self.lease.remaining(guard.session.as_str()).is_none() {
                    return Err(ApplyError::Refused(format!(
                        "session {} is not certainly alive: no restart call",
                        guard.session
                    )));
                }
                match self.nomad.restart_allocation_task(alloc_id, task).await {
                    Ok(()) => {}
                    // Nomad answers only once the old process has exited, which can take
                    // longer than the request may: a call that timed out may well have been
                    // taken. It is not a failed restart; the task reconciler looks for Nomad's
                    // evidence of it before ever calling again.
                    Err(NomadError::Transport { source, .. }) if source.is_timeout() => {
                        tracing::info!(%alloc_id, %task, "restart call timed out; Nomad may be \
                            stopping the task: its evidence decides");
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Action::WriteAllocRecord {
                key,
                record,
                cas,
                lock,
                unchanged,
            } => {
                let checks: Vec<TxnOp> = lock
                    .iter()
                    .map(|l| TxnOp::unchanged(&l.key, Some(l.index)))
                    .chain(unchanged.iter().map(|k| TxnOp::unchanged(&k.key, k.index)))
                    .collect();
                if checks.is_empty() {
                    consul
                        .kv_cas(key, record.to_json().as_bytes(), 0, *cas)
                        .await?;
                } else {
                    let write = TxnOp::Cas {
                        key: key.clone(),
                        value: record.to_json().into_bytes(),
                        flags: 0,
                        index: *cas,
                    };
                    let ops: Vec<TxnOp> = checks.into_iter().chain([write]).collect();
                    consul.kv_txn(&ops).await?;
                }
            }
            Action::AcquireTaskLock {
                key,
                session,
                holder,
            } => {
                let value = holder.to_json();
                consul
                    .kv_acquire(key, session.as_str(), value.as_bytes(), LOCK_FLAG_VALUE)
                    .await?;
            }
            Action::ReleaseTaskLock { key, session } => {
                consul
                    .kv_release(key, session.as_str(), b"", LOCK_FLAG_VALUE)
                    .await?;
            }
            Action::PutRollout {
                key,
                record,
                cas,
                guard,
            } => {
                self.check_lock(guard).await?;
                consul
                    .kv_cas(key, record.to_json().as_bytes(), 0, *cas)
                    .await?;
            }
            Action::DeleteKey { key, cas, kind } => {
                consul.kv_delete_cas(key, *cas).await?;
                self.metrics.gc_deleted(kind.as_str());
            }
            Action::ReportProblem(problem) => {
                if self.metrics.report_problem(problem) {
                    tracing::warn!(
                        kind = ?problem.kind,
                        subject = %problem.subject,
                        "{}",
                        problem.detail
                    );
                }
            }
            Action::Emit(event) => self.metrics.event(event),
        }
        Ok(())
    }

    async fn check_guards(
        &self,
        lock: &LockGuard,
        rollout: Option<&RolloutGuard>,
    ) -> Result<(), ApplyError> {
        self.check_lock(lock).await?;
        if let Some(rollout) = rollout {
            self.check_rollout(rollout).await?;
        }
        Ok(())
    }

    /// The sequencer check: `key` is held by `session` in a consistent read.
    async fn check_lock(&self, guard: &LockGuard) -> Result<(), ApplyError> {
        let pair = self
            .consul
            .kv_get(&guard.key, Consistency::Consistent)
            .await?;
        let holder = pair.and_then(|p| p.session);
        if holder.as_deref() == Some(guard.session.as_str()) {
            Ok(())
        } else {
            Err(ApplyError::Refused(format!(
                "{} is no longer held by session {}",
                guard.key, guard.session
            )))
        }
    }

    /// The rollout at `guard.key` is still generation `guard.generation` and rolling (or
    /// stuck, for the retry of a stuck restart on the slot it holds): its `ModifyIndex` then.
    async fn check_rollout(&self, guard: &RolloutGuard) -> Result<u64, ApplyError> {
        let pair = self
            .consul
            .kv_get(&guard.key, Consistency::Consistent)
            .await?;
        let index = pair.as_ref().map_or(0, |p| p.modify_index);
        let record = pair
            .and_then(|p| String::from_utf8(p.value).ok())
            .and_then(|text| RolloutRecord::from_json(&text).ok());
        let accepted = |state: RolloutState| {
            state == RolloutState::Rolling || (guard.also_stuck && state == RolloutState::Stuck)
        };
        match record {
            Some(r) if r.generation == guard.generation && accepted(r.state) => Ok(index),
            _ => Err(ApplyError::Refused(format!(
                "rollout {} generation {} is no longer rolling",
                guard.key, guard.generation
            ))),
        }
    }
}
