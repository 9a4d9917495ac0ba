//! Templates against a real Consul: a `noop` template rewrites its file and restarts nothing;
//! a `restart` template restarts the task with Nomad's exact event sequence; the restarted
//! greet reads its new config, so its Consul check goes critical, and passing after a fix;
//! `/sim/events` records exactly those stops and starts.

use std::path::PathBuf;
use std::time::SystemTime;

use serde_json::Value;
use shepard_testkit::poll::until_async;

use crate::support::{DEADLINE, TICK, World, greet_job, time_nanos};

const CONFIG_KEY: &str = "hello-world/config";

fn config_path(world: &World, alloc: &Value) -> PathBuf {
    world
        .sim
        .data_dir()
        .join(alloc["NodeName"].as_str().expect("node name"))
        .join("alloc")
        .join(alloc["ID"].as_str().expect("id"))
        .join("greet/local/config.yml")
}

fn file_state(path: &PathBuf) -> (String, SystemTime) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    (text, mtime)
}

fn service_id(alloc: &Value) -> String {
    format!(
        "_nomad-task-{}-greet-greet-http",
        alloc["ID"].as_str().expect("id")
    )
}

async fn wait_checks(world: &World, service: &str, status: &str) {
    until_async(
        &format!("{service} checks {status}"),
        DEADLINE,
        TICK,
        || async {
            let statuses = world.check_statuses(service).await;
            (!statuses.is_empty() && statuses.iter().all(|s| s == status)).then_some(())
        },
    )
    .await;
}

async fn task_state(world: &World, alloc_id: &str) -> Value {
    world
        .get(&format!("/v1/allocation/{alloc_id}"))
        .await
        .json()["TaskStates"]["greet"]
        .clone()
}

