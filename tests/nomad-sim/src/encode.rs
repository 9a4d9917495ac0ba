//! Nomad's JSON encoding rules for responses: object keys written in sorted order (go-msgpack
//! sorts struct fields by name), compact output or 4-space indentation with `?pretty`, and
//! `omitempty` for the structs that carry it (Allocation, NetworkResource, Port).
//!
//! The writer sorts keys itself so the output does not depend on serde_json's map type.

use serde_json::{Map, Value};

/// Compact JSON with sorted keys.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write(&mut out, value, None, 0);
    out
}

/// JSON with sorted keys, indented by 4 spaces and ending in a newline, as `?pretty` does.
pub fn to_pretty_string(value: &Value) -> String {
    let mut out = String::new();
    write(&mut out, value, Some(4), 0);
    out.push('\n');
    out
}

fn write(out: &mut String, value: &Value, indent: Option<usize>, depth: usize) {
    let newline = |out: &mut String, depth: usize| {
        if let Some(width) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(width * depth));
        }
    };
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                out.push_str(&Value::String((*key).clone()).to_string());
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write(out, &map[key.as_str()], indent, depth + 1);
            }
            newline(out, depth);
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write(out, item, indent, depth + 1);
            }
            newline(out, depth);
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Whether go-msgpack's `omitempty` leaves this value out: `""`, `0`, `false`, `null`, an empty
/// map or slice, or a struct whose fields are all nil (Allocation's `DesiredTransition`).
pub fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty() || o.values().all(Value::is_null),
    }
}

/// Drops the empty fields of one struct encoded as an object (not of nested ones).
pub fn omit_empty(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter().filter(|(_, v)| !is_empty(v)).collect()
}

/// Applies `omit_empty` to a list of NetworkResource objects and to the ports inside them.
pub fn omit_empty_networks(networks: &mut Value) {
    let Value::Array(list) = networks else {
        return;
    };
    for net in list.iter_mut() {
        if let Value::Object(map) = net {
            for ports in ["DynamicPorts", "ReservedPorts"] {
                if let Some(Value::Array(items)) = map.get_mut(ports) {
                    for port in items.iter_mut() {
                        if let Value::Object(p) = port {
                            *p = omit_empty(std::mem::take(p));
                        }
                    }
                }
            }
            *map = omit_empty(std::mem::take(map));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_come_out_sorted() {
        let v = json!({"b": 1, "a": {"z": null, "y": [1, {"d": 2, "c": 3}]}});
        assert_eq!(
            to_string(&v),
            r#"{"a":{"y":[1,{"c":3,"d":2}],"z":null},"b":1}"#
        );
        assert!(to_pretty_string(&v).starts_with("{\n    \"a\": {\n"));
    }

    #[test]
    fn omitempty_matches_go_msgpack() {
        let m = json!({"A": "", "B": 0, "C": false, "D": null, "E": [], "F": {"X": null}, "G": 1})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert_eq!(Value::Object(omit_empty(m)), json!({"G": 1}));
    }
}
