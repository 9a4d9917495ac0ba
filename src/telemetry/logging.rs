//! The `tracing` subscriber: events to stderr as text or JSON lines, filtered by `log_level`,
//! or by `RUST_LOG` when that is set (so a developer can turn up one module without editing
//! the configuration).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The filter (from `log_level` or `RUST_LOG`) is not valid `tracing` directives.
    #[error("invalid log filter {directives:?} from {source_name}: {message}")]
    Filter {
        directives: String,
        source_name: &'static str,
        message: String,
    },
    /// A global subscriber was already installed.
    #[error("logging is already initialised: {0}")]
    AlreadySet(String),
}

/// The filter in force: `rust_log` when set and not empty, else `log_level`.
pub fn filter(log_level: &str, rust_log: Option<&str>) -> Result<EnvFilter, LoggingError> {
    let (directives, source_name) = match rust_log.filter(|s| !s.trim().is_empty()) {
        Some(rust_log) => (rust_log, "RUST_LOG"),
        None => (log_level, "log_level"),
    };
    EnvFilter::builder()
        .parse(directives)
        .map_err(|e| LoggingError::Filter {
            directives: directives.to_string(),
            source_name,
            message: e.to_string(),
        })
}

/// Installs the global subscriber writing to stderr.
pub fn init(
    log_level: &str,
    format: LogFormat,
    rust_log: Option<&str>,
) -> Result<(), LoggingError> {
    let filter = filter(log_level, rust_log)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
    result.map_err(|e| LoggingError::AlreadySet(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_wins_when_set() {
        assert_eq!(filter("info", None).unwrap().to_string(), "info");
        assert_eq!(filter("info", Some("debug")).unwrap().to_string(), "debug");
        assert_eq!(filter("info", Some(" ")).unwrap().to_string(), "info");
        let err = filter("info", Some("shepard=loud")).unwrap_err();
        assert!(err.to_string().contains("RUST_LOG"), "{err}");
    }
}
