//! The bundled canvas client in a real browser (Debian's headless Chromium
//! driven by playwright-core) against a real `locus serve` process, once per
//! Socket.IO parser: two players see each other move, a reload restores the
//! position, a server restart shows "reconnecting" and recovers. The page
//! learns the parser from `/api/health`, so the same scenario must pass with
//! `--parser json` and `--parser msgpack`. Screenshots land in
//! `tests/output/e2e/<parser>/`. See `tests/e2e/browser.mjs`.

mod support;

/// One browser scenario at a time: two Chromiums and two servers at once
/// would only make both slower on a small machine.
static ONE_BROWSER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs the scenario of `tests/e2e/browser.mjs` against `locus serve --parser <parser>`.
async fn two_browsers_play_through_a_restart(parser: &str) {
    if !support::tools::node_modules_ready() {
        return;
    }
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let out_dir = support::tools::tests_dir().join("output/e2e").join(parser);
    let stdout = support::tools::run_node_file(
        "e2e/browser.mjs",
        &[
            "--locus",
            env!("CARGO_BIN_EXE_locus"),
            "--parser",
            parser,
            "--out",
            &out_dir.to_string_lossy(),
        ],
    )
    .await;
    println!("{stdout}");
}

#[tokio::test]
async fn two_browsers_play_through_a_restart_with_json() {
    two_browsers_play_through_a_restart("json").await;
}

#[tokio::test]
async fn two_browsers_play_through_a_restart_with_msgpack() {
    two_browsers_play_through_a_restart("msgpack").await;
}