/// Waits until the alloc's task has restarted `n` times and runs again.
async fn wait_restarts(world: &World, alloc_id: &str, n: u64) -> Value {
    until_async("task restarted and running", DEADLINE, TICK, || async {
        let ts = task_state(world, alloc_id).await;
        (ts["Restarts"] == n && ts["State"] == "running").then_some(ts)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noop_rewrites_restart_restarts_and_checks_follow_the_config() {
    let world = World::start(3);
    world.kv_put(CONFIG_KEY, "name: Alice").await;
    world.submit(greet_job("greet", 3, CONFIG_KEY)).await;
    let mut allocs = world.wait_running("greet", 3).await;
    allocs.sort_by_key(|a| a["Name"].as_str().unwrap_or_default().to_string());
    let nodes: Vec<&str> = allocs
        .iter()
        .map(|a| a["NodeName"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(nodes.len(), 3);
    assert!(
        nodes[0] != nodes[1] && nodes[1] != nodes[2] && nodes[0] != nodes[2],
        "spread: {nodes:?}"
    );
    for alloc in &allocs {
        wait_checks(&world, &service_id(alloc), "passing").await;
    }
    let first = &allocs[0];
    let first_id = first["ID"].as_str().expect("id").to_string();
    let before: Vec<(String, SystemTime)> = allocs
        .iter()
        .map(|a| file_state(&config_path(&world, a)))
        .collect();
    assert_eq!(before[0].0, "name: Alice\n");
    let started_before = task_state(&world, &first_id).await["StartedAt"].clone();

    // 1. The noop template: every file is rewritten, nothing restarts.
    world.kv_put(CONFIG_KEY, "name: Bob\nhealthy: false").await;
    for (alloc, (_, old_mtime)) in allocs.iter().zip(&before) {
        let path = config_path(&world, alloc);
        let (text, mtime) = until_async("config.yml rewritten", DEADLINE, TICK, || async {
            let state = file_state(&path);
            (state.0 == "name: Bob\nhealthy: false\n").then_some(state)
        })
        .await;
        assert_eq!(text, "name: Bob\nhealthy: false\n");
        assert!(mtime > *old_mtime, "mtime moved");
    }
    for alloc in &allocs {
        let ts = task_state(&world, alloc["ID"].as_str().expect("id")).await;
        assert_eq!(ts["Restarts"], 0);
        assert_eq!(ts["Events"].as_array().map(Vec::len), Some(3), "{ts}");
        // greet read its config at start only: still healthy.
        assert!(
            world
                .check_statuses(&service_id(alloc))
                .await
                .iter()
                .all(|s| s == "passing")
        );
    }

    // 2. The restart template of alloc 0 only: shepard's per-alloc trigger key.
    let trigger = format!(
        "shepard/keys/{}/default/greet/web/greet/{first_id}",
        nodes[0]
    );
    world.kv_put(&trigger, "token-1").await;
    let ts = wait_restarts(&world, &first_id, 1).await;
    let events = ts["Events"].as_array().expect("events");
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["Type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        types,
        [
            "Received",
            "Task Setup",
            "Started",
            "Restart Signaled",
            "Terminated",
            "Restarting",
            "Started"
        ]
    );
    let (signaled, terminated, restarting, started) =
        (&events[3], &events[4], &events[5], &events[6]);
    assert_eq!(
        signaled["DisplayMessage"],
        "Template with change_mode restart re-rendered"
    );
    assert_eq!(signaled["RestartReason"], "");
    assert_eq!(terminated["ExitCode"], 0);
    assert_eq!(terminated["DisplayMessage"], "Exit Code: 0");
    assert_eq!(restarting["StartDelay"], 0);
    assert_eq!(restarting["DisplayMessage"], "Task restarting in 0s");
    assert_eq!(restarting["Details"]["start_delay"], "0");
    assert_eq!(restarting["Details"]["restart_reason"], "");
    assert_eq!(started["DisplayMessage"], "Task started by client");
    assert_eq!(
        time_nanos(&ts["LastRestart"]),
        restarting["Time"].as_i64().expect("time")
    );
    assert!(time_nanos(&ts["StartedAt"]) > time_nanos(&started_before));
    assert!(time_nanos(&ts["StartedAt"]) >= restarting["Time"].as_i64().expect("time"));
    assert!(ts["FinishedAt"].is_null());
    for other in &allocs[1..] {
        assert_eq!(
            task_state(&world, other["ID"].as_str().expect("id")).await["Restarts"],
            0
        );
    }

    // 3. After its restart alloc 0 runs with `healthy: false`: critical; the others pass.
    wait_checks(&world, &service_id(first), "critical").await;
    for other in &allocs[1..] {
        assert!(
            world
                .check_statuses(&service_id(other))
                .await
                .iter()
                .all(|s| s == "passing")
        );
    }

    // 4. Fix the config (noop: nothing changes yet), then restart: passing again.
    world.kv_put(CONFIG_KEY, "name: Bob\nhealthy: true").await;
    let path = config_path(&world, first);
    until_async("fixed config rendered", DEADLINE, TICK, || async {
        (file_state(&path).0 == "name: Bob\nhealthy: true\n").then_some(())
    })
    .await;
    assert_eq!(task_state(&world, &first_id).await["Restarts"], 1);
    world.kv_put(&trigger, "token-2").await;
    wait_restarts(&world, &first_id, 2).await;
    wait_checks(&world, &service_id(first), "passing").await;

    // 5. The evidence log: alloc 0 stopped twice and started three times, in step with the
    // task events; the other allocs started once; status went running → pending → running.
    let log = world.sim_events().await;
    let of = |alloc: &Value, kind: &str| -> Vec<Value> {
        log.iter()
            .filter(|e| e["alloc_id"] == alloc["ID"] && e["kind"] == kind)
            .cloned()
            .collect()
    };
    let starts = of(first, "task-started");
    let stops = of(first, "task-stopped");
    assert_eq!((starts.len(), stops.len()), (3, 2));
    for e in starts.iter().chain(&stops) {
        assert_eq!(e["node"], nodes[0]);
        assert_eq!(e["alloc_index"], 0);
        assert_eq!(
            (e["job"].as_str(), e["group"].as_str(), e["task"].as_str()),
            (Some("greet"), Some("web"), Some("greet"))
        );
    }
    assert_eq!(stops[0]["pid"], starts[0]["pid"]);
    assert_ne!(starts[0]["pid"], starts[1]["pid"]);
    let t = |v: &Value| v.as_i64().expect("nanoseconds");
    assert!(t(&signaled["Time"]) <= t(&stops[0]["time_ns"]));
    assert!(t(&stops[0]["time_ns"]) <= t(&terminated["Time"]));
    assert!(t(&restarting["Time"]) <= t(&starts[1]["time_ns"]));
    assert!(t(&starts[1]["time_ns"]) <= t(&started["Time"]));
    let statuses: Vec<String> = of(first, "client-status")
        .iter()
        .map(|e| e["client_status"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        statuses,
        ["running", "pending", "running", "pending", "running"]
    );
    for other in &allocs[1..] {
        assert_eq!(
            (
                of(other, "task-started").len(),
                of(other, "task-stopped").len()
            ),
            (1, 0)
        );
    }
}

/// Each template waits out its own `Wait`: a trigger template with `wait { min = "0s" }`
/// restarts the task at once even when another template of the task keeps Nomad's default
/// 5 s quiescence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_waits_only_its_own_quiescence() {
    let world = World::start(1);
    world.kv_put(CONFIG_KEY, "name: Alice").await;
    let mut job = greet_job("greet", 1, CONFIG_KEY);
    let templates = &mut job["TaskGroups"][0]["Tasks"][0]["Templates"];
    // The config template keeps the client's default wait (5 s..4 m).
    templates[0]
        .as_object_mut()
        .expect("template object")
        .remove("Wait");
    world.submit(job).await;
    let allocs = world.wait_running("greet", 1).await;
    let alloc_id = allocs[0]["ID"].as_str().expect("id").to_string();
    let node = allocs[0]["NodeName"].as_str().expect("node").to_string();

    let trigger = format!("shepard/keys/{node}/default/greet/web/greet/{alloc_id}");
    let written = std::time::Instant::now();
    world.kv_put(&trigger, "t1").await;
    wait_restarts(&world, &alloc_id, 1).await;
    let took = written.elapsed();
    assert!(
        took < std::time::Duration::from_secs(3),
        "the trigger waited {took:?}, as if it had the config template's 5 s quiescence"
    );
}
