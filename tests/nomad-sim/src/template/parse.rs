//! Parser for the Go text/template subset consul-template templates use here: text and
//! `{{ ... }}` actions (with `{{-`/`-}}` whitespace trimming and `{{/* comments */}}`),
//! pipelines `a | b`, calls with string/number literal arguments and parenthesised nested
//! pipelines.

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Str(String),
    Num(i64),
    /// A function name.
    Ident(String),
    Pipe(Pipeline),
}

/// One command of a pipeline: a function and its arguments, or a single literal.
pub type Command = Vec<Arg>;

#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline(pub Vec<Command>);

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    Action(Pipeline),
}

pub fn parse(src: &str, left: &str, right: &str) -> Result<Vec<Node>, String> {
    let (left, right) = (
        if left.is_empty() { "{{" } else { left },
        if right.is_empty() { "}}" } else { right },
    );
    let mut nodes = Vec::new();
    let mut rest = src;
    let mut trim_next_text = false;
    while !rest.is_empty() {
        let Some(open) = rest.find(left) else {
            push_text(&mut nodes, rest, trim_next_text, false);
            break;
        };
        let mut inner = &rest[open + left.len()..];
        let trim_before =
            inner.starts_with("- ") || inner.starts_with("-\n") || inner.starts_with("-\t");
        push_text(&mut nodes, &rest[..open], trim_next_text, trim_before);
        if trim_before {
            inner = &inner[1..];
        }
        let close = find_close(inner, right)
            .ok_or_else(|| format!("unclosed action: missing {right:?}"))?;
        let mut body = &inner[..close];
        trim_next_text = body.ends_with(" -") || body.ends_with("\n-") || body.ends_with("\t-");
        if trim_next_text {
            body = &body[..body.len() - 1];
        }
        rest = &inner[close + right.len()..];
        let body = body.trim();
        if body.starts_with("/*") && body.ends_with("*/") {
            continue;
        }
        let mut lexer = Lexer::new(body);
        let pipeline = lexer.pipeline()?;
        if !lexer.at_end() {
            return Err(format!("unexpected {:?} in action", lexer.rest()));
        }
        if pipeline.0.is_empty() {
            return Err("missing value for command".into());
        }
        nodes.push(Node::Action(pipeline));
    }
    Ok(nodes)
}

fn push_text(nodes: &mut Vec<Node>, text: &str, trim_start: bool, trim_end: bool) {
    let mut t = text;
    if trim_start {
        t = t.trim_start();
    }
    if trim_end {
        t = t.trim_end();
    }
    if !t.is_empty() {
        nodes.push(Node::Text(t.to_string()));
    }
}

/// Finds the closing delimiter, skipping over quoted strings.
fn find_close(s: &str, right: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            _ if s[i..].starts_with(right) => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        Self { src, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.src.len() - trimmed.len();
    }

    fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos >= self.src.len()
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.rest().chars().next()
    }

    fn pipeline(&mut self) -> Result<Pipeline, String> {
        let mut commands = Vec::new();
        loop {
            let mut command = Vec::new();
            while let Some(c) = self.peek() {
                if c == '|' || c == ')' {
                    break;
                }
                command.push(self.operand()?);
            }
            if command.is_empty() {
                if commands.is_empty() && self.peek().is_none() {
                    break;
                }
                return Err("missing command in pipeline".into());
            }
            commands.push(command);
            if self.peek() == Some('|') {
                self.pos += 1;
            } else {
                break;
            }
        }
        Ok(Pipeline(commands))
    }

    fn operand(&mut self) -> Result<Arg, String> {
        let c = self.peek().ok_or("unexpected end of action")?;
        match c {
            '"' => self.quoted().map(Arg::Str),
            '`' => {
                let body = &self.rest()[1..];
                let end = body.find('`').ok_or("unterminated raw string")?;
                let s = body[..end].to_string();
                self.pos += end + 2;
                Ok(Arg::Str(s))
            }
            '(' => {
                self.pos += 1;
                let inner = self.pipeline()?;
                if self.peek() != Some(')') {
                    return Err("unclosed left paren".into());
                }
                self.pos += 1;
                Ok(Arg::Pipe(inner))
            }
            c if c.is_ascii_digit() || c == '-' => {
                let len = self.rest()[1..]
                    .find(|ch: char| !ch.is_ascii_digit())
                    .map_or(self.rest().len(), |n| n + 1);
                let text = &self.rest()[..len];
                let n = text.parse().map_err(|_| format!("bad number {text:?}"))?;
                self.pos += len;
                Ok(Arg::Num(n))
            }
            c if c.is_alphabetic() || c == '_' => {
                let len = self
                    .rest()
                    .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                    .unwrap_or(self.rest().len());
                let name = self.rest()[..len].to_string();
                self.pos += len;
                Ok(Arg::Ident(name))
            }
            other => Err(format!("unexpected {other:?} in operand")),
        }
    }

    fn quoted(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = self.rest().char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next().map(|(_, e)| e) {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(e) => out.push(e),
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err("unterminated quoted string".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_calls_and_pipes() {
        let nodes = parse(
            "a {{ keyOrDefault (printf \"x/%s\" (env \"N\")) \"\" | toUpper -}}  \nb",
            "",
            "",
        )
        .expect("parse");
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[2], Node::Text("b".into()));
        let Node::Action(Pipeline(cmds)) = &nodes[1] else {
            panic!("not an action")
        };
        assert_eq!(cmds.len(), 2);
        assert_eq!(cmds[0][0], Arg::Ident("keyOrDefault".into()));
        assert!(matches!(cmds[0][1], Arg::Pipe(_)));
    }

    #[test]
    fn reports_unclosed_actions() {
        assert!(parse("{{ key \"a\" ", "", "").is_err());
        assert!(parse("{{ (key \"a\" }}", "", "").is_err());
    }
}
