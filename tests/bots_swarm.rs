//! `locus bots` against an in-process server: a short swarm over WebSocket
//! with binary snapshots (the default) and one with JSON snapshots, and a
//! small one over long-polling (binary attachments as base64 payloads, all
//! bots on one thread),
//! asserting correctness only (every bot connected and saw its own moves
//! acknowledged, nobody was kicked or lost, zero client-side consistency
//! errors, every snapshot in the form asked for). No timing assertions.

use clap::Parser;
use locus::bots::{self, BotsArgs, Report};
use locus::config::Config;

/// Parses `locus bots` flags as the binary does.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: BotsArgs,
}

async fn swarm(extra: &[&str]) -> Report {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db: dir.path().join("locus.db"),
        ..Config::default()
    };
    let db = config.db.clone();
    let server = locus::server::start(config).await.expect("server starts");
    let url = format!("http://{}", server.addr());
    let mut argv = vec![
        "bots",
        "--url",
        &url,
        "--db",
        db.to_str().unwrap(),
        "--spread",
        "--quiet",
    ];
    argv.extend_from_slice(extra);
    let args = Cli::try_parse_from(argv).expect("flags parse").args;
    let report = bots::run(&args).await.expect("swarm runs");
    server.shutdown().await.expect("clean shutdown");
    report
}

fn assert_clean(report: &Report, count: u64) {
    assert_eq!(report.connected, count, "{report}");
    assert_eq!(report.failed, 0, "{report}");
    assert_eq!(report.kicked, 0, "{report}");
    assert_eq!(report.disconnected, 0, "{report}");
    assert_eq!(report.online_at_end, count, "{report}");
    assert_eq!(report.consistency_errors, 0, "{report}");
    assert_eq!(
        report.acked_bots, count,
        "every bot saw its own moves acknowledged: {report}"
    );
    assert!(report.move_ack.count > 0, "{report}");
    assert!(report.snapshots_per_sec > 0.0, "{report}");
    assert!(bots::report_passes(report, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_swarm_is_consistent_and_acknowledged() {
    let report = swarm(&[
        "--count",
        "200",
        "--duration",
        "5s",
        "--ramp-per-sec",
        "400",
    ])
    .await;
    assert_clean(&report, 200);
    // Binary by default, and the server honours it.
    assert!(report.binary_snapshots > 0, "{report}");
    assert_eq!(report.json_snapshots, 0, "{report}");
    // Bots spread over the world still see one another.
    assert!(report.move_seen.count > 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_snapshot_swarm_is_consistent_and_acknowledged() {
    let report = swarm(&[
        "--count",
        "100",
        "--duration",
        "4s",
        "--ramp-per-sec",
        "400",
        "--snapshot",
        "json",
    ])
    .await;
    assert_clean(&report, 100);
    assert!(report.json_snapshots > 0, "{report}");
    assert_eq!(report.binary_snapshots, 0, "{report}");
    assert!(report.move_seen.count > 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_swarm_is_consistent_and_acknowledged() {
    let report = swarm(&[
        "--count",
        "20",
        "--duration",
        "3s",
        "--transport",
        "polling",
        "--ramp-per-sec",
        "0",
        // Every bot on one thread (the others use one per CPU).
        "--threads",
        "1",
    ])
    .await;
    assert_clean(&report, 20);
    assert!(report.binary_snapshots > 0, "{report}");
    assert_eq!(report.json_snapshots, 0, "{report}");
    // `--max-p99-ms` fails a run whose p99 is above it.
    assert!(!bots::report_passes(&report, Some(0.0)));
}

#[tokio::test]
async fn refuses_a_swarm_without_tokens() {
    let args = Cli::try_parse_from(["bots", "--url", "http://127.0.0.1:9", "--count", "1"])
        .unwrap()
        .args;
    assert!(matches!(
        bots::run(&args).await,
        Err(bots::BotsError::NoTokens)
    ));
}

#[tokio::test]
async fn refuses_a_non_http_url() {
    let args = Cli::try_parse_from(["bots", "--url", "ws://127.0.0.1:9", "--count", "1"])
        .unwrap()
        .args;
    assert!(matches!(
        bots::run(&args).await,
        Err(bots::BotsError::Url(..))
    ));
}

#[test]
fn rejects_bad_rates_and_counts() {
    for bad in [
        &["bots", "--move-hz", "inf"][..],
        &["bots", "--move-hz", "-1"],
        &["bots", "--ramp-per-sec", "NaN"],
        &["bots", "--count", "0"],
        &["bots", "--spread"],
        &["bots", "--db", "a.db", "--tokens", "t.txt"],
        &["bots", "--snapshot", "msgpack"],
    ] {
        assert!(Cli::try_parse_from(bad).is_err(), "{bad:?} accepted");
    }
}
