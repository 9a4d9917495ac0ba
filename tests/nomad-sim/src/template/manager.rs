//! The template manager of one task: renders every template before the task starts (blocking
//! on missing `key`s, reported as a `Template` event "Missing: kv.block(…)" after 3 s as
//! Nomad's MaxTemplateEventRate does), then watches every key it read with Consul blocking
//! queries. On a change: wait (`Wait` quiescence), re-render, rewrite changed files, sleep a
//! random part of `Splay`, then ask the task runner to restart or signal (noop: nothing).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, select_all};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::parse::{Node, parse};
use super::render::{KvState, Rendered, render};
use crate::clock::NodeClock;
use crate::consul::Consul;
use crate::ids::random_below;
use crate::model::job::Template;

const WATCH_WAIT: Duration = Duration::from_secs(60);
const MISSING_EVENT_DELAY: Duration = Duration::from_secs(3);
/// The client's default `template { wait { min = "5s" max = "4m" } }`.
const DEFAULT_WAIT: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(240));

/// What a re-render asks the task runner to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateAction {
    Restart,
    Signal(Vec<String>),
}

struct Spec {
    nodes: Vec<Node>,
    dest: PathBuf,
    change_mode: String,
    change_signal: String,
    splay: Duration,
    wait: (Duration, Duration),
    perms: u32,
}

pub struct TemplateManager {
    consul: Consul,
    specs: Vec<Spec>,
    env: BTreeMap<String, String>,
    kv: BTreeMap<String, KvState>,
    index: BTreeMap<String, u64>,
    written: Vec<Option<String>>,
    /// The keys each template read at its last render: a change of a key waits out the
    /// quiescence (`Wait`) of the templates that use it only, as consul-template does per
    /// template.
    deps: Vec<BTreeSet<String>>,
    /// The node's clock, which stamps the rendered files' modification times.
    clock: NodeClock,
}

fn nanos(n: Option<i64>) -> Duration {
    Duration::from_nanos(n.unwrap_or(0).max(0) as u64)
}

impl TemplateManager {
    /// Parses the task's templates; destinations are relative to `task_dir`.
    pub fn new(
        consul: Consul,
        templates: &[Template],
        task_dir: &std::path::Path,
        env: BTreeMap<String, String>,
    ) -> Result<Self, String> {
        let mut specs = Vec::new();
        for t in templates {
            let source = if t.embedded_tmpl.is_empty() {
                let path = task_dir.join(&t.source_path);
                std::fs::read_to_string(&path)
                    .map_err(|e| format!("failed to read template {}: {e}", path.display()))?
            } else {
                t.embedded_tmpl.clone()
            };
            let nodes = parse(&source, &t.left_delim, &t.right_delim)
                .map_err(|e| format!("parse: template: {}: {e}", t.dest_path))?;
            let wait = t.wait.as_ref().map_or(DEFAULT_WAIT, |w| {
                let min = nanos(w.min);
                (min, nanos(w.max).max(min))
            });
            specs.push(Spec {
                nodes,
                dest: task_dir.join(&t.dest_path),
                change_mode: t.change_mode.clone(),
                change_signal: t.change_signal.clone(),
                splay: nanos(t.splay),
                wait,
                perms: u32::from_str_radix(&t.perms, 8).unwrap_or(0o644),
            });
        }
        Ok(Self {
            consul,
            written: vec![None; specs.len()],
            deps: vec![BTreeSet::new(); specs.len()],
            specs,
            env,
            kv: BTreeMap::new(),
            index: BTreeMap::new(),
            clock: NodeClock::default(),
        })
    }

