//! The tags every shipped line carries: where the task runs (node, datacenter), what it is
//! (namespace, job, group, task, alloc ID, alloc index), which output (stream), and the task
//! meta keys named in `logs.meta_tags`, resolved task over group over job. A stream's tags are
//! computed once, with their JSON form, when the stream is tracked.

use std::collections::BTreeMap;

use super::encode::write_json_str;
use super::line::Stream;

/// Tag names of the built-in tags, in the order they are written.
pub const BUILTIN_TAGS: [&str; 9] = [
    "node",
    "datacenter",
    "namespace",
    "job",
    "group",
    "task",
    "alloc_id",
    "alloc_index",
    "stream",
];

/// The Nomad metadata of one task of one allocation, as the agent knows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskTags {
    pub node: String,
    pub datacenter: String,
    pub namespace: String,
    pub job: String,
    pub group: String,
    pub task: String,
    pub alloc_id: String,
    pub alloc_index: u32,
    /// Selected meta keys and their resolved values (see [`resolve_meta`]), in the order of
    /// `logs.meta_tags`.
    pub meta: Vec<(String, String)>,
}

/// The values of the meta keys `keys`, each taken from the task's meta, else the group's,
/// else the job's (Nomad's own precedence); keys set nowhere are left out, and so are keys
/// that would shadow a built-in tag.
pub fn resolve_meta(
    keys: &[String],
    task: &BTreeMap<String, String>,
    group: &BTreeMap<String, String>,
    job: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    keys.iter()
        .filter(|key| !BUILTIN_TAGS.contains(&key.as_str()))
        .filter_map(|key| {
            let value = task
                .get(key)
                .or_else(|| group.get(key))
                .or_else(|| job.get(key))?;
            Some((key.clone(), value.clone()))
        })
        .collect()
}

/// The tags of one stream: name/value pairs in a fixed order, and the same as a JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTags {
    pairs: Vec<(String, String)>,
    json: String,
}

impl StreamTags {
    pub fn new(task: &TaskTags, stream: Stream) -> Self {
        let mut pairs: Vec<(String, String)> = [
            ("node", task.node.clone()),
            ("datacenter", task.datacenter.clone()),
            ("namespace", task.namespace.clone()),
            ("job", task.job.clone()),
            ("group", task.group.clone()),
            ("task", task.task.clone()),
            ("alloc_id", task.alloc_id.clone()),
            ("alloc_index", task.alloc_index.to_string()),
            ("stream", stream.as_str().to_string()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
        for (key, value) in &task.meta {
            if !pairs.iter().any(|(name, _)| name == key) {
                pairs.push((key.clone(), value.clone()));
            }
        }
        let json = json_object(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Self { pairs, json }
    }

    /// Every tag, built-in ones first.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// All tags as one JSON object.
    pub fn json(&self) -> &str {
        &self.json
    }
}

/// A JSON object of string values.
pub fn json_object<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = Vec::with_capacity(256);
    out.push(b'{');
    for (i, (key, value)) in pairs.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(&mut out, key.as_bytes());
        out.push(b':');
        write_json_str(&mut out, value.as_bytes());
    }
    out.push(b'}');
    // Only valid UTF-8 went in, escaped.
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn meta_resolves_task_over_group_over_job() {
        let keys: Vec<String> = ["team", "tier", "owner", "missing", "job"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let resolved = resolve_meta(
            &keys,
            &map(&[("team", "task-team")]),
            &map(&[("team", "group-team"), ("tier", "group-tier")]),
            &map(&[("tier", "job-tier"), ("owner", "job-owner"), ("job", "x")]),
        );
        assert_eq!(
            resolved,
            vec![
                ("team".to_string(), "task-team".to_string()),
                ("tier".to_string(), "group-tier".to_string()),
                ("owner".to_string(), "job-owner".to_string()),
            ]
        );
    }

    #[test]
    fn stream_tags_are_ordered_and_encoded_once() {
        let task = TaskTags {
            node: "n1".into(),
            datacenter: "dc1".into(),
            namespace: "default".into(),
            job: "web".into(),
            group: "g".into(),
            task: "t\"x".into(),
            alloc_id: "a-1".into(),
            alloc_index: 3,
            meta: vec![("team".into(), "blue".into())],
        };
        let tags = StreamTags::new(&task, Stream::Stderr);
        assert_eq!(tags.get("stream"), Some("stderr"));
        assert_eq!(tags.get("alloc_index"), Some("3"));
        assert_eq!(
            tags.json(),
            r#"{"node":"n1","datacenter":"dc1","namespace":"default","job":"web","group":"g","task":"t\"x","alloc_id":"a-1","alloc_index":"3","stream":"stderr","team":"blue"}"#
        );
    }
}
