//! Issue 13, one seamless world: three `locus serve --cluster` nodes on one
//! machine (private Redis and PostgreSQL of `tests/run.sh`), played by the
//! official socket.io-client (`js/cluster_player.mjs`). Two players on two
//! nodes either side of a border see each other and chat across it; one
//! walks across, is handed over (`migrate`) and continues on the new node
//! from where it was, towards the target it had, while the other never
//! loses it from view; a client that does not follow its `migrate` is
//! saved and removed; garbage and lies on the Redis channels and handoff
//! keys are dropped and counted, never shown. Nothing is timed: every wait
//! polls with a generous patience. SKIPPED without PostgreSQL and Redis
//! outside CI.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::client::WsClient;
use support::cluster::{border_between_nodes, redis_db, Border, Cluster, Crossing, JsPlayer};

const PATIENCE: Duration = Duration::from_secs(60);

/// One cluster test at a time in this binary.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// 4 x 4 regions of 1000 x 1000 (the default view radius is 600, leave 700).
const FLAGS: [&str; 4] = ["--regions", "4", "--world-size", "4000"];
const REGION: f64 = 1000.0;
/// The server's handoff margin (`cluster::border::HANDOFF_MARGIN`).
const MARGIN: f64 = 32.0;

fn redis(db: u8) -> Option<String> {
    support::tools::redis_url().map(|url| redis_db(&url, db))
}

