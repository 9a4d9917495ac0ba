//! Values as the three sources give them, before they are typed: where each came from
//! ([`Origin`]), what it looked like ([`Raw`]), and one source's set of values ([`Layer`]).

use std::collections::BTreeMap;
use std::fmt;

/// Where a value came from; every error message and `config check` line names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// The HCL file, at this one-based line and column (of the value).
    File {
        file: String,
        line: usize,
        column: usize,
    },
    /// This environment variable.
    Env(&'static str),
    /// This command-line flag (without `--`).
    Flag(&'static str),
}

impl Origin {
    /// Precedence rank: lower wins (flag 0, environment 1, file 2, default 3).
    pub fn rank(&self) -> u8 {
        match self {
            Origin::Flag(_) => 0,
            Origin::Env(_) => 1,
            Origin::File { .. } => 2,
            Origin::Default => 3,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { file, line, column } => write!(f, "{file}:{line}:{column}"),
            Origin::Env(var) => write!(f, "env {var}"),
            Origin::Flag(flag) => write!(f, "flag --{flag}"),
        }
    }
}

/// A value before it is given its option's type.
#[derive(Clone, PartialEq)]
pub enum Raw {
    /// Untyped text from an environment variable, a flag or a default: parsed by the option's
    /// kind (`"2"` is a fine count here).
    Text(String),
    /// A quoted HCL string: typed, so it is not a number or a bool.
    Str(String),
    /// An HCL number.
    Number(hcl::Number),
    /// An HCL bool.
    Bool(bool),
    /// An HCL list of strings, or a repeated / comma-separated flag.
    List(Vec<String>),
}

impl Raw {
    /// What kind of value this is, for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Raw::Text(_) | Raw::Str(_) => "a string",
            Raw::Number(_) => "a number",
            Raw::Bool(_) => "a bool",
            Raw::List(_) => "a list",
        }
    }
}

// Raw values may be tokens: never print their content.
impl fmt::Debug for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A value and where it came from.
#[derive(Debug, Clone)]
pub struct Sourced {
    pub raw: Raw,
    pub origin: Origin,
}

/// The values one source (the file, the environment or the flags) sets, by option path.
#[derive(Debug, Clone, Default)]
pub struct Layer {
    values: BTreeMap<&'static str, Sourced>,
}

impl Layer {
    pub fn get(&self, path: &str) -> Option<&Sourced> {
        self.values.get(path)
    }

    /// Sets `path`; returns the value it replaces, if any.
    pub fn insert(&mut self, path: &'static str, raw: Raw, origin: Origin) -> Option<Sourced> {
        self.values.insert(path, Sourced { raw, origin })
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }
}
