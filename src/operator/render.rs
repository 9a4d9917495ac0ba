//! Text of the read-only commands: `shepard status` (a rollout table, then an allocation table
//! per task, followed by a line for each allocation with a problem), `shepard rollout list`
//! (one line per rollout) and `shepard rollout show` (one record in full plus its
//! allocations). Times are UTC to the second; JSON output is the `view` types serialized as
//! they are.

use std::fmt::Write as _;

use shepard_reconcilers::model::TaskId;
use shepard_reconcilers::model::{Phase, RolloutState};
use shepard_reconcilers::{Key, Timestamp};

use super::table::Table;
use super::view::{AllocEntry, ClusterView, TaskView, short_id};

/// Width of the progress bar in tables.
const BAR_WIDTH: usize = 10;

/// A task as the commands take it: `NAMESPACE/JOB/GROUP/TASK`, segments escaped as in the
/// keys, so a job ID holding `/` stays unambiguous and the text can be pasted back.
pub fn task_path(task: &TaskId) -> String {
    let key = Key::Rollout(task.clone()).to_string();
    key.strip_prefix("rollouts/").unwrap_or(&key).to_owned()
}

/// A time as `2024-01-02T03:04:05Z`.
pub fn time(t: Timestamp) -> String {
    humantime::format_rfc3339_seconds(t.to_system_time()).to_string()
}

fn opt_time(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "-".to_owned(), time)
}

/// A phase as its records spell it (`in_sync`).
pub fn phase_name(p: Phase) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{p:?}"))
}

/// `shepard status`.
pub fn status(view: &ClusterView, prefix: &str) -> String {
    let mut out = String::new();
    if view.tasks.is_empty() {
        let _ = writeln!(
            out,
            "No rollouts and no managed allocations under {prefix:?}."
        );
    } else {
        let mut rollouts = Table::new(&["TASK", "STATE", "GEN", "MAX_PARALLEL", "PROGRESS"]);
        for t in &view.tasks {
            let (state, generation, max_parallel) = match &t.rollout {
                Some(r) => (
                    state_name(r.record.state),
                    r.record.generation.to_string(),
                    r.record.max_parallel.to_string(),
                ),
                None => ("-".to_owned(), "-".to_owned(), "-".to_owned()),
            };
            let progress = format!("{} {}", t.progress.bar(BAR_WIDTH), t.progress.summary());
            rollouts.row(vec![
                task_path(&t.task),
                state,
                generation,
                max_parallel,
                progress,
            ]);
        }
        out.push_str(&rollouts.render(""));
        for t in &view.tasks {
            out.push('\n');
            let _ = writeln!(out, "{}", heading(t));
            out.push_str(&alloc_table(&t.allocs).render("  "));
            push_problems(&mut out, &t.allocs, "  ");
        }
    }
    push_unreadable(&mut out, view);
    out
}

/// `shepard rollout list`.
pub fn list(view: &ClusterView) -> String {
    let mut table = Table::new(&[
        "TASK", "ID", "STATE", "GEN", "PROGRESS", "UPDATED", "REASON",
    ]);
    for t in &view.tasks {
        let Some(r) = &t.rollout else { continue };
        table.row(vec![
            task_path(&t.task),
            r.record.id.clone(),
            state_name(r.record.state),
            r.record.generation.to_string(),
            t.progress.summary(),
            time(r.record.updated_at),
            r.record.reason.clone(),
        ]);
    }
    let mut out = if table.is_empty() {
        "No rollouts.\n".to_owned()
    } else {
        table.render("")
    };
    push_unreadable(&mut out, view);
    out
}

