//! [`TcpProxy`]: a loopback TCP forwarder that a test can cut, to simulate a network
//! partition between a client and a server it does not control (e.g. session renewals
//! that stop reaching Consul).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Forwards `127.0.0.1:<port>` to a target port until [`TcpProxy::block`] is called. Must be
/// created inside a tokio runtime; stops when dropped.
pub struct TcpProxy {
    port: u16,
    blocked: Arc<AtomicBool>,
    cut: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    pub async fn start(target_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("proxy bind: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("proxy addr: {e}"))
            .port();
        let blocked = Arc::new(AtomicBool::new(false));
        let (cut, cut_rx) = watch::channel(false);
        let accept_blocked = blocked.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if accept_blocked.load(Ordering::SeqCst) {
                    drop(client); // refused: the client sees the connection close at once
                    continue;
                }
                let mut cut_rx = cut_rx.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut_rx.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Self {
            port,
            blocked,
            cut,
            accept,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn http_addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Cuts every open connection and refuses new ones.
    pub fn block(&self) {
        self.blocked.store(true, Ordering::SeqCst);
        let _ = self.cut.send(true);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.block();
        self.accept.abort();
    }
}
