//! Rules between and beyond single values: ranges Consul and Nomad impose, options that only
//! make sense together, and TLS settings that contradict each other.
//!
//! TLS rules, per API client or sink:
//! - `client_cert` and `client_key` come together (mutual TLS needs both);
//! - `insecure_skip_verify = true` excludes `ca_file` and `server_name`: both only matter when
//!   the server is verified, so setting them together means one of them is a mistake;
//! - `ca_file`, `client_cert`, `client_key` and `server_name` need a TLS address (`https://`,
//!   `tls://`): on a plain address they would be silently ignored. `insecure_skip_verify` is
//!   harmless there (environments often export `CONSUL_HTTP_SSL_VERIFY=false` globally).

use std::time::Duration;

use super::error::Problem;
use super::model::{Config, LOG_TAGS};
use super::resolve::Resolved;
use super::value::{show_duration, show_size};
use crate::tls::TlsConfig;

/// Consul's session TTL bounds (`/v1/session/create` refuses others).
pub const SESSION_TTL_MIN: Duration = Duration::from_secs(10);
pub const SESSION_TTL_MAX: Duration = Duration::from_secs(86_400);
/// Consul caps a session's lock delay at 60 s.
pub const LOCK_DELAY_MAX: Duration = Duration::from_secs(60);

struct Checker<'a> {
    resolved: &'a Resolved,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn fail(&mut self, path: &str, message: String) {
        self.problems.push(Problem {
            option: path.to_string(),
            origin: self.resolved.origin(path),
            message,
        });
    }

    /// `path`'s value and origin, for messages about another option.
    fn cite(&self, path: &str) -> String {
        let shown = self
            .resolved
            .values
            .iter()
            .find(|v| v.path == path)
            .and_then(|v| v.shown.clone())
            .unwrap_or_default();
        format!("{path} = {shown} ({})", self.resolved.origin(path))
    }

    fn at_least(&mut self, path: &str, value: Duration, min: Duration) {
        if value < min {
            let msg = format!(
                "must be at least {}, got {}",
                show_duration(min),
                show_duration(value)
            );
            self.fail(path, msg);
        }
    }

    fn tls(&mut self, block: &str, tls: &TlsConfig, tls_address: bool) {
        let p = |key: &str| format!("{block}.tls.{key}");
        match (&tls.client_cert, &tls.client_key) {
            (Some(_), None) => self.fail(
                &p("client_cert"),
                format!("needs {} as well", p("client_key")),
            ),
            (None, Some(_)) => self.fail(
                &p("client_key"),
                format!("needs {} as well", p("client_cert")),
            ),
            _ => {}
        }
        if tls.insecure_skip_verify {
            for (key, set) in [
                ("ca_file", tls.ca_file.is_some()),
                ("server_name", tls.server_name.is_some()),
            ] {
                if set {
                    let msg = format!(
                        "cannot be combined with {}: either verify the server or skip verification",
                        self.cite(&p(key))
                    );
                    self.fail(&p("insecure_skip_verify"), msg);
                }
            }
        }
        if !tls_address {
            let address = if block.starts_with("logs.") {
                format!(
                    "{block}.{}",
                    if block == "logs.syslog" {
                        "address"
                    } else {
                        "url"
                    }
                )
            } else {
                format!("{block}.address")
            };
            for key in ["ca_file", "client_cert", "client_key", "server_name"] {
                if self.resolved.is_set(&p(key)) {
                    let msg = format!(
                        "is set but {} is not a TLS address, so it would be ignored",
                        self.cite(&address)
                    );
                    self.fail(&p(key), msg);
                }
            }
        }
    }

    /// Options of a sink that is off because its enabling option is not set.
    fn orphans(&mut self, block: &str, enabler: &str, enabled: bool) {
        if enabled {
            return;
        }
        let prefix = format!("{block}.");
        let set: Vec<&'static str> = self
            .resolved
            .values
            .iter()
            .filter(|v| v.path.starts_with(&prefix) && v.path != enabler)
            .map(|v| v.path)
            .filter(|p| self.resolved.is_set(p))
            .collect();
        for path in set {
            self.fail(
                path,
                format!("is set but {enabler} is not, so this sink is off"),
            );
        }
    }
}

