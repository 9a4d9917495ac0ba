//! The telemetry HTTP server on `listen`: `/metrics` (Prometheus text exposition of the one
//! registry), `/healthz` (the process answers) and `/readyz` (every readiness condition holds).
//! It binds before returning, so a caller learns the real address when it asked for port 0,
//! and it shuts down gracefully, finishing requests in flight.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::readiness::Readiness;

/// Content type of the Prometheus text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Why the telemetry server could not run.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The listen address could not be bound (in use, not local, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("telemetry server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// The server task panicked or was cancelled.
    #[error("telemetry server task ended abnormally: {0}")]
    Task(#[source] tokio::task::JoinError),
}

#[derive(Clone)]
struct AppState {
    registry: Registry,
    readiness: Readiness,
}

/// The routes, for embedding in another server or testing without a socket.
pub fn router(registry: Registry, readiness: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AppState {
            registry,
            readiness,
        })
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut body = Vec::new();
    match TextEncoder::new().encode(&state.registry.gather(), &mut body) {
        Ok(()) => ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], body).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode metrics: {e}\n"),
        )
            .into_response(),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 when every condition is ready, else 503; the body lists each condition either way.
async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    let report = state.readiness.report();
    let ready = state.readiness.is_ready();
    let mut body = String::from(match (ready, report.is_empty()) {
        (true, _) => "ready\n",
        (false, true) => "not ready: starting\n",
        (false, false) => "not ready\n",
    });
    for c in &report {
        let line = match (c.ready, c.detail.is_empty()) {
            (true, _) => format!("{}: ok\n", c.name),
            (false, true) => format!("{}: not ready\n", c.name),
            (false, false) => format!("{}: not ready ({})\n", c.name, c.detail),
        };
        body.push_str(&line);
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body)
}

/// A running telemetry server. Dropping it also stops the server (gracefully).
#[derive(Debug)]
pub struct TelemetryServer {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Binds `listen` and serves the telemetry routes in a background task.
pub async fn serve(
    listen: SocketAddr,
    registry: Registry,
    readiness: Readiness,
) -> Result<TelemetryServer, TelemetryError> {
    let bind = |source| TelemetryError::Bind {
        addr: listen,
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(bind)?;
    let local_addr = listener.local_addr().map_err(bind)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = router(registry, readiness);
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                // A dropped sender stops the server too.
                let _ = stopped.await;
            })
            .await
    });
    Ok(TelemetryServer {
        local_addr,
        stop: Some(stop),
        task,
    })
}

impl TelemetryServer {
    /// The bound address (the real port when `listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections, lets requests in flight finish, and waits for the end.
    pub async fn shutdown(mut self) -> Result<(), TelemetryError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .map_err(TelemetryError::Task)?
            .map_err(TelemetryError::Serve)
    }
}
