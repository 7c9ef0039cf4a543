//! Issue 13 in a real browser: the bundled page in Debian's headless
//! Chromium (playwright-core) against two `locus serve --cluster` nodes on
//! the private Redis and PostgreSQL of `tests/run.sh`. Two pages served by
//! two nodes see each other across a border and chat across it, and one
//! walks across and is handed over without going back or leaving the
//! other's view. The scenario is `tests/e2e/cluster_browser.mjs`;
//! screenshots land in `tests/output/e2e/cluster/`. SKIPPED without
//! Chromium, PostgreSQL or Redis outside CI.

mod support;

use std::time::Duration;

use support::cluster::{redis_db, Border};

const PATIENCE: Duration = Duration::from_secs(60);
/// 4 x 4 regions of 1000 x 1000 (the default view radius is 600).
const FLAGS: [&str; 4] = ["--regions", "4", "--world-size", "4000"];

#[tokio::test]
async fn two_pages_on_two_nodes_see_each_other_across_a_border_and_one_walks_across() {
    if !support::tools::node_modules_ready() {
        return;
    }
    let Some(redis) = support::tools::redis_url().map(|url| redis_db(&url, 10)) else {
        return;
    };
    let Some(border) = Border::start(&redis, 2, &FLAGS, 1000.0, PATIENCE).await else {
        return;
    };
    border.account_at("page_west", -120.0).await;
    border.account_at("page_east", 150.0).await;
    let Border {
        url_a,
        url_b,
        crossing,
        ..
    } = &border;
    let _logs = border.cluster.logs_on_panic();
    let dir = format!("{},{}", crossing.dir.0, crossing.dir.1);
    let out = support::tools::tests_dir().join("output/e2e/cluster");
    let stdout = support::tools::run_node_file(
        "e2e/cluster_browser.mjs",
        &[
            "--a",
            url_a,
            "--b",
            url_b,
            "--user-a",
            "page_west",
            "--user-b",
            "page_east",
            "--password",
            support::accounts::PASSWORD,
            "--dir",
            &dir,
            "--out",
            &out.to_string_lossy(),
        ],
    )
    .await;
    println!("{stdout}");
    assert!(
        stdout.contains("PASS") || stdout.contains("SKIPPED"),
        "{stdout}"
    );
}
