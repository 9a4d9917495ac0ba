//! A stand-in Nomad agent for the client's HTTP tests: a real axum server on a loopback
//! port that serves the published samples at their endpoints with `X-Nomad-Index`, answers
//! errors as Nomad does (status + bare `text/plain` message), and records every request.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use shepard::api_metrics::ApiMetrics;
use shepard::nomad::{NomadClient, NomadClientOptions};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    /// Raw (still percent-encoded) path.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub token: Option<String>,
    pub body: String,
}

impl Seen {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub type Log = Arc<Mutex<Vec<Seen>>>;

fn refdata(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/nomad/published")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/nomad")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub const ALLOC_ID: &str = "a8198d79-cfdb-6593-a999-1e9adabcba2e";

fn json(index: Option<u64>, body: String) -> Response {
    let mut resp = Response::builder().header("Content-Type", "application/json");
    if let Some(index) = index {
        resp = resp
            .header("X-Nomad-Index", index.to_string())
            .header("X-Nomad-KnownLeader", "true")
            .header("X-Nomad-LastContact", "0");
    }
    resp.body(Body::from(body)).unwrap()
}

/// Nomad's error form: a status and the bare message as `text/plain`.
fn text_error(status: u16, message: &str) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("Content-Type", "text/plain")
        .body(Body::from(message.to_string()))
        .unwrap()
}

/// A stand-in Nomad agent: the samples at their endpoints, and a few faults.
async fn nomad(State(log): State<Log>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, 1 << 20).await.unwrap();
    let query = reqwest::Url::parse(&format!("http://x{}", parts.uri))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let seen = Seen {
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        query,
        token: parts
            .headers
            .get("X-Nomad-Token")
            .map(|v| v.to_str().unwrap().to_string()),
        body: String::from_utf8(body.to_vec()).unwrap(),
    };
    log.lock().unwrap().push(seen.clone());

    if seen.token.as_deref() == Some("wrong") {
        return text_error(403, "Permission denied");
    }
    let segments: Vec<&str> = seen.path.trim_start_matches('/').split('/').collect();
    match (seen.method.as_str(), segments.as_slice()) {
        ("GET", ["v1", "agent", "self"]) => json(None, refdata("agent-self.json")),
        ("GET", ["v1", "node", _, "allocations"]) => {
            json(Some(2567), refdata("node-allocations.json"))
        }
        ("GET", ["v1", "node", _]) => json(Some(14), fixture("node.json")),
        ("GET", ["v1", "nodes"]) => json(Some(2526), refdata("nodes.json")),
        ("GET", ["v1", "allocation", id]) if *id == ALLOC_ID => {
            json(Some(57), refdata("allocation.json"))
        }
        // Nomad answers a missing alloc with the allocs table index and a 404.
        ("GET", ["v1", "allocation", _]) => text_error(404, "alloc not found"),
        ("GET", ["v1", "job", "broken"]) => text_error(500, "rpc error: eval broker disabled"),
        ("GET", ["v1", "job", "truncated"]) => {
            let full = refdata("job.json");
            json(Some(7), full[..full.len() / 2].to_string())
        }
        ("GET", ["v1", "job", "unindexed"]) => json(None, refdata("job.json")),
        ("GET", ["v1", "job", "hang"]) => std::future::pending().await,
        ("GET", ["v1", "job", _, "allocations"]) => json(Some(15), refdata("allocations.json")),
        ("GET", ["v1", "job", _]) => json(Some(7), refdata("job.json")),
        ("POST", ["v1", "client", "allocation", _, "restart"]) => {
            json(None, refdata("alloc-restart.response.json"))
        }
        ("POST", ["v1", "allocation", _, "stop"]) => json(
            None,
            r#"{"EvalID":"5456bd7a-9fc0-c0dd-6131-cbee77f57577","Index":54}"#.to_string(),
        ),
        // The Read Allocation docs' stat sample.
        ("GET", ["v1", "client", "fs", "stat", _]) => json(
            None,
            r#"{"IsDir":false,"ModTime":"2016-03-15T15:40:56.822238153-07:00",
                "Name":"redis-syslog-collector.out","Size":96,"FileMode":"-rw-rw-r--"}"#
                .to_string(),
        ),
        _ => text_error(404, "Invalid URL"),
    }
}

pub struct Server {
    pub address: String,
    pub log: Log,
}

impl Server {
    pub async fn start() -> Self {
        let log = Log::default();
        let app = axum::Router::new().fallback(nomad).with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { address, log }
    }

    pub fn options(&self) -> NomadClientOptions {
        NomadClientOptions::new(&self.address)
    }

    pub fn client(&self, options: NomadClientOptions) -> NomadClient {
        NomadClient::new(options, ApiMetrics::unregistered()).unwrap()
    }

    pub fn last(&self) -> Seen {
        self.log
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("no request reached the server")
    }
}
