//! The HTTP API of the wire contract (`docs/protocol.md`), over real HTTP against a server on
//! 127.0.0.1:0 with a temporary database: register, login, logout, health,
//! metrics, static files, and every error answer. The tests that touch the
//! database run on both backends (`NAME::sqlite`, `NAME::postgres`).

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::pg::{Backend, BackendDb};
use support::server::LocusServer;

/// A server on a fresh database of `backend` (the server is dropped before
/// the database), or `None` when PostgreSQL is skipped.
async fn server_on(backend: Backend, test: &str) -> Option<(LocusServer, BackendDb)> {
    let db = BackendDb::new(backend, test)?;
    let path = db.path.clone();
    Some((LocusServer::start_with(move |c| c.db = path).await, db))
}

both_backends!(
    register_then_login_then_logout,
    register_rejects_duplicates_and_bad_input,
    login_failures_look_the_same_and_get_throttled,
    logout_without_a_valid_token_is_unauthorized,
);

async fn error_of(response: reqwest::Response) -> String {
    let body: Value = response.json().await.expect("error body is JSON");
    body["error"]
        .as_str()
        .expect("error body has an \"error\" string")
        .to_owned()
}

async fn register_then_login_then_logout(backend: Backend) {
    let Some((server, _db)) = server_on(backend, "register_then_login_then_logout").await else {
        return;
    };
    let http = reqwest::Client::new();

    let res = http
        .post(server.url("/api/register"))
        .json(&json!({"username": "alice", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["username"], "alice");
    assert!(body["id"].as_u64().is_some(), "id is a number: {body}");

    let res = http
        .post(server.url("/api/login"))
        .json(&json!({"username": "alice", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let token = body["token"].as_str().expect("token").to_owned();
    assert!(
        token.len() >= 22,
        "token carries at least 128 bits: {token}"
    );
    assert!(body["expires_in"].as_u64().unwrap() > 0);

    let res = http
        .post(server.url("/api/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = http
        .post(server.url("/api/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "a revoked token is refused"
    );
    assert!(!error_of(res).await.is_empty());
    server.stop().await;
}

async fn register_rejects_duplicates_and_bad_input(backend: Backend) {
    let Some((server, _db)) = server_on(backend, "register_rejects_duplicates_and_bad_input").await
    else {
        return;
    };
    let http = reqwest::Client::new();
    let ok = json!({"username": "bob_1", "password": "password1"});
    assert_eq!(
        http.post(server.url("/api/register"))
            .json(&ok)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );

    let res = http
        .post(server.url("/api/register"))
        .json(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(error_of(res).await.contains("taken"));

    let long_name = "x".repeat(33);
    let long_password = "p".repeat(129);
    let bad_bodies = [
        json!({"username": "ab", "password": "password1"}),
        json!({"username": long_name, "password": "password1"}),
        json!({"username": "bad name", "password": "password1"}),
        json!({"username": "émile", "password": "password1"}),
        json!({"username": "carol", "password": "short"}),
        json!({"username": "carol", "password": long_password}),
        json!({"username": "carol"}),
        json!({"username": 5, "password": "password1"}),
        json!(["carol", "password1"]),
    ];
    for body in bad_bodies {
        let res = http
            .post(server.url("/api/register"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        assert!(!error_of(res).await.is_empty());
    }
    let res = http
        .post(server.url("/api/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(!error_of(res).await.is_empty());
    server.stop().await;
}

async fn login_failures_look_the_same_and_get_throttled(backend: Backend) {
    let Some((server, _db)) =
        server_on(backend, "login_failures_look_the_same_and_get_throttled").await
    else {
        return;
    };
    let http = reqwest::Client::new();
    server.register("dave", "password1").await;

    let wrong = http
        .post(server.url("/api/login"))
        .json(&json!({"username": "dave", "password": "wrong-pass"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong_body = error_of(wrong).await;
    let unknown = http
        .post(server.url("/api/login"))
        .json(&json!({"username": "nobody", "password": "wrong-pass"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(unknown).await, wrong_body);
    assert_eq!(wrong_body, "invalid credentials");

    let mut throttled = false;
    for _ in 0..30 {
        let res = http
            .post(server.url("/api/login"))
            .json(&json!({"username": "dave", "password": "wrong-pass"}))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(res.headers().contains_key("retry-after"));
            assert!(!error_of(res).await.is_empty());
            throttled = true;
            break;
        }
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert!(throttled, "repeated failures for one account end in 429");

    let metrics = http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let failures = metrics
        .lines()
        .find_map(|l| l.strip_prefix("locus_login_failures_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("login failure counter");
    assert!(failures >= 3.0, "{failures}");
    server.stop().await;
}

async fn logout_without_a_valid_token_is_unauthorized(backend: Backend) {
    let Some((server, _db)) =
        server_on(backend, "logout_without_a_valid_token_is_unauthorized").await
    else {
        return;
    };
    let http = reqwest::Client::new();
    let res = http.post(server.url("/api/logout")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = http
        .post(server.url("/api/logout"))
        .bearer_auth("forged-token-that-was-never-issued")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(!error_of(res).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn health_and_metrics_answer_and_there_is_no_cluster_api() {
    let server = LocusServer::start().await;
    let http = reqwest::Client::new();
    let res = http.get(server.url("/api/health")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["players_online"], 0);
    assert!(body["tick"].as_u64().is_some());
    assert_eq!(body["parser"], "json", "health names the Socket.IO parser");
    assert!(
        body.get("cluster").is_none(),
        "no cluster field without --cluster: {body}"
    );
    let res = http.get(server.url("/api/cluster")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_of(res).await, "not a cluster node");

    let res = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    for name in [
        "locus_players_online",
        "locus_tick_duration_seconds",
        "locus_persistence_flush_duration_seconds",
        "locus_login_failures_total",
        "locus_bytes_in_total",
        "locus_bytes_out_total",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    server.stop().await;
}

#[tokio::test]
async fn static_client_is_served_and_nothing_outside_it() {
    let server = LocusServer::start().await;
    let http = reqwest::Client::new();
    let res = http.get(server.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(
        res.text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("<!doctype html"),
        "the index page is HTML"
    );

    for path in [
        "/no-such-file.js",
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/..%2fCargo.toml",
        "/index.html%00.js",
    ] {
        let res = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(!error_of(res).await.is_empty());
    }
    server.stop().await;
}