    /// Stamps rendered files with `clock` (a node whose clock is off writes files dated by it).
    pub fn with_clock(mut self, clock: NodeClock) -> Self {
        self.clock = clock;
        self
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Renders every template, first reading any key not seen yet.
    async fn render_all(&mut self) -> Result<Vec<Rendered>, String> {
        loop {
            let results = self
                .specs
                .iter()
                .map(|s| render(&s.nodes, &self.kv, &self.env))
                .collect::<Result<Vec<_>, _>>()?;
            let unknown: BTreeSet<String> = results
                .iter()
                .flat_map(|r| r.unknown.iter().cloned())
                .collect();
            if unknown.is_empty() {
                self.deps = results.iter().map(|r| r.deps.clone()).collect();
                return Ok(results);
            }
            for key in unknown {
                let read = self.read_retrying(&key, 0).await;
                self.store(&key, read);
            }
        }
    }

    async fn read_retrying(&self, key: &str, index: u64) -> crate::consul::KvRead {
        loop {
            match self.consul.kv_get(key, index, WATCH_WAIT).await {
                Ok(read) => return read,
                Err(e) => {
                    tracing::warn!(key, error = %e, "template KV read failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Records a read; returns whether the value changed.
    fn store(&mut self, key: &str, read: crate::consul::KvRead) -> bool {
        let state = read.value.map_or(KvState::Missing, KvState::Present);
        self.index.insert(key.to_string(), read.index);
        self.kv.insert(key.to_string(), state.clone()) != Some(state)
    }

    /// Blocks on every dependency at once until one changes (its key) or `limit` passes
    /// (`None`).
    async fn wait_change(&mut self, limit: Option<Instant>) -> Option<String> {
        let deps: Vec<(String, u64)> = self.index.iter().map(|(k, i)| (k.clone(), *i)).collect();
        if deps.is_empty() {
            return match limit {
                Some(at) => {
                    tokio::time::sleep_until(at).await;
                    None
                }
                None => std::future::pending().await,
            };
        }
        let mut pending: Vec<BoxFuture<'static, (String, Option<crate::consul::KvRead>)>> = deps
            .into_iter()
            .map(|(key, index)| self.watch_one(key, index))
            .collect();
        loop {
            let next = select_all(pending);
            let ((key, read), _, rest) = match limit {
                Some(at) => match tokio::time::timeout_at(at, next).await {
                    Ok(r) => r,
                    Err(_) => return None,
                },
                None => next.await,
            };
            pending = rest;
            match read {
                Some(read) => {
                    let idx = read.index;
                    if self.store(&key, read) {
                        return Some(key);
                    }
                    pending.push(self.watch_one(key, idx));
                }
                None => {
                    let idx = self.index.get(&key).copied().unwrap_or(0);
                    pending.push(self.watch_one(key, idx));
                }
            }
        }
    }

    fn watch_one(
        &self,
        key: String,
        index: u64,
    ) -> BoxFuture<'static, (String, Option<crate::consul::KvRead>)> {
        let consul = self.consul.clone();
        async move {
            match consul.kv_get(&key, index.max(1), WATCH_WAIT).await {
                Ok(read) => (key, Some(read)),
                Err(_) => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    (key, None)
                }
            }
        }
        .boxed()
    }

    /// Renders and writes every template before the task starts. `missing` is called with
    /// the display text whenever the set of missing dependencies changes and stays 3 s.
    pub async fn first_render(&mut self, mut missing: impl FnMut(String)) -> Result<(), String> {
        let mut reported: BTreeSet<String> = BTreeSet::new();
        let mut since: Option<(Instant, BTreeSet<String>)> = None;
        loop {
            let results = self.render_all().await?;
            if results.iter().all(Rendered::complete) {
                for (i, r) in results.iter().enumerate() {
                    self.write(i, &r.text)?;
                }
                return Ok(());
            }
            let now_missing: BTreeSet<String> = results
                .iter()
                .flat_map(|r| r.missing.iter().map(|k| format!("kv.block({k})")))
                .collect();
            if since.as_ref().is_none_or(|(_, set)| *set != now_missing) {
                since = Some((Instant::now() + MISSING_EVENT_DELAY, now_missing.clone()));
            }
            let limit = since
                .as_ref()
                .filter(|(_, set)| *set != reported)
                .map(|(at, _)| *at);
            if self.wait_change(limit).await.is_none() && limit.is_some() {
                let mut list: Vec<String> = now_missing.iter().cloned().collect();
                if list.len() > 3 {
                    let more = list.len() - 3;
                    list.truncate(3);
                    list.push(format!("and {more} more"));
                }
                missing(format!("Missing: {}", list.join(", ")));
                reported = now_missing;
            }
        }
    }

    /// Writes a rendered file atomically (temp file + rename) when its content changed.
    fn write(&mut self, i: usize, text: &str) -> Result<bool, String> {
        if self.written[i].as_deref() == Some(text) {
            return Ok(false);
        }
        let spec = &self.specs[i];
        let dest = &spec.dest;
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let tmp = dest.with_extension(format!("tmp-{}", random_below(1 << 32)));
        std::fs::write(&tmp, text).map_err(|e| format!("failed writing {}: {e}", tmp.display()))?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(spec.perms));
        std::fs::File::options()
            .write(true)
            .open(&tmp)
            .and_then(|f| f.set_modified(self.clock.now()))
            .map_err(|e| format!("failed dating {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, dest)
            .map_err(|e| format!("failed renaming {}: {e}", dest.display()))?;
        self.written[i] = Some(text.to_string());
        Ok(true)
    }

    /// The `Wait` (min, max) that applies to a change of `keys`: the largest of the templates
    /// that read any of them.
    fn quiescence(&self, keys: &BTreeSet<String>) -> (Duration, Duration) {
        self.specs
            .iter()
            .zip(&self.deps)
            .filter(|(_, deps)| !deps.is_disjoint(keys))
            .map(|(s, _)| s.wait)
            .fold((Duration::ZERO, Duration::ZERO), |a, w| {
                (a.0.max(w.0), a.1.max(w.1))
            })
    }

    /// Watches the dependencies forever, re-rendering and sending change actions.
    pub async fn watch(mut self, actions: mpsc::Sender<TemplateAction>) {
        loop {
            let Some(first) = self.wait_change(None).await else {
                continue;
            };
            // Quiescence: wait until nothing changed for `min`, but at most `max` in total, with
            // the largest `Wait` among the templates that read a changed key.
            let mut changed_keys = BTreeSet::from([first]);
            let started = Instant::now();
            loop {
                let (min, max) = self.quiescence(&changed_keys);
                let hard_stop = started + max;
                if min.is_zero() || Instant::now() >= hard_stop {
                    break;
                }
                let at = (Instant::now() + min).min(hard_stop);
                match self.wait_change(Some(at)).await {
                    Some(key) => {
                        changed_keys.insert(key);
                    }
                    None => break,
                }
            }
            let results = match self.render_all().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "template re-render failed");
                    continue;
                }
            };
            let mut changed = Vec::new();
            for (i, r) in results.iter().enumerate() {
                if r.complete() && matches!(self.write(i, &r.text), Ok(true)) {
                    changed.push(i);
                }
            }
            let splay = changed.iter().map(|i| self.specs[*i].splay).max();
            let restart = changed
                .iter()
                .any(|i| self.specs[*i].change_mode == "restart");
            let signals: Vec<String> = changed
                .iter()
                .filter(|i| self.specs[**i].change_mode == "signal")
                .map(|i| self.specs[*i].change_signal.clone())
                .collect();
            if !restart && signals.is_empty() {
                continue;
            }
            if let Some(splay) = splay.filter(|s| !s.is_zero()) {
                tokio::time::sleep(Duration::from_nanos(random_below(splay.as_nanos() as u64)))
                    .await;
            }
            let action = if restart {
                TemplateAction::Restart
            } else {
                TemplateAction::Signal(signals)
            };
            if actions.send(action).await.is_err() {
                return;
            }
        }
    }
}
