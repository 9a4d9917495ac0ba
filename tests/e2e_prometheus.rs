//! The dashboards and alerts against a real Prometheus: Debian's `prometheus` scrapes three
//! real agents (real Consul, nomad-sim running real greeters, their logs shipped to a real HTTP
//! receiver) every second while a
//! configuration change rolls through a job, then a bad configuration gets stuck and its fix
//! completes the rollout. Then every PromQL expression of every dashboard panel and alert rule
//! must be accepted, every panel's query must have returned data, every dashboard variable must
//! find values, and `ShepardRolloutStuck`'s expression must have been true exactly while the
//! rollout was stuck. The agents' live `/metrics` must pass `promtool check metrics` and hold
//! only metrics of the contract.

mod e2e;
mod prom;
// Shared with the log-shipping tests, which read more of what it captured.
#[allow(dead_code)]
#[path = "logship_support/receiver.rs"]
mod receiver;

use std::time::{Duration, SystemTime};

use e2e::World;
use prom::contract::{contract, exposed, promtool_check_metrics};
use prom::dashboards::{Intervals, panel_queries, variable_queries};
use prom::server::{Prometheus, locate, repo_path};
use receiver::Receiver;
use serde_json::Value;
use shepard_testkit::{GreetJob, poll};

const JOB: &str = "hello";
const STUCK_ALERT: &str = "ShepardRolloutStuck";

fn greeter() -> GreetJob {
    let mut job = GreetJob::new(JOB, 6, &format!("{JOB}/config"));
    job.max_parallel = 2;
    job.min_healthy_time = Duration::from_secs(2);
    // Long enough that a healthy restart on a loaded machine never misses it.
    job.healthy_deadline = Duration::from_secs(10);
    job
}

/// The `job_name` labels of an instant query's result vector.
fn job_names(result: &Value) -> Vec<String> {
    result
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["metric"]["job_name"].as_str().map(str::to_string))
        .collect()
}

