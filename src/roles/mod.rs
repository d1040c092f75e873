//! The binary's roles, wired from the command line: `weir server`, `weir models serve`,
//! `weir db upgrade`, `weir db import` and `weir auth import`. Each builds its state and router
//! from its arguments; [`listen`] binds, serves and shuts down the same way for both servers.

pub mod auth;
pub mod db;
pub mod serve;
pub mod server;

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{AuthCommand, Cli, Command, DbCommand, ModelsCommand};

/// Run the subcommand chosen on the command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Server(args) => server::run(args).await,
        Command::Models {
            command: ModelsCommand::Serve(args),
        } => serve::run(args).await,
        Command::Db {
            command: DbCommand::Upgrade { backend_store_uri },
        } => db::upgrade(&backend_store_uri).await,
        Command::Db {
            command: DbCommand::Import(args),
        } => db::import(&args).await,
        Command::Auth {
            command: AuthCommand::Import(args),
        } => auth::import(&args).await,
    }
}

/// Bind `host:port`, call `bound` with the address (the readiness log line), then serve `router`
/// until SIGTERM or Ctrl-C: `stopping` runs first (readiness turns 503); after SIGTERM the server
/// goes on answering for `limits.shutdown_delay` (the drain), then closes its listener and gives
/// in-flight requests `limits.shutdown_grace`. `stopped` is cancelled when the listener closes,
/// so a server beside it (gRPC) stops at the same moment.
pub async fn listen<F>(
    host: &str,
    port: u16,
    router: Router,
    limits: crate::server::Limits,
    bound: impl FnOnce(SocketAddr),
    stopping: F,
    stopped: CancellationToken,
) -> anyhow::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let addr = crate::config::socket_addr(host, port)?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    bound(listener.local_addr()?);
    let delay = limits.shutdown_delay;
    let shutdown = async move {
        let signal = crate::server::shutdown_signal().await;
        stopping.await;
        let delay = match signal {
            crate::server::Signal::Terminate => delay,
            crate::server::Signal::Interrupt => std::time::Duration::ZERO,
        };
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            stopped.cancel();
        });
        delay
    };
    crate::server::run(router, listener, shutdown, limits).await?;
    tracing::info!("stopped");
    Ok(())
}

/// With `--grpc-port`, bind it on `host` (before HTTP, so a port in use stops the start) and
/// serve KServe's gRPC service there until `stop` is cancelled; the handle ends once it drained.
pub async fn start_grpc(
    host: &str,
    port: Option<u16>,
    scoring: crate::api::serving::HttpState,
    limits: crate::server::Limits,
    stop: CancellationToken,
) -> anyhow::Result<Option<JoinHandle<anyhow::Result<()>>>> {
    let Some(port) = port else {
        return Ok(None);
    };
    let addr = crate::config::socket_addr(host, port)?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the gRPC port {addr} (--grpc-port)"))?;
    tracing::info!(
        "serving gRPC on {} (inference.GRPCInferenceService, grpc.health.v1.Health)",
        listener.local_addr()?
    );
    Ok(Some(tokio::spawn(crate::api::grpc::serve(
        listener, scoring, limits, stop,
    ))))
}

/// Wait for the gRPC server started by [`start_grpc`] to finish draining.
pub async fn join_grpc(grpc: Option<JoinHandle<anyhow::Result<()>>>) -> anyhow::Result<()> {
    match grpc {
        Some(task) => task.await.context("the gRPC server task")?,
        None => Ok(()),
    }
}
