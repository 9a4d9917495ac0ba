//! Deleting a job stops every process (checked by PID, no orphans) and deregisters every
//! service, task and group; `?purge=true` then removes the job.

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use serde_json::{Value, json};
use shepard_testkit::poll::until_async;

use crate::support::{DEADLINE, TICK, World, greet_job};

fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None) != Err(Errno::ESRCH)
}

fn group_alive(pgid: i32) -> bool {
    kill(Pid::from_raw(-pgid), None) != Err(Errno::ESRCH)
}

async fn nomad_services(world: &World) -> Vec<String> {
    world
        .consul_services()
        .await
        .keys()
        .filter(|id| id.starts_with("_nomad-task-"))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_job_stops_every_process_and_service() {
    let world = World::start(3);
    world.kv_put("delete/config", "name: Gone").await;
    let mut job = greet_job("doomed", 3, "delete/config");
    job["TaskGroups"][0]["Services"] = json!([{"Name": "doomed-group", "PortLabel": "http"}]);
    world.submit(job).await;
    let allocs = world.wait_running("doomed", 3).await;
    let services = until_async("6 services registered", DEADLINE, TICK, || async {
        let ids = nomad_services(&world).await;
        (ids.len() == 6).then_some(ids)
    })
    .await;
    for alloc in &allocs {
        let id = alloc["ID"].as_str().expect("id");
        assert!(services.contains(&format!("_nomad-task-{id}-greet-greet-http")));
        assert!(services.contains(&format!("_nomad-task-{id}-group-web-doomed-group-http")));
    }
    let pids: Vec<i32> = world
        .sim_events()
        .await
        .iter()
        .filter(|e| e["kind"] == "task-started")
        .filter_map(|e| e["pid"].as_i64())
        .map(|p| p as i32)
        .collect();
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|p| alive(*p)));

    let deleted = world
        .send(reqwest::Method::DELETE, "/v1/job/doomed", None)
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    let stopped = until_async("allocs complete", DEADLINE, TICK, || async {
        let allocs = world.job_allocs("doomed").await;
        allocs
            .iter()
            .all(|a| a["ClientStatus"] == "complete" && a["DesiredStatus"] == "stop")
            .then_some(allocs)
    })
    .await;
    for alloc in &stopped {
        let events: Vec<&str> = alloc["TaskStates"]["greet"]["Events"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|e| e["Type"].as_str())
            .collect();
        assert_eq!(
            events[events.len() - 3..],
            ["Killing", "Terminated", "Killed"]
        );
        assert_eq!(alloc["TaskStates"]["greet"]["State"], "dead");
    }
    // A complete alloc has been reaped: neither the process nor its group is left.
    for pid in &pids {
        assert!(!alive(*pid), "process {pid} still exists");
        assert!(!group_alive(*pid), "process group {pid} still exists");
    }
    let stops = world
        .sim_events()
        .await
        .iter()
        .filter(|e| e["kind"] == "task-stopped")
        .count();
    assert_eq!(stops, 3);
    until_async("services deregistered", DEADLINE, TICK, || async {
        nomad_services(&world).await.is_empty().then_some(())
    })
    .await;
    let job: Value = world.get("/v1/job/doomed").await.json();
    assert_eq!(
        (job["Status"].as_str(), job["Stop"].as_bool()),
        (Some("dead"), Some(true))
    );

    let purged = world
        .send(reqwest::Method::DELETE, "/v1/job/doomed?purge=true", None)
        .await;
    assert_eq!(purged.status, 200);
    let gone = world.get("/v1/job/doomed").await;
    assert_eq!((gone.status, gone.text.as_str()), (404, "job not found"));
}
