//! Which tasks' logs are shipped and with which tags, decided from observed allocations.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use shepard_reconcilers::settings::AgentDefaults;

use super::*;
use crate::nomad::models::Allocation;

const FINISHED_NS: u64 = 1_700_000_000_000_000_000;

fn defaults() -> AgentDefaults {
    AgentDefaults {
        max_parallel: 1,
        min_healthy_time: Duration::from_secs(10),
        healthy_deadline: Duration::from_secs(300),
    }
}

fn node() -> NodeTags {
    NodeTags {
        name: "node-1".into(),
        datacenter: "dc2".into(),
    }
}

/// An allocation `a1` of job `web`, group `front`, index 3, with task `app` (managed by its
/// trigger template when `managed`) and task `side` (never managed), metas as given.
fn alloc(client_status: &str, managed: bool, task_meta: Value, job_meta: Value) -> Allocation {
    let mut templates = Vec::new();
    if managed {
        templates.push(json!({"DestPath": "local/shepard.tpl", "ChangeMode": "restart"}));
    }
    serde_json::from_value(json!({
        "ID": "a1", "Namespace": "prod", "Name": "web.front[3]", "JobID": "web",
        "TaskGroup": "front", "DesiredStatus": "run", "ClientStatus": client_status,
        "TaskStates": {"app": {"State": "dead", "FinishedAt": "2023-11-14T22:13:20Z"}},
        "Job": {
            "ID": "web", "Name": "web", "Meta": job_meta,
            "TaskGroups": [{
                "Name": "front", "Meta": {"team": "group-team", "tier": "gold"},
                "Tasks": [
                    {"Name": "app", "Meta": task_meta, "Templates": templates},
                    {"Name": "side"},
                ],
            }],
        },
    }))
    .unwrap()
}

fn observed(allocs: Vec<Allocation>) -> Observed {
    Observed {
        node_allocs: Some(allocs),
        ..Observed::default()
    }
}

fn key(task: &str) -> TaskKey {
    TaskKey {
        alloc_id: "a1".into(),
        task: task.into(),
    }
}

fn decide(observed: &Observed, task: &str, now: SystemTime) -> LogsWant {
    let meta_tags = vec!["team".to_string(), "tier".to_string(), "owner".to_string()];
    want(
        observed,
        &key(task),
        &node(),
        &meta_tags,
        &defaults(),
        Path::new("/nomad/alloc"),
        now,
    )
}

#[test]
fn the_meta_opts_in_and_out_over_the_managed_state() {
    assert!(ships_logs(true, None));
    assert!(!ships_logs(false, None));
    assert!(!ships_logs(true, Some("false")));
    assert!(ships_logs(false, Some("true")));
    assert!(
        ships_logs(true, Some("yes")),
        "other values leave the default"
    );
}

#[test]
fn a_running_managed_task_is_shipped_with_every_tag() {
    let observed = observed(vec![alloc(
        "running",
        true,
        json!({"team": "task-team"}),
        json!({"owner": "ops", "tier": "silver"}),
    )]);
    let LogsWant::Ship(logs) = decide(&observed, "app", SystemTime::now()) else {
        panic!("expected Ship");
    };
    assert_eq!(logs.log_dir, Path::new("/nomad/alloc/a1/alloc/logs"));
    assert_eq!(
        logs.tags,
        TaskTags {
            node: "node-1".into(),
            datacenter: "dc2".into(),
            namespace: "prod".into(),
            job: "web".into(),
            group: "front".into(),
            task: "app".into(),
            alloc_id: "a1".into(),
            alloc_index: 3,
            meta: vec![
                ("team".into(), "task-team".into()),
                ("tier".into(), "gold".into()),
                ("owner".into(), "ops".into()),
            ],
        }
    );
    assert_eq!(
        decide(&observed, "side", SystemTime::now()),
        LogsWant::Skip,
        "an unmanaged task is not shipped"
    );
}

#[test]
fn meta_at_any_level_selects_task_over_group_over_job() {
    let out = observed(vec![alloc(
        "running",
        true,
        json!({META_SHIP_LOGS: "false"}),
        json!({}),
    )]);
    assert_eq!(decide(&out, "app", SystemTime::now()), LogsWant::Skip);
    let job_in = observed(vec![alloc(
        "running",
        false,
        json!({}),
        json!({META_SHIP_LOGS: "true"}),
    )]);
    assert!(matches!(
        decide(&job_in, "side", SystemTime::now()),
        LogsWant::Ship(_)
    ));
    let task_wins = observed(vec![alloc(
        "running",
        false,
        json!({META_SHIP_LOGS: "false"}),
        json!({META_SHIP_LOGS: "true"}),
    )]);
    assert_eq!(decide(&task_wins, "app", SystemTime::now()), LogsWant::Skip);
}

#[test]
fn a_stopped_allocation_finishes_once_the_log_collector_settled() {
    let observed = observed(vec![alloc("complete", true, json!({}), json!({}))]);
    let finished = UNIX_EPOCH + Duration::from_nanos(FINISHED_NS);
    let early = finished + Duration::from_millis(400);
    let LogsWant::Finish { wait, .. } = decide(&observed, "app", early) else {
        panic!("expected Finish");
    };
    assert_eq!(wait, Some(SETTLE - Duration::from_millis(400)));
    let LogsWant::Finish { wait, .. } = decide(&observed, "app", finished + SETTLE) else {
        panic!("expected Finish");
    };
    assert_eq!(wait, None);
}

#[test]
fn nothing_is_decided_before_the_allocations_are_read_and_absent_ones_are_gone() {
    let unread = Observed::default();
    assert_eq!(
        decide(&unread, "app", SystemTime::now()),
        LogsWant::NotKnown
    );
    let empty = observed(Vec::new());
    assert_eq!(decide(&empty, "app", SystemTime::now()), LogsWant::Gone);
    let other_task = observed(vec![alloc("running", true, json!({}), json!({}))]);
    assert_eq!(
        decide(&other_task, "gone-task", SystemTime::now()),
        LogsWant::Gone
    );
}
