//! Query options of read endpoints and Nomad's blocking-query loop (`blockingRPC`): with
//! `?index=N` the request waits until the endpoint's index exceeds N or `wait` (default and
//! cap 300 s, plus up to wait/16 random jitter) runs out; index 0 answers at once.

use std::collections::HashMap;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::reply::Reply;
use crate::clock::parse_go_duration;
use crate::ids::random_below;
use crate::sim::Sim;
use crate::state::Inner;

const MAX_QUERY_TIME: Duration = Duration::from_secs(300);
const JITTER_FRACTION: u32 = 16;

/// Parsed query string of one request.
#[derive(Debug, Clone, Default)]
pub struct QueryOpts {
    pub index: u64,
    pub wait: Duration,
    pub pretty: bool,
    pub params: HashMap<String, String>,
}

impl QueryOpts {
    /// Parses `index`, `wait` and `pretty`; a malformed value is Nomad's 400
    /// `Invalid index` / `Invalid wait time`.
    pub fn parse(params: HashMap<String, String>) -> Result<Self, Reply> {
        let mut wait = MAX_QUERY_TIME;
        if let Some(w) = params.get("wait").filter(|w| !w.is_empty()) {
            let parsed =
                parse_go_duration(w).ok_or_else(|| Reply::error(400, "Invalid wait time"))?;
            if !parsed.is_zero() {
                wait = parsed.min(MAX_QUERY_TIME);
            }
        }
        let mut index = 0;
        if let Some(i) = params.get("index").filter(|i| !i.is_empty()) {
            index = i.parse().map_err(|_| Reply::error(400, "Invalid index"))?;
        }
        let pretty = params
            .get("pretty")
            .is_some_and(|p| p.is_empty() || p == "true" || p == "1");
        Ok(Self {
            index,
            wait,
            pretty,
            params,
        })
    }

    pub fn flag(&self, name: &str) -> bool {
        self.params
            .get(name)
            .is_some_and(|v| v.is_empty() || v == "true" || v == "1")
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// `?namespace=`, default `default`; `*` means all.
    pub fn namespace(&self) -> &str {
        self.get("namespace")
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
    }
}

/// What an endpoint computes from the state: its index, and a body or an error reply.
pub type Computed = (u64, Result<Value, Reply>);

/// Runs `compute` until its index passes `opts.index` or the wait runs out, then replies
/// with the last result and its index.
pub async fn blocking(
    sim: &Sim,
    opts: &QueryOpts,
    compute: impl Fn(&Inner) -> Computed,
) -> Response {
    let mut changes = sim.store.subscribe();
    let jitter = random_below((opts.wait / JITTER_FRACTION).as_nanos() as u64);
    let deadline = tokio::time::Instant::now() + opts.wait + Duration::from_nanos(jitter);
    loop {
        let (index, result) = sim.store.read(&compute);
        let done = opts.index == 0 || index > opts.index;
        if !done {
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_ok() {
                        continue;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
        let index = index.max(1);
        return match result {
            Ok(value) => Reply::json(&value, opts.pretty).with_index(index),
            Err(reply) => reply.with_index(index),
        }
        .into_response();
    }
}
