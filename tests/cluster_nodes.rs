//! Issue 13 on real processes: `locus serve --cluster` nodes on one machine
//! against the private Redis and PostgreSQL of `tests/run.sh`, played by the
//! official socket.io-client (`js/cluster_player.mjs`). Three nodes cover
//! every region exactly once and a player is sent (`moved`) to its region's
//! node; a node killed with -9 loses its regions to the others and its
//! player resumes there at its last saved position; a second login on
//! another node kicks the first and an admin reset reaches the player on
//! the node holding it; a node of another shape, without PostgreSQL or
//! without a reachable Redis is refused; `locus bots` follows `moved`.
//! Each test has its own database and Redis database number; the tests run
//! one at a time (three nodes each on a shared 2-core machine).
//! Nothing is timed: every wait polls with a generous patience. SKIPPED
//! without PostgreSQL and Redis outside CI.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::cluster::{
    border_between_nodes, covers_every_region_once, owner_of, redis_db, Cluster, Crossing, JsPlayer,
};

/// Generous patience for anything a cluster does "within seconds".
const PATIENCE: Duration = Duration::from_secs(60);

/// One cluster test at a time in this binary.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Node flags of every test: a small world (400 x 400) so walks are short.
fn flags(regions: &str) -> Vec<&str> {
    vec!["--regions", regions, "--world-size", "400"]
}

/// The Redis database number `db` of the private Redis, or `None` (skip).
fn redis(db: u8) -> Option<String> {
    support::tools::redis_url().map(|url| redis_db(&url, db))
}

