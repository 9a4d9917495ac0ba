//! `shepard gc [--dry-run] [-json]`: one garbage-collection pass now, from an operator's
//! shell, over the whole prefix, with exactly the rules of the GC lock holder (plus the local
//! Nomad client's own node, as its agent would). It reads the KV prefix first and Nomad's
//! listings after, so an allocation placed meanwhile is seen and keeps its keys. A node that
//! Nomad no longer lists is not known to have been gone for `node_cleanup_timeout` (the
//! command has no memory), so its keys are left to the agents' lock holder.
//!
//! `--dry-run` deletes nothing and lists what the pass would delete and why; without it each
//! delete is a CAS on the index listed, so a key rewritten meanwhile survives ("kept").

use std::io::Write;

use serde::Serialize;
use shepard_reconcilers::Context;
use shepard_reconcilers::gc::{GcDeletion, GcPass, GcScope, reconcile_gc_pass};
use shepard_reconcilers::keys::Prefix;
use shepard_reconcilers::settings::AgentDefaults;
use shepard_reconcilers::{Action, ProblemKind};

use crate::agent::clients::{self, ClientError};
use crate::agent::gc::delete_all;
use crate::agent::gc_snapshot::{self, ClusterSources};
use crate::agent::metrics::DomainMetrics;
use crate::agent::snapshot;
use crate::api_metrics::ApiMetrics;
use crate::apply::{Applier, ApplyError};
use crate::blocking::BlockingParams;
use crate::config::Config;
use crate::consul::{Consistency, ConsulClient, ConsulError, SessionLease};
use crate::nomad::{NomadClient, NomadError};
use crate::observe::node_tracker::NodeTracker;

/// How to run the pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct GcOptions {
    /// List, delete nothing.
    pub dry_run: bool,
    /// One JSON document instead of one line per key.
    pub json: bool,
}

/// Why the pass could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum GcCommandError {
    /// A client could not be built from the configuration.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Reading the KV prefix failed.
    #[error("consul: {0}")]
    Consul(#[from] ConsulError),
    /// Reading Nomad's listings failed.
    #[error("nomad: {0}")]
    Nomad(#[from] NomadError),
    /// A delete failed for another reason than a changed key; the others were still tried.
    #[error("delete failed: {0}")]
    Delete(#[from] ApplyError),
    /// Writing the report failed.
    #[error("cannot write the report: {0}")]
    Output(#[from] std::io::Error),
}

/// What the pass did (or, dry, would do).
#[derive(Debug, Default, Serialize)]
pub struct GcReport {
    pub dry_run: bool,
    /// Deleted, or with `--dry-run` to be deleted.
    pub deletions: Vec<GcDeletion>,
    /// Changed since the listing, so left alone (never with `--dry-run`).
    pub kept: Vec<GcDeletion>,
    /// Keys under the prefix that match no entry of the layout (left alone).
    pub unparseable: Vec<String>,
}

/// Runs the pass and writes the report to `out`.
pub async fn run(
    config: &Config,
    options: GcOptions,
    out: &mut impl Write,
) -> Result<GcReport, GcCommandError> {
    let api_metrics = ApiMetrics::unregistered();
    let consul = clients::consul(config, api_metrics.clone())?;
    let nomad = clients::nomad(config, api_metrics)?;
    let applier = Applier {
        consul: consul.clone(),
        nomad: nomad.clone(),
        metrics: DomainMetrics::unregistered(),
        // GC makes no restart calls: no session is ever certain here.
        lease: SessionLease::default(),
    };
    let mut report = plan(config, &consul, &nomad).await?;
    report.dry_run = options.dry_run;
    let mut failure = None;
    if !options.dry_run {
        let outcome = delete_all(&applier, &report.deletions).await;
        report.deletions = outcome.deleted;
        report.kept = outcome.kept;
        failure = outcome.error;
    }
    write_report(&report, options.json, out)?;
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(report),
    }
}

/// Reads everything and decides, without writing anything.
async fn plan(
    config: &Config,
    consul: &ConsulClient,
    nomad: &NomadClient,
) -> Result<GcReport, GcCommandError> {
    let prefix = Prefix::new(&config.consul.prefix);
    let pairs = consul
        .kv_list(&config.consul.prefix, Consistency::Consistent)
        .await?;
    let kv = snapshot::kv_view(&pairs.into_iter().map(|p| (p.key.clone(), p)).collect());
    // Run next to a Nomad client, the pass also does what that node's agent does.
    let node = nomad.local_node().await.map(|n| n.name).unwrap_or_default();
    let now = snapshot::now();
    let stubs = nomad.nodes(BlockingParams::default()).await?.value;
    let mut nodes = NodeTracker::default();
    for query in nodes.update(&stubs, now) {
        let detail = nomad
            .node(&query.node_id, BlockingParams::default())
            .await?
            .value;
        let since = snapshot::timestamp(detail.status_updated_at);
        if since > shepard_reconcilers::Timestamp::EPOCH {
            nodes.set_since(&query, &detail.status, since);
        }
    }
    let jobs = nomad
        .jobs_all_namespaces(BlockingParams::default())
        .await?
        .value;
    let allocs = nomad
        .allocations_all_namespaces(BlockingParams::default())
        .await?
        .value;
    let ctx = Context {
        node,
        prefix,
        defaults: AgentDefaults::default(),
        node_cleanup_timeout: config.node_cleanup_timeout,
    };
    let sources = ClusterSources {
        allocs: &allocs,
        jobs: &jobs,
        nodes: nodes.nodes(),
        nodes_listed_since: now,
    };
    let obs = gc_snapshot::observation(&kv, Vec::new(), Some(sources));
    let pass = GcPass {
        scope: GcScope::Cluster,
        rollout_history: Some(config.rollout_history),
    };
    let decided = reconcile_gc_pass(&obs, &pass, &ctx, now);
    let unparseable = decided
        .decision
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::ReportProblem(p) if p.kind == ProblemKind::UnknownKey => {
                Some(p.subject.clone())
            }
            _ => None,
        })
        .collect();
    Ok(GcReport {
        dry_run: true,
        deletions: decided.deletions,
        kept: Vec::new(),
        unparseable,
    })
}

