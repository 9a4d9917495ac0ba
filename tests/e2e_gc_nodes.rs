//! Garbage collection of nodes that are gone, end to end: two nodes lose their agents and go
//! down in the simulator at the same moment; one comes back up two seconds later. The subtree
//! (`keys/<node>/`, `state/<node>/`, `agents/<node>`) of the node that stays down survives until
//! `node_cleanup_timeout` has passed and is removed after; the node that came back keeps
//! everything, also after its own timeout would have passed.

mod e2e;
mod gc_support;

use std::time::{Duration, Instant};

use e2e::World;
use gc_support::{kv_tree, sim, under, wait_for_a_pass};
use reqwest::Method;
use shepard_testkit::{GreetJob, poll};

const CLEANUP: Duration = Duration::from_secs(10);
/// `StatusUpdatedAt` has whole seconds: a node's time may read up to a second early.
const CLOCK_GRAIN: Duration = Duration::from_secs(1);

fn subtree(node: &str) -> [String; 3] {
    [
        format!("shepard/keys/{node}/"),
        format!("shepard/state/{node}/"),
        format!("shepard/agents/{node}"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_nodes_subtree_goes_after_the_timeout_and_a_returning_node_keeps_its_own() {
    let world = World::start(
        3,
        &["--node-cleanup-timeout", "10s", "--resync-interval", "5s"],
    )
    .await;
    let consul = world.cluster.consul.http_addr();
    let nomad = world.cluster.sim.addr().to_string();
    let mut job = GreetJob::new("spread", 3, "spread/config");
    job.min_healthy_time = Duration::from_secs(1);
    world.run_job(job).await;
    world.put_config("spread", "name: two\n").await;
    world
        .wait_rollout_state("spread", "complete", Duration::from_secs(90))
        .await;

    let mut world = world;
    for i in [1, 2] {
        world.cluster.agents[i].signal_and_wait("TERM", Duration::from_secs(15));
    }
    let back = subtree("sim-node-1");
    let down = subtree("sim-node-2");
    let back_refs: Vec<&str> = back.iter().map(String::as_str).collect();
    let down_refs: Vec<&str> = down.iter().map(String::as_str).collect();
    let tree = kv_tree(&consul, "shepard/").await;
    let back_before: Vec<(String, u64)> = under(&tree, &back_refs)
        .into_iter()
        .map(|(k, e)| (k.to_string(), e.modify_index))
        .collect();
    let down_before = under(&tree, &down_refs).len();
    assert!(back_before.len() >= 3, "{back_before:?}");
    assert!(down_before >= 3, "{tree:?}");

    let went_down = Instant::now();
    sim(&nomad, Method::POST, "/sim/node/sim-node-1/down").await;
    sim(&nomad, Method::POST, "/sim/node/sim-node-2/down").await;
    poll::until_async(
        "two seconds with both nodes down",
        Duration::from_secs(5),
        Duration::from_millis(50),
        || async { (went_down.elapsed() >= Duration::from_secs(2)).then_some(()) },
    )
    .await;
    let tree = kv_tree(&consul, "shepard/").await;
    assert_eq!(
        under(&tree, &down_refs).len(),
        down_before,
        "kept while down"
    );
    sim(&nomad, Method::POST, "/sim/node/sim-node-1/up").await;

    poll::until_async(
        "the down node's subtree deleted",
        CLEANUP + Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            let tree = kv_tree(&consul, "shepard/").await;
            under(&tree, &down_refs).is_empty().then_some(())
        },
    )
    .await;
    let gone_after = went_down.elapsed();
    assert!(
        gone_after + CLOCK_GRAIN >= CLEANUP,
        "deleted {gone_after:?} after the node went down, before node_cleanup_timeout"
    );

    // Past the returning node's timeout too: one more pass of the remaining agent.
    wait_for_a_pass(&world.cluster.agents[0], Duration::from_secs(15)).await;
    let tree = kv_tree(&consul, "shepard/").await;
    let back_after: Vec<(String, u64)> = under(&tree, &back_refs)
        .into_iter()
        .map(|(k, e)| (k.to_string(), e.modify_index))
        .collect();
    assert_eq!(
        back_after, back_before,
        "the node that came back keeps everything"
    );
    eprintln!("down node's subtree deleted {gone_after:?} after it went down");
}
