//! Free loopback ports for fixtures that must be told their port up front.

use std::net::TcpListener;

/// A TCP port on 127.0.0.1 that was free a moment ago. The OS hands out ephemeral ports in
/// sequence, so a port just released is not handed out again soon; good enough for fixtures.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}