fn write_report(report: &GcReport, json: bool, out: &mut impl Write) -> std::io::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, report)?;
        return writeln!(out);
    }
    let verb = if report.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for d in &report.deletions {
        writeln!(out, "{verb} {} ({}): {}", d.key, d.kind.as_str(), d.reason)?;
    }
    for d in &report.kept {
        writeln!(
            out,
            "kept {} ({}): changed since it was listed",
            d.key,
            d.kind.as_str()
        )?;
    }
    for key in &report.unparseable {
        writeln!(out, "left alone {key}: matches no entry of the key layout")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use shepard_reconcilers::KeyKind;
    use shepard_reconcilers::gc::GcReason;

    use super::*;

    fn report(dry_run: bool) -> GcReport {
        GcReport {
            dry_run,
            deletions: vec![GcDeletion {
                key: "shepard/state/n1/a1/app".into(),
                kind: KeyKind::State,
                cas: 12,
                reason: GcReason::AllocGone {
                    alloc_id: "a1".into(),
                },
            }],
            kept: Vec::new(),
            unparseable: vec!["shepard/notes".into()],
        }
    }

    #[test]
    fn text_report_has_one_line_per_key_with_its_reason() {
        let mut out = Vec::new();
        write_report(&report(true), false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "would delete shepard/state/n1/a1/app (state): allocation a1 no longer runs on this node\n\
             left alone shepard/notes: matches no entry of the key layout\n"
        );
    }

    #[test]
    fn json_report_carries_key_kind_index_and_reason() {
        let mut out = Vec::new();
        write_report(&report(false), true, &mut out).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["dry_run"], false);
        let d = &doc["deletions"][0];
        assert_eq!(d["key"], "shepard/state/n1/a1/app");
        assert_eq!(d["kind"], "state");
        assert_eq!(d["cas"], 12);
        assert_eq!(d["reason"], "alloc_gone");
        assert_eq!(d["alloc_id"], "a1");
        assert_eq!(doc["unparseable"][0], "shepard/notes");
    }
}
