//! Hostile HTTP against the full server, over raw TCP so nothing normalizes
//! the bytes: static path traversal (embedded client and `--static-dir`,
//! symlinks included), oversized request heads, and a slowloris crowd that
//! must not keep a normal client out.

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use support::bystander::*;
use support::raw::*;
use support::server::*;
use support::PATIENCE;
use tokio::io::AsyncWriteExt;

/// Requests for `path` over raw TCP; returns the whole answer.
async fn get(server: &LocusServer, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    raw_request(server.addr(), request.as_bytes()).await
}

const TRAVERSALS: [&str; 12] = [
    "/../Cargo.toml",
    "/%2e%2e/Cargo.toml",
    "/%2E%2E/Cargo.toml",
    "/..%2fCargo.toml",
    "/..%5cCargo.toml",
    "/..\\Cargo.toml",
    "/a%00.js",
    "/index.html%00.js",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/index.html/../../Cargo.toml",
    "//etc/passwd",
    "/./../Cargo.toml",
];

#[tokio::test]
async fn static_path_traversal_never_leaves_the_embedded_client() {
    let server = LocusServer::start().await;
    for path in TRAVERSALS {
        let answer = get(&server, path).await;
        let status = status_of(&answer);
        assert!(status == 404 || status == 400, "{path}: {answer:.200}");
        assert!(
            !answer.contains("[package]") && !answer.contains("root:"),
            "{path} leaked a file"
        );
    }
    assert_eq!(
        status_of(&get(&server, "/").await),
        200,
        "the client itself is still served"
    );
    server.stop().await;
}

#[tokio::test]
async fn static_path_traversal_never_leaves_the_static_dir() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "TOPSECRET").unwrap();
    let dir = outside.path().join("static");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>t</title>").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), dir.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.join("up")).unwrap();
    let server = LocusServer::start_with(|c| c.static_dir = Some(dir.clone())).await;
    let mut paths: Vec<String> = TRAVERSALS
        .iter()
        .map(|p| p.replace("Cargo.toml", "secret.txt"))
        .collect();
    paths.extend(["/leak.txt", "/up/secret.txt", "/up%2fsecret.txt"].map(String::from));
    for path in &paths {
        let answer = get(&server, path).await;
        assert!(
            !answer.contains("TOPSECRET"),
            "{path} leaked a file outside the static dir"
        );
        assert_ne!(status_of(&answer), 200, "{path}: {answer:.200}");
    }
    assert_eq!(status_of(&get(&server, "/index.html").await), 200);
    server.stop().await;
}

#[tokio::test]
async fn oversized_request_heads_get_431() {
    let server = LocusServer::start().await;
    let mut bystander = Bystander::join(&server, "bystander").await;
    let big = format!(
        "GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let answer = raw_request(server.addr(), big.as_bytes()).await;
    assert_eq!(status_of(&answer), 431, "1 MB header: {answer:.200}");

    let mut many = String::from("GET /api/health HTTP/1.1\r\nHost: x\r\n");
    for i in 0..500 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let answer = raw_request(server.addr(), many.as_bytes()).await;
    assert_eq!(status_of(&answer), 431, "500 headers: {answer:.200}");

    let long_url = format!(
        "GET /socket.io/?EIO=4&transport=polling&x={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "u".repeat(100_000)
    );
    let answer = raw_request(server.addr(), long_url.as_bytes()).await;
    assert!(
        matches!(status_of(&answer), 414 | 431 | 400),
        "100 KB URL: {answer:.200}"
    );
    bystander.still_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_slowloris_crowd_does_not_keep_a_normal_client_out() {
    let server =
        LocusServer::start_with(|c| c.header_read_timeout = Duration::from_millis(500)).await;
    let attacker = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9));
    let mut crowd = Vec::new();
    for _ in 0..1_000 {
        let mut stream = connect_from(server.addr(), attacker)
            .await
            .expect("slowloris socket connects");
        stream.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
        crowd.push(stream);
    }
    // A normal client gets through while the crowd is still connected.
    let res = server
        .http
        .get(server.url("/api/health"))
        .timeout(PATIENCE)
        .send()
        .await
        .expect("normal client connects");
    assert_eq!(res.status(), 200);
    newcomer_plays(&server, "newcomer").await;
    // The crowd is cut off by the header timeout.
    for stream in crowd.iter_mut().step_by(100) {
        let answer = read_until_closed(stream, 1 << 16).await;
        let text = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || status_of(&text) == 408,
            "slow head answered with {text:.100}"
        );
    }
    server.stop().await;
}
