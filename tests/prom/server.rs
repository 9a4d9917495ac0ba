//! A real Prometheus server for a test: Debian's `prometheus` binary on a free loopback port,
//! with its own configuration and data directory, scraping the given targets every second as
//! the scrape job `shepard`, evaluating the given rule files every second; killed on drop.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use shepard_testkit::{free_port, poll};

/// The Prometheus binary, or a panic that says how to get it.
pub fn locate() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("prometheus"))
        .find(|path| path.is_file());
    found.unwrap_or_else(|| {
        panic!("the prometheus binary is missing: run `make test`, which installs it")
    })
}

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` (host:port) and loading `rule_files`, and waits
    /// until it is ready. A port taken by someone else between picking and binding makes
    /// Prometheus exit: it is started again on another.
    pub async fn start(targets: &[String], rule_files: &[PathBuf]) -> Self {
        let dir = tempfile::tempdir().expect("prometheus dir");
        let config = dir.path().join("prometheus.yml");
        fs::write(&config, config_text(targets, rule_files)).expect("write prometheus.yml");
        let http = reqwest::Client::new();
        for _ in 0..3 {
            let port = free_port();
            let child = Mutex::new(spawn(&config, dir.path(), port));
            let base = format!("http://127.0.0.1:{port}");
            let ready = poll::until_async(
                "prometheus to be ready (or to exit)",
                Duration::from_secs(30),
                Duration::from_millis(100),
                || {
                    let (child, http, url) = (&child, &http, format!("{base}/-/ready"));
                    async move {
                        if let Ok(Some(_)) = child.lock().unwrap().try_wait() {
                            return Some(false);
                        }
                        let answer = http.get(url).send().await.ok()?;
                        answer.status().is_success().then_some(true)
                    }
                },
            )
            .await;
            let mut child = child.into_inner().unwrap();
            if !ready {
                // It exited: reap it and try another port.
                let _ = child.wait();
                continue;
            }
            return Self {
                child,
                base,
                dir,
                http,
            };
        }
        let log = fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
        panic!("prometheus exited three times:\n{log}");
    }

    /// Prometheus's own log so far, for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    async fn api(&self, path: &str, params: &[(&str, String)]) -> Result<Value, String> {
        let url = format!("{}/api/v1/{path}", self.base);
        let answer = self
            .http
            .get(url)
            .query(params)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let body: Value = answer
            .json()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        if body["status"] == "success" {
            Ok(body["data"].clone())
        } else {
            Err(format!("{}: {}", body["errorType"], body["error"]))
        }
    }

    /// An instant query at the current time: its result vector (or scalar), or Prometheus's
    /// error.
    pub async fn query(&self, expr: &str) -> Result<Value, String> {
        self.api("query", &[("query", expr.to_string())])
            .await
            .map(|data| data["result"].clone())
    }

    /// A range query from `start` to now, one step a second: its matrix.
    pub async fn query_range(&self, expr: &str, start: SystemTime) -> Result<Vec<Value>, String> {
        let params = [
            ("query", expr.to_string()),
            ("start", unix_seconds(start)),
            ("end", unix_seconds(SystemTime::now())),
            ("step", "1".to_string()),
        ];
        let data = self.api("query_range", &params).await?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }

    /// The values of `label` on the series that `selector` matches since `start`.
    pub async fn label_values(
        &self,
        label: &str,
        selector: &str,
        start: SystemTime,
    ) -> Result<Vec<String>, String> {
        let params = [
            ("match[]", selector.to_string()),
            ("start", unix_seconds(start)),
            ("end", unix_seconds(SystemTime::now())),
        ];
        let data = self.api(&format!("label/{label}/values"), &params).await?;
        Ok(data
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect())
    }

    /// Every rule Prometheus loaded, as `/api/v1/rules` lists them.
    pub async fn rules(&self) -> Vec<Value> {
        let data = self.api("rules", &[]).await.expect("rules");
        data["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Pending and firing alerts.
    pub async fn alerts(&self) -> Vec<Value> {
        let data = self.api("alerts", &[]).await.expect("alerts");
        data["alerts"].as_array().cloned().unwrap_or_default()
    }

    /// Scrape targets whose last scrape succeeded.
    pub async fn healthy_targets(&self) -> usize {
        let Ok(data) = self.api("targets", &[]).await else {
            return 0;
        };
        data["activeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["health"] == "up")
            .count()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on `port`, its log in `dir`.
fn spawn(config: &Path, dir: &Path, port: u16) -> Child {
    let binary = locate();
    let log = fs::File::create(dir.join("prometheus.log")).expect("prometheus log");
    Command::new(&binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()))
}

fn config_text(targets: &[String], rule_files: &[PathBuf]) -> String {
    let quoted = |items: Vec<String>| {
        items
            .iter()
            .map(|i| format!("'{i}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rules = rule_files.iter().map(|p| p.display().to_string()).collect();
    // One-second scrapes and evaluations keep the test short; the job name is the one the
    // README's scrape configuration uses and the alerts select on.
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files: [{}]\n\
         scrape_configs:\n  - job_name: shepard\n    static_configs:\n      - targets: [{}]\n",
        quoted(rules),
        quoted(targets.to_vec()),
    )
}

fn unix_seconds(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// `path` relative to the repository root.
pub fn repo_path(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}
