//! Trigger keys (`keys/…`): the two layouts a trigger template can render, which one a
//! template renders, and which raw names may appear in them. Unlike every other key, a trigger
//! key holds Nomad's names unescaped (the template computes it with `printf`), so a name is
//! only usable when the key it makes stays one unambiguous path under the prefix.
//!
//! - Alloc-ID layout: `keys/<node>/<namespace>/<job name>/<group>/<task>/<alloc_id>`, one key
//!   per allocation.
//! - Legacy layout: `keys/<node>/<job name>/<group>/<task>/<alloc index>`. Two allocations of
//!   one node can render the same key (same job name in two namespaces; a canary or a
//!   replacement that reuses a live allocation's index); `crate::trigger` refuses such keys.
//!
//! A job name may hold `/` (dispatched and periodic children: `batch/dispatch-…`): the parse
//! takes the segments between the fixed ones as the job name. Every other name is one segment.
//! The last segment tells the layouts apart: a decimal index, or an allocation ID (which is
//! therefore never a decimal number).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which layout a trigger template renders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerLayout {
    /// `keys/<node>/<job name>/<group>/<task>/<alloc index>`.
    Legacy,
    /// `keys/<node>/<namespace>/<job name>/<group>/<task>/<alloc_id>`.
    AllocId,
}

/// The environment variable whose use marks the alloc-ID layout.
const ALLOC_ID_VAR: &str = "NOMAD_ALLOC_ID";

impl TriggerLayout {
    /// The layout a trigger template's text renders: one that reads `NOMAD_ALLOC_ID` names the
    /// allocation; any other (`NOMAD_ALLOC_INDEX`, or a text shepard cannot see) is legacy.
    pub fn of_template(text: &str) -> Self {
        let mentions = text.match_indices(ALLOC_ID_VAR).any(|(at, _)| {
            let after = text[at + ALLOC_ID_VAR.len()..].chars().next();
            !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
        });
        if mentions {
            TriggerLayout::AllocId
        } else {
            TriggerLayout::Legacy
        }
    }
}

/// What one trigger key names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TriggerKey {
    /// `keys/<node>/<job name>/<group>/<task>/<alloc index>`.
    Legacy {
        /// Node name (`node.unique.name`).
        node: String,
        /// Job name (`NOMAD_JOB_NAME`).
        job_name: String,
        /// Group name.
        group: String,
        /// Task name.
        task: String,
        /// `NOMAD_ALLOC_INDEX`.
        alloc_index: u32,
    },
    /// `keys/<node>/<namespace>/<job name>/<group>/<task>/<alloc_id>`.
    AllocId {
        /// Node name (`node.unique.name`).
        node: String,
        /// `NOMAD_NAMESPACE`.
        namespace: String,
        /// Job name (`NOMAD_JOB_NAME`).
        job_name: String,
        /// Group name.
        group: String,
        /// Task name.
        task: String,
        /// `NOMAD_ALLOC_ID`.
        alloc_id: String,
    },
}

/// Which name of a trigger key is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameRole {
    /// The node name.
    Node,
    /// The namespace.
    Namespace,
    /// The job name.
    JobName,
    /// The group name.
    Group,
    /// The task name.
    Task,
    /// The allocation ID.
    AllocId,
}

impl fmt::Display for NameRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameRole::Node => "node name",
            NameRole::Namespace => "namespace",
            NameRole::JobName => "job name",
            NameRole::Group => "group name",
            NameRole::Task => "task name",
            NameRole::AllocId => "allocation ID",
        })
    }
}

