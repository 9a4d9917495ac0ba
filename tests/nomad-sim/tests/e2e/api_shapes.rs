//! For every endpoint with a published sample, the simulator's response for the same kind of
//! object has the sample's field names at every shared level, the same JSON types, sorted
//! struct keys and `null` zero times. Every tolerated difference is listed with its reason.

use serde_json::{Value, json};

use crate::shape_rules::{full_alloc_rules, job_rules, task_state_rules};
use crate::support::shape::{Rules, differences};
use crate::support::{World, greet_job};

fn sample(name: &str) -> Value {
    let path = format!(
        "{}/tests/e2e/fixtures/refdata/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn assert_shape(what: &str, sample: &Value, sim_text: &str, rules: &Rules) {
    let found = differences(sample, sim_text, rules);
    if let Some(first) = found.first() {
        let all: Vec<String> = found.iter().map(ToString::to_string).collect();
        panic!(
            "{what}: {first}\n({} differences: {})\nsimulator said: {sim_text}",
            found.len(),
            all.join("; ")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_have_the_published_shapes() {
    let world = World::start(2);
    world.kv_put("shapes/config", "name: Shapes").await;
    world.submit(greet_job("shapes", 2, "shapes/config")).await;
    let allocs = world.wait_running("shapes", 2).await;
    let alloc_id = allocs[0]["ID"].as_str().expect("alloc id").to_string();
    let node_id = allocs[0]["NodeID"].as_str().expect("node id").to_string();

    // The restart endpoint: `{"Index":0}` (GenericResponse), and it gives TaskStates a
    // LastRestart and the full restart event sequence to compare.
    let restart = world
        .send(
            reqwest::Method::POST,
            &format!("/v1/client/allocation/{alloc_id}/restart"),
            Some(json!({"TaskName": "greet"})),
        )
        .await;
    assert_eq!(restart.status, 200, "{}", restart.text);
    let mut restart_rules = Rules::default();
    restart_rules.sim_only(
        "Index",
        "handler returns structs.GenericResponse (refdata README)",
    );
    assert_shape(
        "alloc restart",
        &sample("alloc-restart.response.json"),
        &restart.text,
        &restart_rules,
    );
    world.wait_running("shapes", 2).await;

    // /v1/agent/self, asked on node 1's port.
    let me = world
        .get_at(&world.sim.nodes()[1].addr, "/v1/agent/self")
        .await;
    assert_eq!(
        me.json()["stats"]["client"]["node_id"],
        world.sim.nodes()[1].id
    );
    assert!(
        me.header("X-Nomad-Index").is_none(),
        "agent self is not a blocking endpoint"
    );
    let mut agent = Rules::default();
    for m in [
        "stats",
        "stats.*",
        "member.Tags",
        "config.Client.Options",
        "config.Client.Meta",
        "config.Client.ChrootEnv",
    ] {
        agent.map(m);
    }
    let newer = "field of the current agent Config (Consuls list, VersionInfo struct)";
    agent.sim_only("config.Consuls", newer);
    let not_simulated = "agent config the simulator does not model";
    for f in [
        "config.Client.DisableRemoteExec",
        "config.Client.GCDiskUsageThreshold",
        "config.Client.GCInodeUsageThreshold",
        "config.Client.GCInterval",
        "config.Client.NetworkSpeed",
        "config.Client.Reserved",
        "config.Consul",
        "config.DisableAnonymousSignature",
        "config.DisableUpdateCheck",
        "config.EnableSyslog",
        "config.Files",
        "config.HTTPAPIResponseHeaders",
        "config.LeaveOnInt",
        "config.LeaveOnTerm",
        "config.Revision",
        "config.Server.EnabledSchedulers",
        "config.Server.HeartbeatGrace",
        "config.Server.NodeGCThreshold",
        "config.Server.NumSchedulers",
        "config.Server.ProtocolVersion",
        "config.Server.RaftLogstore",
        "config.Server.RejoinAfterLeave",
        "config.Server.RetryInterval",
        "config.Server.RetryJoin",
        "config.Server.RetryMaxAttempts",
        "config.Server.StartJoin",
        "config.SyslogFacility",
        "config.TLSConfig",
        "config.Telemetry",
        "config.Vault",
        "config.VersionPrerelease",
    ] {
        agent.sample_only(f, not_simulated);
    }
    agent.retyped(
        "config.Version",
        "a string in 0.5.5, a VersionInfo struct in current agents",
    );
    assert_shape("agent self", &sample("agent-self.json"), &me.text, &agent);

    // Nodes.
    let nodes = world.get("/v1/nodes?os=true").await;
    assert!(nodes.index() > 0);
    let mut stub_rules = Rules::default();
    for m in [
        "[].Attributes",
        "[].Drivers",
        "[].Drivers.*.Attributes",
        "[].HostVolumes",
    ] {
        stub_rules.map(m);
    }
    stub_rules.sim_only(
        "[].HostVolumes",
        "NodeListStub field of current servers (FIELDS.md)",
    );
    assert_shape("nodes", &sample("nodes.json"), &nodes.text, &stub_rules);
    let node = world.get(&format!("/v1/node/{node_id}")).await;
    let mut node_rules = Rules::default();
    for m in [
        "Attributes",
        "Drivers",
        "Drivers.*.Attributes",
        "HostVolumes",
        "HostNetworks",
        "Links",
        "Meta",
        "LastDrain.Meta",
        "NodeResources.Devices[].Attributes",
    ] {
        node_rules.map(m);
    }
    let newer = "Node field of the current server (FIELDS.md)";
    for f in ["CSIControllerPlugins", "CSINodePlugins", "CgroupParent"] {
        node_rules.sim_only(f, newer);
    }
    let omitted = "empty here; NetworkResource has struct-level omitempty (FIELDS.md)";
    for f in ["DynamicPorts", "ReservedPorts"] {
        node_rules.sample_only(format!("NodeResources.Networks[].{f}"), omitted);
    }
    assert_shape("node", &sample("node.json"), &node.text, &node_rules);

    // Allocations: the full struct (empty fields omitted) and the list stub.
    let full = world.get(&format!("/v1/allocation/{alloc_id}")).await;
    assert_eq!(
        full.index(),
        full.json()["ModifyIndex"].as_u64().expect("ModifyIndex")
    );
    let mut alloc_rules = full_alloc_rules("");
    assert_shape(
        "allocation",
        &sample("allocation.json"),
        &full.text,
        &alloc_rules,
    );
    let on_node = world.get(&format!("/v1/node/{node_id}/allocations")).await;
    alloc_rules = full_alloc_rules("[].");
    assert_shape(
        "node allocations",
        &sample("node-allocations.json"),
        &on_node.text,
        &alloc_rules,
    );
    let mut stub = Rules::default();
    task_state_rules("[].", &mut stub);
    stub.sim_only(
        "[].NextAllocation",
        "AllocListStub field of current servers (FIELDS.md)",
    );
    for f in ["MigrateDisablePlacement", "NoShutdownDelay"] {
        stub.sim_only(
            format!("[].DesiredTransition.{f}"),
            "DesiredTransition field of current servers",
        );
    }
    let list = world.get("/v1/allocations").await;
    assert_shape(
        "allocations",
        &sample("allocations.json"),
        &list.text,
        &stub,
    );
    let of_job = world.get("/v1/job/shapes/allocations").await;
    assert_shape(
        "job allocations",
        &sample("allocations.json"),
        &of_job.text,
        &stub,
    );

    // The job, against Read Job and against a job version (which has TaskGroups[].Update).
    let job = world.get("/v1/job/shapes").await;
    assert_eq!(
        job.index(),
        job.json()["ModifyIndex"].as_u64().expect("ModifyIndex")
    );
    let mut rules = Rules::default();
    job_rules("", &mut rules);
    assert_shape("job", &sample("job.json"), &job.text, &rules);
    let version = sample("job-versions.json")["Versions"][0].clone();
    assert_shape("job version", &version, &job.text, &rules);

    // Errors are text/plain with Nomad's messages, and still carry the index.
    let missing = world
        .get("/v1/allocation/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(
        (missing.status, missing.text.as_str()),
        (404, "alloc not found")
    );
    assert!(
        missing
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );
    assert!(missing.index() > 0);
    let bad = world.get("/v1/allocations?index=x").await;
    assert_eq!((bad.status, bad.text.as_str()), (400, "Invalid index"));
}
