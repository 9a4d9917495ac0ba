//! Precedence and typing: for every option the first of flag > environment > file > default
//! is taken, parsed into its type, and recorded with its origin; `build` assembles the typed
//! [`Config`] through the typed getters here, and `validate` checks it.
//!
//! All type errors are collected before anything is assembled, so one run reports every bad
//! value at once.

use std::path::PathBuf;
use std::time::Duration;

use super::address::ApiAddress;
use super::catalog::{self, Kind, OPTIONS, OptionSpec};
use super::error::{ConfigError, Problem};
use super::model::{AclToken, Config};
use super::source::{Layer, Origin, Raw, Sourced};
use super::{build, validate, value};
use crate::secret::Secret;
use crate::tls::TlsConfig;

/// The resolved configuration, and what each option's value was and where it came from.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub config: Config,
    /// One entry per option, in catalogue order.
    pub values: Vec<ResolvedValue>,
}

/// One option after resolution.
#[derive(Debug, Clone)]
pub struct ResolvedValue {
    pub path: &'static str,
    /// The value as HCL (tokens as `"<redacted>"`); `None` when the option is not set.
    pub shown: Option<String>,
    pub origin: Origin,
    /// Why the value is not used, when another option overrides it.
    pub note: Option<String>,
}

impl Resolved {
    /// Where the value of `path` came from (`Origin::Default` for unknown paths).
    pub fn origin(&self, path: &str) -> Origin {
        self.values
            .iter()
            .find(|v| v.path == path)
            .map_or(Origin::Default, |v| v.origin.clone())
    }

    /// Whether `path` was set by the operator rather than left at its default.
    pub fn is_set(&self, path: &str) -> bool {
        self.values
            .iter()
            .any(|v| v.path == path && v.shown.is_some() && v.origin != Origin::Default)
    }
}

