//! A structural JSON comparer: walks a published Nomad sample and the simulator's response
//! for the same kind of object and reports the first difference, with its path. Checked:
//! the same field names at every level both documents have (fields only one side has must be
//! listed, with a reason, in the rules), the same JSON types (`null` accepted where Go has a
//! nil pointer, slice or map, and for times, where zero times are `null`), struct keys in
//! sorted order in the simulator's raw text, and no `0001-01-01T00:00:00Z` zero times.
//!
//! Paths look like `TaskStates.*.Events[].Type`: `*` stands for any key of a data map
//! (Meta, TaskStates, …) and `[]` for any array element. Array elements (and map values) of
//! the sample are merged into one schema before comparing.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The first difference found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub path: String,
    pub what: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at `{}`: {}", self.path, self.what)
    }
}

/// What the comparison tolerates, each entry a path pattern (and the reason it is allowed).
#[derive(Debug, Default, Clone)]
pub struct Rules {
    /// Objects whose keys are data (Go maps), not field names.
    maps: Vec<String>,
    /// Fields the simulator sends that the sample lacks.
    sim_only: Vec<(String, String)>,
    /// Fields of the sample the simulator leaves out.
    sample_only: Vec<(String, String)>,
    /// Fields whose JSON type changed since the sample was published.
    retyped: Vec<(String, String)>,
    /// Values not compared at all (free-form driver config).
    opaque: Vec<String>,
    /// Go pointers to scalars (`*time.Duration`, `*bool`): `null` when unset.
    nullable: Vec<String>,
}

impl Rules {
    pub fn map(&mut self, path: impl Into<String>) -> &mut Self {
        self.maps.push(path.into());
        self
    }

    pub fn sim_only(&mut self, path: impl Into<String>, reason: &str) -> &mut Self {
        self.sim_only.push((path.into(), reason.into()));
        self
    }

    pub fn sample_only(&mut self, path: impl Into<String>, reason: &str) -> &mut Self {
        self.sample_only.push((path.into(), reason.into()));
        self
    }

    pub fn retyped(&mut self, path: impl Into<String>, reason: &str) -> &mut Self {
        self.retyped.push((path.into(), reason.into()));
        self
    }

    pub fn nullable(&mut self, path: impl Into<String>) -> &mut Self {
        self.nullable.push(path.into());
        self
    }

    pub fn opaque(&mut self, path: impl Into<String>) -> &mut Self {
        self.opaque.push(path.into());
        self
    }

    fn is_map(&self, path: &str) -> bool {
        self.maps.iter().any(|m| m == path)
    }
}

/// Compares the simulator's raw response text with a sample document; the first difference.
pub fn compare(sample: &Value, sim_text: &str, rules: &Rules) -> Result<(), Difference> {
    match differences(sample, sim_text, rules).into_iter().next() {
        Some(d) => Err(d),
        None => Ok(()),
    }
}

/// Every difference, in document order (key order sorted), sortedness and parse errors first.
pub fn differences(sample: &Value, sim_text: &str, rules: &Rules) -> Vec<Difference> {
    match check_text(sample, sim_text, rules) {
        Ok(all) => all,
        Err(d) => vec![d],
    }
}

