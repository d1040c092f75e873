//! `weir`: parse the command line, start logging, run the chosen role.

use clap::Parser;

// glibc's malloc showed as ~12% of a loaded serving process (small JSON and tensor buffers
// freed on other threads); mimalloc's thread-local free lists cut that (+~20% req/s). Its arenas
// are committed as used, not up front: see .cargo/config.toml.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = weir::config::Cli::parse();
    weir::telemetry::init_logging(cli.log.log_format, &cli.log.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(weir::roles::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
