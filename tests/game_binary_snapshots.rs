//! Issue 11: binary snapshots end to end with the official socket.io-client
//! (Node, from tests/node_modules), with the JSON parser (one binary
//! attachment) and the msgpack parser (one `bin`):
//! `tests/js/game_binary_snapshots.mjs` connects a binary client next to a
//! JSON one and a walker, decodes every binary snapshot with the page's
//! decoder (`static/snapshot.js`), and checks both clients hold the same
//! walker at every tick they both received.
//!
//! Skips (prints why) when node or tests/node_modules is missing, except in
//! CI where that fails.

mod support;

use locus::config::ParserKind;
use support::server::LocusServer;

async fn play(parser: ParserKind, name: &str) {
    if !support::tools::node_modules_ready() {
        return;
    }
    let server = LocusServer::start_with(|c| c.parser = parser).await;
    let url = server.url("");
    let mut args = vec![url, name.to_owned()];
    for who in ["bin", "json", "walker"] {
        args.push(server.account(who).await.1);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = support::tools::run_node("game_binary_snapshots.mjs", &args).await;
    assert!(
        out.contains(&format!("ok binary snapshots {name}")),
        "{out}"
    );
    println!("{}", out.trim());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_client_gets_binary_snapshots_as_one_attachment() {
    play(ParserKind::Json, "json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_client_gets_binary_snapshots_as_one_msgpack_bin() {
    play(ParserKind::Msgpack, "msgpack").await;
}
