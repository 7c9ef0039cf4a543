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
    /// Operator commands on the database (reset positions, accounts, bot
    /// tokens, backups), whether the server runs or not.
    Admin(Box<locus::admin::AdminArgs>),
    /// Load generator: run many game-playing Socket.IO bots against a
    /// server and report latency, throughput and consistency.
    Bots(Box<locus::bots::BotsArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Admin commands print their own results; only warnings are logged.
    let default_level = match cli.command {
        Command::Admin(_) => "warn",
        Command::Serve(_) | Command::Bots(_) => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("LOCUS_LOG").unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    raise_fd_limit();
    match cli.command {
        Command::Serve(config) => serve(*config),
        Command::Admin(args) => locus::admin::run(*args),
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

/// The multi-threaded tokio runtime, or `None` after saying why it failed.
fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .inspect_err(|e| eprintln!("locus: cannot start the async runtime: {e}"))
        .ok()
}

fn bots(args: locus::bots::BotsArgs) -> ExitCode {
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
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
            args.max_p99_ms
                .map_or("none".to_owned(), |m| format!("{m} ms"))
        );
        ExitCode::FAILURE
    }
}

fn serve(config: locus::config::Config) -> ExitCode {
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    // Listen for signals before anything else: a SIGTERM that arrives while
    // the database opens must start a graceful stop, not kill the process.
    let signals = match runtime.block_on(async { Signals::install() }) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("locus: cannot listen for signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(locus::server::run(config, signals.shutdown())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("locus: {e}");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT and SIGTERM streams, registered once for the whole run so that no
/// signal is missed between the first and the second.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers (inside the runtime).
    fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Waits for either signal.
    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }

    /// Resolves on the first SIGINT or SIGTERM; a second one ends the process
    /// at once (the database stays consistent: every write is a transaction).
    async fn shutdown(mut self) {
        self.next().await;
        tracing::info!("shutting down (send the signal again to exit at once)");
        tokio::spawn(async move {
            self.next().await;
            tracing::warn!("second signal: exiting without waiting");
            std::process::exit(130);
        });
    }
}
