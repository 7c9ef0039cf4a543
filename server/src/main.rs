//! The `locus` binary: parses the command line, sets up logging and calls
//! the library. No game or protocol logic lives here.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Locus: a multiplayer game-world position server speaking Socket.IO.
#[derive(Parser)]
#[command(name = "locus", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the game server: HTTP API, Socket.IO, the world tick and the
    /// browser client, with the position database.
    Serve(Box<locus::config::Config>),
    /// Load generator: run many game-playing Socket.IO bots against a
    /// server and report latency, throughput and consistency.
    Bots(Box<locus::bots::BotsArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("LOCUS_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    raise_fd_limit();
    match cli.command {
        Command::Serve(config) => serve(*config),
        Command::Bots(args) => bots(*args),
    }
}

/// Raises the soft open-file limit to the hard one: every connection is a
/// file descriptor, and the usual soft default (1024) is far below what a
/// server or the load generator holds.
fn raise_fd_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open file limit"),
    }
}

fn bots(args: locus::bots::BotsArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("locus: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = match runtime.block_on(locus::bots::run(&args)) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("locus bots: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The report is this command's output: stdout, not the log.
    print!("{report}");
    if let Some(path) = &args.json {
        let written = serde_json::to_vec_pretty(&report)
            .map_err(anyhow::Error::from)
            .and_then(|json| std::fs::write(path, json).map_err(anyhow::Error::from));
        if let Err(e) = written {
            eprintln!("locus bots: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if locus::bots::report_passes(&report, args.max_p99_ms) {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "locus bots: FAILED ({} consistency errors, move ack p99 {:.1} ms, limit {})",
            report.consistency_errors,
            report.move_ack.p99_ms,
            args.max_p99_ms.map_or("none".to_owned(), |m| format!("{m} ms"))
        );
        ExitCode::FAILURE
    }
}

fn serve(config: locus::config::Config) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("locus: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(locus::net::server::run(config, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("locus: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on the first SIGINT or SIGTERM; a second one ends the process at
/// once (the database stays consistent: every write is a transaction).
async fn shutdown_signal() {
    wait_for_signal().await;
    tracing::info!("shutting down (send the signal again to exit at once)");
    tokio::spawn(async {
        wait_for_signal().await;
        tracing::warn!("second signal: exiting without waiting");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