/// A metric's value on node `i` (0 when absent).
async fn metric(cluster: &Cluster, i: usize, series: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", cluster.urls[i]))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn ids(report: &Value, field: &str) -> Vec<u64> {
    report[field]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

fn position(event: &Value) -> (f64, f64) {
    (event["x"].as_f64().unwrap(), event["y"].as_f64().unwrap())
}

#[tokio::test]
async fn players_see_and_hear_each_other_across_a_border_and_one_walks_across() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(redis) = redis(11) else { return };
    let Some(border) = Border::start(&redis, 3, &FLAGS, REGION, PATIENCE).await else {
        return;
    };
    let (west_id, west_token) = border.account_at("west", -100.0).await;
    let (east_id, east_token) = border.account_at("east", 100.0).await;
    let Border {
        cluster,
        url_a,
        url_b,
        crossing,
    } = border;

    let mut west = JsPlayer::start(&west_token, &cluster.urls);
    let mut east = JsPlayer::start(&east_token, &cluster.urls);
    let welcome = west.welcome(PATIENCE).await.expect("west welcome");
    assert_eq!(welcome["url"], url_a.as_str(), "{:?}", west.seen);
    assert_eq!(position(&welcome), crossing.at(-100.0));
    let welcome = east.welcome(PATIENCE).await.expect("east welcome");
    assert_eq!(welcome["url"], url_b.as_str(), "{:?}", east.seen);

    // Each sees the other, simulated by another node, as if one node ran it.
    let seen = west
        .report_until(PATIENCE, |r| ids(r, "seen").contains(&east_id))
        .await;
    assert!(ids(&seen, "seen").contains(&east_id), "west: {seen}");
    let seen = east
        .report_until(PATIENCE, |r| ids(r, "seen").contains(&west_id))
        .await;
    assert!(ids(&seen, "seen").contains(&west_id), "east: {seen}");

    // Chat in view crosses the border, both ways.
    west.chat("hello from the west").await;
    let heard = east
        .next_where(PATIENCE, |e| e["event"] == "chat" && e["id"] == west_id)
        .await
        .expect("east hears west");
    assert_eq!(
        (&heard["name"], &heard["text"]),
        (&Value::from("west"), &Value::from("hello from the west"))
    );
    east.chat("hello from the east").await;
    let heard = west
        .next_where(PATIENCE, |e| e["event"] == "chat" && e["id"] == east_id)
        .await
        .expect("west hears east");
    assert_eq!(heard["text"], "hello from the east");

    // West walks across: handed over to east's node, it continues from where
    // it was (never rolled back) towards the target it had.
    let target = crossing.at(300.0);
    west.move_to(target.0, target.1).await;
    let migrate = west
        .next_where(PATIENCE, |e| e["event"] == "migrate")
        .await
        .expect("west is told to migrate");
    assert_eq!(
        (&migrate["from"], &migrate["to"]),
        (&Value::from(url_a.clone()), &Value::from(url_b.clone()))
    );
    let welcome = west
        .welcome(PATIENCE)
        .await
        .expect("welcome on the new node");
    assert_eq!(welcome["url"], url_b.as_str(), "{:?}", west.seen);
    let (x, y) = position(&welcome);
    let past = crossing.past(x, y);
    assert!(
        (MARGIN..=300.0).contains(&past),
        "handed over {past} past the border: {welcome}"
    );
    let report = west
        .report_until(PATIENCE, |r| {
            r["url"] == url_b.as_str()
                && (r["x"].as_f64(), r["y"].as_f64()) == (Some(target.0), Some(target.1))
        })
        .await;
    assert_eq!(
        (report["x"].as_f64(), report["y"].as_f64()),
        (Some(target.0), Some(target.1)),
        "west did not go on to its target on the new node: {report}"
    );
    assert!(ids(&report, "seen").contains(&east_id), "west: {report}");
    // East never lost west: no leave, still in view.
    let report = east.report(PATIENCE).await;
    assert!(!ids(&report, "left").contains(&west_id), "east: {report}");
    assert!(ids(&report, "seen").contains(&west_id), "east: {report}");
    cluster.wait_saved(west_id, target, PATIENCE).await;

    // One node plays each player; each node counted its side.
    let players = cluster
        .cluster_until(0, PATIENCE, |b| {
            let counts: Vec<u64> = b["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| n["players"].as_u64().unwrap_or(0))
                .collect();
            counts.iter().sum::<u64>() == 2
                && b["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|n| n["url"] == url_b.as_str() && n["players"] == 2)
        })
        .await;
    assert!(
        players["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["url"] == url_b.as_str() && n["players"] == 2),
        "{players}"
    );
    let (ia, ib) = (cluster.index_of(&url_a), cluster.index_of(&url_b));
    assert_eq!(
        metric(&cluster, ia, "locus_cluster_handoffs_out_total").await,
        1.0
    );
    assert_eq!(
        metric(&cluster, ib, "locus_cluster_handoffs_in_total").await,
        1.0
    );
    west.quit().await;
    east.quit().await;
}

#[tokio::test]
async fn a_client_that_does_not_follow_its_migrate_is_saved_and_removed() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(redis) = redis(12) else { return };
    let Some(border) = Border::start(&redis, 3, &FLAGS, REGION, PATIENCE).await else {
        return;
    };
    let (gone_id, gone_token) = border.account_at("gone", -100.0).await;
    let (east_id, east_token) = border.account_at("east", 100.0).await;
    let Border {
        cluster,
        url_a,
        url_b,
        crossing,
    } = border;

    let mut east = JsPlayer::start(&east_token, &cluster.urls);
    east.welcome(PATIENCE).await.expect("east welcome");
    // A raw client on the node holding its region, which will not follow.
    let addr = url_a.strip_prefix("http://").unwrap().parse().unwrap();
    let mut gone = WsClient::joined(addr, &gone_token).await;
    let seen = east
        .report_until(PATIENCE, |r| ids(r, "seen").contains(&gone_id))
        .await;
    assert!(ids(&seen, "seen").contains(&gone_id), "east: {seen}");
    let target = crossing.at(200.0);
    gone.send_text(&format!(
        r#"42["position",{{"x":{},"y":{},"seq":1}}]"#,
        target.0, target.1
    ))
    .await;
    let mut told = None;
    while let Some(text) = tokio::time::timeout(PATIENCE, gone.text_or_closed())
        .await
        .expect("the old node answers")
    {
        if text.starts_with(r#"42["migrate""#) {
            told = Some(text);
        }
    }
    let told = told.expect("a migrate before the close");
    assert!(told.contains(&url_b), "{told}");
    assert!(east_id != gone_id);

    // Its position at the handoff is saved, in the new region...
    let deadline = std::time::Instant::now() + PATIENCE;
    let saved = loop {
        if let Some((x, y)) = cluster.stored_position(gone_id) {
            if crossing.past(x, y) >= MARGIN {
                break (x, y);
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never saved past the border"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // ...it stays in view while its handoff waits for it (10 s)...
    let report = east.report(PATIENCE).await;
    assert!(ids(&report, "seen").contains(&gone_id), "east: {report}");
    assert!(!ids(&report, "left").contains(&gone_id), "east: {report}");
    // ...and goes once the handoff expires...
    let report = east
        .report_until(PATIENCE, |r| ids(r, "left").contains(&gone_id))
        .await;
    assert!(ids(&report, "left").contains(&gone_id), "east: {report}");
    assert!(!ids(&report, "seen").contains(&gone_id), "east: {report}");
    // ...and it plays on, later, from that position on the new node.
    let mut back = JsPlayer::start(&gone_token, &cluster.urls[..1]);
    let welcome = back.welcome(PATIENCE).await.expect("welcome later");
    assert_eq!(welcome["url"], url_b.as_str(), "{:?}", back.seen);
    assert_eq!(position(&welcome), saved);
    back.quit().await;
    east.quit().await;
}

#[tokio::test]
async fn garbage_and_lies_on_the_cluster_channels_are_dropped_and_counted() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(redis_url) = redis(13) else { return };
    let Some(cluster) = Cluster::start(&redis_url, 2, &FLAGS).await else {
        return;
    };
    let body = cluster.covered_everywhere(2, PATIENCE).await;
    let (a, url_a, b, url_b) = border_between_nodes(&body);
    let crossing = Crossing::new(a, b, REGION);
    let ia = cluster.index_of(&url_a);
    let holder_b = body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["url"] == url_b.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let node = cluster.nodes[0].as_ref().unwrap();
    let (watcher_id, watcher_token) = node.account("watcher").await;
    let (record_id, record_token) = node.account("record").await;
    cluster.place("watcher", crossing.at(-100.0)).await;
    cluster.place("record", crossing.at(-200.0)).await;
    let mut watcher = JsPlayer::start(&watcher_token, &cluster.urls);
    watcher.welcome(PATIENCE).await.expect("welcome");

    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let lease: String = redis::cmd("GET")
        .arg(format!("locus:lease:{}:{}", b.0, b.1))
        .query_async(&mut conn)
        .await
        .unwrap();
    let epoch: u64 = lease.rsplit_once(':').unwrap().1.parse().unwrap();
    let channel = format!("locus:border:{}:{}", b.0, b.1);
    let counted = |reason: &'static str| {
        let cluster = &cluster;
        async move {
            metric(
                cluster,
                ia,
                &format!("locus_cluster_dropped_total{{reason=\"{reason}\"}}"),
            )
            .await
        }
    };
    let (x, y) = crossing.at(50.0);
    let intruder = |node: &str, epoch: u64| {
        serde_json::json!({
            "origin": {"node": node, "region": [b.0, b.1], "epoch": epoch},
            "tick": 1,
            "players": [{"id": 999_999, "name": "intruder", "x": x, "y": y}],
        })
        .to_string()
    };
    let lies = [
        "not json at all".to_owned(),
        serde_json::json!({
            "origin": {"node": holder_b, "region": [b.0, b.1], "epoch": epoch},
            "tick": 1,
            "players": [{"id": 1, "name": "far", "x": 1e300, "y": 1.0}],
        })
        .to_string(),
        intruder("a-node-that-does-not-exist", epoch),
        intruder(&holder_b, epoch + 1000),
    ];
    // Counted from here: a node's first updates may reach a node that has
    // not yet read their lease (dropped as not from the holder).
    let holder_drops = counted("not_the_holder").await;
    for lie in &lies {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(lie)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let _: i64 = redis::cmd("PUBLISH")
        .arg(format!("locus:chat:{}:{}", b.0, b.1))
        .arg("{\"origin\":1}")
        .query_async(&mut conn)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    while counted("undecodable").await < 2.0
        || counted("out_of_bounds").await < 1.0
        || counted("not_the_holder").await < holder_drops + 2.0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "drops not counted: undecodable {}, out_of_bounds {}, not_the_holder {}",
            counted("undecodable").await,
            counted("out_of_bounds").await,
            counted("not_the_holder").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A handoff record that does not decode: the player comes in from its
    // saved position, and the node counts it.
    let _: () = redis::cmd("SET")
        .arg(format!("locus:handoff:{record_id}"))
        .arg("{\"origin\":")
        .query_async(&mut conn)
        .await
        .unwrap();
    let before = counted("undecodable").await;
    let mut recorded = JsPlayer::start(&record_token, std::slice::from_ref(&url_a));
    let welcome = recorded.welcome(PATIENCE).await.expect("welcome");
    assert_eq!(welcome["url"], url_a.as_str());
    assert_eq!(position(&welcome), crossing.at(-200.0));
    assert_eq!(counted("undecodable").await, before + 1.0);

    // Nothing of it was shown; the nodes are fine.
    let report = watcher
        .report_until(PATIENCE, |r| ids(r, "seen").contains(&record_id))
        .await;
    assert!(!ids(&report, "seen").contains(&999_999), "{report}");
    assert!(ids(&report, "seen").contains(&record_id), "{report}");
    for i in cluster.running() {
        let (status, health) = cluster.get(i, "/api/health").await;
        assert_eq!(
            (status, &health["cluster"]),
            (200, &Value::from("ok")),
            "{health}"
        );
    }
    assert!(watcher_id != record_id);
    recorded.quit().await;
    watcher.quit().await;
}
