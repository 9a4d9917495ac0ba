//! `/readyz` of a real agent follows a real Consul: ready while Consul answers, not ready
//! after it stops, and the Consul requests are counted on `/metrics`.

use std::path::Path;
use std::time::Duration;

use shepard_testkit::{AgentProcess, ConsulDev, poll};

#[test]
fn readyz_follows_consul_reachability() {
    let consul = ConsulDev::start();
    let agent = AgentProcess::start(
        Path::new(env!("CARGO_BIN_EXE_shepard")),
        &["--consul-addr", &consul.http_addr()],
        &[],
    );
    let ready = poll::until(
        "/readyz to report ready",
        Duration::from_secs(10),
        Duration::from_millis(20),
        || agent.get("/readyz").filter(|(status, _)| *status == 200),
    );
    assert!(ready.1.contains("consul: ok"), "{}", ready.1);

    let (_, metrics) = agent.get("/metrics").expect("metrics");
    assert!(
        metrics.contains("shepard_api_requests_total{api=\"consul\""),
        "{metrics}"
    );

    drop(consul);
    let (_, body) = poll::until(
        "/readyz to report not ready",
        Duration::from_secs(10),
        Duration::from_millis(20),
        || agent.get("/readyz").filter(|(status, _)| *status == 503),
    );
    assert!(body.contains("consul: not ready"), "{body}");
}