/// A name that cannot be used raw in a trigger key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{role} {name:?} cannot be used in a trigger key: {why}")]
pub struct UnsafeName {
    /// Which name.
    pub role: NameRole,
    /// The name.
    pub name: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl TriggerKey {
    /// The key of `layout` for an allocation's task.
    pub fn new(
        layout: TriggerLayout,
        node: &str,
        namespace: &str,
        job_name: &str,
        group: &str,
        task: &str,
        alloc: (&str, u32),
    ) -> Self {
        let (alloc_id, alloc_index) = alloc;
        match layout {
            TriggerLayout::Legacy => TriggerKey::Legacy {
                node: node.to_owned(),
                job_name: job_name.to_owned(),
                group: group.to_owned(),
                task: task.to_owned(),
                alloc_index,
            },
            TriggerLayout::AllocId => TriggerKey::AllocId {
                node: node.to_owned(),
                namespace: namespace.to_owned(),
                job_name: job_name.to_owned(),
                group: group.to_owned(),
                task: task.to_owned(),
                alloc_id: alloc_id.to_owned(),
            },
        }
    }

    /// The layout.
    pub fn layout(&self) -> TriggerLayout {
        match self {
            TriggerKey::Legacy { .. } => TriggerLayout::Legacy,
            TriggerKey::AllocId { .. } => TriggerLayout::AllocId,
        }
    }

    /// The node whose agent writes the key.
    pub fn node(&self) -> &str {
        match self {
            TriggerKey::Legacy { node, .. } | TriggerKey::AllocId { node, .. } => node,
        }
    }

    /// Whether every name can be used raw: the key then has no empty, `.` or `..` segment and
    /// parses back to this key. The first unusable name is the error.
    pub fn check(&self) -> Result<(), UnsafeName> {
        let (node, job_name, group, task) = match self {
            TriggerKey::Legacy {
                node,
                job_name,
                group,
                task,
                ..
            } => (node, job_name, group, task),
            TriggerKey::AllocId {
                node,
                namespace,
                job_name,
                group,
                task,
                alloc_id,
            } => {
                one_segment(NameRole::Namespace, namespace)?;
                one_segment(NameRole::AllocId, alloc_id)?;
                if is_index(alloc_id) {
                    return Err(UnsafeName {
                        role: NameRole::AllocId,
                        name: alloc_id.clone(),
                        why: "a decimal number would read as the legacy layout's index",
                    });
                }
                (node, job_name, group, task)
            }
        };
        one_segment(NameRole::Node, node)?;
        for segment in job_name.split('/') {
            segment_ok(segment).map_err(|why| UnsafeName {
                role: NameRole::JobName,
                name: job_name.clone(),
                why,
            })?;
        }
        one_segment(NameRole::Group, group)?;
        one_segment(NameRole::Task, task)
    }
}

/// The key relative to the prefix.
impl fmt::Display for TriggerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TriggerKey::Legacy {
                node,
                job_name,
                group,
                task,
                alloc_index,
            } => write!(f, "keys/{node}/{job_name}/{group}/{task}/{alloc_index}"),
            TriggerKey::AllocId {
                node,
                namespace,
                job_name,
                group,
                task,
                alloc_id,
            } => write!(
                f,
                "keys/{node}/{namespace}/{job_name}/{group}/{task}/{alloc_id}"
            ),
        }
    }
}

/// Parses the segments after `keys/`; `None` unless they are exactly what rendering a key with
/// usable names gives.
pub(super) fn parse(segments: &[&str]) -> Option<TriggerKey> {
    let last = segments.last()?;
    let key = if is_index(last) {
        let [node, middle @ .., group, task, index] = segments else {
            return None;
        };
        TriggerKey::Legacy {
            node: (*node).to_owned(),
            job_name: joined(middle)?,
            group: (*group).to_owned(),
            task: (*task).to_owned(),
            alloc_index: index.parse().ok()?,
        }
    } else {
        let [node, namespace, middle @ .., group, task, alloc_id] = segments else {
            return None;
        };
        TriggerKey::AllocId {
            node: (*node).to_owned(),
            namespace: (*namespace).to_owned(),
            job_name: joined(middle)?,
            group: (*group).to_owned(),
            task: (*task).to_owned(),
            alloc_id: (*alloc_id).to_owned(),
        }
    };
    key.check().is_ok().then_some(key)
}

fn joined(middle: &[&str]) -> Option<String> {
    (!middle.is_empty()).then(|| middle.join("/"))
}

/// A decimal `u32` without sign or leading zeros, as the legacy layout's index is written.
pub(super) fn is_index(text: &str) -> bool {
    text.parse::<u32>().is_ok_and(|n| n.to_string() == text)
}

