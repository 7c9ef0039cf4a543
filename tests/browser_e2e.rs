//! The bundled canvas client in a real browser (Debian's headless Chromium
//! driven by playwright-core) against a real `locus serve` process: two
//! players see each other move, a reload restores the position, a server
//! restart shows "reconnecting" and recovers. Screenshots land in
//! `tests/output/e2e/`. See `tests/e2e/browser.mjs`.

mod support;

#[tokio::test]
async fn two_browsers_play_through_a_restart() {
    if !support::tools::node_modules_ready() {
        return;
    }
    let out_dir = support::tools::tests_dir().join("output/e2e");
    let stdout = support::tools::run_node_file(
        "e2e/browser.mjs",
        &[
            "--locus",
            env!("CARGO_BIN_EXE_locus"),
            "--out",
            &out_dir.to_string_lossy(),
        ],
    )
    .await;
    println!("{stdout}");
}
