//! [`NomadSim`]: a `nomad-sim` process (a simulated Nomad cluster) for one test, started on
//! consecutive free loopback ports against a given Consul and stopped when dropped.
//!
//! The binary is not built by depending on this crate: inside the `nomad-sim` package pass
//! `env!("CARGO_BIN_EXE_nomad-sim")`; elsewhere use [`locate_binary`], which finds it in the
//! target dir of the running test (build it first, e.g. `cargo build -p nomad-sim`, which
//! `cargo test --workspace` / `cargo nextest run --workspace` do anyway).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::free_port::free_port;

/// How to start the simulator.
#[derive(Debug, Clone)]
pub struct NomadSimOptions {
    pub nodes: usize,
    pub datacenter: String,
    pub region: String,
}

impl Default for NomadSimOptions {
    fn default() -> Self {
        Self {
            nodes: 1,
            datacenter: "dc1".into(),
            region: "global".into(),
        }
    }
}

/// One simulated node as announced on the simulator's ready line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimNode {
    /// `sim-node-<i>`.
    pub name: String,
    pub id: String,
    /// `http://127.0.0.1:<port>` — this node's agent API (and the whole cluster API).
    pub addr: String,
}

/// A running simulator. Dropping it sends SIGTERM (the simulator kills its tasks), then
/// SIGKILL if it has not exited after 10 s.
pub struct NomadSim {
    child: Child,
    nodes: Vec<SimNode>,
    dir: tempfile::TempDir,
}

/// `<target dir>/<profile>/<name>`, found from the running test executable
/// (`target/debug/deps/<test>` or `target/debug/examples/<example>` → `target/debug/<name>`);
/// `$NOMAD_SIM_BIN_DIR` overrides.
pub fn locate_binary(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("NOMAD_SIM_BIN_DIR") {
        return PathBuf::from(dir).join(name);
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current exe: {e}"));
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} not found; build it first (cargo build -p nomad-sim)",
        path.display()
    );
    path
}

/// A base port such that `base..base+count` were all free a moment ago.
fn free_port_range(count: usize) -> u16 {
    for _ in 0..50 {
        let base = free_port();
        let Some(last) = base.checked_add(count as u16) else {
            continue;
        };
        let all_free = (base + 1..last).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no range of {count} free loopback ports");
}

impl NomadSim {
    /// `nodes` nodes against the Consul at `consul_addr` (`http://127.0.0.1:PORT`).
    pub fn start(binary: &Path, consul_addr: &str, nodes: usize) -> Self {
        Self::start_with(
            binary,
            consul_addr,
            NomadSimOptions {
                nodes,
                ..NomadSimOptions::default()
            },
        )
    }

    pub fn start_with(binary: &Path, consul_addr: &str, options: NomadSimOptions) -> Self {
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::try_start(binary, consul_addr, &options) {
                Ok(sim) => return sim,
                Err(e) => last_error = e,
            }
        }
        panic!("nomad-sim did not start: {last_error}");
    }

    fn try_start(
        binary: &Path,
        consul_addr: &str,
        options: &NomadSimOptions,
    ) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let base = free_port_range(options.nodes);
        let log = std::fs::File::create(dir.path().join("nomad-sim.log"))
            .map_err(|e| format!("log file: {e}"))?;
        let mut child = Command::new(binary)
            .arg("--consul-addr")
            .arg(consul_addr)
            .arg("--nodes")
            .arg(options.nodes.to_string())
            .arg("--listen")
            .arg(format!("127.0.0.1:{base}"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--datacenter")
            .arg(&options.datacenter)
            .arg("--region")
            .arg(&options.region)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut nodes = Vec::new();
        while nodes.len() < options.nodes {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                let log =
                    std::fs::read_to_string(dir.path().join("nomad-sim.log")).unwrap_or_default();
                return Err(format!("no ready line in time; log:\n{log}"));
            };
            if let Some(node) = parse_ready_line(&line) {
                nodes.push(node);
            }
        }
        Ok(Self { child, nodes, dir })
    }

    /// Node 0's address, `http://127.0.0.1:<port>`.
    pub fn addr(&self) -> &str {
        &self.nodes[0].addr
    }

    pub fn nodes(&self) -> &[SimNode] {
        &self.nodes
    }

    /// The `--data-dir` (node data and alloc dirs live under `<dir>/sim-node-<i>/`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The simulator's stderr log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nomad-sim.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// `nomad-sim: node sim-node-0 id=<uuid> addr=http://127.0.0.1:PORT ready`.
fn parse_ready_line(line: &str) -> Option<SimNode> {
    let rest = line
        .strip_prefix("nomad-sim: node ")?
        .strip_suffix(" ready")?;
    let mut parts = rest.split_whitespace();
    let name = parts.next()?.to_string();
    let id = parts.next()?.strip_prefix("id=")?.to_string();
    let addr = parts.next()?.strip_prefix("addr=")?.to_string();
    Some(SimNode { name, id, addr })
}

impl Drop for NomadSim {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ready_lines() {
        let node = parse_ready_line(
            "nomad-sim: node sim-node-1 id=0b0c-x addr=http://127.0.0.1:4001 ready",
        );
        assert_eq!(
            node,
            Some(SimNode {
                name: "sim-node-1".into(),
                id: "0b0c-x".into(),
                addr: "http://127.0.0.1:4001".into()
            })
        );
        assert_eq!(parse_ready_line("something else"), None);
    }
}
