//! The `loki` sink: Loki's push API (`POST …/loki/api/v1/push`, JSON):
//!
//! ```json
//! {"streams":[{"stream":{"job":"web",…},"values":[["<unix ns>","<line>"],…]}]}
//! ```
//!
//! The tags named in `logs.loki.labels` (keep them low-cardinality: node, namespace, job,
//! group, task, stream) become the stream's labels; the other tags (alloc ID, alloc index,
//! meta) go in the line, which is itself JSON: `{"line":"…","tags":{…}}` (plus the marks of a
//! cut line), ready for LogQL's `| json`. Timestamps within a label set strictly increase, as
//! Loki drops a second entry with the same timestamp and text.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use super::http::post;
use super::{SEND_TIMEOUT, SinkBuildError, SinkError};
use crate::config::LokiSink as LokiConfig;
use crate::logship::batch::Batch;
use crate::logship::batch::LineRef;
use crate::logship::encode::{write_json_str, write_mark_fields};
use crate::logship::tags::json_object;
use crate::secret::Secret;

/// Label sets whose last timestamp is remembered; beyond this the memory is reset (a repeat
/// timestamp across batches is then possible again, but only for a stream idle that long).
const MAX_REMEMBERED_STREAMS: usize = 10_000;

pub struct LokiSink {
    client: reqwest::Client,
    url: reqwest::Url,
    tenant_id: Option<String>,
    token: Option<Secret>,
    labels: Vec<String>,
    last_ns: HashMap<String, u128>,
}

/// One stream of the request body being built.
struct Entry {
    labels: String,
    values: Vec<u8>,
    count: usize,
}

impl LokiSink {
    pub fn new(config: &LokiConfig) -> Result<Self, SinkBuildError> {
        let client = crate::http_client::build(&config.tls).map_err(|source| {
            SinkBuildError::HttpClient {
                sink: "loki",
                source,
            }
        })?;
        Ok(Self {
            client,
            url: config.url.url().clone(),
            tenant_id: config.tenant_id.clone(),
            token: config.token.clone(),
            labels: config.labels.clone(),
            last_ns: HashMap::new(),
        })
    }

    pub async fn send(&mut self, batch: &Arc<Batch>) -> Result<(), SinkError> {
        let body = self.encode(batch);
        let mut request = self
            .client
            .post(self.url.clone())
            .timeout(SEND_TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(tenant) = &self.tenant_id {
            request = request.header("X-Scope-OrgID", tenant);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        post(request, &self.url).await
    }

    /// The push request's body.
    pub fn encode(&mut self, batch: &Batch) -> Vec<u8> {
        if self.last_ns.len() > MAX_REMEMBERED_STREAMS {
            self.last_ns.clear();
        }
        // Per stream source: (entry index, the tags that are not labels, as JSON).
        let mut by_source: HashMap<u64, (usize, String)> = HashMap::new();
        let mut entries: Vec<Entry> = Vec::new();
        for line in batch.lines() {
            let (index, rest) = by_source.entry(line.source.serial).or_insert_with(|| {
                let (labels, rest) = self.split_tags(&line);
                let index = entries
                    .iter()
                    .position(|e| e.labels == labels)
                    .unwrap_or_else(|| {
                        entries.push(Entry {
                            labels,
                            values: Vec::new(),
                            count: 0,
                        });
                        entries.len() - 1
                    });
                (index, rest)
            });
            let entry = &mut entries[*index];
            let ns = line
                .ts
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let last = self.last_ns.entry(entry.labels.clone()).or_insert(0);
            let ns = ns.max(*last + 1);
            *last = ns;
            if entry.count > 0 {
                entry.values.push(b',');
            }
            entry.count += 1;
            entry.values.extend_from_slice(b"[\"");
            entry.values.extend_from_slice(ns.to_string().as_bytes());
            entry.values.extend_from_slice(b"\",");
            write_json_str(&mut entry.values, &line_body(&line, rest));
            entry.values.push(b']');
        }
        let mut body = Vec::with_capacity(batch.text_bytes * 2 + 256);
        body.extend_from_slice(b"{\"streams\":[");
        for (i, entry) in entries.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(b"{\"stream\":");
            body.extend_from_slice(entry.labels.as_bytes());
            body.extend_from_slice(b",\"values\":[");
            body.extend_from_slice(&entry.values);
            body.extend_from_slice(b"]}");
        }
        body.extend_from_slice(b"]}");
        body
    }

    /// The label set (JSON object) and the remaining tags (JSON object) of `line`'s stream.
    fn split_tags(&self, line: &LineRef<'_>) -> (String, String) {
        let tags = &line.source.tags;
        let labels: Vec<(String, &str)> = self
            .labels
            .iter()
            .filter_map(|name| tags.get(name).map(|value| (label_name(name), value)))
            .collect();
        let rest = tags
            .pairs()
            .filter(|(name, _)| !self.labels.iter().any(|l| l == name));
        (
            json_object(labels.iter().map(|(k, v)| (k.as_str(), *v))),
            json_object(rest),
        )
    }
}

/// The line Loki stores: `{"line":"…","tags":{…}}` and the marks of a cut line.
fn line_body(line: &LineRef<'_>, rest_tags: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.text.len() + rest_tags.len() + 32);
    out.extend_from_slice(b"{\"line\":");
    write_json_str(&mut out, line.text);
    out.extend_from_slice(b",\"tags\":");
    out.extend_from_slice(rest_tags.as_bytes());
    write_mark_fields(&mut out, line.mark);
    out.push(b'}');
    out
}

/// A Loki label name (`[a-zA-Z_][a-zA-Z0-9_]*`): other characters become `_`.
fn label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_are_made_valid() {
        assert_eq!(label_name("job"), "job");
        assert_eq!(label_name("team-name.x"), "team_name_x");
        assert_eq!(label_name("1st"), "_1st");
    }
}