/// Every rule broken by `resolved`, in a stable order.
pub fn check(resolved: &Resolved) -> Vec<Problem> {
    let c: &Config = &resolved.config;
    let mut k = Checker {
        resolved,
        problems: Vec::new(),
    };

    if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&c.log_level) {
        k.fail(
            "log_level",
            format!("invalid log filter {:?}: {e}", c.log_level),
        );
    }
    k.at_least("resync_interval", c.resync_interval, Duration::from_secs(1));
    k.at_least(
        "ship_log_interval",
        c.ship_log_interval,
        Duration::from_millis(100),
    );
    k.at_least(
        "shutdown_timeout",
        c.shutdown_timeout,
        Duration::from_secs(1),
    );

    if c.consul.prefix.is_empty() {
        let msg =
            "must name a folder such as \"shepard/\"; an empty prefix would be the whole KV store";
        k.fail("consul.prefix", msg.into());
    } else if (c.consul.prefix.strip_suffix('/'))
        .unwrap_or(&c.consul.prefix)
        .split('/')
        .any(|s| matches!(s, "" | "." | ".."))
    {
        let msg = "must not hold an empty, \".\" or \"..\" segment: Consul would see another key";
        k.fail("consul.prefix", msg.into());
    }
    let ttl = c.consul.session_ttl;
    if !(SESSION_TTL_MIN..=SESSION_TTL_MAX).contains(&ttl) {
        let msg = format!(
            "must be between 10s and 24h (Consul's limits), got {}",
            show_duration(ttl)
        );
        k.fail("consul.session_ttl", msg);
    }
    if c.consul.lock_delay > LOCK_DELAY_MAX {
        let msg = format!(
            "must be at most 60s (Consul's limit), got {}",
            show_duration(c.consul.lock_delay)
        );
        k.fail("consul.lock_delay", msg);
    }
    k.tls("consul", &c.consul.tls, c.consul.address.is_https());
    k.tls("nomad", &c.nomad.tls, c.nomad.address.is_https());

    if c.defaults.max_parallel == 0 {
        k.fail("defaults.max_parallel", "must be at least 1".into());
    }
    if c.defaults.healthy_deadline <= c.defaults.min_healthy_time {
        // Blame the one the operator set; if both, the deadline.
        if resolved.is_set("defaults.healthy_deadline") {
            let msg = format!(
                "must be longer than {}",
                k.cite("defaults.min_healthy_time")
            );
            k.fail("defaults.healthy_deadline", msg);
        } else {
            let msg = format!(
                "must be shorter than {}",
                k.cite("defaults.healthy_deadline")
            );
            k.fail("defaults.min_healthy_time", msg);
        }
    }

    logs(&mut k, c);
    k.problems
}

fn logs(k: &mut Checker<'_>, c: &Config) {
    let l = &c.logs;
    if l.max_line_bytes < 256 {
        k.fail(
            "logs.max_line_bytes",
            format!("must be at least 256B, got {}", show_size(l.max_line_bytes)),
        );
    }
    if l.max_batch_bytes < l.max_line_bytes {
        let msg = format!("must be at least {}", k.cite("logs.max_line_bytes"));
        k.fail("logs.max_batch_bytes", msg);
    }
    if l.memory_limit < l.max_batch_bytes {
        let msg = format!("must be at least {}", k.cite("logs.max_batch_bytes"));
        k.fail("logs.memory_limit", msg);
    }
    k.orphans("logs.file", "logs.file.path", l.file.is_some());
    if let Some(file) = &l.file {
        if file.max_files == 0 {
            k.fail("logs.file.max_files", "must be at least 1".into());
        }
        if file.max_file_size < l.max_line_bytes {
            let msg = format!("must be at least {}", k.cite("logs.max_line_bytes"));
            k.fail("logs.file.max_file_size", msg);
        }
    }
    k.orphans("logs.syslog", "logs.syslog.address", l.syslog.is_some());
    if let Some(s) = &l.syslog {
        k.tls("logs.syslog", &s.tls, s.address.tls);
    }
    k.orphans("logs.loki", "logs.loki.url", l.loki.is_some());
    if let Some(loki) = &l.loki {
        k.tls("logs.loki", &loki.tls, loki.url.is_https());
        for label in &loki.labels {
            if !LOG_TAGS.contains(&label.as_str()) && !l.meta_tags.contains(label) {
                let msg = format!(
                    "unknown tag {label:?}: labels are tags ({}) or names in logs.meta_tags",
                    LOG_TAGS.join(", ")
                );
                k.fail("logs.loki.labels", msg);
            }
        }
    }
    k.orphans("logs.http", "logs.http.url", l.http.is_some());
    if let Some(http) = &l.http {
        k.tls("logs.http", &http.tls, http.url.is_https());
    }
}
