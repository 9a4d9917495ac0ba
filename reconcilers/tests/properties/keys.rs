//! Key build/parse round-trips for arbitrary Nomad names (`/`, `%`, spaces, unicode, `..`).

use proptest::prelude::*;
use shepard_reconcilers::keys::{escape, parse};
use shepard_reconcilers::model::TaskId;
use shepard_reconcilers::{Key, Prefix};

pub fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9 ./%_ü-]{0,12}",
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just("a/b".to_owned()),
        Just("100%".to_owned()),
    ]
}

pub fn no_slash() -> impl Strategy<Value = String> {
    name().prop_map(|n| n.replace('/', "_"))
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
            prop_assert!(relative.split('/').all(|s| s != "." && s != ".."), "dot segment in {}", full);
        }
    }

    #[test]
    fn trigger_keys_round_trip_with_raw_names(node in no_slash(), job in name(), group in no_slash(), task in no_slash(), index in 0u32..1000) {
        let prefix = Prefix::new("shepard");
        let key = Key::trigger(&node, &job, &group, &task, index);
        let full = key.render(&prefix);
        prop_assert_eq!(&full, &format!("shepard/keys/{node}/{job}/{group}/{task}/{index}"));
        prop_assert_eq!(parse(&prefix, &full), Ok(key));
    }

    #[test]
    fn escaping_is_injective(a in name(), b in name()) {
        prop_assert_eq!(escape(&a) == escape(&b), a == b);
    }
}
