//! The binary's roles, wired from the command line: `weir server`, `weir models serve` and
//! `weir db upgrade`. Each builds its state and router from its arguments; [`listen`] binds,
//! serves and shuts down the same way for both servers.

pub mod db;
pub mod serve;
pub mod server;

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;

use crate::config::{Cli, Command, DbCommand, ModelsCommand};

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
    }
}

/// Bind `host:port`, call `bound` with the address (the readiness log line), then serve `router`
/// until SIGTERM or Ctrl-C: `stopping` runs first (readiness turns 503); after SIGTERM the server
/// goes on answering for `limits.shutdown_delay` (the drain), then closes its listener and gives
/// in-flight requests `limits.shutdown_grace`.
pub async fn listen<F>(
    host: &str,
    port: u16,
    router: Router,
    limits: crate::server::Limits,
    bound: impl FnOnce(SocketAddr),
    stopping: F,
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
        match signal {
            crate::server::Signal::Terminate => delay,
            crate::server::Signal::Interrupt => std::time::Duration::ZERO,
        }
    };
    crate::server::run(router, listener, shutdown, limits).await?;
    tracing::info!("stopped");
    Ok(())
}
