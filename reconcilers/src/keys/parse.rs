//! Parsing full keys back into `Key`. Strict: a key that `Key::render` would not produce
//! exactly is an error, so the garbage collector never acts on a key it did not write.
//!
//! `keys/` holds raw names: see `trigger` for how its two layouts are told apart and why only
//! the job name may span segments there.

use super::escape::unescape;
use super::trigger;
use super::{Key, Prefix};
use crate::model::TaskId;

/// Why a key is not one of the layout.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key does not start with the prefix.
    #[error("key {0:?} is outside the prefix")]
    OutsidePrefix(String),
    /// The key is under the prefix but matches no layout entry.
    #[error("key {0:?} matches no entry of the key layout")]
    Unrecognised(String),
}

/// Parses a full key (prefix included).
pub fn parse(prefix: &Prefix, full_key: &str) -> Result<Key, KeyError> {
    let rest = full_key
        .strip_prefix(prefix.as_str())
        .ok_or_else(|| KeyError::OutsidePrefix(full_key.to_owned()))?;
    let unrecognised = || KeyError::Unrecognised(full_key.to_owned());
    let segments: Vec<&str> = rest.split('/').collect();
    let key = match segments.as_slice() {
        ["keys", rest @ ..] => Key::Trigger(trigger::parse(rest).ok_or_else(unrecognised)?),
        ["rollouts", ns, job, group, task] => {
            Key::Rollout(task_id(ns, job, group, task).ok_or_else(unrecognised)?)
        }
        ["locks", ns, job, group, task, "task_lock"] => {
            Key::TaskLock(task_id(ns, job, group, task).ok_or_else(unrecognised)?)
        }
        ["locks", ns, job, group, task, "restart_lock", n] => Key::Slot(
            task_id(ns, job, group, task).ok_or_else(unrecognised)?,
            parse_index(n).ok_or_else(unrecognised)?,
        ),
        ["state", node, alloc_id, task] => Key::State {
            node: unescape(node).ok_or_else(unrecognised)?,
            alloc_id: unescape(alloc_id).ok_or_else(unrecognised)?,
            task: unescape(task).ok_or_else(unrecognised)?,
        },
        ["agents", node] => Key::Agent {
            node: unescape(node).ok_or_else(unrecognised)?,
        },
        _ => return Err(unrecognised()),
    };
    Ok(key)
}

fn task_id(ns: &str, job: &str, group: &str, task: &str) -> Option<TaskId> {
    Some(TaskId {
        namespace: unescape(ns)?,
        job: unescape(job)?,
        group: unescape(group)?,
        task: unescape(task)?,
    })
}

/// A decimal index without sign or leading zeros.
fn parse_index(text: &str) -> Option<u32> {
    let n: u32 = text.parse().ok()?;
    (n.to_string() == text).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_key_takes_the_middle_as_job_name() {
        let prefix = Prefix::default();
        let key = parse(&prefix, "shepard/keys/n1/batch/dispatch-1/g/t/3");
        assert_eq!(key, Ok(Key::trigger("n1", "batch/dispatch-1", "g", "t", 3)));
        let key = parse(
            &prefix,
            "shepard/keys/n1/default/batch/dispatch-1/g/t/5f1c-aa",
        );
        assert_eq!(
            key,
            Ok(Key::alloc_trigger(
                "n1",
                "default",
                "batch/dispatch-1",
                "g",
                "t",
                "5f1c-aa"
            ))
        );
    }

    #[test]
    fn rejects_foreign_and_malformed_keys() {
        let prefix = Prefix::default();
        assert!(matches!(
            parse(&prefix, "other/x"),
            Err(KeyError::OutsidePrefix(_))
        ));
        assert!(matches!(
            parse(&prefix, "shepard/state/n/a"),
            Err(KeyError::Unrecognised(_))
        ));
        assert!(matches!(
            parse(&prefix, "shepard/locks/d/j/g/t/restart_lock/01"),
            Err(KeyError::Unrecognised(_))
        ));
        for bad in [
            "shepard/keys/n/g/t/1",
            "shepard/keys/n/ns/g/t/a1",
            "shepard/keys/n/../g/t/1",
            "shepard/keys/n/ns/j//t/a1",
        ] {
            assert!(
                matches!(parse(&prefix, bad), Err(KeyError::Unrecognised(_))),
                "{bad}"
            );
        }
    }
}
