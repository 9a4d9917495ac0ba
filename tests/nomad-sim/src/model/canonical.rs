//! What Nomad does to a submitted job before storing it: the API's `Canonicalize` defaults
//! (update/restart/reschedule/migrate policies, log config, kill timeout, template and service
//! defaults, group update merged over the job's) and `Job.Validate` with its multierror text.

use serde_json::{Value, json};

use super::job::{Job, RestartPolicy, Task, TaskGroup, Template, UpdateStrategy};

const SECOND: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * SECOND;

/// Fills the defaults a real server stores (and returns in `GET /v1/job/:id`).
pub fn canonicalize(job: &mut Job, default_region: &str) {
    if job.region.is_empty() {
        job.region = default_region.to_string();
    }
    if job.namespace.is_empty() {
        job.namespace = "default".into();
    }
    if job.name.is_empty() {
        job.name = job.id.clone();
    }
    if job.job_type.is_empty() {
        job.job_type = "service".into();
    }
    if job.priority == 0 {
        job.priority = 50;
    }
    if job.node_pool.is_empty() {
        job.node_pool = "default".into();
    }
    if job.datacenters.is_empty() {
        job.datacenters = vec!["*".into()];
    }
    // The API merges the job's update block into every group, but the server keeps only
    // Stagger and MaxParallel at job level (ApiJobToStructJob).
    let job_update = merge_update(default_update(), job.update.as_ref());
    job.update = Some(UpdateStrategy {
        auto_promote: Some(false),
        auto_revert: Some(false),
        canary: Some(0),
        health_check: Some(String::new()),
        healthy_deadline: Some(0),
        max_parallel: job_update.max_parallel,
        min_healthy_time: Some(0),
        progress_deadline: Some(0),
        stagger: job_update.stagger,
    });
    for group in &mut job.task_groups {
        canonicalize_group(group, &job_update);
    }
}

fn default_update() -> UpdateStrategy {
    UpdateStrategy {
        auto_promote: Some(false),
        auto_revert: Some(false),
        canary: Some(0),
        health_check: Some("checks".into()),
        healthy_deadline: Some(5 * MINUTE),
        max_parallel: Some(1),
        min_healthy_time: Some(10 * SECOND),
        progress_deadline: Some(10 * MINUTE),
        stagger: Some(30 * SECOND),
    }
}

fn merge_update(mut base: UpdateStrategy, over: Option<&UpdateStrategy>) -> UpdateStrategy {
    let Some(o) = over else { return base };
    macro_rules! take {
        ($($f:ident),*) => { $( if o.$f.is_some() { base.$f = o.$f.clone(); } )* };
    }
    take!(
        auto_promote,
        auto_revert,
        canary,
        health_check,
        healthy_deadline,
        max_parallel,
        min_healthy_time,
        progress_deadline,
        stagger
    );
    base
}

fn merge_restart(mut base: RestartPolicy, over: Option<&RestartPolicy>) -> RestartPolicy {
    let Some(o) = over else { return base };
    macro_rules! take {
        ($($f:ident),*) => { $( if o.$f.is_some() { base.$f = o.$f.clone(); } )* };
    }
    take!(attempts, delay, interval, mode, render_templates);
    base
}

fn canonicalize_group(group: &mut TaskGroup, job_update: &UpdateStrategy) {
    if group.count.is_none() {
        group.count = Some(1);
    }
    group.update = Some(merge_update(job_update.clone(), group.update.as_ref()));
    let service_restart = RestartPolicy {
        attempts: Some(2),
        delay: Some(15 * SECOND),
        interval: Some(30 * MINUTE),
        mode: Some("fail".into()),
        render_templates: Some(false),
    };
    let restart = merge_restart(service_restart, group.restart_policy.as_ref());
    group.restart_policy = Some(restart.clone());
    default_value(
        &mut group.reschedule_policy,
        json!({"Attempts": 0, "Interval": 0, "Delay": 30 * SECOND, "DelayFunction": "exponential",
               "MaxDelay": 60 * MINUTE, "Unlimited": true}),
    );
    default_value(
        &mut group.migrate,
        json!({"MaxParallel": 1, "HealthCheck": "checks", "MinHealthyTime": 10 * SECOND,
               "HealthyDeadline": 5 * MINUTE}),
    );
    default_value(
        &mut group.ephemeral_disk,
        json!({"Migrate": false, "SizeMB": 300, "Sticky": false}),
    );
    for net in group.networks.iter_mut().flatten() {
        if net.mode.is_empty() {
            net.mode = "host".into();
        }
        let ports = net
            .dynamic_ports
            .iter_mut()
            .chain(net.reserved_ports.iter_mut());
        for port in ports.flatten() {
            if port.host_network.is_empty() {
                port.host_network = "default".into();
            }
        }
    }
    for service in group.services.iter_mut().flatten() {
        canonicalize_service(service);
    }
    for task in &mut group.tasks {
        canonicalize_task(task, &restart);
    }
}

