//! Who collects the cluster-wide keys: the holder of `<prefix>locks/gc`, a lock taken with the
//! agent's session like a rollout's `task_lock`. Every agent collects its own node's keys; only
//! the holder also collects `rollouts/`, `locks/`, `agents/` and other nodes' subtrees, so a
//! cluster of 500 agents does not issue 500 deletes per garbage key. Leadership is an
//! optimisation, not a safety device: every delete is a CAS, and the agent re-reads the lock
//! with `?consistent` before deleting cluster-wide keys.

use super::GcScope;
use crate::action::Action;
use crate::context::Context;
use crate::keys::Prefix;
use crate::model::{KvView, LockHolder, SessionId};
use crate::time::Timestamp;

/// The GC lock key (full). Not part of the key layout of [`crate::keys`]: GC skips it.
pub fn lock_key(prefix: &Prefix) -> String {
    format!("{}locks/gc", prefix.as_str())
}

/// This agent's part in GC, from one KV listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GcLead {
    /// What this pass may collect.
    pub scope: GcScope,
    /// `AcquireTaskLock` of the GC lock when it is free and we have a session (the same
    /// `?acquire` recipe as a rollout leader lock). The pass that acquires stays
    /// [`GcScope::Node`]: the next listing shows whether the acquire won.
    pub acquire: Option<Action>,
}

/// Decides this agent's part: [`GcScope::Cluster`] while our session holds the GC lock.
pub fn lead_gc(kv: &KvView, ctx: &Context, session: Option<&SessionId>, now: Timestamp) -> GcLead {
    let key = lock_key(&ctx.prefix);
    let holder = kv.get(&key).and_then(|e| e.session.as_ref());
    match (session, holder) {
        (Some(ours), Some(holder)) if ours == holder => GcLead {
            scope: GcScope::Cluster,
            acquire: None,
        },
        (Some(ours), None) => GcLead {
            scope: GcScope::Node,
            acquire: Some(Action::AcquireTaskLock {
                key,
                session: ours.clone(),
                holder: LockHolder {
                    node: ctx.node.clone(),
                    acquired_at: now,
                },
            }),
        },
        _ => GcLead {
            scope: GcScope::Node,
            acquire: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KvEntry;

    fn kv_with_lock(session: Option<&str>) -> KvView {
        let mut kv = KvView::new();
        kv.insert(
            "shepard/locks/gc".into(),
            KvEntry {
                value: Some("{}".into()),
                modify_index: 7,
                session: session.map(|s| SessionId(s.into())),
            },
        );
        kv
    }

    #[test]
    fn the_holder_collects_the_cluster() {
        let ctx = Context::new("n1");
        let me = SessionId("s1".into());
        let lead = lead_gc(&kv_with_lock(Some("s1")), &ctx, Some(&me), Timestamp::EPOCH);
        assert_eq!(lead.scope, GcScope::Cluster);
        assert_eq!(lead.acquire, None);
    }

    #[test]
    fn another_holder_leaves_this_agent_its_node() {
        let ctx = Context::new("n1");
        let me = SessionId("s1".into());
        let lead = lead_gc(&kv_with_lock(Some("s2")), &ctx, Some(&me), Timestamp::EPOCH);
        assert_eq!(lead.scope, GcScope::Node);
        assert_eq!(lead.acquire, None);
    }

    #[test]
    fn a_free_lock_is_acquired_with_our_session_and_the_pass_stays_local() {
        let ctx = Context::new("n1");
        let me = SessionId("s1".into());
        for kv in [KvView::new(), kv_with_lock(None)] {
            let lead = lead_gc(&kv, &ctx, Some(&me), Timestamp::EPOCH);
            assert_eq!(lead.scope, GcScope::Node);
            assert!(matches!(
                lead.acquire,
                Some(Action::AcquireTaskLock { ref key, ref session, .. })
                    if key == "shepard/locks/gc" && *session == me
            ));
        }
    }

    #[test]
    fn without_a_session_nothing_is_acquired() {
        let ctx = Context::new("n1");
        let lead = lead_gc(&KvView::new(), &ctx, None, Timestamp::EPOCH);
        assert_eq!(lead.scope, GcScope::Node);
        assert_eq!(lead.acquire, None);
    }
}
