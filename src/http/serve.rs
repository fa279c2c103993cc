//! The one HTTP server loop behind every listener (API and dashboard, the
//! worker's health and metrics), with what `axum::serve` lacks: a header-read
//! timeout (slowloris), a body-read timeout (slow bodies: 408, and the
//! connection is closed), a request timeout, an idle keep-alive timeout and
//! a connection cap. At the cap, the oldest connection that is not working
//! on an answer (idle, still dribbling its head, or still sending its body)
//! is closed to make room, so a flood of half-sent requests cannot lock a
//! normal client out.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use crate::config::HttpLimits;

/// Connections the kernel may hold finished but not yet accepted (it caps
/// this at `net.core.somaxconn`). Tokio's default of 1,024 is below the
/// connection cap plus a flood: a full queue drops a normal client's SYN
/// and it waits a full second to retry.
const ACCEPT_BACKLOG: u32 = 4096;

/// Binds a listener for [`serve_with`], with room in the accept queue.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// What a request that outlived `request_timeout` is answered with.
pub type TimeoutAnswer = Arc<dyn Fn() -> Response + Send + Sync>;

/// A plain 503 for listeners without an error body of their own.
pub fn plain_timeout_answer() -> TimeoutAnswer {
    Arc::new(|| {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the request took too long\n",
        )
            .into_response()
    })
}

/// Serves `router` on `listener` with the default limits until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_with(
        listener,
        router,
        HttpLimits::default(),
        plain_timeout_answer(),
        shutdown,
    )
    .await
}

/// Where a connection stands, as the cap sees it: no request (idle, or a
/// head still arriving), a request whose body is still arriving, or a
/// request being answered. Only the last is never closed to make room.
const IDLE: u8 = 0;
const RECEIVING: u8 = 1;
const WORKING: u8 = 2;

/// One open connection, as the cap sees it.
struct Conn {
    /// `IDLE`, `RECEIVING` or `WORKING`.
    phase: Arc<AtomicU8>,
    close: CancellationToken,
}

/// The open connections, oldest first (ids grow).
#[derive(Default)]
struct Conns {
    next_id: u64,
    open: BTreeMap<u64, Conn>,
}

impl Conns {
    /// Closes the oldest connection that is not working on an answer (idle,
    /// still sending its head, or still sending its body).
    fn evict_one(&mut self) -> bool {
        let victim = self
            .open
            .iter()
            .find(|(_, c)| c.phase.load(Ordering::Acquire) != WORKING)
            .map(|(id, _)| *id);
        match victim.and_then(|id| self.open.remove(&id)) {
            Some(conn) => {
                conn.close.cancel();
                true
            }
            None => false,
        }
    }
}

/// Serves `router` on `listener` under `limits` until `shutdown`, then
/// lets requests in progress finish.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    on_timeout: TimeoutAnswer,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let conns = Arc::new(Mutex::new(Conns::default()));
    // One permit per open socket, held until the socket is closed (not
    // merely told to close): the cap counts file descriptors, so a flood
    // cannot outrun the evictions.
    let sockets = Arc::new(Semaphore::new(limits.max_connections));
    let tracker = TaskTracker::new();
    let mut evicted = 0u64;
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors or a reset before accept: wait
                    // a moment instead of spinning; the listener stays up.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let permit = match sockets.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let made_room = conns.lock().unwrap_or_else(|p| p.into_inner()).evict_one();
                if !made_room {
                    // Every connection is mid-request: refuse the newcomer.
                    drop(stream);
                    continue;
                }
                evicted += 1;
                if evicted.is_power_of_two() {
                    tracing::warn!(
                        evicted,
                        max = limits.max_connections,
                        "at the connection cap: closing idle or slow connections"
                    );
                }
                // The evicted socket closes in a moment and hands back its permit.
                tokio::select! {
                    permit = sockets.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    _ = shutdown.cancelled() => break,
                }
            }
        };
        let (id, phase, close) = {
            let mut guard = conns.lock().unwrap_or_else(|p| p.into_inner());
            let id = guard.next_id;
            guard.next_id += 1;
            let conn = Conn {
                phase: Arc::new(AtomicU8::new(IDLE)),
                close: CancellationToken::new(),
            };
            let handles = (id, conn.phase.clone(), conn.close.clone());
            guard.open.insert(id, conn);
            handles
        };
        let _ = stream.set_nodelay(true);
        let conns = conns.clone();
        let router = router.clone();
        let limits = limits.clone();
        let on_timeout = on_timeout.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            serve_connection(stream, router, &limits, on_timeout, phase, close, shutdown).await;
            conns
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .open
                .remove(&id);
            // The socket is closed (dropped with the connection): room for one more.
            drop(permit);
        });
    }
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// Marks a request in progress (`RECEIVING` while its body arrives, then
/// `WORKING`); on drop, the connection is idle from now.
struct Busy {
    phase: Arc<AtomicU8>,
    last: Arc<Mutex<Instant>>,
}

