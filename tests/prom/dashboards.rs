//! The queries of shepard's Grafana dashboards, read from `dashboards/*.json` the way Grafana
//! runs them: every panel target's PromQL and every query variable's `label_values(…)`, with
//! Grafana's variables replaced by what Grafana would send for a test run (each dashboard
//! variable at its "All" value, `.*`).

use std::time::Duration;

use serde_json::Value;

use super::server::repo_path;

/// The dashboards, by file name.
pub const DASHBOARDS: [&str; 2] = ["shepard-rollouts.json", "shepard-agents.json"];

/// One panel target.
#[derive(Debug, Clone)]
pub struct PanelQuery {
    /// `file / panel title / refId`, for messages.
    pub origin: String,
    /// The PromQL with variables replaced.
    pub expr: String,
}

/// One `label_values(selector, label)` variable.
#[derive(Debug, Clone)]
pub struct VariableQuery {
    pub origin: String,
    pub selector: String,
    pub label: String,
}

/// What Grafana's built-in interval variables become: `rate_interval` for
/// `$__rate_interval` (Grafana uses at least four scrape intervals), `range` for `$__range`.
pub struct Intervals {
    pub rate_interval: Duration,
    pub range: Duration,
}

fn load(file: &str) -> Value {
    let path = repo_path(&format!("dashboards/{file}"));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The names of the dashboard's template variables.
fn variable_names(dashboard: &Value) -> Vec<String> {
    dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect()
}

/// Replaces Grafana's and the dashboard's variables; panics on any variable left over.
fn substitute(expr: &str, variables: &[String], intervals: &Intervals, origin: &str) -> String {
    let mut out = expr
        .replace(
            "$__rate_interval",
            &format!("{}ms", intervals.rate_interval.as_millis()),
        )
        .replace("$__range", &format!("{}ms", intervals.range.as_millis()))
        .replace("$__interval", "1s");
    // Longest names first, so `$job_name` is never cut by a shorter variable's name.
    let mut names = variables.to_vec();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        out = out
            .replace(&format!("${{{name}}}"), ".*")
            .replace(&format!("${name}"), ".*");
    }
    assert!(
        !out.contains('$'),
        "{origin}: a variable is left in `{out}`"
    );
    out
}

/// Every panel target of every dashboard.
pub fn panel_queries(intervals: &Intervals) -> Vec<PanelQuery> {
    let mut queries = Vec::new();
    for file in DASHBOARDS {
        let dashboard = load(file);
        let variables = variable_names(&dashboard);
        let top = dashboard["panels"].as_array().cloned().unwrap_or_default();
        let panels = top.iter().flat_map(|p| {
            let nested = p["panels"].as_array().cloned().unwrap_or_default();
            std::iter::once(p.clone()).chain(nested)
        });
        for panel in panels {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let origin = format!("{file} / {} / {}", panel["title"], target["refId"]);
                let expr = target["expr"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{origin}: no expr"));
                queries.push(PanelQuery {
                    expr: substitute(expr, &variables, intervals, &origin),
                    origin,
                });
            }
        }
    }
    queries
}

/// Every query variable of every dashboard.
pub fn variable_queries(intervals: &Intervals) -> Vec<VariableQuery> {
    let mut queries = Vec::new();
    for file in DASHBOARDS {
        let dashboard = load(file);
        let variables = variable_names(&dashboard);
        for variable in dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if variable["type"] != "query" {
                continue;
            }
            let origin = format!("{file} / ${}", variable["name"].as_str().unwrap_or("?"));
            let query = variable["query"]
                .as_str()
                .or_else(|| variable["query"]["query"].as_str())
                .unwrap_or_else(|| panic!("{origin}: no query"));
            let query = substitute(query, &variables, intervals, &origin);
            let inner = query
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{origin}: not label_values(…): {query}"));
            let (selector, label) = inner
                .rsplit_once(',')
                .unwrap_or_else(|| panic!("{origin}: label_values needs a selector: {query}"));
            queries.push(VariableQuery {
                origin,
                selector: selector.trim().to_string(),
                label: label.trim().to_string(),
            });
        }
    }
    queries
}
