//! Free loopback ports for fixtures that must be told their port up front.

use std::net::TcpListener;

/// A TCP port on 127.0.0.1 that was free a moment ago. Another process may take it before
/// the fixture binds it: fixtures that start servers retry with new ports.
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// `n` distinct free ports: all are held at once while they are picked, so the OS cannot hand
/// out the same port twice.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| {
            TcpListener::bind("127.0.0.1:0")
                .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
        })
        .collect();
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .map(|a| a.port())
                .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
        })
        .collect()
}
