//! [`ConsulDev`]: a real `consul agent -dev` on free loopback ports with its own data dir,
//! started for one test and killed when the fixture is dropped.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::free_port::free_ports;
use crate::http_get::get;
use crate::poll;

/// The ACL master token of agents started with [`ConsulDevOptions::acl_default_deny`].
pub const ACL_MASTER_TOKEN: &str = "11111111-2222-3333-4444-555555555555";

/// How to start the dev agent.
#[derive(Debug, Clone, Default)]
pub struct ConsulDevOptions {
    /// ACLs enabled with `default_policy = "deny"` and [`ACL_MASTER_TOKEN`] as master token.
    pub acl_default_deny: bool,
    /// Also serve HTTPS (on [`ConsulDev::https_port`]) with this certificate.
    pub tls: Option<TlsFiles>,
    /// A single-server cluster (`-server -bootstrap-expect=1`) that keeps its state in its
    /// data dir, so [`ConsulDev::restart`] comes back with every key and session, as a real
    /// Consul restart does; the default `-dev` agent keeps state in memory only.
    pub persistent: bool,
}

/// PEM files for the agent's HTTPS listener.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Require HTTPS clients to present a certificate signed by `ca_file`.
    pub verify_incoming: bool,
}

/// A running Consul dev agent. Dropping it kills the process and removes its data dir.
pub struct ConsulDev {
    child: Child,
    binary: PathBuf,
    args: Vec<String>,
    log_path: PathBuf,
    http_port: u16,
    https_port: Option<u16>,
    node_name: String,
    master_token: Option<String>,
    dir: tempfile::TempDir,
}

impl ConsulDev {
    /// A dev agent with default options (ACLs off), ready to serve sessions.
    pub fn start() -> Self {
        Self::start_with(ConsulDevOptions::default())
    }

    /// Starts an agent and waits until it has a leader and its own node is registered
    /// and healthy, so that sessions can be created at once.
    pub fn start_with(options: ConsulDevOptions) -> Self {
        // A port picked free can be taken by a concurrent test before Consul binds it: start
        // again on new ports when the agent exits at start-up.
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Self::try_start(&options) {
                Ok(consul) => return consul,
                Err(log) => failures.push(log),
            }
        }
        panic!(
            "consul exited early three times:\n{}",
            failures.join("\n---\n")
        );
    }

    fn try_start(options: &ConsulDevOptions) -> Result<Self, String> {
        let binary = which_consul();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir for consul: {e}"));
        let ports = free_ports(7);
        let http_port = ports[0];
        let node_name = format!("consul-dev-{http_port}");
        let mode: Vec<String> = if options.persistent {
            vec![
                "-server".into(),
                "-bootstrap-expect=1".into(),
                "-ui=false".into(),
            ]
        } else {
            vec!["-dev".into()]
        };
        let mut args: Vec<String> = vec!["agent".into()];
        args.extend(mode);
        args.extend::<Vec<String>>(vec![
            "-bind=127.0.0.1".into(),
            "-client=127.0.0.1".into(),
            format!("-node={node_name}"),
            format!("-data-dir={}", dir.path().join("data").display()),
            format!("-http-port={http_port}"),
            format!("-dns-port={}", ports[1]),
            format!("-serf-lan-port={}", ports[2]),
            format!("-serf-wan-port={}", ports[3]),
            format!("-server-port={}", ports[4]),
            format!("-grpc-port={}", ports[5]),
            "-log-level=warn".into(),
        ]);
        let master_token = options
            .acl_default_deny
            .then(|| ACL_MASTER_TOKEN.to_string());
        if let Some(token) = &master_token {
            let config = dir.path().join("acl.hcl");
            let acl = format!(
                "acl {{\n  enabled = true\n  default_policy = \"deny\"\n  \
                 enable_token_persistence = false\n  tokens {{\n    master = \"{token}\"\n    \
                 agent = \"{token}\"\n  }}\n}}\n"
            );
            fs::write(&config, acl).unwrap_or_else(|e| panic!("write {}: {e}", config.display()));
            args.push(format!("-config-file={}", config.display()));
        }
        let https_port = options.tls.as_ref().map(|_| ports[6]);
        if let (Some(tls), Some(port)) = (&options.tls, https_port) {
            let config = dir.path().join("tls.hcl");
            let hcl = format!(
                "ports {{\n  https = {port}\n}}\ncert_file = \"{}\"\nkey_file = \"{}\"\n\
                 ca_file = \"{}\"\nverify_incoming_https = {}\n",
                tls.cert_file.display(),
                tls.key_file.display(),
                tls.ca_file.display(),
                tls.verify_incoming
            );
            fs::write(&config, hcl).unwrap_or_else(|e| panic!("write {}: {e}", config.display()));
            args.push(format!("-config-file={}", config.display()));
        }
        let log_path = dir.path().join("consul.log");
        let child = spawn(&binary, &args, &log_path);
        let mut consul = Self {
            child,
            binary,
            args,
            log_path,
            http_port,
            https_port,
            node_name,
            master_token,
            dir,
        };
        consul.wait_ready()?;
        Ok(consul)
    }

    /// Kills the agent and starts it again on the same ports. A dev agent keeps its state
    /// in memory, so the new one starts from an empty store with low raft indexes: what
    /// clients see when a cluster is rebuilt or restored from an old snapshot. A persistent
    /// agent comes back with its state.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.binary, &self.args, &self.log_path);
        if let Err(log) = self.wait_ready() {
            panic!("consul exited early after a restart:\n{log}");
        }
    }

    /// Waits for a leader and a healthy node; `Err` with the agent's log if it exited.
    fn wait_ready(&mut self) -> Result<(), String> {
        let log_path = self.log_path.clone();
        let path = format!("/v1/health/node/{}", self.node_name);
        let token = self.master_token.clone();
        let port = self.http_port;
        let child = &mut self.child;
        poll::until(
            "consul dev agent: leader elected and node healthy",
            Duration::from_secs(30),
            Duration::from_millis(50),
            || {
                if let Ok(Some(status)) = child.try_wait() {
                    let log = fs::read_to_string(&log_path).unwrap_or_default();
                    return Some(Err(format!("consul exited early with {status}:\n{log}")));
                }
                let (_, leader) = get(port, "/v1/status/leader", None)?;
                if leader.trim().len() <= 2 {
                    return None; // `""` until a leader is elected
                }
                let (code, checks) = get(port, &path, token.as_deref())?;
                (code == 200 && checks.contains("\"serfHealth\"") && checks.contains("passing"))
                    .then_some(Ok(()))
            },
        )
    }

    /// `http://127.0.0.1:<port>`.
    pub fn http_addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The HTTPS port, when started with [`ConsulDevOptions::tls`].
    pub fn https_port(&self) -> Option<u16> {
        self.https_port
    }

    /// The agent's node name (sessions are created on it by default).
    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// The ACL master token, when started with ACLs on.
    pub fn master_token(&self) -> Option<&str> {
        self.master_token.as_deref()
    }

    /// A directory that lives as long as the fixture, for test files (tokens, certs).
    pub fn scratch_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for ConsulDev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(binary: &PathBuf, args: &[String], log_path: &PathBuf) -> Child {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .unwrap_or_else(|e| panic!("consul log file: {e}"));
    let log_err = log
        .try_clone()
        .unwrap_or_else(|e| panic!("consul log file: {e}"));
    Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()))
}

fn which_consul() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("consul"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the `consul` binary is not installed. Run `make test`, which installs Debian's \
                 consul 1.8.7 package (scripts/install-deps.sh), or install it yourself."
            )
        })
}