#[tokio::test]
async fn three_nodes_cover_every_region_once_and_players_follow_moved() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(redis) = redis(1) else { return };
    let Some(cluster) = Cluster::start(&redis, 3, &flags("2")).await else {
        return;
    };
    let body = cluster.covered_everywhere(3, PATIENCE).await;
    assert_eq!(body["regions"], 2);
    for i in cluster.running() {
        let (status, health) = cluster.get(i, "/api/health").await;
        assert_eq!(
            (status, &health["cluster"]),
            (200, &Value::from("ok")),
            "{health}"
        );
    }

    // A new player spawns at the centre (200, 200): region [1, 1].
    let owner = owner_of(&body, 1, 1).expect("region [1,1] is held");
    let entry = cluster.urls.iter().find(|u| **u != owner).unwrap().clone();
    let node = cluster.nodes[cluster.index_of(&entry)].as_ref().unwrap();
    let (_, token) = node.account("mover").await;
    let login: Value = reqwest::Client::new()
        .post(format!("{entry}/api/login"))
        .json(&serde_json::json!({"username": "mover", "password": support::accounts::PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(login["url"], Value::from(owner.clone()), "{login}");

    let mut player = JsPlayer::start(&token, std::slice::from_ref(&entry));
    let welcome = player.welcome(PATIENCE).await.expect("welcome");
    assert_eq!(
        welcome["url"],
        Value::from(owner.clone()),
        "{:?}",
        player.seen
    );
    assert_eq!(
        (welcome["x"].as_f64(), welcome["y"].as_f64()),
        (Some(200.0), Some(200.0))
    );
    let moved = player.seen_named("moved");
    assert_eq!(moved.len(), 1, "{:?}", player.seen);
    assert_eq!(moved[0]["from"], Value::from(entry));
    assert_eq!(moved[0]["to"], Value::from(owner.clone()));
    // The owner counts it.
    let shown = cluster
        .cluster_until(cluster.index_of(&owner), PATIENCE, |b| {
            b["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|n| n["url"] == owner.as_str() && n["players"] == 1)
        })
        .await;
    assert!(
        shown["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["players"] == 1),
        "{shown}"
    );
    player.quit().await;
}

#[tokio::test]
async fn a_killed_node_loses_its_regions_and_its_player_resumes_on_the_new_owner() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(redis) = redis(2) else { return };
    let Some(mut cluster) = Cluster::start(&redis, 3, &flags("2")).await else {
        return;
    };
    cluster.covered_everywhere(3, PATIENCE).await;
    let (id, token) = cluster.nodes[0].as_ref().unwrap().account("survivor").await;
    let mut player = JsPlayer::start(&token, &cluster.urls);
    let welcome = player.welcome(PATIENCE).await.expect("welcome");
    let victim = cluster.index_of(welcome["url"].as_str().unwrap());

    // Walk within region [1, 1] and stand until the position is saved.
    player.move_to(300.0, 300.0).await;
    cluster.wait_saved(id, (300.0, 300.0), PATIENCE).await;

    let mut killed = cluster.nodes[victim].take().unwrap();
    killed.signal("-KILL").await;
    killed.wait_exit(PATIENCE).await;
    let since = Instant::now();
    let survivor = cluster.running()[0];
    let body = cluster
        .cluster_until(survivor, PATIENCE, |b| covers_every_region_once(b, 2))
        .await;
    eprintln!(
        "regions of the killed node claimed after {:?} (lease TTL 3 s)",
        since.elapsed()
    );
    assert!(covers_every_region_once(&body, 2), "{body}");
    let owner = owner_of(&body, 1, 1).unwrap();
    assert_ne!(owner, cluster.urls[victim]);

    let again = player.welcome(PATIENCE).await.expect("welcome again");
    assert_eq!(again["url"], Value::from(owner), "{:?}", player.seen);
    assert_eq!(
        (again["x"].as_f64(), again["y"].as_f64()),
        (Some(300.0), Some(300.0))
    );
    player.quit().await;
}

#[tokio::test]
async fn a_second_login_on_another_node_kicks_the_first_and_an_admin_reset_reaches_it() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(redis) = redis(3) else { return };
    // 16 regions of 100 x 100 over two nodes.
    let Some(cluster) = Cluster::start(&redis, 2, &flags("4")).await else {
        return;
    };
    let body = cluster.covered_everywhere(2, PATIENCE).await;
    let (a, url_a, b, url_b) = border_between_nodes(&body);
    let crossing = Crossing::new(a, b, 100.0);
    let (id, token) = cluster.nodes[0].as_ref().unwrap().account("twice").await;
    let mut first = JsPlayer::start(&token, std::slice::from_ref(&url_a));
    first
        .welcome(PATIENCE)
        .await
        .expect("welcome on the first node");
    // Into region b by less than the handoff margin (32): the player plays
    // on in a's node while its saved position lies in b, whose node is the
    // one a new connection of it is sent to (the spawn point, where it
    // started, may be elsewhere: it may have been handed over on the way).
    // First well inside a (60 past the border, over 32 from every other region).
    let (x, y) = crossing.at(-60.0);
    first.move_to(x, y).await;
    cluster.wait_saved(id, (x, y), PATIENCE).await;
    let (x, y) = crossing.at(10.0);
    first.move_to(x, y).await;
    cluster.wait_saved(id, (x, y), PATIENCE).await;
    let last = first.report(PATIENCE).await;
    assert_eq!(last["url"], url_a.as_str(), "{:?}", first.seen);
    // A node takes a `logged in elsewhere` within 5 s of handing a player
    // over as that handoff's echo: let any of those pass.
    tokio::time::sleep(Duration::from_secs(6)).await;

    // The same account again, on b's node.
    let mut second = JsPlayer::start(&token, std::slice::from_ref(&url_b));
    let welcome = second
        .welcome(PATIENCE)
        .await
        .expect("welcome on the second node");
    assert_eq!(
        welcome["url"],
        Value::from(url_b.clone()),
        "{:?}",
        second.seen
    );
    let kicked = first
        .next_where(PATIENCE, |e| e["event"] == "kicked")
        .await
        .expect("the first connection is kicked");
    assert_eq!(kicked["reason"], "logged in elsewhere");
    assert_eq!(kicked["url"], url_a.as_str());

    cluster.place("twice", (x + 10.0, y + 10.0)).await;
    let teleport = second
        .next_where(PATIENCE, |e| {
            e["event"] == "teleport" && e["reason"] == "admin_reset"
        })
        .await
        .expect("the reset reaches the player on the second node");
    assert_eq!(
        (teleport["x"].as_f64(), teleport["y"].as_f64()),
        (Some(x + 10.0), Some(y + 10.0))
    );
    first.quit().await;
    second.quit().await;
}

#[tokio::test]
async fn a_node_of_another_shape_or_without_postgres_or_redis_is_refused_with_one_line() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(redis) = redis(4) else { return };
    let Some(cluster) = Cluster::start(&redis, 1, &flags("2")).await else {
        return;
    };
    cluster.covered_everywhere(1, PATIENCE).await;
    let refused = |args: Vec<String>, db: std::path::PathBuf, expect: &'static str| async move {
        let mut all = vec!["serve".to_owned(), "--listen".into(), "127.0.0.1:0".into()];
        all.extend(args);
        all.push("--db".into());
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let output = support::process::run_locus(&all, &db).await;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!output.status.success(), "served: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("listening on"),
            "{stderr}"
        );
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("locus: "))
            .collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(lines[0].contains(expect), "{stderr}");
    };
    let node = |regions: &str, world: &str| {
        [
            "--cluster",
            &redis,
            "--public-url",
            "http://127.0.0.1:1",
            "--regions",
            regions,
            "--world-size",
            world,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect::<Vec<_>>()
    };
    refused(
        node("3", "400"),
        cluster.db.path(),
        "does not fit the cluster",
    )
    .await;
    refused(
        node("2", "500"),
        cluster.db.path(),
        "does not fit the cluster",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    refused(
        node("2", "400"),
        dir.path().join("locus.db"),
        "needs a PostgreSQL --db",
    )
    .await;
    let nobody = format!("redis://127.0.0.1:{}/", support::cluster::free_port());
    let mut unreachable = node("2", "400");
    unreachable[1] = nobody;
    refused(
        unreachable,
        cluster.db.path(),
        "cannot reach the cluster's Redis",
    )
    .await;
    // The running node is untouched.
    cluster.covered_everywhere(1, PATIENCE).await;
}

#[derive(clap::Parser)]
struct BotsCli {
    #[command(flatten)]
    args: locus::bots::BotsArgs,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locus_bots_follow_moved_to_the_node_holding_their_region() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(redis) = redis(7) else { return };
    // One region: exactly one of the two nodes holds it.
    let Some(cluster) = Cluster::start(&redis, 2, &flags("1")).await else {
        return;
    };
    let body = cluster.covered_everywhere(2, PATIENCE).await;
    let owner = owner_of(&body, 0, 0).unwrap();
    let entry = cluster.urls.iter().find(|u| **u != owner).unwrap().clone();
    let db = cluster.db.url.clone();
    let argv = [
        "bots",
        "--url",
        &entry,
        "--db",
        &db,
        "--count",
        "20",
        "--duration",
        "2s",
        "--quiet",
    ];
    let args = <BotsCli as clap::Parser>::try_parse_from(argv)
        .expect("flags parse")
        .args;
    let report = locus::bots::run(&args).await.expect("swarm runs");
    assert_eq!((report.connected, report.failed), (20, 0), "{report}");
    assert_eq!(report.consistency_errors, 0, "{report}");
    // The entry node holds no region: every bot connected only by
    // following `moved` to the owner.
}
