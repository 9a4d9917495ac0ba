//! `/readyz` of a real agent: ready once Consul and Nomad answer and its session is held; not
//! ready again when Consul goes away. The Consul and Nomad requests are counted on `/metrics`.

use std::path::Path;
use std::time::Duration;

use shepard_testkit::{AgentProcess, ConsulDev, NomadSim, locate_binary, poll};

#[test]
fn readyz_follows_consul_nomad_and_the_session() {
    let consul = ConsulDev::start();
    let sim = NomadSim::start(&locate_binary("nomad-sim"), &consul.http_addr(), 1);
    let agent = AgentProcess::start(
        Path::new(env!("CARGO_BIN_EXE_shepard")),
        &[
            "--consul-addr",
            &consul.http_addr(),
            "--nomad-addr",
            sim.addr(),
        ],
        &[],
    );
    let (_, body) = poll::until(
        "/readyz to report ready",
        Duration::from_secs(15),
        Duration::from_millis(20),
        || agent.get("/readyz").filter(|(status, _)| *status == 200),
    );
    for condition in ["consul: ok", "nomad: ok", "session: ok"] {
        assert!(body.contains(condition), "{body}");
    }

    let (_, metrics) = agent.get("/metrics").expect("metrics");
    assert!(
        metrics.contains("shepard_api_requests_total{api=\"consul\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("shepard_api_requests_total{api=\"nomad\""),
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
