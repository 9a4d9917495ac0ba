//! shepard's Nomad client against nomad-sim: every endpoint it uses parses the simulator's
//! answers, each node's port is its own agent, and blocking queries wake on changes.

use std::time::Duration;

use shepard::api_metrics::ApiMetrics;
use shepard::blocking::BlockingParams;
use shepard::nomad::models::ClientStatus;
use shepard::nomad::{NomadClient, NomadClientOptions};
use shepard_testkit::{ConsulDev, GreetJob, NomadSim, locate_binary, poll, submit_job};

fn client(addr: &str) -> NomadClient {
    NomadClient::new(NomadClientOptions::new(addr), ApiMetrics::unregistered()).unwrap()
}

#[tokio::test]
async fn the_client_reads_everything_it_needs_from_the_simulator() {
    let consul = ConsulDev::start();
    consul_put(&consul, "greet/config", "name: sim\n").await;
    let sim = NomadSim::start(&locate_binary("nomad-sim"), &consul.http_addr(), 3);
    let job = GreetJob::new("greet", 3, "greet/config");
    submit_job(sim.addr(), job.to_json(&locate_binary("greet"))).await;

    // Each node's port is that node's local agent.
    for node in sim.nodes() {
        let local = client(&node.addr).local_node().await.unwrap();
        assert_eq!(local.name, node.name);
        assert_eq!(local.id, node.id);
        let alloc_dir = local.alloc_dir.expect("the agent reports its alloc dir");
        assert!(alloc_dir.starts_with(sim.data_dir()), "{alloc_dir:?}");
    }

    let nomad = client(sim.addr());
    let allocs = poll::until_async(
        "three running allocations",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || async {
            let listed = nomad
                .job_allocations(None, "greet", BlockingParams::default())
                .await
                .ok()?;
            let running = listed
                .value
                .iter()
                .filter(|a| a.client_status == ClientStatus::Running)
                .count();
            (running == 3).then_some(listed.value)
        },
    )
    .await;
    let stub = &allocs[0];
    let node = sim.nodes().iter().find(|n| n.id == stub.node_id).unwrap();

    let on_node = nomad
        .node_allocations(&stub.node_id, BlockingParams::default())
        .await
        .unwrap();
    assert!(on_node.index > 0);
    let alloc = on_node.value.iter().find(|a| a.id == stub.id).unwrap();
    let job_in_alloc = alloc.job.as_ref().expect("allocations carry their job");
    let group = job_in_alloc.task_group("greeter").expect("group greeter");
    let task = group.task("greet").expect("task greet");
    assert_eq!(task.templates.len(), 2);
    let state = alloc.task_state("greet").expect("task state");
    assert!(state.started_at.is_some());

    let single = nomad
        .allocation(&stub.id, BlockingParams::default())
        .await
        .unwrap();
    assert_eq!(single.value.node_name, node.name);
    let job = nomad
        .job(None, "greet", BlockingParams::default())
        .await
        .unwrap();
    assert_eq!(
        job.value.task_groups[0]
            .update
            .as_ref()
            .unwrap()
            .max_parallel,
        2
    );
    let nodes = nomad.nodes(BlockingParams::default()).await.unwrap();
    assert_eq!(nodes.value.len(), 3);
    let full_node = nomad
        .node(&stub.node_id, BlockingParams::default())
        .await
        .unwrap();
    assert_eq!(full_node.value.name, node.name);
    let stat = nomad
        .stat_file(&stub.id, "greet/local/config.yml")
        .await
        .unwrap();
    assert!(stat.size > 0);

    // A blocking query on the node's allocations wakes when the restart changes the task.
    let before = on_node.index;
    let waiting = tokio::spawn({
        let nomad = nomad.clone();
        let node_id = stub.node_id.clone();
        async move {
            nomad
                .node_allocations(
                    &node_id,
                    BlockingParams {
                        index: Some(before),
                        wait: Some(Duration::from_secs(30)),
                    },
                )
                .await
        }
    });
    client(&node.addr)
        .restart_allocation_task(&stub.id, "greet")
        .await
        .unwrap();
    let woke = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the blocking query returned")
        .unwrap()
        .unwrap();
    assert!(woke.index > before);

    let stopped = nomad.stop_allocation(&stub.id).await.unwrap();
    assert!(!stopped.eval_id.is_empty());
}

async fn consul_put(consul: &ConsulDev, key: &str, value: &str) {
    let response = reqwest::Client::new()
        .put(format!("{}/v1/kv/{key}", consul.http_addr()))
        .body(value.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap().trim(), "true");
}
