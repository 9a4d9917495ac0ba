//! `shepard status` and `shepard rollout list|show` against a real Consul holding realistic
//! records: the tables (snapshots), the JSON, escaped task names, corrupt records, the
//! prefix and the connection flags.

#[path = "operator_support/mod.rs"]
mod support;

use insta::assert_snapshot;
use serde_json::Value;
use support::{Kv, alloc_id, shepard, stderr, stdout};

#[tokio::test]
async fn status_prints_every_rollout_and_allocation_as_tables() {
    let kv = Kv::start();
    kv.fleet().await;
    let out = kv.shepard(&["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_snapshot!(stdout(&out));
}

#[tokio::test]
async fn status_json_has_records_progress_and_indexes() {
    let kv = Kv::start();
    kv.fleet().await;
    for flag in ["-json", "--json"] {
        let out = kv.shepard(&["status", flag]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
        let tasks = v["tasks"].as_array().unwrap();
        let names: Vec<String> = tasks
            .iter()
            .map(|t| format!("{}/{}", t["task"]["job"], t["task"]["task"]))
            .collect();
        assert_eq!(
            names,
            [
                "\"batch/run-1\"/\"do it\"",
                "\"cache\"/\"redis\"",
                "\"web\"/\"app\""
            ]
        );
        let web = &tasks[2];
        assert_eq!(web["rollout"]["record"]["state"], "rolling");
        assert_eq!(web["rollout"]["record"]["generation"], 3);
        assert!(web["rollout"]["modify_index"].as_u64().unwrap() > 0);
        assert_eq!(
            web["progress"],
            serde_json::json!({"total": 6, "in_sync": 2, "waiting": 2, "restarting": 2,
                "stuck": 0, "skipped": 0})
        );
        let allocs = web["allocs"].as_array().unwrap();
        assert_eq!(allocs.len(), 6);
        assert_eq!(allocs[2]["alloc_id"], alloc_id(1, 2));
        assert_eq!(allocs[2]["record"]["phase"], "verifying");
        assert_eq!(allocs[2]["record"]["slot"], 0);
        assert_eq!(tasks[1]["rollout"], Value::Null);
        assert_eq!(
            tasks[0]["rollout"]["key"],
            "shepard/rollouts/default/batch%2Frun-1/work/do%20it"
        );
        let unreadable = v["unreadable"].as_array().unwrap();
        assert_eq!(unreadable.len(), 1);
        assert_eq!(unreadable[0]["key"], "shepard/rollouts/default/broken/g/t");
    }
}

#[tokio::test]
async fn status_of_an_empty_prefix_says_so() {
    let kv = Kv::start();
    kv.fleet().await;
    let out = kv.shepard(&["status", "--consul-prefix", "elsewhere"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "No rollouts and no managed allocations under \"elsewhere/\".\n"
    );
}

#[tokio::test]
async fn the_consul_address_comes_from_the_config_file_like_the_agent() {
    let kv = Kv::start();
    kv.fleet().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shepard.hcl");
    std::fs::write(
        &config,
        format!("consul {{\n  address = \"{}\"\n}}\n", kv.consul.http_addr()),
    )
    .unwrap();
    let out = shepard(
        &["rollout", "list", "--config", config.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("r-web-3"), "{}", stdout(&out));

    let refused = shepard(&["status", "--consul-addr", "127.0.0.1:1"], &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).starts_with("error: kv_list: request failed"),
        "{}",
        stderr(&refused)
    );
}

#[tokio::test]
async fn rollout_list_and_show() {
    let kv = Kv::start();
    kv.fleet().await;
    let list = kv.shepard(&["rollout", "list"]);
    assert!(list.status.success(), "{}", stderr(&list));
    assert_snapshot!("rollout_list", stdout(&list));

    // By escaped path, by raw path with a slash in the job ID, and by rollout ID.
    let by_path = kv.shepard(&["rollout", "show", "default/batch%2Frun-1/work/do%20it"]);
    assert!(by_path.status.success(), "{}", stderr(&by_path));
    assert_snapshot!("rollout_show_stuck", stdout(&by_path));
    let raw = kv.shepard(&["rollout", "show", "default/batch/run-1/work/do it"]);
    assert_eq!(stdout(&raw), stdout(&by_path));
    let by_id = kv.shepard(&["rollout", "show", "r-batch-1"]);
    assert_eq!(stdout(&by_id), stdout(&by_path));

    let json = kv.shepard(&["rollout", "show", "default/web/web/app", "-json"]);
    let v: Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(v["rollout"]["record"]["id"], "r-web-3");
    assert_eq!(v["allocs"].as_array().unwrap().len(), 6);

    let missing = kv.shepard(&["rollout", "show", "r-nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        stderr(&missing),
        "error: no current rollout has ID \"r-nope\" (`shepard rollout list` shows them)\n"
    );
}
