//! Where batches go. A sink acknowledges a batch by returning `Ok` from [`Sink::send`] only
//! once the batch is as safe as the sink can make it (written and fsynced, answered 2xx,
//! written to the socket); checkpoints advance only after every sink acknowledged.

pub mod append;
pub mod file;
pub mod http;
pub mod loki;
pub mod syslog;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use super::batch::Batch;
use crate::config::LogsConfig;

pub use file::FileSink;
pub use http::HttpSink;
pub use loki::LokiSink;
pub use syslog::SyslogSink;

/// Time allowed for one push to an HTTP sink, and for connecting and writing to syslog.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a batch was not acknowledged; the shipper retries.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// A local file could not be opened, written or synced.
    #[error("{path}: {source}")]
    File {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// Connecting or writing to a syslog receiver failed.
    #[error("syslog {address}: {source}")]
    Syslog {
        address: String,
        source: std::io::Error,
    },
    /// An HTTP request got no response.
    #[error("{url}: {source}")]
    Request { url: String, source: reqwest::Error },
    /// An HTTP sink answered something other than 2xx.
    #[error("{url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    /// The blocking writer task was cancelled or panicked.
    #[error("sink writer task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Why sinks could not be built from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum SinkBuildError {
    /// TLS settings of a sink are unusable (unreadable PEM, bad server name, …).
    #[error("logs.{sink}.tls: {message}")]
    Tls { sink: &'static str, message: String },
    /// The HTTP client of a sink could not be built.
    #[error("logs.{sink}: {source}")]
    HttpClient {
        sink: &'static str,
        source: crate::http_client::HttpClientError,
    },
}

/// One configured sink.
pub enum Sink {
    File(FileSink),
    Syslog(SyslogSink),
    Loki(LokiSink),
    Http(HttpSink),
}

impl Sink {
    /// The `sink` label of the metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Sink::File(_) => "file",
            Sink::Syslog(_) => "syslog",
            Sink::Loki(_) => "loki",
            Sink::Http(_) => "http",
        }
    }

    /// Ships `batch`; `Ok` is the acknowledgement.
    pub async fn send(&mut self, batch: &Arc<Batch>) -> Result<(), SinkError> {
        match self {
            Sink::File(s) => s.send(batch).await,
            Sink::Syslog(s) => s.send(batch).await,
            Sink::Loki(s) => s.send(batch).await,
            Sink::Http(s) => s.send(batch).await,
        }
    }
}

/// The sinks `config` enables, in a fixed order: file, syslog, loki, http.
pub fn build(config: &LogsConfig) -> Result<Vec<Sink>, SinkBuildError> {
    let mut sinks = Vec::new();
    if let Some(file) = &config.file {
        sinks.push(Sink::File(FileSink::new(
            file.path.clone(),
            file.max_file_size,
            file.max_files,
            file.direct_io,
        )));
    }
    if let Some(syslog) = &config.syslog {
        sinks.push(Sink::Syslog(SyslogSink::new(syslog)?));
    }
    if let Some(loki) = &config.loki {
        sinks.push(Sink::Loki(LokiSink::new(loki)?));
    }
    if let Some(http) = &config.http {
        sinks.push(Sink::Http(HttpSink::new(http)?));
    }
    Ok(sinks)
}