/// `shepard rollout show`.
pub fn show(t: &TaskView) -> String {
    let mut out = String::new();
    let mut line = |name: &str, value: String| {
        let _ = writeln!(out, "{:<18}{value}", format!("{name}:"));
    };
    line("Task", task_path(&t.task));
    if let Some(r) = &t.rollout {
        let rec = &r.record;
        line("Key", r.key.clone());
        line("ID", rec.id.clone());
        line("Generation", rec.generation.to_string());
        line("State", state_name(rec.state));
        line("Reason", rec.reason.clone());
        line("Max parallel", rec.max_parallel.to_string());
        line(
            "Min healthy time",
            humantime::format_duration(rec.min_healthy_time).to_string(),
        );
        line(
            "Healthy deadline",
            humantime::format_duration(rec.healthy_deadline).to_string(),
        );
        line("Instances", rec.instance_count.to_string());
        line(
            "Created",
            format!("{} by {}", time(rec.created_at), rec.created_by),
        );
        line("Updated", time(rec.updated_at));
        line("Finished", opt_time(rec.finished_at));
        let skipped: Vec<&str> = rec.skipped.keys().map(String::as_str).collect();
        line(
            "Skipped",
            if skipped.is_empty() {
                "-".to_owned()
            } else {
                skipped.join(", ")
            },
        );
    } else {
        line("State", "no rollout record".to_owned());
    }
    line(
        "Progress",
        format!("{} {}", t.progress.bar(BAR_WIDTH), t.progress.summary()),
    );
    out.push('\n');
    out.push_str(&alloc_table(&t.allocs).render(""));
    push_problems(&mut out, &t.allocs, "");
    out
}

fn heading(t: &TaskView) -> String {
    match &t.rollout {
        Some(r) => format!(
            "{} ({} {}): {}",
            task_path(&t.task),
            state_name(r.record.state),
            r.record.id,
            r.record.reason
        ),
        None => format!("{} (no rollout)", task_path(&t.task)),
    }
}

fn alloc_table(allocs: &[AllocEntry]) -> Table {
    let mut table = Table::new(&[
        "NODE",
        "ALLOC",
        "INDEX",
        "PHASE",
        "SLOT",
        "TRIGGERED",
        "UPDATED",
        "LAST ERROR",
    ]);
    for a in allocs {
        let r = &a.record;
        table.row(vec![
            a.node.clone(),
            short_id(&a.alloc_id).to_owned(),
            r.alloc_index.to_string(),
            phase_name(r.phase),
            r.slot.map_or_else(|| "-".to_owned(), |s| s.to_string()),
            opt_time(r.triggered_at),
            time(r.updated_at),
            r.last_error.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    table
}

/// Under an allocation table: why shepard cannot restart an allocation at all, one line each
/// (too long for a column).
fn push_problems(out: &mut String, allocs: &[AllocEntry], indent: &str) {
    for a in allocs {
        if let Some(problem) = &a.record.problem {
            let _ = writeln!(out, "{indent}PROBLEM {}: {problem}", short_id(&a.alloc_id));
        }
    }
}

/// A rollout state as records spell it (`rolling`).
pub fn state_name(state: RolloutState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{state:?}"))
}

fn push_unreadable(out: &mut String, view: &ClusterView) {
    if view.unreadable.is_empty() {
        return;
    }
    out.push('\n');
    let mut table = Table::new(&["UNREADABLE KEY", "ERROR"]);
    for u in &view.unreadable {
        table.row(vec![u.key.clone(), u.error.clone()]);
    }
    out.push_str(&table.render(""));
}

#[cfg(test)]
mod tests {
    use shepard_reconcilers::Prefix;
    use shepard_reconcilers::model::AllocRecord;

    use super::*;
    use crate::consul::KvPair;

    #[test]
    fn an_allocations_problem_is_printed_under_its_task() {
        let task = TaskId::new("staging", "web", "web", "app");
        let mut record = AllocRecord::new(task, 0, Timestamp::from_unix_secs(0));
        record.problem = Some("a and b render the same trigger key".into());
        let pair = KvPair {
            key: "shepard/state/node-1/0f3c2a1b-aaaa/app".into(),
            value: record.to_json().into_bytes(),
            flags: 0,
            create_index: 7,
            modify_index: 7,
            lock_index: 0,
            session: None,
        };
        let view = ClusterView::from_pairs(&Prefix::default(), &[pair]);
        let text = status(&view, "shepard/");
        let line = "\n  PROBLEM 0f3c2a1b: a and b render the same trigger key\n";
        assert!(text.contains(line), "{text}");
        assert!(show(&view.tasks[0]).contains(&line[3..]), "{text}");
    }
}