fn default_value(slot: &mut Value, default: Value) {
    match (slot.as_object_mut(), default) {
        (Some(given), Value::Object(defaults)) => {
            for (k, v) in defaults {
                given.entry(k).or_insert(v);
            }
        }
        (None, default) => *slot = default,
        _ => {}
    }
}

fn canonicalize_task(task: &mut Task, group_restart: &RestartPolicy) {
    task.restart_policy = Some(merge_restart(
        group_restart.clone(),
        task.restart_policy.as_ref(),
    ));
    if task.kill_timeout.is_none() {
        task.kill_timeout = Some(5 * SECOND);
    }
    let log = task.log_config.get_or_insert_with(Default::default);
    log.max_files.get_or_insert(10);
    log.max_file_size_mb.get_or_insert(10);
    default_value(
        &mut task.resources,
        json!({"CPU": 100, "Cores": 0, "MemoryMB": 300, "MemoryMaxMB": 0, "DiskMB": 0,
               "IOPS": 0, "Networks": null, "Devices": null, "NUMA": null, "SecretsMB": 0}),
    );
    for template in task.templates.iter_mut().flatten() {
        canonicalize_template(template);
    }
    for service in task.services.iter_mut().flatten() {
        canonicalize_service(service);
        service.task_name = task.name.clone();
    }
}

fn canonicalize_template(t: &mut Template) {
    if t.change_mode.is_empty() {
        t.change_mode = "restart".into();
    }
    t.change_signal = t.change_signal.to_uppercase();
    if t.splay.is_none() {
        t.splay = Some(5 * SECOND);
    }
    if t.perms.is_empty() {
        t.perms = "0644".into();
    }
    if t.left_delim.is_empty() {
        t.left_delim = "{{".into();
    }
    if t.right_delim.is_empty() {
        t.right_delim = "}}".into();
    }
}

fn canonicalize_service(s: &mut super::job::Service) {
    if s.address_mode.is_empty() {
        s.address_mode = "auto".into();
    }
    if s.on_update.is_empty() {
        s.on_update = "require_healthy".into();
    }
    if s.provider.is_empty() {
        s.provider = "consul".into();
    }
    if s.cluster.is_empty() {
        s.cluster = "default".into();
    }
    for check in s.checks.iter_mut().flatten() {
        if check.name.is_empty() {
            check.name = format!("service: {:?} check", s.name);
        }
        if check.on_update.is_empty() {
            check.on_update = s.on_update.clone();
        }
    }
}

