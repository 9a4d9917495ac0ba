//! Assembling the typed [`Config`] from the resolver's typed getters, section by section.

use super::error::Problem;
use super::model::{
    Config, ConsulConfig, FileSink, HttpSink, LogFormat, LogsConfig, LokiSink, NomadConfig,
    RestartDefaults, RestartMethod, SyslogSink,
};
use super::resolve::{Resolver, quote};
use super::value;
use crate::secret::Secret;

/// The typed configuration; fails only when a value the type check accepted cannot be
/// typed after all (a catalogue/builder mismatch).
pub(super) fn build(r: &mut Resolver<'_>) -> Result<Config, Problem> {
    let listen = r.req("listen", value::socket_addr, |a| quote(&a.to_string()))?;
    let log_level = r.req("log_level", value::text, |s| quote(s))?;
    let log_format = match r.choice("log_format")? {
        "json" => LogFormat::Json,
        _ => LogFormat::Text,
    };
    let data_dir = r.req("data_dir", value::text, |s| quote(s))?.into();
    let resync_interval = r.duration("resync_interval")?;
    let node_cleanup_timeout = r.duration("node_cleanup_timeout")?;
    let rollout_history = r.duration("rollout_history")?;
    let ship_log_interval = r.duration("ship_log_interval")?;
    let shutdown_timeout = r.duration("shutdown_timeout")?;
    let consul = ConsulConfig {
        address: r.base_address("consul.address")?,
        token: r.token("consul")?,
        prefix: normalise_prefix(&r.req("consul.prefix", value::text, |s| quote(s))?),
        session_ttl: r.duration("consul.session_ttl")?,
        lock_delay: r.duration("consul.lock_delay")?,
        tls: r.tls("consul")?,
    };
    let nomad = NomadConfig {
        address: r.base_address("nomad.address")?,
        token: r.token("nomad")?,
        region: r.text("nomad.region")?,
        namespace: r.text("nomad.namespace")?,
        alloc_dir: r.path("nomad.alloc_dir")?,
        tls: r.tls("nomad")?,
    };
    let defaults = RestartDefaults {
        max_parallel: r.count("defaults.max_parallel")?,
        min_healthy_time: r.duration("defaults.min_healthy_time")?,
        healthy_deadline: r.duration("defaults.healthy_deadline")?,
        restart_method: match r.choice("defaults.restart_method")? {
            "nomad-api" => RestartMethod::NomadApi,
            _ => RestartMethod::ConsulKey,
        },
    };
    let logs = logs(r)?;
    Ok(Config {
        listen,
        log_level,
        log_format,
        data_dir,
        resync_interval,
        node_cleanup_timeout,
        rollout_history,
        ship_log_interval,
        shutdown_timeout,
        consul,
        nomad,
        defaults,
        logs,
    })
}

fn logs(r: &mut Resolver<'_>) -> Result<LogsConfig, Problem> {
    let meta_tags = r.list("logs.meta_tags")?;
    let max_line_bytes = r.size("logs.max_line_bytes")?;
    let max_batch_bytes = r.size("logs.max_batch_bytes")?;
    let memory_limit = r.size("logs.memory_limit")?;

    let file_path = r.path("logs.file.path")?;
    let max_file_size = r.size("logs.file.max_file_size")?;
    let max_files = r.count("logs.file.max_files")?;
    let direct_io = r.boolean("logs.file.direct_io")?;
    let file = file_path.map(|path| FileSink {
        path,
        max_file_size,
        max_files,
        direct_io,
    });

    let syslog_address = r.opt("logs.syslog.address", value::syslog_address, |a| {
        quote(&a.to_string())
    })?;
    let syslog_tls = r.tls("logs.syslog")?;
    let syslog = syslog_address.map(|address| SyslogSink {
        address,
        tls: syslog_tls,
    });

    let loki_url = r.address("logs.loki.url")?;
    let tenant_id = r.text("logs.loki.tenant_id")?;
    let loki_token = r.text("logs.loki.token")?.map(Secret::new);
    let labels = r.list("logs.loki.labels")?;
    let loki_tls = r.tls("logs.loki")?;
    let loki = loki_url.map(|url| LokiSink {
        url,
        tenant_id,
        token: loki_token,
        labels,
        tls: loki_tls,
    });

    let http_url = r.address("logs.http.url")?;
    let http_token = r.text("logs.http.token")?.map(Secret::new);
    let http_tls = r.tls("logs.http")?;
    let http = http_url.map(|url| HttpSink {
        url,
        token: http_token,
        tls: http_tls,
    });

    Ok(LogsConfig {
        meta_tags,
        max_line_bytes,
        max_batch_bytes,
        memory_limit,
        file,
        syslog,
        loki,
        http,
    })
}

/// KV keys have no leading `/`, and the prefix is a folder: `shepard` → `shepard/`. An empty
/// result stays empty, for `validate` to refuse.
fn normalise_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim().trim_start_matches('/');
    if trimmed.is_empty() || trimmed.ends_with('/') {
        trimmed.to_string()
    } else {
        format!("{trimmed}/")
    }
}
