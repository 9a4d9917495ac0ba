//! A live agent's `/metrics` against the metric contract: `promtool check metrics` finds
//! nothing to complain about, and every family it exposes is in the contract snapshot of
//! `tests/metrics_contract.rs` with the same type and label names.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};

use super::server::repo_path;

/// `promtool check metrics` on `exposition`: what it printed when it was not clean.
pub fn promtool_check_metrics(exposition: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("promtool is missing ({e}): run `make test`"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(exposition.as_bytes())
        .expect("write to promtool");
    drop(stdin);
    let out = child.wait_with_output().expect("promtool");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && printed.trim().is_empty() {
        Ok(())
    } else {
        Err(printed)
    }
}

/// The contract's lines (`name type {label,…}`), from the snapshot file.
pub fn contract() -> BTreeSet<String> {
    let path = repo_path("tests/snapshots/metrics_contract__metric_contract.snap");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    // The snapshot's header ends at its second `---` line.
    text.lines()
        .skip_while(|l| *l != "---")
        .skip(1)
        .skip_while(|l| *l != "---")
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// The families of a text exposition in the contract's line format.
pub fn exposed(exposition: &str) -> BTreeSet<String> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            types.insert(name.to_string(), kind.to_string());
            labels.entry(name.to_string()).or_default();
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let series = line.rsplit_once(' ').map_or(line, |(s, _)| s);
        let (sample, label_text) = series.split_once('{').unwrap_or((series, ""));
        let family = types
            .keys()
            .filter(|f| sample.starts_with(f.as_str()))
            .max_by_key(|f| f.len())
            .cloned()
            .unwrap_or_else(|| panic!("sample {sample} before its # TYPE line"));
        let names = label_names(label_text)
            .into_iter()
            .filter(|k| k != "le" && k != "quantile");
        labels.entry(family).or_default().extend(names);
    }
    types
        .iter()
        .map(|(name, kind)| {
            let names: Vec<&str> = labels[name].iter().map(String::as_str).collect();
            format!("{name} {kind} {{{}}}", names.join(","))
        })
        .collect()
}

/// The label names of `a="x",b="y, \"z\""}`: values are skipped quote-aware, escapes included.
fn label_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut name = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                names.push(std::mem::take(&mut name));
                while let Some(v) = chars.next() {
                    match v {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '=' | ',' | '}' | ' ' => {}
            _ => name.push(c),
        }
    }
    names
}
