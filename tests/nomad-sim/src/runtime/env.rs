//! The task environment (taskenv): the `NOMAD_*` variables a raw_exec task sees, the node
//! attributes templates reach through `env` (`node.unique.name`, `node.unique.id`,
//! `node.datacenter`, `node.region`, `attr.*`, `meta.*`), and `${...}` interpolation.

use std::collections::BTreeMap;
use std::path::Path;

use crate::model::alloc::Alloc;
use crate::model::job::{Job, Task};
use crate::model::node::Node;

pub struct EnvInput<'a> {
    pub alloc: &'a Alloc,
    pub job: &'a Job,
    pub task: &'a Task,
    pub node: &'a Node,
    pub alloc_dir: &'a Path,
    pub task_dir: &'a Path,
}

/// Variables passed to the process (everything but the `node.*`/`attr.*` entries).
pub fn task_env(input: &EnvInput<'_>) -> BTreeMap<String, String> {
    let EnvInput {
        alloc,
        job,
        task,
        node,
        alloc_dir,
        task_dir,
    } = input;
    let mut env = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    set("NOMAD_ALLOC_ID", alloc.id.clone());
    set("NOMAD_SHORT_ALLOC_ID", alloc.id.chars().take(8).collect());
    set("NOMAD_ALLOC_NAME", alloc.name.clone());
    set("NOMAD_ALLOC_INDEX", alloc.index.to_string());
    set("NOMAD_JOB_ID", job.id.clone());
    set("NOMAD_JOB_NAME", job.name.clone());
    set("NOMAD_JOB_PARENT_ID", job.parent_id.clone());
    set("NOMAD_GROUP_NAME", alloc.task_group.clone());
    set("NOMAD_TASK_NAME", task.name.clone());
    set("NOMAD_NAMESPACE", job.namespace.clone());
    set("NOMAD_REGION", node.region.clone());
    set("NOMAD_DC", node.datacenter.clone());
    set(
        "NOMAD_ALLOC_DIR",
        alloc_dir.join("alloc").display().to_string(),
    );
    set(
        "NOMAD_TASK_DIR",
        task_dir.join("local").display().to_string(),
    );
    set(
        "NOMAD_SECRETS_DIR",
        task_dir.join("secrets").display().to_string(),
    );
    let cpu = task
        .resources
        .get("CPU")
        .and_then(|v| v.as_i64())
        .unwrap_or(100);
    let mem = task
        .resources
        .get("MemoryMB")
        .and_then(|v| v.as_i64())
        .unwrap_or(300);
    set("NOMAD_CPU_LIMIT", cpu.to_string());
    set("NOMAD_MEMORY_LIMIT", mem.to_string());
    for port in &alloc.ports {
        let l = &port.label;
        let addr = format!("{}:{}", port.host_ip, port.value);
        set(&format!("NOMAD_PORT_{l}"), port.value.to_string());
        set(&format!("NOMAD_IP_{l}"), port.host_ip.clone());
        set(&format!("NOMAD_ADDR_{l}"), addr.clone());
        set(&format!("NOMAD_HOST_PORT_{l}"), port.value.to_string());
        set(&format!("NOMAD_HOST_IP_{l}"), port.host_ip.clone());
        set(&format!("NOMAD_HOST_ADDR_{l}"), addr);
        set(&format!("NOMAD_ALLOC_PORT_{l}"), port.value.to_string());
    }
    // Meta: job, then group, then task (the most specific wins); both key spellings.
    let group_meta = job.group(&alloc.task_group).and_then(|g| g.meta.clone());
    for meta in [&job.meta, &group_meta, &task.meta].into_iter().flatten() {
        for (k, v) in meta {
            set(&format!("NOMAD_META_{k}"), v.clone());
            set(&format!("NOMAD_META_{}", k.to_uppercase()), v.clone());
        }
    }
    let interpolation = with_node_attrs(&env, node);
    for (k, v) in task.env.iter().flatten() {
        env.insert(k.clone(), interpolate(v, &interpolation));
    }
    env
}

/// The task env plus node attributes, as templates' `env` and `${...}` see it.
pub fn with_node_attrs(env: &BTreeMap<String, String>, node: &Node) -> BTreeMap<String, String> {
    let mut all = env.clone();
    all.insert("node.unique.name".into(), node.name.clone());
    all.insert("node.unique.id".into(), node.id.clone());
    all.insert("node.datacenter".into(), node.datacenter.clone());
    all.insert("node.region".into(), node.region.clone());
    all.insert("node.class".into(), String::new());
    all.insert("node.pool".into(), "default".into());
    all.insert("attr.kernel.name".into(), "linux".into());
    all.insert("attr.unique.hostname".into(), node.name.clone());
    all
}

/// Replaces `${name}` with its value (unknown names are left as written, as Nomad does).
pub fn interpolate(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match vars
                    .get(name)
                    .or_else(|| vars.get(name.strip_prefix("env.").unwrap_or(name)))
                {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[start..start + 3 + end]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_known_names_only() {
        let mut vars = BTreeMap::new();
        vars.insert("NOMAD_TASK_DIR".to_string(), "/t".to_string());
        assert_eq!(
            interpolate("${NOMAD_TASK_DIR}/x ${nope}", &vars),
            "/t/x ${nope}"
        );
        assert_eq!(interpolate("${env.NOMAD_TASK_DIR}", &vars), "/t");
    }
}
