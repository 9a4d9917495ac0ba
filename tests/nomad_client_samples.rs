//! Every published Nomad API sample (`tests/fixtures/nomad/published/`) that holds a document shepard
//! reads decodes into shepard's typed model, through the same `decode` the client uses, and
//! the decoded shape is pinned by an insta snapshot.
//!
//! `node.json` and `job-versions.json` are published with JSON syntax errors: those two are
//! read from the corrected copies in `tests/fixtures/nomad/` (see its README for the one-line
//! fix in each).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use shepard::nomad::decode;
use shepard::nomad::models::*;

fn refdata_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nomad/published")
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A published sample, verbatim.
fn sample(name: &str) -> String {
    read(refdata_dir().join(name))
}

/// A corrected copy of a published sample that is not valid JSON.
fn fixture(name: &str) -> String {
    read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/nomad")
            .join(name),
    )
}

fn parse<T: serde::de::DeserializeOwned>(json: &str) -> T {
    decode("sample", json.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

/// Every JSON sample in the reference data, and the test that covers it. A new sample fails
/// `every_sample_is_covered` until it is added here.
const COVERED: &[(&str, &str)] = &[
    ("agent-self.json", "agent_self"),
    (
        "alloc-restart.request.json",
        "alloc_restart_request_matches_what_the_client_sends",
    ),
    (
        "alloc-restart.response.json",
        "nomad_client_http: restart_posts_the_task_name",
    ),
    ("allocation.json", "allocation"),
    ("allocations.json", "allocation_list_stubs"),
    ("client-state.operator-cli.json", "client_state_allocation"),
    ("event-stream.derived.ndjson", "event_stream_node_payloads"),
    ("event-stream.sample.json", "event_stream_node_payloads"),
    ("job-versions.json", "job_versions (fixture)"),
    ("job.json", "job"),
    ("jobspec-templates.snippet.json", "jobspec_templates"),
    ("node-allocations.json", "node_allocations"),
    ("node.json", "node (fixture)"),
    ("nodes.json", "nodes"),
];

#[test]
fn every_sample_is_covered() {
    let mut found: Vec<String> = std::fs::read_dir(refdata_dir())
        .unwrap_or_else(|e| panic!("{}: {e}", refdata_dir().display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json") || name.ends_with(".ndjson"))
        .collect();
    found.sort();
    let covered: Vec<&str> = COVERED.iter().map(|(name, _)| *name).collect();
    assert_eq!(found, covered);
}

#[test]
fn the_two_broken_samples_really_are_broken() {
    for name in ["node.json", "job-versions.json"] {
        assert!(
            serde_json::from_str::<serde_json::Value>(&sample(name)).is_err(),
            "{name} is valid JSON now: read it from refdata instead of the fixture"
        );
    }
}

#[test]
fn allocation() {
    let alloc: Allocation = parse(&sample("allocation.json"));
    assert_eq!(alloc.id, "a8198d79-cfdb-6593-a999-1e9adabcba2e");
    assert_eq!(alloc.alloc_index(), Some(0));
    assert_eq!(alloc.client_status, ClientStatus::Running);
    // The sample sends PreviousAllocation twice; the last value wins, as in Go.
    assert_eq!(alloc.previous_allocation, "");
    let redis = alloc.task_state("redis").unwrap();
    assert_eq!(redis.state, TaskStatus::Running);
    // An old server's zero time ("0001-01-01T00:00:00Z") is "not set".
    assert_eq!((redis.finished_at, redis.last_restart), (None, None));
    assert_eq!(
        redis.started_at,
        Some(UtcTime::parse_rfc3339("2017-07-25T23:36:26.106431265Z").unwrap())
    );
    assert_eq!(redis.events[2].event_type, TaskEventType::Started);
    assert_eq!(redis.events[2].time.unix_nanos(), 1_495_747_379_525_667_800);
    let job = alloc.job.as_deref().unwrap();
    let task = job.task_group("cache").unwrap().task("redis").unwrap();
    assert_eq!(task.kill_timeout, Duration::from_secs(5));
    assert_eq!(task.services[0].checks[0].interval, Duration::from_secs(10));
    insta::assert_yaml_snapshot!("allocation", alloc);
}

#[test]
fn allocation_list_stubs() {
    let stubs: Vec<AllocationListStub> = parse(&sample("allocations.json"));
    let stub = &stubs[0];
    assert_eq!(
        (stub.job_type.as_str(), stub.alloc_index()),
        ("service", Some(0))
    );
    let status = stub.deployment_status.as_ref().unwrap();
    assert_eq!(status.healthy, Some(true));
    assert_eq!(
        status.timestamp.map(|t| t.to_string()).as_deref(),
        Some("2021-11-04T09:14:22.054814Z")
    );
    assert_eq!(stub.task_states["redis"].finished_at, None);
    insta::assert_yaml_snapshot!("allocation_list_stubs", stubs);
}

#[test]
fn node_allocations() {
    let allocs: Vec<Allocation> = parse(&sample("node-allocations.json"));
    let job = allocs[0].job.as_deref().unwrap();
    let group = job.task_group("webapp").unwrap();
    let policy = group.restart_policy.as_ref().unwrap();
    assert_eq!(
        (policy.attempts, policy.mode.clone()),
        (2, RestartMode::Fail)
    );
    assert_eq!(group.update, None);
    assert_eq!(
        job.update.as_ref().unwrap().health_check,
        HealthCheckMode::Other(String::new())
    );
    assert_eq!(
        allocs[0].deployment_status.as_ref().unwrap().healthy,
        Some(true)
    );
    insta::assert_yaml_snapshot!("node_allocations", allocs);
}

#[test]
fn job() {
    let job: Job = parse(&sample("job.json"));
    assert_eq!(
        (job.namespace.as_str(), job.meta["foo"].as_str()),
        ("apps", "bar")
    );
    let group = job.task_group("cache").unwrap();
    assert_eq!(group.meta["baz"], "pipe");
    let redis = group.task("redis").unwrap();
    assert_eq!(redis.meta["foo"], "bar");
    let template = &redis.templates[0];
    assert_eq!(template.change_mode, ChangeMode::Signal);
    assert_eq!(template.splay, Duration::from_secs(5));
    assert_eq!(template.dest_path, "local/config.conf");
    assert_eq!(
        group.task("init").unwrap().lifecycle.as_ref().unwrap().hook,
        "prestart"
    );
    assert_eq!(
        job.update.as_ref().unwrap().stagger,
        Duration::from_secs(10)
    );
    insta::assert_yaml_snapshot!("job", job);
}

#[derive(Debug, Deserialize)]
struct JobVersions {
    #[serde(rename = "Versions")]
    versions: Vec<Job>,
}

#[test]
fn job_versions() {
    let versions: JobVersions = parse(&fixture("job-versions.json"));
    let group = &versions.versions[0].task_groups[0];
    let update = group.update.as_ref().unwrap();
    assert_eq!(update.health_check, HealthCheckMode::Checks);
    assert_eq!(update.min_healthy_time, Duration::from_secs(10));
    assert_eq!(update.healthy_deadline, Duration::from_secs(300));
    assert_eq!(update.progress_deadline, Duration::from_secs(600));
    assert_eq!(group.shutdown_delay, None);
    insta::assert_yaml_snapshot!("job_versions", versions.versions);
}

#[derive(Debug, Deserialize)]
struct JobspecTemplates {
    #[serde(rename = "Templates")]
    templates: Vec<Template>,
}

#[test]
fn jobspec_templates() {
    let snippet: JobspecTemplates = parse(&sample("jobspec-templates.snippet.json"));
    assert_eq!(snippet.templates[0].change_signal, "SIGUSR1");
    assert_eq!(snippet.templates[0].wait, None);
    insta::assert_yaml_snapshot!("jobspec_templates", snippet.templates);
}

#[test]
fn nodes() {
    let nodes: Vec<NodeListStub> = parse(&sample("nodes.json"));
    assert_eq!(nodes[0].status, NodeStatus::Ready);
    assert_eq!(nodes[0].name, "nomad-4");
    insta::assert_yaml_snapshot!("nodes", nodes);
}

#[test]
fn node() {
    let node: Node = parse(&fixture("node.json"));
    assert_eq!(
        node.status_updated_at,
        UtcTime::from_unix_secs(1_566_814_982)
    );
    assert_eq!(node.http_addr, "127.0.0.1:4646");
    insta::assert_yaml_snapshot!("node", node);
}

#[test]
fn agent_self() {
    let agent: AgentSelf = parse(&sample("agent-self.json"));
    assert_eq!(
        agent.node_id(),
        Some("fb2170a8-257d-3c64-b14d-bc06cc94e34c")
    );
    assert_eq!(agent.config.datacenter, "dc1");
    // The sample is a -dev agent: no data dir, so no alloc dir either.
    assert_eq!(
        (agent.alloc_dir(), agent.configured_node_name()),
        (None, None)
    );
    assert_eq!(agent.member.name, "bacon-mac.global");
    insta::assert_yaml_snapshot!("agent_self", agent);
}

#[test]
fn alloc_restart_request_matches_what_the_client_sends() {
    let sent = AllocRestartRequest {
        task_name: "FOO".into(),
        all_tasks: false,
    };
    let published: serde_json::Value = parse(&sample("alloc-restart.request.json"));
    assert_eq!(serde_json::to_value(&sent).unwrap(), published);
}

#[derive(Debug, Deserialize)]
struct ClientState {
    #[serde(rename = "Allocations")]
    allocations: BTreeMap<String, ClientStateAlloc>,
}

#[derive(Debug, Deserialize)]
struct ClientStateAlloc {
    #[serde(rename = "Alloc")]
    alloc: Allocation,
    #[serde(rename = "Tasks")]
    tasks: BTreeMap<String, ClientStateTask>,
}

#[derive(Debug, Deserialize)]
struct ClientStateTask {
    #[serde(rename = "RemoteState")]
    remote_state: TaskState,
}

/// Not an HTTP response, but the only published full modern `Allocation`.
#[test]
fn client_state_allocation() {
    let state: ClientState = parse(&sample("client-state.operator-cli.json"));
    let entry = &state.allocations["3b0ed734-f721-45d3-420a-3d96926b3f1d"];
    assert!(
        entry.alloc.task_states.is_empty(),
        "TaskStates: null is empty"
    );
    assert_eq!(
        entry.alloc.deployment_id,
        "dc4c0c22-3bc7-a17a-5d7b-bce06a692293"
    );
    let server = &entry.tasks["server"].remote_state;
    assert_eq!(
        server
            .last_event(&TaskEventType::Driver)
            .unwrap()
            .display_message,
        "Downloading image"
    );
    insta::assert_yaml_snapshot!("client_state_allocation", entry.alloc);
}

#[derive(Debug, Deserialize)]
struct EventFrame {
    #[serde(rename = "Events", default)]
    events: Vec<Event>,
}

#[derive(Debug, Deserialize)]
struct Event {
    #[serde(rename = "Payload")]
    payload: NodePayload,
}

#[derive(Debug, Deserialize)]
struct NodePayload {
    #[serde(rename = "Node")]
    node: Node,
}

/// shepard does not read the event stream, but its Node payload is the same `Node`.
#[test]
fn event_stream_node_payloads() {
    let frame: EventFrame = parse(&sample("event-stream.sample.json"));
    let node = &frame.events[0].payload.node;
    assert_eq!(
        (node.status.clone(), node.status_updated_at.unix_nanos()),
        (NodeStatus::Initializing, 1_602_770_857_000_000_000)
    );

    let ndjson = sample("event-stream.derived.ndjson");
    let frames: Vec<EventFrame> = ndjson.lines().map(parse).collect();
    let nodes: Vec<&Node> = frames
        .iter()
        .flat_map(|f| &f.events)
        .map(|e| &e.payload.node)
        .collect();
    assert_eq!(
        nodes,
        [node],
        "the ndjson holds the same frame between heartbeats"
    );
    insta::assert_yaml_snapshot!("event_stream_node", node);
}
