//! Evaluates a parsed template against KV data and the task environment. `key` on a missing
//! key makes the render incomplete (consul-template does not write the file until every
//! `key` exists; the dependency is reported as `kv.block(<key>)`); `keyOrDefault` falls back
//! to its default. Every key read becomes a dependency to watch.

use std::collections::{BTreeMap, BTreeSet};

use super::parse::{Arg, Node, Pipeline};

/// What the renderer knows about a KV key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvState {
    Present(String),
    Missing,
    /// Not read from Consul yet.
    Unknown,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    /// Every key the template read.
    pub deps: BTreeSet<String>,
    /// Keys read with `key` that do not exist (block the render).
    pub missing: BTreeSet<String>,
    /// Keys not read from Consul yet.
    pub unknown: BTreeSet<String>,
}

impl Rendered {
    pub fn complete(&self) -> bool {
        self.missing.is_empty() && self.unknown.is_empty()
    }
}

#[derive(Debug, Clone)]
enum Val {
    Str(String),
    Int(i64),
}

impl Val {
    fn text(&self) -> String {
        match self {
            Val::Str(s) => s.clone(),
            Val::Int(i) => i.to_string(),
        }
    }
}

struct Ctx<'a> {
    kv: &'a BTreeMap<String, KvState>,
    env: &'a BTreeMap<String, String>,
    out: Rendered,
}

pub fn render(
    nodes: &[Node],
    kv: &BTreeMap<String, KvState>,
    env: &BTreeMap<String, String>,
) -> Result<Rendered, String> {
    let mut ctx = Ctx {
        kv,
        env,
        out: Rendered::default(),
    };
    let mut text = String::new();
    for node in nodes {
        match node {
            Node::Text(t) => text.push_str(t),
            Node::Action(p) => text.push_str(&ctx.pipeline(p)?.text()),
        }
    }
    ctx.out.text = text;
    Ok(ctx.out)
}

impl Ctx<'_> {
    fn pipeline(&mut self, p: &Pipeline) -> Result<Val, String> {
        let mut piped: Option<Val> = None;
        for command in &p.0 {
            piped = Some(self.command(command, piped.take())?);
        }
        piped.ok_or_else(|| "empty pipeline".to_string())
    }

    fn arg(&mut self, a: &Arg) -> Result<Val, String> {
        match a {
            Arg::Str(s) => Ok(Val::Str(s.clone())),
            Arg::Num(n) => Ok(Val::Int(*n)),
            Arg::Pipe(p) => self.pipeline(p),
            Arg::Ident(name) => self.call(name, Vec::new()),
        }
    }

    fn command(&mut self, command: &[Arg], piped: Option<Val>) -> Result<Val, String> {
        let (first, rest) = command.split_first().ok_or("empty command")?;
        match first {
            Arg::Ident(name) => {
                let mut args = rest
                    .iter()
                    .map(|a| self.arg(a))
                    .collect::<Result<Vec<_>, _>>()?;
                args.extend(piped);
                self.call(name, args)
            }
            literal if rest.is_empty() && piped.is_none() => self.arg(literal),
            _ => Err("can't give argument to non-function".into()),
        }
    }

    fn lookup(&mut self, key: &str) -> KvState {
        self.out.deps.insert(key.to_string());
        let state = self.kv.get(key).cloned().unwrap_or(KvState::Unknown);
        if state == KvState::Unknown {
            self.out.unknown.insert(key.to_string());
        }
        state
    }

    fn call(&mut self, name: &str, args: Vec<Val>) -> Result<Val, String> {
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!(
                    "wrong number of args for {name}: want {n} got {}",
                    args.len()
                ))
            }
        };
        match name {
            "key" => {
                arity(1)?;
                let key = args[0].text();
                match self.lookup(&key) {
                    KvState::Present(v) => Ok(Val::Str(v)),
                    KvState::Missing => {
                        self.out.missing.insert(key);
                        Ok(Val::Str(String::new()))
                    }
                    KvState::Unknown => Ok(Val::Str(String::new())),
                }
            }
            "keyOrDefault" => {
                arity(2)?;
                match self.lookup(&args[0].text()) {
                    KvState::Present(v) => Ok(Val::Str(v)),
                    _ => Ok(Val::Str(args[1].text())),
                }
            }
            "env" => {
                arity(1)?;
                Ok(Val::Str(
                    self.env.get(&args[0].text()).cloned().unwrap_or_default(),
                ))
            }
            "printf" => {
                let (format, rest) = args.split_first().ok_or("printf needs a format")?;
                Ok(Val::Str(sprintf(&format.text(), rest)))
            }
            "toLower" => {
                arity(1)?;
                Ok(Val::Str(args[0].text().to_lowercase()))
            }
            "toUpper" => {
                arity(1)?;
                Ok(Val::Str(args[0].text().to_uppercase()))
            }
            "trimSpace" => {
                arity(1)?;
                Ok(Val::Str(args[0].text().trim().to_string()))
            }
            other => Err(format!("function {other:?} not defined")),
        }
    }
}

/// Go's `fmt.Sprintf` for `%s`, `%d`, `%v`, `%q` and `%%`.
fn sprintf(format: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb) => match args.next() {
                Some(a) if verb == 'q' => out.push_str(&format!("{:?}", a.text())),
                Some(Val::Int(i)) if verb == 'd' => out.push_str(&i.to_string()),
                Some(a) if verb == 'd' => out.push_str(&format!("%!d(string={})", a.text())),
                Some(a) => out.push_str(&a.text()),
                None => out.push_str(&format!("%!{verb}(MISSING)")),
            },
            None => out.push_str("%!(NOVERB)"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;

    fn env() -> BTreeMap<String, String> {
        [("node.unique.name", "n1"), ("NOMAD_ALLOC_INDEX", "2")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn renders_nested_printf_key_or_default() {
        let nodes = parse(
            r#"{{ keyOrDefault (printf "s/%s/%s" (env "node.unique.name") (env "NOMAD_ALLOC_INDEX")) "none" }}"#,
            "",
            "",
        )
        .expect("parse");
        let mut kv = BTreeMap::new();
        let first = render(&nodes, &kv, &env()).expect("render");
        assert_eq!(
            first.unknown.iter().next().map(String::as_str),
            Some("s/n1/2")
        );
        kv.insert("s/n1/2".to_string(), KvState::Missing);
        assert_eq!(render(&nodes, &kv, &env()).expect("render").text, "none");
        kv.insert("s/n1/2".to_string(), KvState::Present("tok".into()));
        assert_eq!(render(&nodes, &kv, &env()).expect("render").text, "tok");
    }

    #[test]
    fn missing_key_blocks() {
        let nodes = parse(r#"name: {{ key "cfg" | toUpper }}"#, "", "").expect("parse");
        let mut kv = BTreeMap::new();
        kv.insert("cfg".to_string(), KvState::Missing);
        let r = render(&nodes, &kv, &env()).expect("render");
        assert!(!r.complete());
        assert!(r.missing.contains("cfg"));
        kv.insert("cfg".to_string(), KvState::Present("bob".into()));
        assert_eq!(
            render(&nodes, &kv, &env()).expect("render").text,
            "name: BOB"
        );
    }

    #[test]
    fn unknown_function_is_an_error() {
        let nodes = parse("{{ secret \"x\" }}", "", "").expect("parse");
        assert!(render(&nodes, &BTreeMap::new(), &env()).is_err());
    }
}
