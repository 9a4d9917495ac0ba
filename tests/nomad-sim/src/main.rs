//! `nomad-sim --consul-addr http://127.0.0.1:PORT --nodes N --listen 127.0.0.1:BASE
//! --data-dir DIR [--datacenter dc1] [--region global]`: starts N simulated client nodes, node
//! `i` serving the API on port BASE+i, and prints one ready line per node:
//! `nomad-sim: node sim-node-<i> id=<node-id> addr=http://127.0.0.1:<port> ready`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use nomad_sim::api::{PortCtx, router};
use nomad_sim::sim::{Sim, SimConfig};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, Parser)]
#[command(
    name = "nomad-sim",
    about = "A simulated Nomad cluster for end-to-end tests"
)]
struct Args {
    /// Consul HTTP address used for templates (KV) and services.
    #[arg(long)]
    consul_addr: String,
    /// Number of client nodes.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Address of node 0's API; node i listens on the port + i.
    #[arg(long)]
    listen: SocketAddr,
    /// Where node data dirs and alloc dirs live.
    #[arg(long)]
    data_dir: PathBuf,
    #[arg(long, default_value = "dc1")]
    datacenter: String,
    #[arg(long, default_value = "global")]
    region: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "nomad_sim=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    anyhow::ensure!(args.nodes > 0, "--nodes must be at least 1");
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let data_dir = args.data_dir.canonicalize()?;
    let sim = Sim::new(SimConfig {
        consul_addr: args.consul_addr.clone(),
        nodes: args.nodes,
        base_port: args.listen.port(),
        host: args.listen.ip().to_string(),
        data_dir,
        datacenter: args.datacenter.clone(),
        region: args.region.clone(),
    })?;
    tokio::spawn(nomad_sim::runtime::deploy_health::run(sim.clone()));
    let mut listeners = Vec::new();
    for i in 0..args.nodes {
        let port = args
            .listen
            .port()
            .checked_add(u16::try_from(i)?)
            .context("port range overflows")?;
        let addr = SocketAddr::new(args.listen.ip(), port);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        listeners.push((i, addr, listener));
    }
    for (i, addr, listener) in listeners {
        let app = router(PortCtx {
            sim: sim.clone(),
            node: i,
        });
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(%addr, error = %e, "API server stopped");
            }
        });
        let id = sim.store.read(|s| s.nodes[i].id.clone());
        println!("nomad-sim: node sim-node-{i} id={id} addr=http://{addr} ready");
    }
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("shutting down: stopping all tasks");
    sim.shutdown().await;
    Ok(())
}
