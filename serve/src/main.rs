//! `tidings-serve` (also run as `tidings serve`): see `tidings-serve --help` and docs/serve.md.
//!
//! Exit codes: 0 after a graceful shutdown (SIGINT or SIGTERM), 1 when serving fails or
//! published events were lost at shutdown (the Redis backplane away), 2 when
//! the server cannot start (bad arguments or configuration, schemas with errors, an address
//! that cannot be listened on).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tidings_serve::config::Config;
use tidings_serve::Server;

/// The Tidings realtime server from the schema alone: WebSocket clients, and an HTTP publish
/// API for the app's backend in any language (docs/serve.md).
#[derive(Debug, Parser)]
#[command(name = "tidings serve", bin_name = "tidings serve", version)]
struct Args {
    /// Schema files or directories (default: `schemas` of the configuration, else `schemas`).
    schemas: Vec<PathBuf>,
    /// The configuration file (TOML; every key optional, flags override it).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Where to listen (default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// A Redis URL: several nodes share rooms, presence and delivery streams through it.
    #[arg(long)]
    redis: Option<String>,
}

/// Exit code: serving failed.
const EXIT_FAILED: u8 = 1;
/// Exit code: the server could not start.
const EXIT_CANNOT_START: u8 = 2;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_CANNOT_START)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_CANNOT_START);
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let mut config = match &args.config {
        Some(path) => match Config::load(path) {
            Ok(config) => config,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_CANNOT_START);
            }
        },
        None => Config::default(),
    };
    if !args.schemas.is_empty() {
        config.schemas = args.schemas;
    } else if config.schemas.is_empty() {
        config.schemas = vec![PathBuf::from("schemas")];
    }
    if args.listen.is_some() {
        config.listen = args.listen;
    }
    if args.redis.is_some() {
        config.redis = args.redis;
    }
    let server = match Server::new(&config) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CANNOT_START);
        }
    };
    let listen = config.listen();
    let listener = match tidings::listen(listen, tidings::DEFAULT_BACKLOG).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return ExitCode::from(EXIT_CANNOT_START);
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!(
            "tidings serve: {} event{}; listening on http://{addr} (WebSocket {}, POST /api/publish)",
            server.event_count(),
            if server.event_count() == 1 { "" } else { "s" },
            config.ws_path().unwrap_or_default()
        ),
        Err(e) => eprintln!("warning: {e}"),
    }
    match server.serve(listener, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = ctrl_c.await;
            return;
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
