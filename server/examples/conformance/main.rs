//! The conformance example server expected by the official Engine.IO and
//! Socket.IO protocol test suites (`test-suite.js` in
//! socketio/engine.io-protocol and socketio/socket.io-protocol).
//!
//! `cargo run --release --example conformance -- --layer engineio|socketio [--port 3000] [--parser json|msgpack]`
//!
//! Only parses arguments, binds 127.0.0.1 and waits for Ctrl-C / SIGTERM;
//! each layer's server lives in its own file.

mod engineio_echo;
mod socketio_echo;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use tokio::net::TcpListener;

/// Command line of the conformance server.
#[derive(Debug, Parser)]
#[command(about = "Echo server for the official Engine.IO / Socket.IO protocol test suites")]
struct Args {
    /// Which protocol layer to serve.
    #[arg(long, value_enum)]
    layer: Layer,
    /// TCP port on 127.0.0.1.
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Socket.IO packet format (`--layer socketio` only); the suites' msgpack
    /// variants need `msgpack`.
    #[arg(long, value_enum, default_value_t = ParserArg::Json)]
    parser: ParserArg,
}

/// The Socket.IO parsers.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ParserArg {
    /// socket.io-parser (JSON text).
    Json,
    /// socket.io-msgpack-parser.
    Msgpack,
}

/// The protocol layers the suites test.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Layer {
    /// Plain Engine.IO at `/engine.io/`, echoing every message.
    Engineio,
    /// Socket.IO at `/socket.io/` with namespaces `/` and `/custom`.
    Socketio,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let listener = TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
    tracing::info!(layer = ?args.layer, addr = %listener.local_addr()?, "conformance server listening");
    match args.layer {
        Layer::Engineio => engineio_echo::serve(listener, shutdown_signal()).await?,
        Layer::Socketio => {
            let parser = match args.parser {
                ParserArg::Json => locus::socketio::Parser::Json,
                ParserArg::Msgpack => locus::socketio::Parser::MsgPack,
            };
            socketio_echo::serve_with_parser(listener, parser, shutdown_signal()).await?
        }
    }
    tracing::info!("conformance server stopped");
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
