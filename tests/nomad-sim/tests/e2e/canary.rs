//! Canary deployments over the API, with real processes and Consul checks: a changed job with
//! `Canary = 1` on a one-node cluster runs a canary named `[0]` beside the old `[0]` and `[1]`;
//! promotion is refused until the canary's checks have passed for `min_healthy_time`, then the
//! old `[0]` stops, `[1]` is replaced, and the deployment succeeds.

use serde_json::{Value, json};
use shepard_testkit::poll::until_async;

use crate::support::{DEADLINE, TICK, World, greet_job};

fn canary_version(version: &str) -> Value {
    let mut job = greet_job("canary", 2, "canary/config");
    job["TaskGroups"][0]["Update"]["Canary"] = json!(1);
    job["TaskGroups"][0]["Tasks"][0]["Env"] = json!({"VERSION": version});
    job
}

async fn deployment(world: &World) -> Value {
    let got = world.get("/v1/job/canary/deployment").await;
    assert_eq!(got.status, 200, "{}", got.text);
    got.json()
}

async fn promote(world: &World, id: &str, body: Value) -> (u16, String) {
    let got = world
        .send(
            reqwest::Method::POST,
            &format!("/v1/deployment/promote/{id}"),
            Some(body),
        )
        .await;
    (got.status, got.text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_shares_an_index_until_promotion_replaces_the_old_allocations() {
    let world = World::start(1);
    world.kv_put("canary/config", "name: Canary").await;
    world.submit(canary_version("1")).await;
    let old = world.wait_running("canary", 2).await;
    assert_eq!(deployment(&world).await, Value::Null, "a first version");

    world.submit(canary_version("2")).await;
    let running = world.wait_running("canary", 3).await;
    let canary = running
        .iter()
        .find(|a| a["DeploymentStatus"]["Canary"] == true)
        .expect("a canary")
        .clone();
    let old_zero = old
        .iter()
        .find(|a| a["Name"] == "canary.web[0]")
        .expect("old [0]");
    assert_eq!(canary["Name"], "canary.web[0]");
    assert_eq!(canary["NodeID"], old_zero["NodeID"]);
    assert_eq!(canary["JobVersion"], 1);
    let canary_id = canary["ID"].as_str().expect("id").to_string();
    let full = world
        .get(&format!("/v1/allocation/{canary_id}"))
        .await
        .json();
    let d = deployment(&world).await;
    let d_id = d["ID"].as_str().expect("deployment id").to_string();
    assert_eq!(full["DeploymentID"], d_id);
    assert_eq!(
        d["StatusDescription"],
        "Deployment is running but requires manual promotion"
    );
    assert_eq!(d["TaskGroups"]["web"]["PlacedCanaries"], json!([canary_id]));
    let by_id = world.get(&format!("/v1/deployment/{d_id}")).await;
    assert_eq!(by_id.json(), d);
    assert_eq!(by_id.index(), d["ModifyIndex"].as_u64().expect("index"));
    let missing = world.get("/v1/deployment/nope").await;
    assert_eq!(
        (missing.status, missing.text.as_str()),
        (404, "deployment not found")
    );

    assert_eq!(
        promote(&world, &d_id, json!({"All": true})).await,
        (400, "DeploymentID must be specified".into())
    );
    // Checks pass within a second or two; until then and min_healthy_time after, not healthy.
    let early = promote(&world, &d_id, json!({"DeploymentID": d_id, "All": true})).await;
    assert_eq!(
        early,
        (
            500,
            "1 error occurred:\n\t* Task group \"web\" has 0/1 healthy allocations\n\n".into()
        )
    );
    until_async("the canary healthy", DEADLINE, TICK, || async {
        let a = world
            .get(&format!("/v1/allocation/{canary_id}"))
            .await
            .json();
        (a["DeploymentStatus"]["Healthy"] == true).then_some(())
    })
    .await;
    let (status, text) = promote(&world, &d_id, json!({"DeploymentID": d_id, "All": true})).await;
    assert_eq!(status, 200, "{text}");

    let done = until_async("the deployment successful", DEADLINE, TICK, || async {
        let d = deployment(&world).await;
        (d["Status"] == "successful").then_some(d)
    })
    .await;
    assert_eq!(done["TaskGroups"]["web"]["HealthyAllocs"], 2);
    let allocs = world.job_allocs("canary").await;
    let live: Vec<&Value> = allocs
        .iter()
        .filter(|a| a["DesiredStatus"] == "run")
        .collect();
    assert_eq!(live.len(), 2);
    assert!(live.iter().all(|a| a["JobVersion"] == 1));
    assert!(live.iter().any(|a| a["ID"] == canary_id.as_str()));
    for old in &old {
        let now = allocs
            .iter()
            .find(|a| a["ID"] == old["ID"])
            .expect("old alloc");
        let expected = if old["Name"] == "canary.web[0]" {
            "alloc not needed due to job update"
        } else {
            "alloc is being updated due to job update"
        };
        assert_eq!(now["DesiredDescription"], expected);
    }
    let job = world.get("/v1/job/canary").await.json();
    assert_eq!(job["Stable"], true);
}
