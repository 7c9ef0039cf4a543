//! Issue 3: the official socket.io-client (Node, from tests/node_modules)
//! plays the game end to end against the in-process server on 127.0.0.1:0:
//! `tests/js/game_official_client.mjs` connects two players with
//! `auth: {token}`, checks `welcome`, `enter`, a `move` seen by the other
//! player, the mover's ack, and `leave` after a disconnect.
//!
//! Skips (prints why) when node or tests/node_modules is missing, except in
//! CI where that fails.

mod support;

use support::server::LocusServer;

/// Runs the script in `mode`; with `tokens_from_rust`, the accounts are made
/// here and their tokens passed, otherwise the script registers them itself.
async fn play(mode: &str, tokens_from_rust: bool) {
    if !support::tools::node_modules_ready() {
        return;
    }
    let server = LocusServer::start().await;
    let url = server.url("");
    let mut args = vec![url, mode.to_owned()];
    if tokens_from_rust {
        args.push(server.account("alice").await.1);
        args.push(server.account("bob").await.1);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = support::tools::run_node("game_official_client.mjs", &args).await;
    assert!(out.contains(&format!("ok game {mode}")), "{out}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_client_with_default_transports_registers_and_plays() {
    play("default", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_client_over_websocket_plays_with_given_tokens() {
    play("websocket", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_client_over_polling_plays() {
    play("polling", true).await;
}
