//! The catalogue of every agent option: its dotted name in the HCL file, its flag, its
//! environment variable, its type, its default and its help line. The file parser, the
//! environment reader, the flags, `--help`, the defaults and `shepard config check` are all
//! driven by this one table, so they cannot drift apart.

/// What values an option takes; decides how file, environment and flag values are parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text.
    Text,
    /// A credential: never displayed.
    Secret,
    /// A filesystem path.
    Path,
    /// A humantime duration string: `"15s"`, `"5m"`, `"24h"`.
    Duration,
    /// `true` / `false` (environment and flags also take Go's `1`, `t`, `0`, `f`, …).
    Bool,
    /// A whole number.
    Count,
    /// A byte size: a whole number of bytes or a string with a unit (`"64MiB"`, `"16KB"`).
    Size,
    /// An HTTP API address: `host:port`, `http://…` or `https://…`.
    ApiAddress,
    /// An `IP:port` to listen on.
    SocketAddr,
    /// A syslog receiver: `host:port`, `tcp://host:port` or `tls://host:port`.
    SyslogAddress,
    /// A list of strings (comma-separated in environment variables and flags).
    List,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
}

impl Kind {
    /// The placeholder shown after the flag in `--help`.
    pub fn value_name(self) -> &'static str {
        match self {
            Kind::Text => "TEXT",
            Kind::Secret => "TOKEN",
            Kind::Path => "PATH",
            Kind::Duration => "DURATION",
            Kind::Bool => "BOOL",
            Kind::Count => "N",
            Kind::Size => "SIZE",
            Kind::ApiAddress => "URL",
            Kind::SocketAddr => "IP:PORT",
            Kind::SyslogAddress => "ADDR",
            Kind::List => "LIST",
            Kind::Choice(_) => "WORD",
        }
    }
}

/// One option of the agent.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// Dotted name: the HCL key inside its blocks, and the name every error message uses.
    pub path: &'static str,
    /// Long flag, without the leading `--`.
    pub flag: &'static str,
    /// Environment variable: HashiCorp's own where one exists, `SHEPARD_…` otherwise.
    pub env: &'static str,
    /// The variable means the opposite of the option (`CONSUL_HTTP_SSL_VERIFY=false` sets
    /// `insecure_skip_verify = true`).
    pub env_inverted: bool,
    pub kind: Kind,
    /// Default as it would be written in the file; `None` means "not set".
    pub default: Option<&'static str>,
    pub help: &'static str,
    /// Other names the HCL file accepts for this key (Nomad's own spellings).
    pub file_aliases: &'static [&'static str],
}

const fn opt(
    path: &'static str,
    flag: &'static str,
    env: &'static str,
    kind: Kind,
    default: Option<&'static str>,
    help: &'static str,
) -> OptionSpec {
    OptionSpec {
        path,
        flag,
        env,
        env_inverted: false,
        kind,
        default,
        help,
        file_aliases: &[],
    }
}

impl OptionSpec {
    const fn inverted_env(mut self) -> Self {
        self.env_inverted = true;
        self
    }

    const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.file_aliases = aliases;
        self
    }

    /// The `--help` text: the help line, the environment variable and the default.
    pub fn help_text(&self) -> String {
        let env = if self.env_inverted {
            format!("{}=false", self.env)
        } else {
            self.env.to_string()
        };
        let default = match self.default {
            Some(d) if !d.is_empty() => format!(" [default: {d}]"),
            _ => String::new(),
        };
        let choices = match self.kind {
            Kind::Choice(words) => format!(" [one of: {}]", words.join(", ")),
            _ => String::new(),
        };
        format!("{}{choices} [env: {env}]{default}", self.help)
    }
}

use Kind::*;

pub const LOG_FORMATS: &[&str] = &["text", "json"];
pub const RESTART_METHODS: &[&str] = &["consul-key", "nomad-api"];

