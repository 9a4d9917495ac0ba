//! The `syslog` sink: RFC 5424 messages over TCP with octet-counting framing (RFC 6587
//! §3.4.1: `<length> <message>`), optionally in TLS (RFC 5425) — what rsyslog's `imtcp` and
//! syslog-ng's `network()`/`syslog()` sources take.
//!
//! A message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG` where PRI is facility
//! `user` with severity `info` for stdout and `err` for stderr, HOSTNAME the node, APP-NAME the
//! task, PROCID the allocation ID, MSGID the stream, and one structured-data element
//! `[shepard@32473 …]` holds every tag (plus `split_part`/`split_last` or `unterminated` on
//! cut lines). TCP has no acknowledgement: a batch counts as delivered once written to the
//! socket; a connection the receiver closed is noticed before writing and reopened.

use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::{TlsConnector, rustls};

use super::{SEND_TIMEOUT, SinkBuildError, SinkError, tls};
use crate::config::SyslogSink as SyslogConfig;
use crate::logship::batch::Batch;
use crate::logship::batch::LineRef;
use crate::logship::encode::TsCache;
use crate::logship::line::{LineMark, Stream};

/// The structured-data ID: `name@<private enterprise number>`; 32473 is the number RFC 5612
/// reserves for documentation and examples.
pub const SD_ID: &str = "shepard@32473";

/// Facility `user` (1).
const FACILITY_USER: u8 = 1;

pub struct SyslogSink {
    host: String,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    conn: Option<Conn>,
    ts: TsCache,
    buf: Vec<u8>,
    message: Vec<u8>,
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl SyslogSink {
    pub fn new(config: &SyslogConfig) -> Result<Self, SinkBuildError> {
        let tls = if config.address.tls {
            let err = |message| SinkBuildError::Tls {
                sink: "syslog",
                message,
            };
            let connector = tls::connector(&config.tls).map_err(err)?;
            let name = tls::server_name(&config.tls, &config.address.host).map_err(err)?;
            Some((connector, name))
        } else {
            None
        };
        Ok(Self {
            host: config.address.host.clone(),
            port: config.address.port,
            tls,
            conn: None,
            ts: TsCache::micros(),
            buf: Vec::new(),
            message: Vec::new(),
        })
    }

    pub async fn send(&mut self, batch: &Arc<Batch>) -> Result<(), SinkError> {
        self.buf.clear();
        for line in batch.lines() {
            self.message.clear();
            encode_message(&mut self.message, &line, &mut self.ts);
            self.buf
                .extend_from_slice(format!("{} ", self.message.len()).as_bytes());
            self.buf.extend_from_slice(&self.message);
        }
        let result = tokio::time::timeout(SEND_TIMEOUT, self.write_buf()).await;
        let result = result.unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()));
        result.map_err(|source| {
            self.conn = None;
            SinkError::Syslog {
                address: format!("{}:{}", self.host, self.port),
                source,
            }
        })
    }

    async fn write_buf(&mut self) -> std::io::Result<()> {
        if self.conn.as_ref().is_some_and(Conn::peer_closed) {
            self.conn = None;
        }
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        let conn = self.conn.insert(conn);
        match conn {
            Conn::Plain(s) => {
                s.write_all(&self.buf).await?;
                s.flush().await
            }
            Conn::Tls(s) => {
                s.write_all(&self.buf).await?;
                s.flush().await
            }
        }
    }

    async fn connect(&self) -> std::io::Result<Conn> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
        tcp.set_nodelay(true)?;
        match &self.tls {
            None => Ok(Conn::Plain(tcp)),
            Some((connector, name)) => {
                let stream = connector.connect(name.clone(), tcp).await?;
                Ok(Conn::Tls(Box::new(stream)))
            }
        }
    }
}

impl Conn {
    /// Whether the receiver closed the connection. A write into a closed connection would
    /// succeed locally and lose the batch, so this is checked first. Peeking does not consume
    /// what the peer sent (TLS session tickets stay for rustls).
    fn peer_closed(&self) -> bool {
        let tcp = match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref().0,
        };
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        let mut cx = Context::from_waker(Waker::noop());
        match tcp.poll_peek(&mut cx, &mut buf) {
            Poll::Pending => false,
            Poll::Ready(Ok(n)) => n == 0,
            Poll::Ready(Err(_)) => true,
        }
    }
}

/// Appends one RFC 5424 message (without framing).
pub fn encode_message(out: &mut Vec<u8>, line: &LineRef<'_>, ts: &mut TsCache) {
    let tags = &line.source.tags;
    let severity = match line.source.key.stream {
        Stream::Stdout => 6,
        Stream::Stderr => 3,
    };
    out.extend_from_slice(format!("<{}>1 ", FACILITY_USER * 8 + severity).as_bytes());
    out.extend_from_slice(ts.format(line.ts).as_bytes());
    for (value, max) in [
        (tags.get("node"), 255),
        (Some(&*line.source.key.task), 48),
        (Some(&*line.source.key.alloc_id), 128),
        (Some(line.source.key.stream.as_str()), 32),
    ] {
        out.push(b' ');
        header_field(out, value.unwrap_or(""), max);
    }
    out.extend_from_slice(b" [");
    out.extend_from_slice(SD_ID.as_bytes());
    for (name, value) in tags.pairs() {
        sd_param(out, name, value);
    }
    match line.mark {
        LineMark::Whole => {}
        LineMark::Split { part, last } => {
            sd_param(out, "split_part", &part.to_string());
            sd_param(out, "split_last", if last { "true" } else { "false" });
        }
        LineMark::Unterminated => sd_param(out, "unterminated", "true"),
    }
    out.extend_from_slice(b"] ");
    out.extend_from_slice(line.text);
}

/// A header field: printable US-ASCII only (others become `_`), at most `max` bytes, `-`
/// when empty (the NILVALUE).
fn header_field(out: &mut Vec<u8>, value: &str, max: usize) {
    if value.is_empty() {
        out.push(b'-');
        return;
    }
    out.extend(
        value
            .bytes()
            .take(max)
            .map(|b| if (33..=126).contains(&b) { b } else { b'_' }),
    );
}

/// ` name="value"`: names keep to what SD-NAME allows (printable US-ASCII but `=`, space,
/// `]`, `"`; at most 32), values escape `"`, `\` and `]` (RFC 5424 §6.3.3).
fn sd_param(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b' ');
    out.extend(name.bytes().take(32).map(|b| match b {
        b'=' | b' ' | b']' | b'"' => b'_',
        33..=126 => b,
        _ => b'_',
    }));
    out.extend_from_slice(b"=\"");
    for b in value.bytes() {
        if matches!(b, b'"' | b'\\' | b']') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sd_values_escape_quote_backslash_and_bracket() {
        let mut out = Vec::new();
        sd_param(&mut out, "team name=x", r#"a"b\c]d[e"#);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#" team_name_x="a\"b\\c\]d[e""#
        );
    }

    #[test]
    fn header_fields_are_printable_ascii_or_nil() {
        let mut out = Vec::new();
        header_field(&mut out, "web api✓", 48);
        out.push(b'|');
        header_field(&mut out, "", 48);
        out.push(b'|');
        header_field(&mut out, "abcdef", 3);
        assert_eq!(String::from_utf8(out).unwrap(), "web_api___|-|abc");
    }
}