/// `Job.Validate` for what the simulator supports; the error text is Go multierror's.
pub fn validate(job: &Job) -> Result<(), String> {
    let mut errors = Vec::new();
    if job.id.is_empty() {
        errors.push("Missing job ID".to_string());
    } else if job.id.contains(' ') {
        errors.push("Job ID contains a space".to_string());
    }
    match job.job_type.as_str() {
        "service" => {}
        other => errors.push(format!(
            "Invalid job type: {other:?} (the simulator runs service jobs only)"
        )),
    }
    if job.task_groups.is_empty() {
        errors.push("Missing job task groups".to_string());
    }
    let mut seen: Vec<&str> = Vec::new();
    for (idx, group) in job.task_groups.iter().enumerate() {
        if group.name.is_empty() {
            errors.push(format!("Job task group {} missing name", idx + 1));
        } else if let Some(first) = seen.iter().position(|n| *n == group.name) {
            errors.push(format!(
                "Job task group {} redefines '{}' from group {}",
                idx + 1,
                group.name,
                first + 1
            ));
        }
        seen.push(&group.name);
        let group_errors = validate_group(group);
        if !group_errors.is_empty() {
            errors.push(format!(
                "Task group {} validation failed: {}",
                group.name,
                multierror(&group_errors)
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(multierror(&errors))
    }
}

fn validate_group(group: &TaskGroup) -> Vec<String> {
    let mut errors = Vec::new();
    if group.count() < 0 {
        errors.push("Task group count can't be negative".to_string());
    }
    if group.tasks.is_empty() {
        errors.push("Missing tasks for task group".to_string());
    }
    let labels: Vec<String> = group.ports().into_iter().map(|(p, _)| p.label).collect();
    for task in &group.tasks {
        let mut task_errors = Vec::new();
        if task.name.is_empty() {
            task_errors.push("Missing task name".to_string());
        }
        if task.driver != "raw_exec" {
            task_errors.push(format!(
                "Driver {:?} is not supported by the simulator (raw_exec only)",
                task.driver
            ));
        }
        let command = task.config.as_ref().and_then(|c| c.get("command"));
        if !matches!(command, Some(Value::String(s)) if !s.is_empty()) {
            task_errors.push("missing required config \"command\"".to_string());
        }
        for t in task.templates.iter().flatten() {
            if t.embedded_tmpl.is_empty() && t.source_path.is_empty() {
                task_errors.push("Must specify a source path or have an embedded template".into());
            }
            if t.dest_path.is_empty() {
                task_errors.push("Must specify a destination for the template".into());
            }
            match t.change_mode.as_str() {
                "noop" | "restart" => {}
                "signal" if t.change_signal.is_empty() => {
                    task_errors.push("Must specify signal value when change mode is signal".into())
                }
                "signal" => {}
                other => task_errors.push(format!("Invalid change mode {other:?}")),
            }
        }
        for s in task.services.iter().flatten() {
            if !s.port_label.is_empty()
                && s.port_label.parse::<u16>().is_err()
                && !labels.contains(&s.port_label)
            {
                task_errors.push(format!(
                    "port label {:?} referenced by services {} does not exist",
                    s.port_label, s.name
                ));
            }
        }
        if !task_errors.is_empty() {
            errors.push(format!(
                "Task {} validation failed: {}",
                task.name,
                multierror(&task_errors)
            ));
        }
    }
    errors
}

/// hashicorp/go-multierror's `Error()` text.
pub fn multierror(errors: &[String]) -> String {
    let mut out = if errors.len() == 1 {
        "1 error occurred:\n".to_string()
    } else {
        format!("{} errors occurred:\n", errors.len())
    };
    for e in errors {
        out.push_str(&format!("\t* {e}\n"));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(value: Value) -> Job {
        serde_json::from_value(value).expect("job")
    }

    #[test]
    fn fills_defaults_and_merges_update_blocks() {
        let mut j = job(json!({"ID": "a", "Update": {"MaxParallel": 2},
            "TaskGroups": [{"Name": "g", "Update": {"MinHealthyTime": 1},
                "Tasks": [{"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"},
                           "Templates": [{"DestPath": "local/x", "EmbeddedTmpl": "x"}]}]}]}));
        canonicalize(&mut j, "global");
        let group = &j.task_groups[0];
        let update = group.update.clone().unwrap_or_default();
        assert_eq!(
            (update.max_parallel, update.min_healthy_time),
            (Some(2), Some(1))
        );
        assert_eq!(update.health_check.as_deref(), Some("checks"));
        let job_update = j.update.clone().unwrap_or_default();
        assert_eq!(
            (job_update.max_parallel, job_update.min_healthy_time),
            (Some(2), Some(0))
        );
        let task = &group.tasks[0];
        assert_eq!(task.kill_timeout, Some(5 * SECOND));
        let t = &task.templates.as_ref().expect("templates")[0];
        assert_eq!(
            (t.change_mode.as_str(), t.splay, t.perms.as_str()),
            ("restart", Some(5 * SECOND), "0644")
        );
        assert_eq!(group.count(), 1);
        assert_eq!(validate(&j), Ok(()));
    }

    #[test]
    fn validation_errors_read_like_nomads() {
        let mut j = job(json!({"ID": "a"}));
        canonicalize(&mut j, "global");
        assert_eq!(
            validate(&j),
            Err("1 error occurred:\n\t* Missing job task groups\n\n".to_string())
        );
        let mut j = job(json!({"ID": "a", "TaskGroups": [{"Name": "g", "Tasks": [
            {"Name": "t", "Driver": "docker", "Config": {"command": "x"}}]}]}));
        canonicalize(&mut j, "global");
        let text = validate(&j).expect_err("docker is refused");
        assert!(text.starts_with("1 error occurred:\n\t* Task group g validation failed: "));
    }
}
