//! The syslog sink against a real rsyslog (Debian's package, started on a free loopback port
//! with its own configuration): rsyslog parses every message as RFC 5424 and its structured
//! data gives back the tags, escapes included. And the same over TLS, to a TLS receiver that
//! presents a certificate of the test CA.

#[path = "logship_support/mod.rs"]
mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use shepard::config::{LogsConfig, SyslogAddress, SyslogSink};
use shepard::logship::{LogMetrics, LogShipper, TaskLogs, sinks};
use shepard::tls::TlsConfig;
use shepard_testkit::poll;
use support::syslog::{Rsyslog, parse_structured_data};
use tokio::io::AsyncReadExt;

const TEAM: &str = r#"blue "sky" \ [x] y"#;

fn syslog_config(address: &str, tls: TlsConfig) -> LogsConfig {
    let mut config = support::logs_config();
    config.syslog = Some(SyslogSink {
        address: SyslogAddress::parse(address).unwrap(),
        tls,
    });
    config
}

fn write_task_files(log_dir: &Path, long_line: &str) {
    std::fs::create_dir_all(log_dir).unwrap();
    let stdout = format!("hello world\nunicode: grüße ✓\n{long_line}\n");
    std::fs::write(log_dir.join("web.stdout.0"), stdout).unwrap();
    std::fs::write(log_dir.join("web.stderr.0"), "an error\n").unwrap();
}

fn task(log_dir: &Path) -> TaskLogs {
    let mut tags = support::task_tags("alloc-1", "web", 2);
    tags.meta = vec![("team".into(), TEAM.into())];
    TaskLogs {
        log_dir: log_dir.to_path_buf(),
        tags,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_receives_rfc5424_whose_structured_data_gives_back_the_tags() {
    let rsyslog = Rsyslog::start();
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("alloc/logs");
    let long_line = "L".repeat(20 * 1024);
    write_task_files(&log_dir, &long_line);
    let config = syslog_config(
        &format!("tcp://127.0.0.1:{}", rsyslog.port),
        TlsConfig::default(),
    );
    let metrics = LogMetrics::unregistered();
    let handle = LogShipper::start(
        support::settings(config.clone(), &dir.path().join("state")),
        sinks::build(&config).unwrap(),
        metrics.clone(),
    )
    .unwrap();
    handle.track(task(&log_dir));

    let messages = poll::until(
        "five messages in rsyslog's output",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || {
            let messages = rsyslog.messages();
            (messages.len() >= 5).then_some(messages)
        },
    );
    handle.shutdown().await;
    assert_eq!(messages.len(), 5, "{messages:#?}");

    let mut stdout = Vec::new();
    for message in &messages {
        let stream = message["msgid"].as_str().unwrap();
        assert_eq!(message["hostname"], "node-1");
        assert_eq!(message["app_name"], "web");
        assert_eq!(message["procid"], "alloc-1");
        assert_eq!(message["facility"], "user");
        let severity = if stream == "stdout" { "info" } else { "err" };
        assert_eq!(message["severity"], severity, "{message}");

        let sd = parse_structured_data(message["structured_data"].as_str().unwrap());
        assert_eq!(sd.len(), 1, "{sd:?}");
        let (id, params) = &sd[0];
        assert_eq!(id, "shepard@32473");
        let expected = [
            ("node", "node-1"),
            ("datacenter", "dc1"),
            ("namespace", "default"),
            ("job", "web"),
            ("group", "frontend"),
            ("task", "web"),
            ("alloc_id", "alloc-1"),
            ("alloc_index", "2"),
            ("stream", stream),
            ("team", TEAM),
        ];
        let tags: Vec<(&str, &str)> = params
            .iter()
            .take(10)
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(tags, expected);
        let marks: Vec<(String, String)> = params.iter().skip(10).cloned().collect();
        let msg = message["msg"].as_str().unwrap().to_string();
        if stream == "stdout" {
            stdout.push((msg, marks));
        } else {
            assert_eq!(msg, "an error");
            assert!(marks.is_empty());
        }
    }
    let split = 16 * 1024;
    let marks = |part: &str, last: &str| {
        vec![
            ("split_part".to_string(), part.to_string()),
            ("split_last".to_string(), last.to_string()),
        ]
    };
    assert_eq!(
        stdout,
        vec![
            ("hello world".to_string(), vec![]),
            ("unicode: grüße ✓".to_string(), vec![]),
            (long_line[..split].to_string(), marks("1", "false")),
            (long_line[split..].to_string(), marks("2", "true")),
        ]
    );
    assert_eq!(metrics.lines_shipped("syslog"), 5);
    assert_eq!(metrics.ship_errors("syslog"), 0);
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/logship/tls")
        .join(name)
}

/// A TLS receiver with the fixture's certificate; returns its port and the bytes it received.
async fn tls_receiver() -> (u16, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls::{ServerConfig, crypto};

    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(fixture("server-key.pem")).unwrap();
    let config =
        ServerConfig::builder_with_provider(Arc::new(crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = tls.read(&mut buf).await {
                    if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, rx)
}

/// Splits octet-counted frames (`<len> <message>`).
fn frames(mut bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(space) = bytes.iter().position(|b| *b == b' ') {
        let len: usize = std::str::from_utf8(&bytes[..space])
            .unwrap()
            .parse()
            .unwrap();
        if bytes.len() < space + 1 + len {
            break;
        }
        out.push(String::from_utf8(bytes[space + 1..space + 1 + len].to_vec()).unwrap());
        bytes = &bytes[space + 1 + len..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_over_tls_verifies_the_receiver_against_the_ca_file() {
    let (port, mut received) = tls_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("alloc/logs");
    write_task_files(&log_dir, "short");
    let tls = TlsConfig {
        ca_file: Some(fixture("ca.pem")),
        server_name: Some("localhost".into()),
        ..TlsConfig::default()
    };
    let config = syslog_config(&format!("tls://127.0.0.1:{port}"), tls);
    let metrics = LogMetrics::unregistered();
    let handle = LogShipper::start_with_clock(
        support::settings(config.clone(), &dir.path().join("state")),
        sinks::build(&config).unwrap(),
        metrics.clone(),
        Arc::new(support::FixedClock),
    )
    .unwrap();
    handle.track(task(&log_dir));

    let mut bytes = Vec::new();
    let messages = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            bytes.extend(received.recv().await.unwrap());
            let messages = frames(&bytes);
            if messages.len() >= 4 {
                return messages;
            }
        }
    })
    .await
    .expect("four framed messages over TLS");
    handle.shutdown().await;
    let expected_start = r#"<14>1 2023-11-14T22:13:20.000000Z node-1 web alloc-1 stdout [shepard@32473 node="node-1" datacenter="dc1" namespace="default" job="web" group="frontend" task="web" alloc_id="alloc-1" alloc_index="2" stream="stdout" team="blue \"sky\" \\ [x\] y"] "#;
    let stdout: Vec<&String> = messages.iter().filter(|m| m.starts_with("<14>")).collect();
    assert_eq!(stdout[0], &format!("{expected_start}hello world"));
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("<11>1 ") && m.ends_with("] an error"))
    );
    assert_eq!(metrics.ship_errors("syslog"), 0);
}
