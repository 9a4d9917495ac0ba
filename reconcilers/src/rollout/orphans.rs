//! Claims nobody will end: an in-flight record of an allocation that Nomad lists as stopped or
//! lost (its node went down, or it was stopped while its agent was gone) keeps its slot taken,
//! and only its own agent would end it. The rollout leader ends such claims: it writes the
//! record without its restart, by CAS on the index it read, and counts the restart as ended by
//! the allocation stopping. A stopped allocation never runs again in Nomad (a replacement is a
//! new allocation), so the slot serves the next restart at no risk to `max_parallel`; the slot's
//! lock, if the dead agent's session still holds it, goes with that session's TTL.

use crate::action::{Action, Decision, Event, RestartResult};
use crate::context::Context;
use crate::keys::Key;
use crate::model::{AllocRecord, Phase};
use crate::time::Timestamp;

use super::RolloutObservation;

/// Ends the claims of allocations listed as no longer meant to run.
pub(super) fn clear_claims(
    obs: &RolloutObservation<'_>,
    ctx: &Context,
    now: Timestamp,
    decision: &mut Decision,
) {
    for member in obs.members.iter().filter(|m| !m.status.should_run()) {
        let key =
            Key::state(&member.alloc.node, &member.alloc.id, &obs.task.task).render(&ctx.prefix);
        let Some(entry) = obs.kv.get(&key) else {
            continue;
        };
        let Some(record) = entry
            .value
            .as_deref()
            .and_then(|v| AllocRecord::from_json(v).ok())
            .filter(|r| r.task == obs.task && r.claimed_slot().is_some())
        else {
            continue;
        };
        let mut ended = record.without_restart();
        ended.phase = if ended.target.is_empty() {
            Phase::InSync
        } else {
            Phase::Drifted
        };
        ended.last_error = Some(format!(
            "claim ended by the rollout leader on {}: Nomad lists the allocation as {:?}/{:?}",
            ctx.node, member.status.desired, member.status.client
        ));
        ended.updated_at = now;
        decision.push(Action::WriteAllocRecord {
            key,
            record: ended,
            cas: entry.modify_index,
            lock: None,
            unchanged: Vec::new(),
        });
        decision.push(Action::Emit(Event::RestartFinished {
            task: obs.task.clone(),
            alloc_id: member.alloc.id.clone(),
            result: RestartResult::AllocStopped,
            // The trigger time is another host's clock: no duration is measured against it.
            duration: std::time::Duration::ZERO,
        }));
    }
}
