//! Engine.IO handshakes over real TCP: both transports, the open packet,
//! and every error code the reference server answers with.

mod support;

use locus::engineio::EngineConfig;
use support::engine::*;
use support::raw::raw_request;

async fn expect_error(
    server: &EngineServer,
    request: reqwest::RequestBuilder,
    status: u16,
    code: u8,
    message: &str,
) {
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = response.text().await.unwrap();
    assert_eq!(body, format!(r#"{{"code":{code},"message":"{message}"}}"#));
    assert_eq!(
        server.engine.session_count(),
        0,
        "a refused request allocated a session"
    );
}

#[tokio::test]
async fn polling_handshake_opens_session_with_reference_keys() {
    let server = EngineServer::start(EngineConfig {
        ping_interval: std::time::Duration::from_millis(300),
        ping_timeout: std::time::Duration::from_millis(200),
        ..config()
    })
    .await;
    let response = server
        .http
        .get(server.url("EIO=4&transport=polling"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=UTF-8"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = response.text().await.unwrap();
    let sid = open_packet_sid(&body);
    assert_eq!(
        body,
        format!(
            r#"0{{"sid":"{sid}","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}}"#
        )
    );
    assert!(
        sid.len() >= 20
            && sid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "weak sid {sid}"
    );
    assert_eq!(server.engine.session_count(), 1);
}

#[tokio::test]
async fn sids_differ_between_sessions() {
    let server = EngineServer::start(config()).await;
    let first = server.open_polling().await;
    let second = server.open_polling().await;
    assert_ne!(first, second);
}

#[tokio::test]
async fn websocket_handshake_sends_open_packet_without_upgrades() {
    let mut server = EngineServer::start(config()).await;
    let (_ws, sid) = server.open_websocket().await;
    assert!(matches!(server.next_event().await, Event::Open(id) if id == sid));
    let mut ws = server.ws("EIO=4&transport=websocket").await;
    let open = next_text(&mut ws).await;
    let sid = open_packet_sid(&open);
    assert_eq!(
        open,
        format!(
            r#"0{{"sid":"{sid}","upgrades":[],"pingInterval":60000,"pingTimeout":60000,"maxPayload":1000000}}"#
        )
    );
}

#[tokio::test]
async fn polling_handshake_without_upgrades_advertises_none() {
    let server = EngineServer::start(EngineConfig {
        allow_upgrades: false,
        ..config()
    })
    .await;
    let (_, body) = server.get_url(&server.url("EIO=4&transport=polling")).await;
    assert!(body.contains(r#""upgrades":[]"#), "{body}");
}

#[tokio::test]
async fn handshake_path_matches_without_trailing_slash() {
    let server = EngineServer::start(config()).await;
    let (status, body) = server
        .get_url(&format!(
            "http://{}/engine.io?EIO=4&transport=polling",
            server.addr
        ))
        .await;
    assert_eq!(status, 200);
    assert!(body.starts_with("0{"));
}

/// A GET of each query is refused with 400 and Engine.IO `code`/`message`.
async fn rejects_queries(queries: &[&str], code: u8, message: &str) {
    let server = EngineServer::start(config()).await;
    for query in queries {
        expect_error(
            &server,
            server.http.get(server.url(query)),
            400,
            code,
            message,
        )
        .await;
    }
}

#[tokio::test]
async fn rejects_missing_or_bad_eio_with_code_5() {
    rejects_queries(
        &[
            "transport=polling",
            "EIO=3&transport=polling",
            "EIO=abc&transport=polling",
            "EIO=&transport=polling",
        ],
        5,
        "Unsupported protocol version",
    )
    .await;
}

#[tokio::test]
async fn rejects_missing_or_unknown_transport_with_code_0() {
    rejects_queries(
        &[
            "EIO=4",
            "EIO=4&transport=abc",
            "EIO=4&transport=__proto__",
            "EIO=4&transport=flashsocket",
            "EIO=3&transport=abc",
        ],
        0,
        "Transport unknown",
    )
    .await;
}

#[tokio::test]
async fn rejects_non_get_handshake_with_code_2() {
    let server = EngineServer::start(config()).await;
    let url = server.url("EIO=4&transport=polling");
    expect_error(
        &server,
        server.http.post(&url).body("4x"),
        400,
        2,
        "Bad handshake method",
    )
    .await;
    expect_error(
        &server,
        server.http.put(&url),
        400,
        2,
        "Bad handshake method",
    )
    .await;
    expect_error(
        &server,
        server.http.delete(&url),
        400,
        2,
        "Bad handshake method",
    )
    .await;
}

#[tokio::test]
async fn rejects_unknown_sid_with_code_1() {
    let server = EngineServer::start(config()).await;
    let long = "x".repeat(10_000);
    for sid in [
        "AAAAAAAAAAAAAAAAAAAA",
        "__proto__",
        "constructor",
        long.as_str(),
    ] {
        let url = server.url(&format!("EIO=4&transport=polling&sid={sid}"));
        expect_error(&server, server.http.get(&url), 400, 1, "Session ID unknown").await;
        expect_error(
            &server,
            server.http.post(&url).body("4x"),
            400,
            1,
            "Session ID unknown",
        )
        .await;
    }
}

#[tokio::test]
async fn rejects_sid_of_closed_session_with_code_1() {
    let mut server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    assert_eq!(server.post(&sid, "1").await, (200, "ok".to_owned()));
    server.closed(&sid).await;
    expect_error(
        &server,
        server
            .http
            .get(server.url(&format!("EIO=4&transport=polling&sid={sid}"))),
        400,
        1,
        "Session ID unknown",
    )
    .await;
}

#[tokio::test]
async fn rejects_websocket_transport_without_upgrade_with_code_3() {
    let server = EngineServer::start(config()).await;
    expect_error(
        &server,
        server.http.get(server.url("EIO=4&transport=websocket")),
        400,
        3,
        "Bad request",
    )
    .await;
}

#[tokio::test]
async fn rejects_websocket_transport_without_upgrade_on_polling_session_with_code_3() {
    let server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    let response = server
        .http
        .get(server.url(&format!("EIO=4&transport=websocket&sid={sid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"code":3,"message":"Bad request"}"#
    );
    // Refusing the request does not end the session.
    assert_eq!(server.post(&sid, "4still here").await.0, 200);
}

#[tokio::test]
async fn rejects_non_websocket_upgrade_with_code_3() {
    let server = EngineServer::start(config()).await;
    let request = format!(
        "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
        server.addr
    );
    let answer = raw_request(server.addr, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.ends_with(r#"{"code":3,"message":"Bad request"}"#),
        "{answer}"
    );
    assert_eq!(server.engine.session_count(), 0);
}

#[tokio::test]
async fn rejects_websocket_upgrade_with_wrong_version() {
    let server = EngineServer::start(config()).await;
    let request = format!(
        "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        server.addr
    );
    let answer = raw_request(server.addr, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

fn with_allowlist() -> EngineConfig {
    EngineConfig {
        allowed_origins: Some(vec!["http://game.example".to_owned()]),
        ..config()
    }
}

#[tokio::test]
async fn rejects_forbidden_origin_on_polling_with_403() {
    let server = EngineServer::start(with_allowlist()).await;
    let request = server
        .http
        .get(server.url("EIO=4&transport=polling"))
        .header("origin", "http://evil.example");
    expect_error(&server, request, 403, 4, "Forbidden").await;
}

#[tokio::test]
async fn rejects_forbidden_origin_on_existing_polling_session_with_403() {
    let server = EngineServer::start(with_allowlist()).await;
    let sid = server.open_polling().await;
    let url = server.url(&format!("EIO=4&transport=polling&sid={sid}"));
    let response = server
        .http
        .post(&url)
        .header("origin", "http://evil.example")
        .body("4x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn rejects_forbidden_origin_on_websocket_upgrade_with_403() {
    let server = EngineServer::start(with_allowlist()).await;
    match server
        .ws_with_origin("EIO=4&transport=websocket", "http://evil.example")
        .await
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("forbidden origin was not refused: {:?}", other.map(|_| ())),
    }
    assert_eq!(server.engine.session_count(), 0);
    assert!(server
        .ws_with_origin("EIO=4&transport=websocket", "http://game.example")
        .await
        .is_ok());
}

#[tokio::test]
async fn rejects_forbidden_origin_on_upgrade_of_polling_session_with_403() {
    let server = EngineServer::start(with_allowlist()).await;
    let sid = server.open_polling().await;
    let refused = server
        .ws_with_origin(
            &format!("EIO=4&transport=websocket&sid={sid}"),
            "http://evil.example",
        )
        .await;
    assert!(
        matches!(refused, Err(tokio_tungstenite::tungstenite::Error::Http(ref r)) if r.status() == 403)
    );
}

#[tokio::test]
async fn listed_origin_is_echoed_with_credentials() {
    let server = EngineServer::start(with_allowlist()).await;
    let response = server
        .http
        .get(server.url("EIO=4&transport=polling"))
        .header("origin", "http://game.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://game.example"
    );
    assert_eq!(
        response.headers()["access-control-allow-credentials"],
        "true"
    );
    assert_eq!(response.headers()["vary"], "Origin");
}

#[tokio::test]
async fn any_origin_gets_wildcard_cors() {
    let server = EngineServer::start(config()).await;
    let response = server
        .http
        .get(server.url("EIO=4&transport=polling"))
        .header("origin", "http://anywhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(response
        .headers()
        .get("access-control-allow-credentials")
        .is_none());
}

#[tokio::test]
async fn error_answers_carry_cors_headers() {
    let server = EngineServer::start(config()).await;
    let response = server
        .http
        .get(server.url("EIO=4&transport=abc"))
        .header("origin", "http://anywhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn unknown_transport_is_reported_before_forbidden_origin() {
    let server = EngineServer::start(with_allowlist()).await;
    let request = server
        .http
        .get(server.url("EIO=4&transport=abc"))
        .header("origin", "http://evil.example");
    expect_error(&server, request, 400, 0, "Transport unknown").await;
}

#[tokio::test]
async fn answers_cors_preflight() {
    let server = EngineServer::start(with_allowlist()).await;
    let response = server
        .http
        .request(
            reqwest::Method::OPTIONS,
            server.url("EIO=4&transport=polling"),
        )
        .header("origin", "http://game.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type, x-custom")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let headers = response.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://game.example"
    );
    assert_eq!(
        headers["access-control-allow-methods"],
        "GET, POST, OPTIONS"
    );
    assert_eq!(
        headers["access-control-allow-headers"],
        "content-type, x-custom"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    let refused = server
        .http
        .request(
            reqwest::Method::OPTIONS,
            server.url("EIO=4&transport=polling"),
        )
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(server.engine.session_count(), 0);
}

#[tokio::test]
async fn handshake_refused_after_close_all() {
    let server = EngineServer::start(config()).await;
    server
        .engine
        .close_all(std::time::Duration::from_secs(1))
        .await;
    let (status, _) = server.get_url(&server.url("EIO=4&transport=polling")).await;
    assert_eq!(status, 503);
}