/// Every option, in the order `--help`, `config check` and `deploy/shepard.hcl` show them.
#[rustfmt::skip]
pub static OPTIONS: &[OptionSpec] = &[
    // agent
    opt("listen", "listen", "SHEPARD_LISTEN", SocketAddr, Some("127.0.0.1:9464"),
        "Address of the /metrics, /healthz and /readyz server; port 0 picks a free port"),
    opt("log_level", "log-level", "SHEPARD_LOG_LEVEL", Text, Some("info"),
        "Log filter (a level or tracing directives such as `info,shepard=debug`); RUST_LOG wins when set"),
    opt("log_format", "log-format", "SHEPARD_LOG_FORMAT", Choice(LOG_FORMATS), Some("text"),
        "Log line format on stderr"),
    opt("data_dir", "data-dir", "SHEPARD_DATA_DIR", Path, Some("/var/lib/shepard"),
        "Directory for the agent's local state (log-shipping checkpoints)"),
    opt("resync_interval", "resync-interval", "SHEPARD_RESYNC_INTERVAL", Duration, Some("5m"),
        "Every key of every reconciler is reconciled again at this interval, as a safety net"),
    opt("node_cleanup_timeout", "node-cleanup-timeout", "SHEPARD_NODE_CLEANUP_TIMEOUT", Duration,
        Some("24h"), "Keys of a node that has been down or gone this long are deleted"),
    opt("rollout_history", "rollout-history", "SHEPARD_ROLLOUT_HISTORY", Duration, Some("24h"),
        "Finished rollout records are kept this long for `shepard status`"),
    opt("ship_log_interval", "ship-log-interval", "SHEPARD_SHIP_LOG_INTERVAL", Duration,
        Some("10s"), "Task log lines are shipped at this interval (or sooner, when a batch is full)"),
    opt("shutdown_timeout", "shutdown-timeout", "SHEPARD_SHUTDOWN_TIMEOUT", Duration, Some("5s"),
        "On SIGINT/SIGTERM, time allowed to release slots and destroy the session before exiting"),
    // consul
    opt("consul.address", "consul-addr", "CONSUL_HTTP_ADDR", ApiAddress,
        Some("http://127.0.0.1:8500"), "Consul HTTP API address (the local Consul agent)"),
    opt("consul.token", "consul-token", "CONSUL_HTTP_TOKEN", Secret, None,
        "Consul ACL token (prefer token_file: flags are visible in the process list)"),
    opt("consul.token_file", "consul-token-file", "CONSUL_HTTP_TOKEN_FILE", Path, None,
        "File holding the Consul ACL token; wins over a token from the same or a lower source, as in Consul's client"),
    opt("consul.prefix", "consul-prefix", "SHEPARD_CONSUL_PREFIX", Text, Some("shepard/"),
        "KV prefix of every key shepard reads or writes; job templates must use the same prefix"),
    opt("consul.session_ttl", "consul-session-ttl", "SHEPARD_CONSUL_SESSION_TTL", Duration,
        Some("30s"), "TTL of the agent's Consul session (10s to 24h, Consul's limits); renewed every TTL/2, and treated as lost when no renewal succeeded for a TTL"),
    opt("consul.lock_delay", "consul-lock-delay", "SHEPARD_CONSUL_LOCK_DELAY", Duration,
        Some("5s"), "Session lock delay: after a lost session, nobody takes its locks for this long (at most 60s)"),
    opt("consul.tls.ca_file", "consul-tls-ca-file", "CONSUL_CACERT", Path, None,
        "PEM CA bundle to verify the Consul server"),
    opt("consul.tls.client_cert", "consul-tls-client-cert", "CONSUL_CLIENT_CERT", Path, None,
        "PEM client certificate for mutual TLS; needs client_key").aliases(&["cert_file"]),
    opt("consul.tls.client_key", "consul-tls-client-key", "CONSUL_CLIENT_KEY", Path, None,
        "PEM private key of client_cert").aliases(&["key_file"]),
    opt("consul.tls.server_name", "consul-tls-server-name", "CONSUL_TLS_SERVER_NAME", Text, None,
        "Name to verify the Consul server certificate against, instead of the address's host"),
    opt("consul.tls.insecure_skip_verify", "consul-tls-insecure-skip-verify",
        "CONSUL_HTTP_SSL_VERIFY", Bool, Some("false"),
        "Do not verify the Consul server certificate (cannot be combined with ca_file or server_name)")
        .inverted_env(),
    // nomad
    opt("nomad.address", "nomad-addr", "NOMAD_ADDR", ApiAddress, Some("http://127.0.0.1:4646"),
        "Nomad HTTP API address (the local Nomad client agent)"),
    opt("nomad.token", "nomad-token", "NOMAD_TOKEN", Secret, None,
        "Nomad ACL token (prefer token_file: flags are visible in the process list)"),
    opt("nomad.token_file", "nomad-token-file", "SHEPARD_NOMAD_TOKEN_FILE", Path, None,
        "File holding the Nomad ACL token; wins over a token from the same or a lower source"),
    opt("nomad.region", "nomad-region", "NOMAD_REGION", Text, None,
        "Nomad region sent with every request (default: the agent's region)"),
    opt("nomad.namespace", "nomad-namespace", "NOMAD_NAMESPACE", Text, None,
        "Nomad namespace for requests not tied to an allocation's own namespace"),
    opt("nomad.alloc_dir", "nomad-alloc-dir", "SHEPARD_NOMAD_ALLOC_DIR", Path, None,
        "Nomad's allocation directory as seen by shepard (default: the client's alloc_dir from /v1/agent/self)"),
    opt("nomad.tls.ca_file", "nomad-tls-ca-file", "NOMAD_CACERT", Path, None,
        "PEM CA bundle to verify the Nomad server"),
    opt("nomad.tls.client_cert", "nomad-tls-client-cert", "NOMAD_CLIENT_CERT", Path, None,
        "PEM client certificate for mutual TLS; needs client_key").aliases(&["cert_file"]),
    opt("nomad.tls.client_key", "nomad-tls-client-key", "NOMAD_CLIENT_KEY", Path, None,
        "PEM private key of client_cert").aliases(&["key_file"]),
    opt("nomad.tls.server_name", "nomad-tls-server-name", "NOMAD_TLS_SERVER_NAME", Text, None,
        "Name to verify the Nomad server certificate against, instead of the address's host"),
    opt("nomad.tls.insecure_skip_verify", "nomad-tls-insecure-skip-verify", "NOMAD_SKIP_VERIFY",
        Bool, Some("false"),
        "Do not verify the Nomad server certificate (cannot be combined with ca_file or server_name)"),
    // per-task defaults
    opt("defaults.max_parallel", "default-max-parallel", "SHEPARD_DEFAULT_MAX_PARALLEL", Count,
        Some("1"), "Allocations of a task restarted at once, when neither meta nor the update block says"),
    opt("defaults.min_healthy_time", "default-min-healthy-time", "SHEPARD_DEFAULT_MIN_HEALTHY_TIME",
        Duration, Some("10s"), "How long a restarted allocation must stay healthy before the next one starts"),
    opt("defaults.healthy_deadline", "default-healthy-deadline", "SHEPARD_DEFAULT_HEALTHY_DEADLINE",
        Duration, Some("5m"), "A restarted allocation not healthy by then makes the rollout stuck; more than min_healthy_time"),
    opt("defaults.restart_method", "default-restart-method", "SHEPARD_DEFAULT_RESTART_METHOD",
        Choice(RESTART_METHODS), Some("consul-key"),
        "How a restart is triggered when the task's meta does not say"),
    // log shipping
    opt("logs.meta_tags", "logs-meta-tags", "SHEPARD_LOGS_META_TAGS", List, Some(""),
        "Task meta keys added as tags to every shipped line (task over group over job)"),
    opt("logs.max_line_bytes", "logs-max-line-bytes", "SHEPARD_LOGS_MAX_LINE_BYTES", Size,
        Some("16KiB"), "Longer lines are split into parts, each marked as such"),
    opt("logs.max_batch_bytes", "logs-max-batch-bytes", "SHEPARD_LOGS_MAX_BATCH_BYTES", Size,
        Some("1MiB"), "A batch this large is shipped without waiting for ship_log_interval"),
    opt("logs.memory_limit", "logs-memory-limit", "SHEPARD_LOGS_MEMORY_LIMIT", Size,
        Some("64MiB"), "Memory all tailers together may hold; reading pauses beyond it"),
    opt("logs.file.path", "logs-file-path", "SHEPARD_LOGS_FILE_PATH", Path, None,
        "File sink: JSON lines written to this file (setting it enables the sink)"),
    opt("logs.file.max_file_size", "logs-file-max-file-size", "SHEPARD_LOGS_FILE_MAX_FILE_SIZE",
        Size, Some("100MiB"), "File sink: rotate when the file reaches this size"),
    opt("logs.file.max_files", "logs-file-max-files", "SHEPARD_LOGS_FILE_MAX_FILES", Count,
        Some("5"), "File sink: rotated files kept"),
    opt("logs.file.direct_io", "logs-file-direct-io", "SHEPARD_LOGS_FILE_DIRECT_IO", Bool,
        Some("true"), "File sink: write whole blocks with O_DIRECT, past the page cache (where the filesystem allows)"),
    opt("logs.syslog.address", "logs-syslog-address", "SHEPARD_LOGS_SYSLOG_ADDRESS", SyslogAddress,
        None, "Syslog sink: RFC 5424 receiver, tcp://host:port or tls://host:port (setting it enables the sink)"),
    opt("logs.syslog.tls.ca_file", "logs-syslog-tls-ca-file", "SHEPARD_LOGS_SYSLOG_TLS_CA_FILE",
        Path, None, "Syslog sink: PEM CA bundle to verify the receiver"),
    opt("logs.syslog.tls.client_cert", "logs-syslog-tls-client-cert",
        "SHEPARD_LOGS_SYSLOG_TLS_CLIENT_CERT", Path, None,
        "Syslog sink: PEM client certificate; needs client_key").aliases(&["cert_file"]),
    opt("logs.syslog.tls.client_key", "logs-syslog-tls-client-key",
        "SHEPARD_LOGS_SYSLOG_TLS_CLIENT_KEY", Path, None,
        "Syslog sink: PEM private key of client_cert").aliases(&["key_file"]),
    opt("logs.syslog.tls.server_name", "logs-syslog-tls-server-name",
        "SHEPARD_LOGS_SYSLOG_TLS_SERVER_NAME", Text, None,
        "Syslog sink: name to verify the receiver's certificate against"),
    opt("logs.syslog.tls.insecure_skip_verify", "logs-syslog-tls-insecure-skip-verify",
        "SHEPARD_LOGS_SYSLOG_TLS_INSECURE_SKIP_VERIFY", Bool, Some("false"),
        "Syslog sink: do not verify the receiver's certificate"),
    opt("logs.loki.url", "logs-loki-url", "SHEPARD_LOGS_LOKI_URL", ApiAddress, None,
        "Loki sink: push URL, e.g. http://loki:3100/loki/api/v1/push (setting it enables the sink)"),
    opt("logs.loki.tenant_id", "logs-loki-tenant-id", "SHEPARD_LOGS_LOKI_TENANT_ID", Text, None,
        "Loki sink: X-Scope-OrgID header for multi-tenant Loki"),
    opt("logs.loki.token", "logs-loki-token", "SHEPARD_LOGS_LOKI_TOKEN", Secret, None,
        "Loki sink: bearer token"),
    opt("logs.loki.labels", "logs-loki-labels", "SHEPARD_LOGS_LOKI_LABELS", List,
        Some("node,namespace,job,group,task,stream"),
        "Loki sink: tags sent as stream labels (keep them low-cardinality); the rest go in the line"),
    opt("logs.loki.tls.ca_file", "logs-loki-tls-ca-file", "SHEPARD_LOGS_LOKI_TLS_CA_FILE", Path,
        None, "Loki sink: PEM CA bundle to verify the server"),
    opt("logs.loki.tls.client_cert", "logs-loki-tls-client-cert",
        "SHEPARD_LOGS_LOKI_TLS_CLIENT_CERT", Path, None,
        "Loki sink: PEM client certificate; needs client_key").aliases(&["cert_file"]),
    opt("logs.loki.tls.client_key", "logs-loki-tls-client-key", "SHEPARD_LOGS_LOKI_TLS_CLIENT_KEY",
        Path, None, "Loki sink: PEM private key of client_cert").aliases(&["key_file"]),
    opt("logs.loki.tls.server_name", "logs-loki-tls-server-name",
        "SHEPARD_LOGS_LOKI_TLS_SERVER_NAME", Text, None,
        "Loki sink: name to verify the server certificate against"),
    opt("logs.loki.tls.insecure_skip_verify", "logs-loki-tls-insecure-skip-verify",
        "SHEPARD_LOGS_LOKI_TLS_INSECURE_SKIP_VERIFY", Bool, Some("false"),
        "Loki sink: do not verify the server certificate"),
    opt("logs.http.url", "logs-http-url", "SHEPARD_LOGS_HTTP_URL", ApiAddress, None,
        "HTTP sink: newline-delimited JSON is POSTed to this URL (setting it enables the sink)"),
    opt("logs.http.token", "logs-http-token", "SHEPARD_LOGS_HTTP_TOKEN", Secret, None,
        "HTTP sink: bearer token"),
    opt("logs.http.tls.ca_file", "logs-http-tls-ca-file", "SHEPARD_LOGS_HTTP_TLS_CA_FILE", Path,
        None, "HTTP sink: PEM CA bundle to verify the server"),
    opt("logs.http.tls.client_cert", "logs-http-tls-client-cert",
        "SHEPARD_LOGS_HTTP_TLS_CLIENT_CERT", Path, None,
        "HTTP sink: PEM client certificate; needs client_key").aliases(&["cert_file"]),
    opt("logs.http.tls.client_key", "logs-http-tls-client-key", "SHEPARD_LOGS_HTTP_TLS_CLIENT_KEY",
        Path, None, "HTTP sink: PEM private key of client_cert").aliases(&["key_file"]),
    opt("logs.http.tls.server_name", "logs-http-tls-server-name",
        "SHEPARD_LOGS_HTTP_TLS_SERVER_NAME", Text, None,
        "HTTP sink: name to verify the server certificate against"),
    opt("logs.http.tls.insecure_skip_verify", "logs-http-tls-insecure-skip-verify",
        "SHEPARD_LOGS_HTTP_TLS_INSECURE_SKIP_VERIFY", Bool, Some("false"),
        "HTTP sink: do not verify the server certificate"),
];

