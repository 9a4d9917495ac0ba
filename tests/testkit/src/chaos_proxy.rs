//! [`ChaosProxy`]: a loopback TCP forwarder that makes a link bad, for a client (one agent)
//! and a server (Consul) the test does not otherwise control. Every chunk is delayed by a
//! random time, some connections are reset mid-stream, and some new ones are refused. The
//! faults are drawn from a seeded generator, printed so a failing run can be replayed.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How bad the link is.
#[derive(Debug, Clone, Copy)]
pub struct Chaos {
    /// Upper bound of the delay added to each chunk, either way.
    pub max_delay: Duration,
    /// Per mille of chunks after which the connection is reset instead.
    pub reset_per_mille: u32,
    /// Per mille of new connections refused at once.
    pub refuse_per_mille: u32,
    /// Seed of the fault generator.
    pub seed: u64,
}

/// Forwards `127.0.0.1:<port>` to a target port through [`Chaos`]. Stops when dropped.
pub struct ChaosProxy {
    port: u16,
    accept: JoinHandle<()>,
}

/// xorshift64*: small, seeded, good enough to pick faults.
#[derive(Debug)]
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn per_mille(&mut self, p: u32) -> bool {
        self.next() % 1000 < u64::from(p)
    }

    fn delay(&mut self, max: Duration) -> Duration {
        let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX).max(1);
        Duration::from_millis(self.next() % max_ms)
    }
}

impl ChaosProxy {
    pub async fn start(target_port: u16, chaos: Chaos) -> Self {
        eprintln!("chaos proxy to port {target_port}: {chaos:?}");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("proxy bind: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("proxy addr: {e}"))
            .port();
        let dice = Arc::new(Mutex::new(Dice(chaos.seed | 1)));
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let refuse = dice
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .per_mille(chaos.refuse_per_mille);
                if refuse {
                    drop(client);
                    continue;
                }
                let dice = dice.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    // Either direction failing ends both: a reset is seen by both peers.
                    tokio::select! {
                        () = pipe(client_read, server_write, chaos, dice.clone()) => {}
                        () = pipe(server_read, client_write, chaos, dice) => {}
                    }
                });
            }
        });
        Self { port, accept }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn http_addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Copies `from` to `to` chunk by chunk, each delayed; stops at EOF, an error, or a reset.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    chaos: Chaos,
    dice: Arc<Mutex<Dice>>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let (delay, reset) = {
            let mut d = dice.lock().unwrap_or_else(PoisonError::into_inner);
            (d.delay(chaos.max_delay), d.per_mille(chaos.reset_per_mille))
        };
        tokio::time::sleep(delay).await;
        if reset {
            // Dropping both halves with data unread resets the connection.
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
