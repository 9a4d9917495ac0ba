//! The HCL file source: parses the text with `hcl-edit` (which keeps byte spans), walks its
//! blocks and attributes against the option catalogue, and records each value with the line
//! and column it was written at. Unknown keys and blocks, labels, duplicates and non-literal
//! expressions are errors here; types are checked later, with the other sources.

use hcl::edit::Span;
use hcl::edit::expr::Expression;
use hcl::edit::structure::{Body, Structure};

use super::catalog;
use super::error::{ConfigError, Problem};
use super::source::{Layer, Origin, Raw};
use super::suggest;

/// Parses the configuration file `text`; `name` is how messages refer to the file. A syntax
/// error stops here; key-level problems are returned beside the values that were fine, so they
/// can be reported together with the type errors of those values.
pub fn parse(name: &str, text: &str) -> Result<(Layer, Vec<Problem>), ConfigError> {
    let body = hcl::edit::parser::parse_body(text).map_err(|e| ConfigError::Syntax {
        file: name.to_string(),
        line: e.location().line(),
        column: e.location().column(),
        message: e.message().to_string(),
    })?;
    let mut walker = Walker {
        name,
        lines: LineIndex::new(text),
        layer: Layer::default(),
        problems: Vec::new(),
    };
    walker.body(&body, "");
    Ok((walker.layer, walker.problems))
}

struct Walker<'a> {
    name: &'a str,
    lines: LineIndex,
    layer: Layer,
    problems: Vec<Problem>,
}

fn join(block: &str, key: &str) -> String {
    if block.is_empty() {
        key.to_string()
    } else {
        format!("{block}.{key}")
    }
}

impl Walker<'_> {
    fn origin(&self, span: Option<std::ops::Range<usize>>) -> Origin {
        let (line, column) = self.lines.locate(span.map_or(0, |s| s.start));
        Origin::File {
            file: self.name.to_string(),
            line,
            column,
        }
    }

    fn problem(&mut self, option: String, origin: Origin, message: String) {
        self.problems.push(Problem {
            option,
            origin,
            message,
        });
    }

    fn body(&mut self, body: &Body, block: &str) {
        for structure in body.iter() {
            match structure {
                Structure::Attribute(attr) => {
                    self.attribute(block, attr.key.as_str(), attr.key.span(), &attr.value)
                }
                Structure::Block(b) => {
                    let path = join(block, b.ident.as_str());
                    let origin = self.origin(b.ident.span());
                    if catalog::is_block(&path) {
                        if b.is_labeled() {
                            self.problem(path, origin, "this block takes no labels".into());
                        } else {
                            self.body(&b.body, &path);
                        }
                    } else if catalog::find(&path).is_some() {
                        let key = b.ident.as_str();
                        let msg = format!("is an option, not a block: write `{key} = …`");
                        self.problem(path, origin, msg);
                    } else {
                        let msg = suggest::unknown("block", block, b.ident.as_str());
                        self.problem(path, origin, msg);
                    }
                }
            }
        }
    }

    fn attribute(
        &mut self,
        block: &str,
        key: &str,
        key_span: Option<std::ops::Range<usize>>,
        value: &Expression,
    ) {
        let written = join(block, key);
        let spec = catalog::find(&written).or_else(|| {
            catalog::OPTIONS.iter().find(|o| {
                o.file_aliases.contains(&key)
                    && o.path.rsplit_once('.').map_or("", |(parent, _)| parent) == block
            })
        });
        let Some(spec) = spec else {
            let origin = self.origin(key_span);
            let msg = if catalog::is_block(&written) {
                format!("is a block: write `{key} {{ … }}`")
            } else {
                suggest::unknown("option", block, key)
            };
            self.problem(written, origin, msg);
            return;
        };
        let origin = self.origin(value.span());
        let raw = match literal(value) {
            Ok(Some(raw)) => raw,
            // `null` leaves the option unset, as in Terraform and Nomad.
            Ok(None) => return,
            Err(msg) => return self.problem(spec.path.to_string(), origin, msg),
        };
        if let Some(first) = self.layer.insert(spec.path, raw, origin.clone()) {
            let msg = format!("is set more than once (first at {})", first.origin);
            self.problem(spec.path.to_string(), origin, msg);
        }
    }
}

/// The literal value of an expression; `Ok(None)` for `null`.
fn literal(value: &Expression) -> Result<Option<Raw>, String> {
    const NOT_LITERAL: &str =
        "only literal values are allowed here (no variables, functions or interpolation)";
    Ok(Some(match value {
        Expression::Null(_) => return Ok(None),
        Expression::String(s) => Raw::Str(s.value().clone()),
        Expression::Number(n) => Raw::Number(*n.value()),
        Expression::Bool(b) => Raw::Bool(*b.value()),
        Expression::Array(items) => {
            let mut list = Vec::new();
            for item in items.iter() {
                match item {
                    Expression::String(s) => list.push(s.value().clone()),
                    _ => return Err("expected a list of strings such as [\"a\", \"b\"]".into()),
                }
            }
            Raw::List(list)
        }
        Expression::Object(_) => {
            return Err(
                "expected a single value, found an object; options are set one by one".into(),
            );
        }
        _ => return Err(NOT_LITERAL.into()),
    }))
}

/// Byte offset to one-based line and column (in characters).
struct LineIndex {
    text: String,
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            text: text.to_string(),
            starts,
        }
    }

    fn locate(&self, offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = self
            .text
            .get(start..offset)
            .map_or(1, |s| s.chars().count() + 1);
        (line, column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_point_at_values() {
        let (layer, _) =
            parse("t.hcl", "listen = \"x\"\nconsul {\n  prefix = \"p/\"\n}\n").unwrap();
        let at = |p: &str| layer.get(p).unwrap().origin.to_string();
        assert_eq!(at("listen"), "t.hcl:1:10");
        assert_eq!(at("consul.prefix"), "t.hcl:3:12");
    }

    #[test]
    fn aliases_and_duplicates() {
        let (layer, _) = parse("t.hcl", "nomad {\n tls {\n cert_file = \"c\"\n }\n}\n").unwrap();
        assert!(layer.get("nomad.tls.client_cert").is_some());
        let (_, problems) = parse(
            "t.hcl",
            "nomad {\n tls {\n cert_file = \"c\"\n client_cert = \"d\"\n }\n}\n",
        )
        .unwrap();
        assert!(
            problems[0].message.contains("more than once"),
            "{problems:?}"
        );
    }

    #[test]
    fn null_leaves_unset() {
        let (layer, _) = parse("t.hcl", "consul {\n token = null\n}\n").unwrap();
        assert!(layer.is_empty());
    }
}