fn one_segment(role: NameRole, name: &str) -> Result<(), UnsafeName> {
    let unsafe_name = |why| UnsafeName {
        role,
        name: name.to_owned(),
        why,
    };
    if name.contains('/') {
        return Err(unsafe_name("it holds \"/\""));
    }
    segment_ok(name).map_err(unsafe_name)
}

/// Whether `segment` can be one segment of a key: not empty, not `.` or `..` (which an HTTP
/// client normalises away), no control character.
fn segment_ok(segment: &str) -> Result<(), &'static str> {
    match segment {
        "" => Err("it makes an empty key segment"),
        "." | ".." => Err("it makes a \".\" or \"..\" key segment"),
        s if s.chars().any(char::is_control) => Err("it holds a control character"),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_follows_the_alloc_id_variable() {
        let legacy = r#"{{ keyOrDefault (printf "shepard/keys/%s/%s/%s/%s/%s" (env "node.unique.name") (env "NOMAD_JOB_NAME") (env "NOMAD_GROUP_NAME") (env "NOMAD_TASK_NAME") (env "NOMAD_ALLOC_INDEX")) "" }}"#;
        let by_id = r#"{{ keyOrDefault (printf "shepard/keys/%s/%s/%s/%s/%s/%s" (env "node.unique.name") (env "NOMAD_NAMESPACE") (env "NOMAD_JOB_NAME") (env "NOMAD_GROUP_NAME") (env "NOMAD_TASK_NAME") (env "NOMAD_ALLOC_ID")) "" }}"#;
        assert_eq!(TriggerLayout::of_template(legacy), TriggerLayout::Legacy);
        assert_eq!(TriggerLayout::of_template(by_id), TriggerLayout::AllocId);
        assert_eq!(TriggerLayout::of_template(""), TriggerLayout::Legacy);
        assert_eq!(
            TriggerLayout::of_template("{{ env \"NOMAD_ALLOC_IDX\" }} NOMAD_ALLOC_ID_2"),
            TriggerLayout::Legacy
        );
    }

    #[test]
    fn dot_empty_slash_and_control_names_are_refused() {
        let key = |job: &str, group: &str| {
            TriggerKey::new(
                TriggerLayout::AllocId,
                "n1",
                "default",
                job,
                group,
                "t",
                ("a-1", 0),
            )
        };
        assert_eq!(key("batch/dispatch-1", "g").check(), Ok(()));
        for (job, group, role) in [
            ("..", "g", NameRole::JobName),
            ("a/../b", "g", NameRole::JobName),
            ("a//b", "g", NameRole::JobName),
            ("/a", "g", NameRole::JobName),
            ("j", ".", NameRole::Group),
            ("j", "a/b", NameRole::Group),
            ("j", "", NameRole::Group),
            ("j", "a\nb", NameRole::Group),
        ] {
            let refused = key(job, group).check().map_err(|e| e.role);
            assert_eq!(refused, Err(role), "{job:?} {group:?}");
        }
        let numeric = TriggerKey::new(TriggerLayout::AllocId, "n", "ns", "j", "g", "t", ("7", 7));
        assert_eq!(numeric.check().map_err(|e| e.role), Err(NameRole::AllocId));
    }

    #[test]
    fn both_layouts_render_and_parse() {
        let legacy = TriggerKey::new(TriggerLayout::Legacy, "n", "ns", "a/b", "g", "t", ("x", 3));
        assert_eq!(legacy.to_string(), "keys/n/a/b/g/t/3");
        let by_id = TriggerKey::new(TriggerLayout::AllocId, "n", "ns", "j", "g", "t", ("x", 3));
        assert_eq!(by_id.to_string(), "keys/n/ns/j/g/t/x");
        assert_eq!(parse(&["n", "a", "b", "g", "t", "3"]), Some(legacy));
        assert_eq!(parse(&["n", "ns", "j", "g", "t", "x"]), Some(by_id));
        assert_eq!(parse(&["n", "g", "t", "3"]), None);
        assert_eq!(parse(&["n", "ns", "g", "t", "x"]), None);
        assert_eq!(parse(&["n", "..", "j", "g", "t", "x"]), None);
    }
}
