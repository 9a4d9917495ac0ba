//! Keys for arbitrary Nomad names (`/`, `%`, `.`, `..`, empty, control characters, unicode):
//! escaped keys round-trip for every name; a trigger key (raw names) is accepted exactly when
//! it stays one unambiguous path under the prefix, and accepted ones never collide.

use proptest::prelude::*;
use shepard_reconcilers::keys::{TriggerKey, TriggerLayout, escape, parse};
use shepard_reconcilers::model::TaskId;
use shepard_reconcilers::{Key, Prefix};

pub fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9 ./%_ü\\\\-]{0,12}",
        "[a-z]{0,3}(/[a-z.]{0,3}){0,3}",
        "\\PC{1,6}",
        Just(String::new()),
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just("a/b".to_owned()),
        Just("a/../b".to_owned()),
        Just("a\u{7}b".to_owned()),
        Just("100%".to_owned()),
        Just("7".to_owned()),
    ]
}

pub fn no_slash() -> impl Strategy<Value = String> {
    name().prop_map(|n| n.replace('/', "_"))
}

fn layout() -> impl Strategy<Value = TriggerLayout> {
    prop_oneof![Just(TriggerLayout::Legacy), Just(TriggerLayout::AllocId)]
}

/// The names of one trigger key: node, namespace, job name, group, task, alloc ID.
type Names = (String, String, String, String, String, String);

fn names<S: Strategy<Value = String>>(name: impl Fn() -> S) -> impl Strategy<Value = Names> {
    (name(), name(), name(), name(), name(), name())
}

fn trigger(layout: TriggerLayout, n: &Names, index: u32) -> TriggerKey {
    TriggerKey::new(layout, &n.0, &n.1, &n.2, &n.3, &n.4, (&n.5, index))
}

/// A segment a key may hold: not empty, not `.` or `..`, no control character.
fn segment_ok(segment: &str) -> bool {
    !matches!(segment, "" | "." | "..") && !segment.chars().any(char::is_control)
}

proptest! {
    #[test]
    fn escaped_keys_round_trip(ns in name(), job in name(), group in name(), task in name(), node in name(), alloc in name(), n in 0u32..64) {
        let prefix = Prefix::default();
        let id = TaskId { namespace: ns, job, group, task: task.clone() };
        let keys = [
            Key::Rollout(id.clone()),
            Key::TaskLock(id.clone()),
            Key::Slot(id, n),
            Key::State { node: node.clone(), alloc_id: alloc, task },
            Key::Agent { node },
        ];
        for key in keys {
            let full = key.render(&prefix);
            prop_assert_eq!(parse(&prefix, &full), Ok(key));
            let relative = &full[prefix.as_str().len()..];
            prop_assert!(relative.split('/').all(segment_ok), "bad segment in {:?}", full);
        }
    }

    #[test]
    fn trigger_keys_are_refused_exactly_when_they_would_not_stay_one_path(layout in layout(), n in names(name), index in 0u32..1000) {
        let prefix = Prefix::new("shepard");
        let key = trigger(layout, &n, index);
        let full = Key::Trigger(key.clone()).render(&prefix);
        prop_assert!(full.starts_with("shepard/keys/"));
        let relative = &full["shepard/".len()..];
        let stays = relative.split('/').all(segment_ok)
            && parse(&prefix, &full) == Ok(Key::Trigger(key.clone()));
        prop_assert_eq!(key.check().is_ok(), stays, "{:?} -> {:?}: {:?}", key, full, key.check());
    }

    #[test]
    fn trigger_keys_of_plain_names_are_what_the_templates_render(node in no_slash(), ns in no_slash(), job in name(), group in no_slash(), task in no_slash(), alloc in no_slash(), index in 0u32..1000) {
        let prefix = Prefix::new("shepard");
        let n = (node.clone(), ns.clone(), job.clone(), group.clone(), task.clone(), alloc.clone());
        let legacy = Key::Trigger(trigger(TriggerLayout::Legacy, &n, index)).render(&prefix);
        prop_assert_eq!(legacy, format!("shepard/keys/{node}/{job}/{group}/{task}/{index}"));
        let by_id = Key::Trigger(trigger(TriggerLayout::AllocId, &n, index)).render(&prefix);
        prop_assert_eq!(by_id, format!("shepard/keys/{node}/{ns}/{job}/{group}/{task}/{alloc}"));
    }

    #[test]
    fn distinct_accepted_trigger_keys_never_collide(
        a in (layout(), names(|| "[ab./]{0,3}"), 0u32..3),
        b in (layout(), names(|| "[ab./]{0,3}"), 0u32..3),
    ) {
        let (ka, kb) = (trigger(a.0, &a.1, a.2), trigger(b.0, &b.1, b.2));
        if ka.check().is_ok() && kb.check().is_ok() {
            prop_assert_eq!(ka == kb, ka.to_string() == kb.to_string(), "{:?} {:?}", ka, kb);
        }
    }

    #[test]
    fn escaping_is_injective(a in name(), b in name()) {
        prop_assert_eq!(escape(&a) == escape(&b), a == b);
    }
}