/// Resolves the three sources. `early` are problems already found in the file (unknown keys):
/// they are reported together with the type errors.
pub fn resolve(
    flags: &Layer,
    env: &Layer,
    file: &Layer,
    early: Vec<Problem>,
) -> Result<Resolved, ConfigError> {
    let mut r = Resolver {
        layers: [flags, env, file],
        values: Vec::new(),
    };
    let mut problems = early;
    for spec in OPTIONS {
        if let Some(s) = r.pick(spec)
            && let Err(message) = value::check(spec.kind, &s.raw)
        {
            problems.push(problem(spec.path, s.origin, message));
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    let config = build::build(&mut r).map_err(|p| ConfigError::Invalid(vec![p]))?;
    let mut values = r.values;
    values.sort_by_key(|v| OPTIONS.iter().position(|o| o.path == v.path));
    let resolved = Resolved { config, values };
    let problems = validate::check(&resolved);
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

fn problem(path: &str, origin: Origin, message: impl Into<String>) -> Problem {
    Problem {
        option: path.to_string(),
        origin,
        message: message.into(),
    }
}

pub(super) struct Resolver<'a> {
    /// In precedence order: flags, environment, file.
    layers: [&'a Layer; 3],
    values: Vec<ResolvedValue>,
}

impl Resolver<'_> {
    /// The winning value of `spec`, the default when no source sets it.
    fn pick(&self, spec: &OptionSpec) -> Option<Sourced> {
        self.layers
            .iter()
            .find_map(|l| l.get(spec.path).cloned())
            .or_else(|| {
                spec.default.map(|d| Sourced {
                    raw: Raw::Text(d.to_string()),
                    origin: Origin::Default,
                })
            })
    }

    pub(super) fn opt<T>(
        &mut self,
        path: &str,
        parse: impl Fn(&Raw) -> Result<T, String>,
        show: impl Fn(&T) -> String,
    ) -> Result<Option<T>, Problem> {
        let spec = catalog::find(path)
            .ok_or_else(|| problem(path, Origin::Default, "not in the option catalogue"))?;
        let Some(s) = self.pick(spec) else {
            self.values.push(ResolvedValue {
                path: spec.path,
                shown: None,
                origin: Origin::Default,
                note: None,
            });
            return Ok(None);
        };
        let v = parse(&s.raw).map_err(|m| problem(spec.path, s.origin.clone(), m))?;
        let shown = if spec.kind == Kind::Secret {
            "\"<redacted>\"".to_string()
        } else {
            show(&v)
        };
        self.values.push(ResolvedValue {
            path: spec.path,
            shown: Some(shown),
            origin: s.origin,
            note: None,
        });
        Ok(Some(v))
    }

    pub(super) fn req<T>(
        &mut self,
        path: &str,
        parse: impl Fn(&Raw) -> Result<T, String>,
        show: impl Fn(&T) -> String,
    ) -> Result<T, Problem> {
        self.opt(path, parse, show)?
            .ok_or_else(|| problem(path, Origin::Default, "must be set"))
    }

    pub(super) fn text(&mut self, path: &str) -> Result<Option<String>, Problem> {
        self.opt(path, value::text, |s| quote(s))
    }

    pub(super) fn path(&mut self, path: &str) -> Result<Option<PathBuf>, Problem> {
        Ok(self.text(path)?.map(PathBuf::from))
    }

    pub(super) fn duration(&mut self, path: &str) -> Result<Duration, Problem> {
        self.req(path, value::duration, |d| quote(&value::show_duration(*d)))
    }

    pub(super) fn boolean(&mut self, path: &str) -> Result<bool, Problem> {
        self.req(path, value::boolean, bool::to_string)
    }

    pub(super) fn count(&mut self, path: &str) -> Result<u32, Problem> {
        self.req(path, value::count, u32::to_string)
    }

    pub(super) fn size(&mut self, path: &str) -> Result<u64, Problem> {
        self.req(path, value::size, |b| quote(&value::show_size(*b)))
    }

    pub(super) fn list(&mut self, path: &str) -> Result<Vec<String>, Problem> {
        self.req(path, value::list, |items| {
            let items: Vec<String> = items.iter().map(|s| quote(s)).collect();
            format!("[{}]", items.join(", "))
        })
    }

    pub(super) fn choice(&mut self, path: &str) -> Result<&'static str, Problem> {
        let words = match catalog::find(path).map(|s| s.kind) {
            Some(Kind::Choice(words)) => words,
            _ => return Err(problem(path, Origin::Default, "not a choice option")),
        };
        self.req(path, |raw| value::choice(raw, words), |w| quote(w))
    }

    pub(super) fn address(&mut self, path: &str) -> Result<Option<ApiAddress>, Problem> {
        self.opt(path, value::api_address, |a| quote(&a.to_string()))
    }

    pub(super) fn base_address(&mut self, path: &str) -> Result<ApiAddress, Problem> {
        self.req(
            path,
            |raw| value::api_address(raw).map(ApiAddress::into_base),
            |a| quote(&a.to_string()),
        )
    }

    pub(super) fn tls(&mut self, block: &str) -> Result<TlsConfig, Problem> {
        Ok(TlsConfig {
            ca_file: self.path(&format!("{block}.tls.ca_file"))?,
            client_cert: self.path(&format!("{block}.tls.client_cert"))?,
            client_key: self.path(&format!("{block}.tls.client_key"))?,
            server_name: self.text(&format!("{block}.tls.server_name"))?,
            insecure_skip_verify: self.boolean(&format!("{block}.tls.insecure_skip_verify"))?,
        })
    }

    /// The token of `block`, ordered as Consul's own Go client orders its sources.
    /// hashicorp/consul `api/api.go`, `NewClient`, says: "If the TokenFile is set, always use
    /// that, even if a Token is configured", and lists the precedence as `-token-file` flag,
    /// `-token` flag, `CONSUL_HTTP_TOKEN_FILE`, `CONSUL_HTTP_TOKEN`. So a higher source wins,
    /// and within one source the token file wins over the token; shepard's file comes after
    /// the environment, in the same file-over-token order.
    pub(super) fn token(&mut self, block: &str) -> Result<AclToken, Problem> {
        let token_path = format!("{block}.token");
        let file_path = format!("{block}.token_file");
        let token = self.opt(&token_path, value::text, |s| quote(s))?;
        let file = self.path(&file_path)?;
        let rank = |values: &[ResolvedValue], p: &str| {
            values
                .iter()
                .find(|v| v.path == p)
                .map_or(u8::MAX, |v| v.origin.rank())
        };
        let (token_rank, file_rank) = (
            rank(&self.values, &token_path),
            rank(&self.values, &file_path),
        );
        let (chosen, overridden) = match (token, file) {
            (Some(_), Some(path)) if file_rank <= token_rank => {
                (AclToken::File(path), Some((&token_path, &file_path)))
            }
            (Some(t), Some(_)) => (
                AclToken::Inline(Secret::new(t)),
                Some((&file_path, &token_path)),
            ),
            (Some(t), None) => (AclToken::Inline(Secret::new(t)), None),
            (None, Some(path)) => (AclToken::File(path), None),
            (None, None) => (AclToken::None, None),
        };
        if let Some((loser, winner)) = overridden
            && let Some(v) = self.values.iter_mut().find(|v| v.path == *loser)
        {
            v.note = Some(format!("not used: {winner} takes precedence"));
        }
        Ok(chosen)
    }
}

/// A string as an HCL literal.
pub(super) fn quote(s: &str) -> String {
    format!("{s:?}").replace("${", "$${").replace("%{", "%%{")
}
