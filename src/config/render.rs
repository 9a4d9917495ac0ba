//! `shepard config check` output: the resolved configuration as HCL, every option in
//! catalogue order with the origin of its value as a comment, tokens redacted.

use std::fmt::Write;

use super::resolve::Resolved;

impl Resolved {
    /// The resolved configuration as commented HCL.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# shepard configuration as resolved (flag > environment > file > default).\n\
             # Tokens are shown as \"<redacted>\".\n",
        );
        let mut open: Vec<&str> = Vec::new();
        // Attributes of the current block, gathered so their `=` can be aligned.
        let mut pending: Vec<(String, String)> = Vec::new();
        for v in &self.values {
            let segments: Vec<&str> = v.path.split('.').collect();
            let (key, blocks) = segments.split_last().unwrap_or((&v.path, &[]));
            let common = open.iter().zip(blocks).take_while(|(a, b)| a == b).count();
            if common < open.len() || blocks.len() > open.len() {
                flush(&mut out, &mut pending, open.len());
            }
            while open.len() > common {
                open.pop();
                let _ = writeln!(out, "{}}}", indent(open.len()));
            }
            for block in &blocks[common..] {
                let _ = writeln!(out, "{}{block} {{", indent(open.len()));
                open.push(block);
            }
            let line = match &v.shown {
                Some(shown) => {
                    let note = v.note.as_ref().map_or(String::new(), |n| format!(", {n}"));
                    (format!("{key} = {shown}"), format!("{}{note}", v.origin))
                }
                None => (format!("# {key}"), "not set".to_string()),
            };
            pending.push(line);
        }
        flush(&mut out, &mut pending, open.len());
        while let Some(_block) = open.pop() {
            let _ = writeln!(out, "{}}}", indent(open.len()));
        }
        out
    }
}

fn indent(depth: usize) -> String {
    "  ".repeat(depth)
}

fn flush(out: &mut String, pending: &mut Vec<(String, String)>, depth: usize) {
    let width = pending.iter().map(|(a, _)| a.len()).max().unwrap_or(0);
    for (assignment, comment) in pending.drain(..) {
        let _ = writeln!(out, "{}{assignment:<width$}  # {comment}", indent(depth));
    }
}