fn check_text(
    sample: &Value,
    sim_text: &str,
    rules: &Rules,
) -> Result<Vec<Difference>, Difference> {
    let ordered: Ordered = serde_json::from_str(sim_text).map_err(|e| Difference {
        path: String::new(),
        what: format!("simulator response is not JSON: {e}"),
    })?;
    check_sorted(&ordered, "", rules)?;
    let sim: Value = serde_json::from_str(sim_text).map_err(|e| Difference {
        path: String::new(),
        what: e.to_string(),
    })?;
    let mut out = Vec::new();
    walk(sample, &sim, "", rules, &mut out);
    Ok(out)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn looks_like_time(s: &str) -> bool {
    s.len() >= 20 && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T'
}

/// Union of several sample values into one schema (objects merged key by key).
fn merge(values: Vec<&Value>) -> Value {
    let mut out = Value::Null;
    for v in values {
        out = match (out, v) {
            (Value::Null, v) => v.clone(),
            (Value::Object(mut a), Value::Object(b)) => {
                for (k, bv) in b {
                    let merged = match a.remove(k) {
                        Some(av) => merge(vec![&av, bv]),
                        None => bv.clone(),
                    };
                    a.insert(k.clone(), merged);
                }
                Value::Object(a)
            }
            (Value::Array(a), Value::Array(b)) => {
                let all: Vec<&Value> = a.iter().chain(b.iter()).collect();
                let m = merge(all);
                if m.is_null() {
                    Value::Array(vec![])
                } else {
                    Value::Array(vec![m])
                }
            }
            (a, _) => a,
        };
    }
    out
}

fn walk(sample: &Value, sim: &Value, path: &str, rules: &Rules, out: &mut Vec<Difference>) {
    let mut diff = |what: String| {
        out.push(Difference {
            path: path.to_string(),
            what,
        })
    };
    if rules.opaque.iter().any(|o| o == path) {
        return;
    }
    match (sample, sim) {
        (Value::Null, _) => {}
        (Value::String(s), _) if s == "0001-01-01T00:00:00Z" && sim.is_null() => {}
        (Value::String(s), Value::Null) if looks_like_time(s) => {}
        (Value::Object(_) | Value::Array(_), Value::Null) => {}
        (_, Value::Null) if rules.nullable.iter().any(|n| n == path) => {}
        (_, Value::String(s)) if s == "0001-01-01T00:00:00Z" => {
            diff("zero time must be encoded as null".into())
        }
        (Value::Array(items), Value::Array(sim_items)) => {
            let schema = merge(items.iter().collect());
            if !schema.is_null() {
                let element = format!("{path}[]");
                for item in sim_items {
                    walk(&schema, item, &element, rules, out);
                }
            }
        }
        (Value::Object(s), Value::Object(m)) if rules.is_map(path) => {
            let schema = merge(s.values().collect());
            if !schema.is_null() {
                let child = join(path, "*");
                for v in m.values() {
                    walk(&schema, v, &child, rules, out);
                }
            }
        }
        (Value::Object(s), Value::Object(m)) => {
            let mut keys: Vec<&String> = s.keys().chain(m.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let child = join(path, key);
                match (s.get(key), m.get(key)) {
                    (Some(sv), Some(mv)) => walk(sv, mv, &child, rules, out),
                    (Some(_), None) if !listed(&rules.sample_only, &child) => {
                        out.push(Difference {
                            path: child,
                            what: "field of the sample missing from the simulator".into(),
                        });
                    }
                    (None, Some(_)) if !listed(&rules.sim_only, &child) => {
                        out.push(Difference {
                            path: child,
                            what: "field not in the sample".into(),
                        });
                    }
                    _ => {}
                }
            }
        }
        (Value::Number(_), Value::Number(n)) if sample.is_f64() || !n.is_f64() => {}
        (a, b) if kind(a) == kind(b) => {}
        _ if listed(&rules.retyped, path) => {}
        (a, b) => diff(format!(
            "type {} in the sample, {} from the simulator",
            kind(a),
            kind(b)
        )),
    }
}

fn listed(list: &[(String, String)], path: &str) -> bool {
    list.iter().any(|(p, _)| p == path)
}

/// JSON as written, object keys in their original order.
enum Ordered {
    Scalar,
    Array(Vec<Ordered>),
    Object(Vec<(String, Ordered)>),
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Ordered::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Ordered>()? {
                    entries.push((k, v));
                }
                Ok(Ordered::Object(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// Struct keys must come sorted (go-msgpack sorts struct fields; maps are exempt).
fn check_sorted(v: &Ordered, path: &str, rules: &Rules) -> Result<(), Difference> {
    match v {
        Ordered::Scalar => Ok(()),
        Ordered::Array(items) => {
            let element = format!("{path}[]");
            items
                .iter()
                .try_for_each(|i| check_sorted(i, &element, rules))
        }
        Ordered::Object(entries) => {
            let is_map = rules.is_map(path);
            if !is_map && let Some(w) = entries.windows(2).find(|w| w[0].0 > w[1].0) {
                return Err(Difference {
                    path: path.to_string(),
                    what: format!("keys not sorted: {:?} before {:?}", w[0].0, w[1].0),
                });
            }
            entries.iter().try_for_each(|(k, child)| {
                let p = if is_map {
                    join(path, "*")
                } else {
                    join(path, k)
                };
                check_sorted(child, &p, rules)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> Rules {
        let mut r = Rules::default();
        r.map("Meta");
        r
    }

    #[test]
    fn finds_renamed_fields_types_order_and_zero_times() {
        let sample =
            json!({"A": 1, "B": {"C": "x"}, "Meta": {"k": "v"}, "T": "2020-01-01T00:00:00Z"});
        let ok = r#"{"A":2,"B":{"C":"y"},"Meta":{"z":"1","a":"2"},"T":null}"#;
        assert_eq!(compare(&sample, ok, &rules()), Ok(()));
        let renamed = r#"{"A":2,"B":{"c":"y"},"Meta":{},"T":null}"#;
        assert_eq!(compare(&sample, renamed, &rules()).unwrap_err().path, "B.C");
        let retyped = r#"{"A":"2","B":{"C":"y"},"Meta":{},"T":null}"#;
        assert!(
            compare(&sample, retyped, &rules())
                .unwrap_err()
                .what
                .contains("type integer")
        );
        let unsorted = r#"{"B":{"C":"y"},"A":2,"Meta":{},"T":null}"#;
        assert!(
            compare(&sample, unsorted, &rules())
                .unwrap_err()
                .what
                .contains("not sorted")
        );
        let zero = r#"{"A":2,"B":{"C":"y"},"Meta":{},"T":"0001-01-01T00:00:00Z"}"#;
        assert!(
            compare(&sample, zero, &rules())
                .unwrap_err()
                .what
                .contains("zero time")
        );
    }

    #[test]
    fn array_elements_are_merged_and_allowances_apply() {
        let sample = json!([{"Type": "a", "X": 1}, {"Type": "b", "Y": 2}]);
        assert_eq!(
            compare(&sample, r#"[{"Type":"c","X":1,"Y":3}]"#, &Rules::default()),
            Ok(())
        );
        let extra = r#"[{"Type":"c","X":1,"Y":3,"Z":0}]"#;
        assert_eq!(
            compare(&sample, extra, &Rules::default()).unwrap_err().path,
            "[].Z"
        );
        let mut allowed = Rules::default();
        allowed.sim_only("[].Z", "newer field");
        assert_eq!(compare(&sample, extra, &allowed), Ok(()));
    }
}
