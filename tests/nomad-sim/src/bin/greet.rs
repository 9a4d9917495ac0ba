//! `greet -c config.yml`: the demo app. Config (YAML): `name`, `port` (default
//! `$NOMAD_PORT_http`), `healthy` (default true). `GET /` answers `Hello, <name>`, or 503 when
//! unhealthy. The config is read once at start: only a restart picks up a change. Exits 0 on
//! SIGINT or SIGTERM, after `stop_delay_ms` (default 0) of serving on.

use std::path::PathBuf;

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use clap::Parser;
use serde::Deserialize;
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, Parser)]
#[command(name = "greet", about = "Says hello on GET /")]
struct Args {
    /// Path of the YAML config file.
    #[arg(short = 'c', long = "config")]
    config: PathBuf,
}

#[derive(Debug, Deserialize)]
struct Config {
    name: String,
    port: Option<u16>,
    #[serde(default = "default_healthy")]
    healthy: bool,
    /// How long it goes on serving after SIGINT/SIGTERM before it exits (a draining app).
    #[serde(default)]
    stop_delay_ms: u64,
}

fn default_healthy() -> bool {
    true
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let config: Config = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("parsing {}", args.config.display()))?;
    let port = match config.port {
        Some(p) => p,
        None => std::env::var("NOMAD_PORT_http")
            .context("no port in the config and NOMAD_PORT_http is not set")?
            .parse()
            .context("NOMAD_PORT_http is not a port")?,
    };
    let greeting = format!("Hello, {}", config.name);
    let healthy = config.healthy;
    let app = Router::new().route(
        "/",
        get(move || {
            let greeting = greeting.clone();
            async move {
                if healthy {
                    (StatusCode::OK, greeting)
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("{greeting} (unhealthy)"),
                    )
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    println!(
        "greet: serving {:?} on 127.0.0.1:{port} (healthy: {healthy})",
        config.name
    );
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let stop_delay = std::time::Duration::from_millis(config.stop_delay_ms);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            tokio::time::sleep(stop_delay).await;
        })
        .await?;
    Ok(())
}
