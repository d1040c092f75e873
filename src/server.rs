//! Serving a router on a bound listener until shutdown, with every connection bounded.
//!
//! `run` takes an already-bound listener (tests bind port 0 and read the address back; the bound
//! listener is the readiness signal) and a shutdown future, so the same code runs the binary and
//! the integration tests.
//!
//! Each connection is held to [`Limits`]: at most `max_connections` are open at once (further
//! clients wait in the kernel's backlog, so a flood of idle sockets cannot exhaust descriptors or
//! memory); a client must send a complete request head within `header_read_timeout` of connecting
//! or of starting a request (slowloris); an idle keep-alive connection is closed after
//! `keep_alive_timeout`. The peer address reaches handlers as axum's `ConnectInfo`, for the
//! trusted-proxy check.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tower::ServiceExt;

/// Bounds on connections (from `HttpArgs`).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Time to send a complete request head, from connecting or from its first byte.
    pub header_read_timeout: Duration,
    /// Time an idle keep-alive connection stays open.
    pub keep_alive_timeout: Duration,
    /// After shutdown starts, how long to keep accepting and answering (each answer closing its
    /// connection) before the listener closes: load balancers stop routing here meanwhile.
    pub shutdown_delay: Duration,
    /// Once the listener is closed, how long in-flight requests may take to finish.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            shutdown_delay: Duration::ZERO,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// What one connection is doing, shared by its socket wrapper, its service and its watchdog.
struct Activity {
    /// When the connection was accepted; the clocks below count milliseconds from here.
    epoch: Instant,
    /// Requests being answered now.
    in_flight: AtomicUsize,
    /// When the current request head started to arrive (ms since epoch, +1; 0 = not reading one).
    head_since: AtomicU64,
    /// When the last answer was handed to hyper (ms since epoch).
    last_done: AtomicU64,
    /// Wakes the watchdog when a head starts (its deadline moves closer).
    wake: Notify,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            // A fresh connection owes us a request head.
            head_since: AtomicU64::new(1),
            last_done: AtomicU64::new(0),
            wake: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Bytes arrived: when nothing is in flight, a new request head is starting.
    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.head_since.load(Ordering::Acquire) == 0
        {
            self.head_since.store(self.now_ms() + 1, Ordering::Release);
            self.wake.notify_one();
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Release);
    }

    fn request_done(&self) {
        self.last_done.store(self.now_ms(), Ordering::Release);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// What the watchdog should do now, given the limits.
    fn verdict(&self, limits: &Limits) -> Verdict {
        let now = self.now_ms();
        let head = self.head_since.load(Ordering::Acquire);
        if head != 0 {
            let deadline = head - 1 + limits.header_read_timeout.as_millis() as u64;
            return if now >= deadline {
                Verdict::Cut
            } else {
                Verdict::WaitMs(deadline - now)
            };
        }
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Verdict::WaitMs(limits.keep_alive_timeout.as_millis() as u64);
        }
        let deadline =
            self.last_done.load(Ordering::Acquire) + limits.keep_alive_timeout.as_millis() as u64;
        if now >= deadline {
            Verdict::CloseIdle
        } else {
            Verdict::WaitMs(deadline - now)
        }
    }
}

enum Verdict {
    /// The request head is overdue: drop the connection.
    Cut,
    /// Idle for too long: close it gracefully.
    CloseIdle,
    WaitMs(u64),
}

/// A TCP stream that reports reads to its connection's [`Activity`].
struct WatchedIo {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        r
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Marks a request done when its response future finishes or is dropped.
struct DoneGuard(Arc<Activity>);

impl Drop for DoneGuard {
    fn drop(&mut self) {
        self.0.request_done();
    }
}

/// Serve `router` on `listener` until shutdown: `shutdown` resolves when it begins, with how long
/// to go on serving (the drain: new connections are still accepted and every answer carries
/// `Connection: close`); then the listener closes and in-flight requests get at most
/// `limits.shutdown_grace` to finish.
pub async fn run(
    router: Router,
    listener: TcpListener,
    shutdown: impl Future<Output = Duration> + Send + 'static,
    limits: Limits,
) -> std::io::Result<()> {
    let draining = Arc::new(AtomicBool::new(false));
    let shutdown = {
        let draining = draining.clone();
        async move {
            let delay = shutdown.await;
            draining.store(true, Ordering::Release);
            if !delay.is_zero() {
                tracing::info!(
                    "draining: still answering for {delay:?}, each answer closing its connection"
                );
                tokio::time::sleep(delay).await;
            }
            tracing::info!("listener closed; finishing in-flight requests");
        }
    };
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let limits = Arc::new(limits);
    let builder = Arc::new(hyper_util::server::conn::auto::Builder::new(
        TokioExecutor::new(),
    ));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: pause, go on.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(WatchedIo {
            inner: stream,
            activity: activity.clone(),
        });
        let router = router.clone();
        let service_activity = activity.clone();
        let service_draining = draining.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
            service_activity.request_started();
            let guard = DoneGuard(service_activity.clone());
            req.extensions_mut().insert(ConnectInfo(peer));
            let router = router.clone();
            let draining = service_draining.clone();
            // HTTP/2 has no Connection header (GOAWAY ends it at the close instead).
            let http1 = req.version() <= hyper::Version::HTTP_11;
            async move {
                let mut resp = router.oneshot(req).await;
                if http1 && draining.load(Ordering::Acquire) {
                    if let Ok(r) = resp.as_mut() {
                        r.headers_mut().insert(
                            axum::http::header::CONNECTION,
                            axum::http::HeaderValue::from_static("close"),
                        );
                    }
                }
                drop(guard);
                resp
            }
        });
        let builder = builder.clone();
        let limits = limits.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let conn = builder.serve_connection_with_upgrades(io, service);
            tokio::pin!(conn);
            let mut closing = false;
            loop {
                let wait = match activity.verdict(&limits) {
                    Verdict::Cut => {
                        tracing::debug!(%peer, "request head not received in time; closing");
                        break;
                    }
                    Verdict::CloseIdle if !closing => {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                        Duration::from_millis(limits.header_read_timeout.as_millis() as u64)
                    }
                    Verdict::CloseIdle => break,
                    Verdict::WaitMs(ms) => Duration::from_millis(ms.max(10)),
                };
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(%peer, "connection ended: {e}");
                        }
                        break;
                    }
                    _ = stop.changed(), if !closing => {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    () = activity.wake.notified() => {}
                    () = tokio::time::sleep(wait) => {}
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // In-flight connections return their permits as they finish.
    let all = limits.max_connections as u32;
    let drained = tokio::time::timeout(limits.shutdown_grace, permits.acquire_many(all)).await;
    if drained.is_err() {
        tracing::warn!(
            "in-flight requests did not finish within {:?}; exiting anyway",
            limits.shutdown_grace
        );
    }
    Ok(())
}

/// The peer address of a request, when it came through [`run`].
pub fn peer_addr(req: &axum::http::request::Parts) -> Option<SocketAddr> {
    req.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

/// The signal that started a shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Ctrl-C (SIGINT): someone at a terminal; stop without the drain delay.
    Interrupt,
    /// SIGTERM: an orchestrator; drain first.
    Terminate,
}

/// Resolves on SIGTERM or Ctrl-C, saying which.
pub async fn shutdown_signal() -> Signal {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    let signal = tokio::select! {
        _ = ctrl_c => Signal::Interrupt,
        _ = term => Signal::Terminate,
    };
    tracing::info!(
        ?signal,
        "shutdown signal received; readiness now answers 503"
    );
    signal
}
