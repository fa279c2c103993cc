//! A TCP proxy a test can cut: the worker talks to Postgres or RabbitMQ
//! through it, and the test breaks only its own connections (the shared
//! servers, and every other test, keep running).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Forwards 127.0.0.1:<port> to `target`. While cut, open connections are
/// dropped and new ones are accepted and closed at once (like a refusal).
pub struct Proxy {
    addr: SocketAddr,
    state: Arc<State>,
}

struct State {
    target: SocketAddr,
    cut: AtomicBool,
    /// Accept and hold new connections without a byte in answer (a broker
    /// too overloaded to answer the handshake).
    hang: AtomicBool,
    /// Held connections the client has not closed yet, and the most at once.
    held: AtomicU64,
    most_held: AtomicU64,
    /// Cancelled by `cut()`: ends every connection opened before it.
    generation: Mutex<CancellationToken>,
    stop: CancellationToken,
    accepted: AtomicU64,
    refused: AtomicU64,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(State {
            target,
            cut: AtomicBool::new(false),
            hang: AtomicBool::new(false),
            held: AtomicU64::new(0),
            most_held: AtomicU64::new(0),
            generation: Mutex::new(CancellationToken::new()),
            stop: CancellationToken::new(),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        tokio::spawn(accept_loop(listener, state.clone()));
        Proxy { addr, state }
    }

    /// A proxy in front of the server `url` names (`scheme://[user@]host:port/...`),
    /// and `url` rewritten to go through it.
    pub async fn in_front_of(url: &str) -> (Proxy, String) {
        let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
        let authority = after_scheme.split('/').next().unwrap_or_default();
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
        let target = tokio::net::lookup_host(host_port)
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .unwrap_or_else(|| panic!("cannot resolve `{host_port}` of {url}"));
        let proxy = Proxy::start(target).await;
        let rewritten = url.replacen(host_port, &format!("127.0.0.1:{}", proxy.port()), 1);
        (proxy, rewritten)
    }

    /// The port clients connect to instead of the target's.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Drops every open connection and refuses new ones until `restore`.
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        let mut generation = self
            .state
            .generation
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        generation.cancel();
        *generation = CancellationToken::new();
    }

    /// From now on, accepts connections and holds them without answering
    /// (open ones are dropped), until `restore`.
    pub fn hang(&self) {
        self.state.hang.store(true, Ordering::SeqCst);
        self.cut();
        self.state.cut.store(false, Ordering::SeqCst);
    }

    /// Forwards again (new connections; held ones stay held until their
    /// client closes them).
    pub fn restore(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
        self.state.hang.store(false, Ordering::SeqCst);
    }

    /// Held connections their client has not closed yet.
    pub fn held(&self) -> u64 {
        self.state.held.load(Ordering::SeqCst)
    }

    /// The most held connections open at once since the start.
    pub fn most_held(&self) -> u64 {
        self.state.most_held.load(Ordering::SeqCst)
    }

    /// Connections forwarded so far.
    pub fn accepted(&self) -> u64 {
        self.state.accepted.load(Ordering::Relaxed)
    }

    /// Connections refused while cut.
    pub fn refused(&self) -> u64 {
        self.state.refused.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stop.cancel();
        self.cut();
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let accepted = tokio::select! {
            () = state.stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((client, _)) = accepted else { continue };
        if state.cut.load(Ordering::SeqCst) {
            state.refused.fetch_add(1, Ordering::Relaxed);
            drop(client);
            continue;
        }
        if state.hang.load(Ordering::SeqCst) {
            let held = state.held.fetch_add(1, Ordering::SeqCst) + 1;
            state.most_held.fetch_max(held, Ordering::SeqCst);
            tokio::spawn(hold(client, state.clone()));
            continue;
        }
        state.accepted.fetch_add(1, Ordering::Relaxed);
        let generation = state
            .generation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        tokio::spawn(forward(client, state.target, generation));
    }
}

/// Reads and drops whatever the client sends, never answering, until the
/// client closes (or the proxy stops).
async fn hold(mut client: TcpStream, state: Arc<State>) {
    use tokio::io::AsyncReadExt;
    let mut sink = [0u8; 512];
    loop {
        tokio::select! {
            () = state.stop.cancelled() => break,
            read = client.read(&mut sink) => match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            },
        }
    }
    state.held.fetch_sub(1, Ordering::SeqCst);
}

async fn forward(mut client: TcpStream, target: SocketAddr, generation: CancellationToken) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        () = generation.cancelled() => {}
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
    }
    // Dropping both streams closes them: the client sees the connection end.
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn echo_once(port: u16) -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await?;
        Ok(buf.to_vec())
    }

    #[tokio::test]
    async fn forwards_cuts_and_restores() {
        let proxy = Proxy::start(echo_server().await).await;
        assert_eq!(echo_once(proxy.port()).await.expect("echo"), b"ping");

        // An open connection ends when cut.
        let mut open = TcpStream::connect(("127.0.0.1", proxy.port()))
            .await
            .expect("connect");
        open.write_all(b"x").await.expect("write");
        let mut one = [0u8; 1];
        open.read_exact(&mut one).await.expect("echoed");
        proxy.cut();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            open.read_to_end(&mut rest),
        )
        .await
        .expect("the cut ends the connection");
        assert!(read.map(|n| n == 0).unwrap_or(true));

        // New connections are closed at once while cut.
        assert!(echo_once(proxy.port()).await.is_err());
        assert!(proxy.refused() >= 1);

        proxy.restore();
        assert_eq!(echo_once(proxy.port()).await.expect("echo"), b"ping");
        assert_eq!(proxy.accepted(), 3);
    }
}
