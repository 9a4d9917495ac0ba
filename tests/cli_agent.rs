//! `shepard agent` as a real process: it logs JSON lines to stderr, serves telemetry on the
//! port it reports, is not ready while Consul is unchecked, and exits cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shepard_testkit::poll;

/// Kills the agent if the test fails before stopping it.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(url: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let r = reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        (r.status().as_u16(), r.text().await.unwrap())
    })
}

#[test]
fn agent_serves_telemetry_logs_json_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shepard"))
        .args(["agent", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .env_clear()
        .env("CONSUL_HTTP_TOKEN", "t0ken-that-must-not-be-logged")
        .env("SHEPARD_LOG_LEVEL", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shepard agent");
    let stderr = child.stderr.take().unwrap();
    let agent = Agent(child);
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    // Every stderr line is a JSON object; the start-up line says where the server listens.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let listen = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no start-up line; stderr so far: {seen:#?}"));
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        seen.push(line);
        if event["fields"]["message"] == "telemetry server listening" {
            assert_eq!(event["fields"]["version"], env!("CARGO_PKG_VERSION"));
            break event["fields"]["listen"].as_str().unwrap().to_string();
        }
    };

    let (status, body) = http_get(&format!("http://{listen}/healthz"));
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    // Until the agent has registered its conditions /readyz says "starting"; then it names
    // the condition that fails (nothing answers on the default Consul address).
    let (status, body) = poll::until(
        "/readyz to name the consul condition",
        Duration::from_secs(10),
        Duration::from_millis(20),
        || {
            let (status, body) = http_get(&format!("http://{listen}/readyz"));
            body.contains("consul:").then_some((status, body))
        },
    );
    assert_eq!(status, 503);
    assert!(body.contains("consul: not ready"), "{body}");
    let (status, body) = http_get(&format!("http://{listen}/metrics"));
    assert_eq!(status, 200);
    assert!(body.contains("shepard_build_info{version="), "{body}");

    let pid = agent.0.id().to_string();
    let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success());
    let mut agent = agent;
    let status = poll::until(
        "the agent to exit after SIGTERM",
        Duration::from_secs(10),
        Duration::from_millis(20),
        || agent.0.try_wait().unwrap(),
    );
    assert!(status.success(), "exit status {status}");

    // The rest of the log (read to the end of the pipe): the shutdown lines, and never the
    // token, though the debug level logs the whole configuration.
    seen.extend(lines.iter());
    let all = seen.join("\n");
    assert!(all.contains("SIGTERM received"), "{all}");
    assert!(all.contains("\"configuration\""), "{all}");
    assert!(!all.contains("t0ken-that-must-not-be-logged"), "{all}");
}