impl Busy {
    fn begin(phase: &Arc<AtomicU8>, last: &Arc<Mutex<Instant>>, has_body: bool) -> Busy {
        phase.store(
            if has_body { RECEIVING } else { WORKING },
            Ordering::Release,
        );
        Busy {
            phase: phase.clone(),
            last: last.clone(),
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.phase.store(IDLE, Ordering::Release);
    }
}

/// A request's body that tells the connection when it has all arrived
/// (`RECEIVING` to `WORKING`). A handler that drops the body unread is
/// working on its answer too.
struct TrackedBody {
    inner: Incoming,
    phase: Arc<AtomicU8>,
}

impl TrackedBody {
    fn arrived(&self) {
        let _ =
            self.phase
                .compare_exchange(RECEIVING, WORKING, Ordering::AcqRel, Ordering::Acquire);
    }
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if ended {
            this.arrived();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        self.arrived();
    }
}

/// Resolves once `deadline` passed with the body still arriving; never if
/// it arrived in time.
async fn body_overdue(phase: Arc<AtomicU8>, deadline: Instant) {
    tokio::time::sleep_until(deadline).await;
    if phase.load(Ordering::Acquire) != RECEIVING {
        std::future::pending::<()>().await;
    }
}

/// The answer to a body that did not arrive within `HTTP_BODY_READ_TIMEOUT`:
/// 408, and the connection is closed (what is left of the body is never read).
fn body_timeout_answer() -> Response {
    (
        StatusCode::REQUEST_TIMEOUT,
        [(header::CONNECTION, "close")],
        "the request body did not arrive in time\n",
    )
        .into_response()
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    router: Router,
    limits: &HttpLimits,
    on_timeout: TimeoutAnswer,
    phase: Arc<AtomicU8>,
    close: CancellationToken,
    shutdown: CancellationToken,
) {
    let last = Arc::new(Mutex::new(Instant::now()));
    let request_timeout = limits.request_timeout;
    let body_read_timeout = limits.body_read_timeout;
    let service = {
        let (phase, last) = (phase.clone(), last.clone());
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let begun = Instant::now();
            let guard = Busy::begin(&phase, &last, !request.body().is_end_stream());
            let request = request.map(|inner| TrackedBody {
                inner,
                phase: phase.clone(),
            });
            let answer = router.clone().oneshot(request);
            let overdue = body_overdue(phase.clone(), begun + body_read_timeout);
            let on_timeout = on_timeout.clone();
            async move {
                let response = tokio::select! {
                    answered = tokio::time::timeout(request_timeout, answer) => match answered {
                        Ok(Ok(response)) => response,
                        Ok(Err(never)) => match never {},
                        Err(_) => on_timeout(),
                    },
                    // The handler (still waiting for the body) is dropped.
                    _ = overdue => body_timeout_answer(),
                };
                drop(guard);
                Ok::<_, std::convert::Infallible>(response)
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut closing = false;
    let mut next_check = Instant::now() + limits.idle_timeout;
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            // Evicted at the cap: drop the connection (closes the socket).
            _ = close.cancelled() => return,
            _ = shutdown.cancelled(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep_until(next_check), if !closing => {
                let idle_since = *last.lock().unwrap_or_else(|p| p.into_inner());
                if phase.load(Ordering::Acquire) != IDLE {
                    // A request is in progress (its body has its own deadline).
                    next_check = Instant::now() + limits.idle_timeout;
                } else if idle_since.elapsed() >= limits.idle_timeout {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                } else {
                    next_check = idle_since + limits.idle_timeout;
                }
            }
        }
    }
}
