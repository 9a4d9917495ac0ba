//! A minimal blocking HTTP/1.0 GET over loopback, so fixtures can probe a server without
//! depending on an async runtime (they are used from sync and async tests alike).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Status code and body of `GET path` on `127.0.0.1:port`, or `None` when nothing answered.
pub fn get(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let auth = token.map_or(String::new(), |t| format!("X-Consul-Token: {t}\r\n"));
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{auth}\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}
