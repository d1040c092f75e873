//! Serving a router on a bound listener until shutdown.
//!
//! `run` takes an already-bound listener (tests bind port 0 and read the address back; the bound
//! listener is the readiness signal) and a shutdown future, so the same code runs the binary and
//! the integration tests.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

/// Serve `router` on `listener` until `shutdown` resolves, then let in-flight requests finish for
/// at most `grace`.
pub async fn run(
    router: Router,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = tx.send(());
    };
    let serve = axum::serve(listener, router.into_make_service()).with_graceful_shutdown(signal);
    let serve = tokio::spawn(async move { serve.await });
    // Once shutdown starts, in-flight requests get `grace` to finish.
    let result = tokio::select! {
        r = serve => r.map_err(std::io::Error::other)?,
        _ = async { let _ = rx.await; tokio::time::sleep(grace).await } => {
            tracing::warn!("in-flight requests did not finish within {grace:?}; exiting anyway");
            Ok(())
        }
    };
    result
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
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
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