async fn stuck_alerts(prom: &Prometheus) -> Vec<Value> {
    prom.alerts()
        .await
        .into_iter()
        .filter(|a| a["labels"]["alertname"] == STUCK_ALERT)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_and_alerts_hold_against_a_real_prometheus_scraping_three_agents() {
    locate();
    // Log shipping on, so that its panels and alerts have series to show.
    let logs = Receiver::start(0).await;
    let logs_url = logs.url("/ingest");
    let world = World::start(
        3,
        &["--logs-http-url", &logs_url, "--ship-log-interval", "1s"],
    )
    .await;
    let started = SystemTime::now();
    let targets: Vec<String> = world
        .cluster
        .agents
        .iter()
        .map(|a| a.listen().to_string())
        .collect();
    let prom = Prometheus::start(&targets, &[repo_path("dashboards/alerts.yml")]).await;
    poll::until_async(
        "prometheus to scrape the three agents",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async { (prom.healthy_targets().await == 3).then_some(()) },
    )
    .await;
    let rules = prom.rules().await;
    let alerts_in_file = std::fs::read_to_string(repo_path("dashboards/alerts.yml"))
        .unwrap()
        .matches("- alert:")
        .count();
    assert_eq!(rules.len(), alerts_in_file, "{}", prom.log());
    let stuck_expr = rules
        .iter()
        .find(|r| r["name"] == STUCK_ALERT)
        .and_then(|r| r["query"].as_str())
        .expect("ShepardRolloutStuck is loaded")
        .to_string();

    // The rolling restart: the stuck expression stays false throughout.
    world.run_job(greeter()).await;
    world.put_config(JOB, "name: two\n").await;
    world
        .wait_rollout_state(JOB, "complete", Duration::from_secs(90))
        .await;
    let during_good_rollout = prom.query_range(&stuck_expr, started).await.unwrap();
    assert!(
        during_good_rollout.is_empty(),
        "{STUCK_ALERT} was true during a healthy rollout: {during_good_rollout:?}"
    );

    // A bad configuration: stuck, the expression true for the job, the alert pending.
    world
        .put_config(JOB, "name: broken\nhealthy: false\n")
        .await;
    world
        .wait_rollout_state(JOB, "stuck", Duration::from_secs(60))
        .await;
    poll::until_async(
        "the stuck expression to be true for the job",
        Duration::from_secs(15),
        Duration::from_millis(200),
        || async {
            let result = prom.query(&stuck_expr).await.unwrap();
            (job_names(&result) == [JOB]).then_some(())
        },
    )
    .await;
    poll::until_async(
        "ShepardRolloutStuck to be pending for the job",
        Duration::from_secs(15),
        Duration::from_millis(200),
        || async {
            let alerts = stuck_alerts(&prom).await;
            alerts
                .iter()
                .any(|a| a["labels"]["job_name"] == JOB && a["labels"]["task"] == "greet")
                .then_some(())
        },
    )
    .await;

    // The fix completes the rollout; the expression turns false, the alert goes away.
    world.put_config(JOB, "name: fixed\n").await;
    world
        .wait_rollout_state(JOB, "complete", Duration::from_secs(90))
        .await;
    poll::until_async(
        "the stuck expression to be false after the fix",
        Duration::from_secs(15),
        Duration::from_millis(200),
        || async {
            let result = prom.query(&stuck_expr).await.unwrap();
            let alerts = stuck_alerts(&prom).await;
            (job_names(&result).is_empty() && alerts.is_empty()).then_some(())
        },
    )
    .await;

    assert!(
        !logs.accepted().is_empty(),
        "the greeters' logs reached the receiver"
    );

    let intervals = Intervals {
        // Grafana's $__rate_interval is at least four scrape intervals.
        rate_interval: Duration::from_secs(10),
        range: started.elapsed().unwrap() + Duration::from_secs(1),
    };
    let mut failures = Vec::new();

    // Every alert rule: accepted as a query, and evaluated by Prometheus without error.
    for rule in &rules {
        let name = rule["name"].as_str().unwrap_or("?");
        let expr = rule["query"].as_str().unwrap_or_default();
        if let Err(e) = prom.query(expr).await {
            failures.push(format!("alert {name}: `{expr}` rejected: {e}"));
        }
        if rule["health"] != "ok" {
            failures.push(format!(
                "alert {name}: health {} {}",
                rule["health"], rule["lastError"]
            ));
        }
    }

    // Every panel: accepted, and some finite value since the world started.
    let panels = panel_queries(&intervals);
    assert!(
        panels.len() > 20,
        "only {} panel queries found",
        panels.len()
    );
    for panel in &panels {
        if let Err(e) = prom.query(&panel.expr).await {
            failures.push(format!("{}: `{}` rejected: {e}", panel.origin, panel.expr));
            continue;
        }
        let series = prom.query_range(&panel.expr, started).await.unwrap();
        let finite = series.iter().any(|s| {
            s["values"].as_array().into_iter().flatten().any(|point| {
                point[1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .is_some_and(f64::is_finite)
            })
        });
        if !finite {
            failures.push(format!("{}: no data from `{}`", panel.origin, panel.expr));
        }
    }

    // Every variable finds values.
    for variable in variable_queries(&intervals) {
        match prom
            .label_values(&variable.label, &variable.selector, started)
            .await
        {
            Ok(values) if !values.is_empty() => {}
            Ok(_) => failures.push(format!("{}: no values", variable.origin)),
            Err(e) => failures.push(format!("{}: rejected: {e}", variable.origin)),
        }
    }

    // Every agent's live exposition: clean for promtool, and only contract metrics.
    let contract = contract();
    for agent in &world.cluster.agents {
        let (_, body) = agent.get("/metrics").expect("the agent's /metrics");
        if let Err(complaints) = promtool_check_metrics(&body) {
            failures.push(format!("agent {}: promtool: {complaints}", agent.listen()));
        }
        for family in exposed(&body).difference(&contract) {
            failures.push(format!(
                "agent {}: `{family}` is not in the metric contract",
                agent.listen()
            ));
        }
    }

    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
