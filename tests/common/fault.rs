//! A TCP fault proxy: a real server behind it, and the faults a real server cannot be made
//! to show on demand in front. It serves one client connection at a time (as a server with
//! a single backend does: the next connection is accepted by the kernel and left
//! unanswered), stalls a connection when the client sends a given marker (a statement the
//! server never answers, a cancel it never honours), cuts a connection a given number of
//! bytes after a marker (a connection dropped mid-result or mid-COPY), or dies whole.
//!
//! Markers are looked for in what the client sends, so the traffic must be plain (no TLS).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A PostgreSQL CancelRequest's length and code, the first 8 bytes of the request.
pub const PG_CANCEL_REQUEST: &[u8] = &[0, 0, 0, 16, 0x04, 0xD2, 0x16, 0x2E];

/// What the proxy does to the connections it relays.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Relay one client connection at a time; the others wait, accepted but unanswered.
    pub one_at_a_time: bool,
    /// When the client sends one of these, that connection goes silent both ways (held
    /// open, nothing relayed) until the client hangs up.
    pub stall_on: Vec<Vec<u8>>,
    /// When the client sends a marker, relay what holds it and then `n` more bytes in
    /// either direction, and close both sides.
    pub cut_on: Vec<(Vec<u8>, usize)>,
}

/// What the proxy saw, for assertions.
#[derive(Debug, Default)]
pub struct Seen {
    pub connections: AtomicUsize,
    pub stalls: AtomicUsize,
    pub cuts: AtomicUsize,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    pub seen: Arc<Seen>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts relaying 127.0.0.1:<free port> to `upstream` with `faults`.
    pub fn start(upstream: &str, faults: Faults) -> FaultProxy {
        let upstream: SocketAddr = upstream.parse().expect("upstream address");
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let seen = Arc::new(Seen::default());
        let counters = seen.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                addr_tx
                    .send(listener.local_addr().expect("addr"))
                    .expect("send");
                let faults = Arc::new(faults);
                let mut connections = tokio::task::JoinSet::new();
                loop {
                    let accepted = tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => accepted,
                    };
                    let Ok((client, _)) = accepted else { continue };
                    counters.connections.fetch_add(1, Ordering::SeqCst);
                    let relay = relay(client, upstream, faults.clone(), counters.clone());
                    if faults.one_at_a_time {
                        // The next accept waits until this connection ends.
                        tokio::select! {
                            _ = &mut stopped => break,
                            () = relay => {}
                        }
                    } else {
                        connections.spawn(relay);
                    }
                }
                // The listener and every connection go: the server is gone.
                connections.abort_all();
            });
        });
        FaultProxy {
            addr: addr_rx.recv().expect("proxy address"),
            seen,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Closes the listener and every connection at once, as a server that died.
    pub fn kill(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A connection's fate so far.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Relaying,
    Stalled,
    /// Cut after this many more bytes.
    Cutting(usize),
}

async fn relay(client: TcpStream, upstream: SocketAddr, faults: Arc<Faults>, seen: Arc<Seen>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let fate = Mutex::new(Fate::Relaying);
    // What may still pass on a cut connection; `None` once the connection must close.
    let pass = |n: usize| -> Option<usize> {
        let mut fate = fate.lock().expect("fate");
        match *fate {
            Fate::Relaying => Some(n),
            Fate::Stalled => Some(0),
            Fate::Cutting(0) => None,
            Fate::Cutting(left) => {
                let now = n.min(left);
                *fate = Fate::Cutting(left - now);
                Some(now)
            }
        }
    };
    let up = async {
        let mut buf = vec![0u8; 64 * 1024];
        let mut recent: Vec<u8> = Vec::new();
        loop {
            let n = match client_rx.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            // Markers may straddle reads: look in the tail of the last read too.
            recent.extend_from_slice(&buf[..n]);
            let keep = recent.len().saturating_sub(256);
            let mut whole = n;
            {
                let mut fate = fate.lock().expect("fate");
                if *fate == Fate::Relaying {
                    if faults.stall_on.iter().any(|m| contains(&recent, m)) {
                        *fate = Fate::Stalled;
                        seen.stalls.fetch_add(1, Ordering::SeqCst);
                    } else if let Some((_, after)) =
                        faults.cut_on.iter().find(|(m, _)| contains(&recent, m))
                    {
                        *fate = Fate::Cutting(*after);
                        seen.cuts.fetch_add(1, Ordering::SeqCst);
                        // The marker's own chunk goes through whole.
                        whole = usize::MAX;
                    }
                }
            }
            recent.drain(..keep);
            let now = if whole == usize::MAX {
                Some(n)
            } else {
                pass(n)
            };
            match now {
                None => return,
                Some(0) => {}
                Some(k) => {
                    if server_tx.write_all(&buf[..k]).await.is_err() {
                        return;
                    }
                    if k < n {
                        return;
                    }
                }
            }
        }
    };
    let down = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_rx.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            match pass(n) {
                None => return,
                // Stalled: the server's answer is held back for good.
                Some(0) => std::future::pending::<()>().await,
                Some(k) => {
                    if client_tx.write_all(&buf[..k]).await.is_err() {
                        return;
                    }
                    if k < n {
                        return;
                    }
                }
            }
        }
    };
    // Either side ending ends the connection: both halves are dropped, both sockets close.
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
