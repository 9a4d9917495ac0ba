//! Reading syslog back: a real rsyslog started per test on a free loopback port with its own
//! configuration (imtcp in, one JSON object per message out, fields as rsyslog parsed them),
//! and a parser for RFC 5424 structured data.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use shepard_testkit::{free_port, poll};

pub struct Rsyslog {
    child: Child,
    pub port: u16,
    pub out: PathBuf,
    _dir: tempfile::TempDir,
}

fn rsyslogd() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("rsyslogd"))
        .find(|p| p.is_file());
    on_path
        .or_else(|| Some(PathBuf::from("/usr/sbin/rsyslogd")).filter(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!(
                "rsyslogd is not installed: run `make test` (it installs Debian's rsyslog package)"
            )
        })
}

impl Rsyslog {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let out = dir.path().join("messages.jsonl");
        let conf = dir.path().join("rsyslog.conf");
        std::fs::write(&conf, config(dir.path(), port, &out)).unwrap();
        let log = std::fs::File::create(dir.path().join("rsyslogd.log")).unwrap();
        let mut child = Command::new(rsyslogd())
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.path().join("rsyslogd.pid"))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        poll::until(
            "rsyslogd listening",
            Duration::from_secs(20),
            Duration::from_millis(20),
            || {
                if let Ok(Some(status)) = child.try_wait() {
                    let log = std::fs::read_to_string(dir.path().join("rsyslogd.log"))
                        .unwrap_or_default();
                    panic!("rsyslogd exited with {status}: {log}");
                }
                std::net::TcpStream::connect(("127.0.0.1", port)).ok()
            },
        );
        Self {
            child,
            port,
            out,
            _dir: dir,
        }
    }

    /// The messages written so far, one JSON object each.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(dir: &Path, port: u16, out: &Path) -> String {
    format!(
        r#"global(workDirectory="{dir}" maxMessageSize="64k")
module(load="imtcp")
template(name="fields" type="list" option.jsonf="on") {{
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app_name" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="severity" name="syslogseverity-text" format="jsonf")
  property(outname="facility" name="syslogfacility-text" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="structured_data" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}}
ruleset(name="from_shepard") {{
  action(type="omfile" file="{out}" template="fields")
}}
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="from_shepard")
"#,
        dir = dir.display(),
        out = out.display(),
    )
}

/// Parses RFC 5424 structured data `[id name="value" …]…` into (id, params) per element,
/// undoing the escapes of `"`, `\` and `]`.
pub fn parse_structured_data(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut elements = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        assert_eq!(c, '[', "an element starts with [: {text}");
        let mut id = String::new();
        while let Some(&c) = chars.peek() {
            if c == ' ' || c == ']' {
                break;
            }
            id.push(c);
            chars.next();
        }
        let mut params = Vec::new();
        loop {
            match chars.next() {
                Some(']') => break,
                Some(' ') => {}
                other => panic!("unexpected {other:?} in {text}"),
            }
            let mut name = String::new();
            for c in chars.by_ref() {
                if c == '=' {
                    break;
                }
                name.push(c);
            }
            assert_eq!(chars.next(), Some('"'), "{text}");
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some('\\') => {
                        let next = chars.next().unwrap();
                        if !matches!(next, '"' | '\\' | ']') {
                            value.push('\\');
                        }
                        value.push(next);
                    }
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => panic!("unterminated value in {text}"),
                }
            }
            params.push((name, value));
        }
        elements.push((id, params));
    }
    elements
}
