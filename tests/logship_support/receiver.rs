//! A real HTTP server standing in for Loki or any NDJSON receiver: it records every request it
//! accepts, and can be switched to answer 500 (a sink that is down).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;

#[derive(Debug, Clone)]
pub struct Captured {
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct State {
    failing: AtomicBool,
    accepted: Mutex<Vec<Captured>>,
    refused: Mutex<u64>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Listens on `port` (0 for any free one) on the loopback address.
    pub async fn start(port: u16) -> Self {
        let state = Arc::new(State::default());
        let handler_state = Arc::clone(&state);
        let app = Router::new().fallback(post(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = Arc::clone(&handler_state);
            async move {
                if state.failing.load(Ordering::SeqCst) {
                    *state.refused.lock().unwrap() += 1;
                    return (StatusCode::INTERNAL_SERVER_ERROR, "down for a test");
                }
                let headers = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_string()))
                    .collect();
                state.accepted.lock().unwrap().push(Captured {
                    path: uri.path().to_string(),
                    headers,
                    body: body.to_vec(),
                });
                (StatusCode::NO_CONTENT, "")
            }
        }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, state, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set_failing(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }

    pub fn accepted(&self) -> Vec<Captured> {
        self.state.accepted.lock().unwrap().clone()
    }

    pub fn refused(&self) -> u64 {
        *self.state.refused.lock().unwrap()
    }

    /// Stops listening: the port is closed until a receiver starts on it again.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}