/// The option named `path`.
pub fn find(path: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.path == path)
}

/// Whether `path` names a block (`consul`, `consul.tls`, `logs.file`, …): a proper prefix of
/// some option's path.
pub fn is_block(path: &str) -> bool {
    OPTIONS.iter().any(|o| {
        o.path
            .strip_prefix(path)
            .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// The names directly inside block `block` ("" for the top level), options and blocks alike.
pub fn names_in(block: &str) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = OPTIONS
        .iter()
        .filter_map(|o| {
            let rest = if block.is_empty() {
                Some(o.path)
            } else {
                o.path.strip_prefix(block)?.strip_prefix('.')
            }?;
            Some(rest.split('.').next().unwrap_or(rest))
        })
        .collect();
    names.dedup();
    names.sort_unstable();
    names.dedup();
    names
}

/// The `--help` section an option is listed under.
pub fn heading(path: &str) -> &'static str {
    match path.split('.').next() {
        Some("consul") => "Consul",
        Some("nomad") => "Nomad",
        Some("defaults") => "Per-task defaults (job meta and update blocks win)",
        Some("logs") => "Log shipping",
        _ => "Agent",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_flags_follow_the_path() {
        let (mut paths, mut flags, mut envs) = (vec![], vec![], vec![]);
        for o in OPTIONS {
            assert!(!paths.contains(&o.path), "{} listed twice", o.path);
            assert!(!flags.contains(&o.flag), "flag {} listed twice", o.flag);
            assert!(!envs.contains(&o.env), "env {} listed twice", o.env);
            paths.push(o.path);
            flags.push(o.flag);
            envs.push(o.env);
            // Flags are the dotted path in kebab case, except the two issue-era short forms and
            // the per-task defaults, whose flags say what they are defaults of.
            let mechanical = o.path.replace(['.', '_'], "-");
            let expected = match o.path {
                "consul.address" => "consul-addr".to_string(),
                "nomad.address" => "nomad-addr".to_string(),
                p if p.starts_with("defaults.") => mechanical.replacen("defaults", "default", 1),
                _ => mechanical,
            };
            assert_eq!(o.flag, expected, "flag of {}", o.path);
            if o.env.starts_with("SHEPARD_") && !o.path.starts_with("defaults.") {
                let env = format!("SHEPARD_{}", o.path.replace('.', "_").to_uppercase());
                assert_eq!(o.env, env, "env of {}", o.path);
            }
        }
    }

    /// `config check` prints blocks by walking the table, so each block's options must be
    /// contiguous and a block's nested blocks must come after its own options.
    #[test]
    fn blocks_are_contiguous() {
        let mut closed: Vec<String> = Vec::new();
        let mut open: Vec<String> = Vec::new();
        for o in OPTIONS {
            let (parent, _) = o.path.rsplit_once('.').unwrap_or(("", o.path));
            let chain: Vec<String> = parent
                .split('.')
                .filter(|s| !s.is_empty())
                .scan(String::new(), |acc, seg| {
                    *acc = if acc.is_empty() {
                        seg.to_string()
                    } else {
                        format!("{acc}.{seg}")
                    };
                    Some(acc.clone())
                })
                .collect();
            while open.last().is_some_and(|b| !chain.contains(b)) {
                closed.extend(open.pop());
            }
            for b in &chain {
                if !open.contains(b) {
                    assert!(!closed.contains(b), "block {b} reopened at {}", o.path);
                    open.push(b.clone());
                }
            }
            // An option directly in a block after one of its nested blocks closed.
            assert!(
                !closed
                    .iter()
                    .any(|c| c.starts_with(&format!("{parent}.")) && !parent.is_empty()),
                "{} comes after a nested block of {parent}",
                o.path
            );
        }
    }

    #[test]
    fn blocks_and_names() {
        assert!(is_block("consul"));
        assert!(is_block("consul.tls"));
        assert!(!is_block("consul.address"));
        assert!(!is_block("cons"));
        assert_eq!(names_in("consul.tls").len(), 5);
        assert!(names_in("").contains(&"consul"));
        assert!(names_in("").contains(&"listen"));
    }
}
