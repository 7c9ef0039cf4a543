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

use support::cluster::{border_between_nodes, redis_db, Cluster, Crossing};

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
    let Some(cluster) = Cluster::start(&redis, 2, &FLAGS).await else {
        return;
    };
    let body = cluster.covered_everywhere(2, PATIENCE).await;
    let (a, url_a, b, url_b) = border_between_nodes(&body);
    let crossing = Crossing::new(a, b, 1000.0);
    let node = cluster.nodes[0].as_ref().unwrap();
    node.account("page_west").await;
    node.account("page_east").await;
    for (name, at) in [
        ("page_west", crossing.at(-120.0)),
        ("page_east", crossing.at(150.0)),
    ] {
        let to = format!("{},{}", at.0, at.1);
        let output = support::process::run_locus(
            &["admin", "reset", name, "--to", &to, "--db"],
            &cluster.db.path(),
        )
        .await;
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let dir = format!("{},{}", crossing.dir.0, crossing.dir.1);
    let out = support::tools::tests_dir().join("output/e2e/cluster");
    let stdout = support::tools::run_node_file(
        "e2e/cluster_browser.mjs",
        &[
            "--a",
            &url_a,
            "--b",
            &url_b,
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
