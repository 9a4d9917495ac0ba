//! `shepard gc` against a real Consul and nomad-sim, with no agent running (so nothing else
//! deletes): `--dry-run` deletes nothing and lists exactly what the real pass then deletes;
//! keys outside the prefix, unparseable keys under it and the keys of a running job survive
//! every pass.

mod gc_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gc_support::{kv_tree, put, sim};
use reqwest::Method;
use serde_json::Value;
use shepard_testkit::{ConsulDev, GreetJob, NomadSim, locate_binary, poll, submit_job};

/// Runs `shepard gc <args>` against the world; returns the JSON report.
fn shepard_gc(consul: &str, nomad: &str, args: &[&str]) -> Value {
    let output = Command::new(Path::new(env!("CARGO_BIN_EXE_shepard")))
        .args(["gc", "--consul-addr", consul, "--nomad-addr", nomad])
        .args(["--node-cleanup-timeout", "1s", "--rollout-history", "1h"])
        .args(args)
        .env_clear()
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "shepard gc {args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn keys_of(report: &Value, field: &str) -> BTreeSet<String> {
    report[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["key"].as_str().unwrap().to_string())
        .collect()
}

fn indexes(tree: &BTreeMap<String, gc_support::Entry>) -> BTreeMap<String, u64> {
    tree.iter()
        .map(|(k, e)| (k.clone(), e.modify_index))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_deletes_nothing_and_lists_exactly_what_the_pass_deletes() {
    let consul = ConsulDev::start();
    let sim_bin = locate_binary("nomad-sim");
    let world = NomadSim::start(&sim_bin, &consul.http_addr(), 2);
    let consul = consul.http_addr();
    let nomad = world.addr().to_string();
    put(&consul, "live/config", "name: one\n").await;
    submit_job(
        &nomad,
        GreetJob::new("live", 2, "live/config").to_json(&locate_binary("greet")),
    )
    .await;
    let live = poll::until_async(
        "both allocations of live running",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || async {
            let allocs: Vec<Value> = reqwest::get(format!("{nomad}/v1/job/live/allocations"))
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let running: BTreeMap<String, String> = allocs
                .iter()
                .filter(|a| a["ClientStatus"] == "running")
                .map(|a| {
                    (
                        a["Name"].as_str().unwrap().to_string(),
                        a["ID"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            (running.len() == 2).then_some(running)
        },
    )
    .await;
    let live0 = &live["live.greeter[0]"];

    let survivors = [
        "shepard/rollouts/default/live/greeter/greet".to_string(),
        "shepard/keys/sim-node-0/live/greeter/greet/0".to_string(),
        format!("shepard/keys/sim-node-0/default/live/greeter/greet/{live0}"),
        format!("shepard/state/sim-node-0/{live0}/greet"),
        "shepard/notes".to_string(),
        "shepard/state/only-two".to_string(),
        "elsewhere/shepard/keys/sim-node-0/live/greeter/greet/0".to_string(),
        "shepard-backup/rollouts/default/gone/greeter/greet".to_string(),
    ];
    let garbage = [
        "shepard/rollouts/default/gone/greeter/greet".to_string(),
        "shepard/locks/default/gone/greeter/greet/task_lock".to_string(),
        "shepard/locks/default/gone/greeter/greet/restart_lock/0".to_string(),
        "shepard/keys/sim-node-0/gone/greeter/greet/0".to_string(),
        "shepard/keys/sim-node-0/default/live/greeter/greet/0b5e55ed-0000-4000-8000-000000000000"
            .to_string(),
        "shepard/state/sim-node-0/0b5e55ed-0000-4000-8000-000000000000/greet".to_string(),
        "shepard/keys/sim-node-1/live/greeter/greet/1".to_string(),
        "shepard/agents/sim-node-1".to_string(),
    ];
    for key in survivors.iter().chain(&garbage) {
        put(&consul, key, "{}").await;
    }
    // Node 1 goes down: its keys are garbage once node_cleanup_timeout (1 s) has passed.
    sim(&nomad, Method::POST, "/sim/node/sim-node-1/down").await;

    let dry = poll::until_async(
        "a dry run listing the down node's keys",
        Duration::from_secs(15),
        Duration::from_millis(250),
        || async {
            let report = shepard_gc(&consul, &nomad, &["--dry-run", "-json"]);
            keys_of(&report, "deletions")
                .contains("shepard/agents/sim-node-1")
                .then_some(report)
        },
    )
    .await;
    assert_eq!(dry["dry_run"], true);
    let listed = keys_of(&dry, "deletions");
    assert_eq!(listed, garbage.iter().cloned().collect::<BTreeSet<_>>());
    let unparseable: BTreeSet<&str> = dry["unparseable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(
        unparseable,
        BTreeSet::from(["shepard/notes", "shepard/state/only-two"])
    );
    let before = kv_tree(&consul, "").await;
    for key in &garbage {
        assert!(before.contains_key(key), "dry run deleted {key}");
    }

    let real = shepard_gc(&consul, &nomad, &["-json"]);
    assert_eq!(real["dry_run"], false);
    assert_eq!(
        keys_of(&real, "deletions"),
        listed,
        "the pass deletes what the dry run listed"
    );
    assert!(keys_of(&real, "kept").is_empty());
    let after = kv_tree(&consul, "").await;
    let mut expected = indexes(&before);
    expected.retain(|k, _| !listed.contains(k));
    assert_eq!(
        indexes(&after),
        expected,
        "exactly the listed keys are gone"
    );

    let again = shepard_gc(&consul, &nomad, &["-json"]);
    assert!(keys_of(&again, "deletions").is_empty(), "{again}");
    let last = kv_tree(&consul, "").await;
    for key in &survivors {
        assert!(last.contains_key(key), "{key} survives every pass");
    }
}

#[tokio::test]
async fn dry_run_text_says_why_one_line_per_key() {
    let consul = ConsulDev::start();
    let world = NomadSim::start(&locate_binary("nomad-sim"), &consul.http_addr(), 1);
    let consul = consul.http_addr();
    put(&consul, "shepard/rollouts/default/gone/greeter/greet", "{}").await;
    put(&consul, "shepard/notes", "hello").await;
    let output = Command::new(Path::new(env!("CARGO_BIN_EXE_shepard")))
        .args([
            "gc",
            "--dry-run",
            "--consul-addr",
            &consul,
            "--nomad-addr",
            world.addr(),
        ])
        .env_clear()
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        text,
        "would delete shepard/rollouts/default/gone/greeter/greet (rollout): \
         job default/gone is gone or stopped\n\
         left alone shepard/notes: matches no entry of the key layout\n"
    );
    assert!(
        kv_tree(&consul, "shepard/")
            .await
            .contains_key("shepard/rollouts/default/gone/greeter/greet")
    );
}
