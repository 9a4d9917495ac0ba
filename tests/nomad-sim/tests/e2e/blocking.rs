//! Blocking queries on a node's allocations: with the current index the query returns within
//! 100 ms of a task state change (with a higher index), and when nothing changes it returns
//! after `wait` with the same index.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use shepard_testkit::poll::until_async;

use crate::support::{DEADLINE, TICK, World, greet_job};

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_allocations_block_until_a_change_or_the_wait() {
    let world = World::start(1);
    world.kv_put("blocking/config", "name: Block").await;
    world.submit(greet_job("block", 1, "blocking/config")).await;
    let allocs = world.wait_running("block", 1).await;
    let alloc_id = allocs[0]["ID"].as_str().expect("id").to_string();
    let node_id = allocs[0]["NodeID"].as_str().expect("node").to_string();
    let path = format!("/v1/node/{node_id}/allocations");

    // A change: the blocking query is in flight when the task is restarted.
    let index = world.get(&path).await.index();
    let query = {
        let http = world.http.clone();
        let url = format!("{}{path}?index={index}&wait=10s", world.sim.addr());
        tokio::spawn(async move {
            let response = http.get(url).send().await.expect("blocking query");
            let arrived = now_nanos();
            let index = response.headers()["X-Nomad-Index"]
                .to_str()
                .expect("header")
                .parse::<u64>()
                .expect("index");
            let body: Value = response.json().await.expect("json");
            (arrived, index, body)
        })
    };
    let before_change = now_nanos();
    let restart = world
        .send(
            reqwest::Method::POST,
            &format!("/v1/client/allocation/{alloc_id}/restart"),
            Some(json!({"TaskName": "greet"})),
        )
        .await;
    assert_eq!(restart.status, 200, "{}", restart.text);
    let (arrived, new_index, body) = query.await.expect("query task");
    assert!(new_index > index, "index moved: {index} -> {new_index}");
    let events = body[0]["TaskStates"]["greet"]["Events"]
        .as_array()
        .expect("events")
        .clone();
    let change = events
        .iter()
        .filter_map(|e| e["Time"].as_i64())
        .filter(|t| *t >= before_change)
        .min()
        .expect("an event of the restart in the response");
    assert!(arrived >= change, "the query returned before the change");
    let latency = Duration::from_nanos((arrived - change) as u64);
    assert!(
        latency < Duration::from_millis(100),
        "returned {latency:?} after the change"
    );

    // No change: the same index comes back after the wait (1 s, plus at most 1/16 jitter).
    until_async("restart settled", DEADLINE, TICK, || async {
        let got = world.get(&format!("/v1/allocation/{alloc_id}")).await;
        let ts = &got.json()["TaskStates"]["greet"];
        (ts["State"] == "running" && ts["Restarts"] == 1).then_some(())
    })
    .await;
    let index = world.get(&path).await.index();
    let started = Instant::now();
    let idle = world.get(&format!("{path}?index={index}&wait=1s")).await;
    let took = started.elapsed();
    assert_eq!(idle.status, 200);
    assert_eq!(idle.index(), index);
    assert!(took >= Duration::from_secs(1), "returned early: {took:?}");
    assert!(
        took < Duration::from_millis(1500),
        "waited too long: {took:?}"
    );
}
