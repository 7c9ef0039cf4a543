//! Hostile Engine.IO traffic against the full server (`net::server::start`,
//! temporary database): bad handshakes, forged sids, oversized and
//! malformed polling bodies, overlapping polls, abandoned upgrades, silent
//! clients, the per-IP handshake rate, the origin allowlist and the per-IP
//! connection cap. Every test ends by proving that a bystander is still
//! served. The same inputs against the bare engine are in
//! `tests/engineio_*.rs`; these prove the integrated server wires the
//! limits through.

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use support::bystander::*;
use support::raw::*;
use support::server::*;
use support::PATIENCE;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn bad_versions_transports_and_methods_get_engine_error_codes() {
    let server = LocusServer::start().await;
    let mut bystander = Bystander::join(&server, "bystander").await;
    let cases = [
        ("GET", "EIO=3&transport=polling", 5),
        ("GET", "EIO=abc&transport=polling", 5),
        ("GET", "transport=polling", 5),
        ("GET", "EIO=4&transport=__proto__", 0),
        ("GET", "EIO=4&transport=constructor", 0),
        ("GET", "EIO=4&transport=flashsocket", 0),
        ("GET", "EIO=4", 0),
        ("POST", "EIO=4&transport=polling", 2),
        ("PUT", "EIO=4&transport=polling", 2),
    ];
    for (method, query, code) in cases {
        let url = server.url(&format!("/socket.io/?{query}"));
        let res = server
            .http
            .request(method.parse().unwrap(), url)
            .body("40")
            .send()
            .await
            .unwrap();
        assert_eq!(
            engine_code(res).await,
            (400, Some(code)),
            "{method} {query}"
        );
    }
    // `transport=__proto__` on a WebSocket upgrade (CVE-2023-31125).
    let res = server
        .http
        .get(server.url("/socket.io/?EIO=4&transport=__proto__"))
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(engine_code(res).await, (400, Some(0)));
    bystander.still_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn forged_and_stale_sids_get_code_1() {
    let server = LocusServer::start().await;
    let mut bystander = Bystander::join(&server, "bystander").await;
    let closed = polling_session(&server).await;
    let res = server
        .http
        .post(poll_url(&server, &closed))
        .body("1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let long = "A".repeat(10_000);
    for sid in [
        "AAAAAAAAAAAAAAAAAAAA",
        "__proto__",
        "constructor",
        "hasOwnProperty",
        long.as_str(),
        closed.as_str(),
    ] {
        let res = server
            .http
            .get(poll_url(&server, sid))
            .send()
            .await
            .unwrap();
        assert_eq!(
            engine_code(res).await,
            (400, Some(1)),
            "GET sid {:.20}",
            sid
        );
        let res = server
            .http
            .post(poll_url(&server, sid))
            .body("4hi")
            .send()
            .await
            .unwrap();
        assert_eq!(
            engine_code(res).await,
            (400, Some(1)),
            "POST sid {:.20}",
            sid
        );
    }
    bystander.still_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn polling_bodies_over_the_cap_get_413_before_being_read() {
    let server = LocusServer::start_with(|c| c.max_payload = 100_000).await;
    let mut bystander = Bystander::join(&server, "bystander").await;

    // Honest Content-Length of 10 MB: refused from the head alone.
    let sid = polling_session(&server).await;
    let head = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 10000000\r\n\r\n"
    );
    let answer = raw_request(server.addr(), head.as_bytes()).await;
    assert_eq!(status_of(&answer), 413, "{answer}");
    assert!(
        session_is_gone(&server, &sid).await,
        "an oversized body closes the session"
    );

    // Chunked, no length: refused once the cap is passed, long before 10 MB.
    let sid = polling_session(&server).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let head = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 10_000, "4".repeat(10_000));
    let mut sent = 0;
    for _ in 0..1_000 {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
        sent += 10_000;
        if sent > 300_000 {
            break;
        }
    }
    let answer =
        String::from_utf8_lossy(&read_until_closed(&mut stream, 1 << 16).await).into_owned();
    assert_eq!(status_of(&answer), 413, "{answer}");
    assert!(session_is_gone(&server, &sid).await);

    // Content-Length shorter than the body: only the declared bytes are the
    // body; the rest is not a request and gets 400.
    let sid = polling_session(&server).await;
    let request = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n4hGARBAGE GARBAGE\r\n\r\n"
    );
    let answer = raw_request(server.addr(), request.as_bytes()).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert!(
        answer.contains("400 Bad Request"),
        "trailing bytes are refused: {answer}"
    );
    bystander.still_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_body_is_cut_off_by_the_body_read_timeout() {
    let server =
        LocusServer::start_with(|c| c.body_read_timeout = Duration::from_millis(300)).await;
    let mut bystander = Bystander::join(&server, "bystander").await;
    let sid = polling_session(&server).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let head = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n4partial"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server gives up on the body and closes the session.
    let answer =
        String::from_utf8_lossy(&read_until_closed(&mut stream, 1 << 16).await).into_owned();
    assert!(answer.is_empty() || status_of(&answer) >= 400, "{answer}");
    assert!(
        session_is_gone(&server, &sid).await,
        "a stalled body closes the session"
    );
    bystander.still_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn malformed_polling_bodies_close_the_session() {
    let server = LocusServer::start().await;
    let mut bystander = Bystander::join(&server, "bystander").await;
    let flood = "\u{1e}".repeat(100_000);
    let bodies: [&[u8]; 6] = [
        flood.as_bytes(),
        b"b!!!",
        b"abc",
        b"4ok\x1eb%%%",
        b"4\xe2\x82\x1e\xac",
        b"",
    ];
    for body in bodies {
        let sid = polling_session(&server).await;
        let res = server
            .http
            .post(poll_url(&server, &sid))
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            400,
            "body {:?}",
            String::from_utf8_lossy(&body[..body.len().min(16)])
        );
        assert!(
            session_is_gone(&server, &sid).await,
            "a malformed body closes the session"
        );
    }
    bystander.still_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn two_concurrent_polls_close_the_session() {
    let server = LocusServer::start().await;
    let mut bystander = Bystander::join(&server, "bystander").await;
    let sid = polling_session(&server).await;
    let first = tokio::spawn({
        let url = poll_url(&server, &sid);
        let http = server.http.clone();
        async move {
            http.get(url)
                .timeout(PATIENCE)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    });
    // The second poll may race the first to the server: either one is the
    // duplicate, and either way the session ends.
    let mut refused = false;
    for _ in 0..50 {
        let res = server
            .http
            .get(poll_url(&server, &sid))
            .timeout(PATIENCE)
            .send()
            .await
            .unwrap();
        if res.status() == 400 {
            refused = true;
            break;
        }
    }
    assert!(refused, "an overlapping poll is refused");
    let released = first.await.unwrap();
    assert!(
        released.contains('1')
            || released.contains('6')
            || released.starts_with('2')
            || released.contains("code"),
        "{released}"
    );
    assert!(session_is_gone(&server, &sid).await);
    bystander.still_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn an_upgrade_abandoned_after_the_probe_is_reclaimed() {
    let server = LocusServer::start_with(|c| c.upgrade_timeout = Duration::from_millis(300)).await;
    let mut bystander = Bystander::join(&server, "bystander").await;
    let sid = polling_session(&server).await;
    let url = format!(
        "ws://{}/socket.io/?EIO=4&transport=websocket&sid={sid}",
        server.addr()
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text("2probe")).await.unwrap();
    let probe = tokio::time::timeout(PATIENCE, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(probe, Message::text("3probe"));
    // Never send `5`: the server gives up on the upgrade and drops the socket.
    let ended = tokio::time::timeout(PATIENCE, async {
        while let Some(Ok(message)) = ws.next().await {
            if message.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the abandoned upgrade's WebSocket is closed");
    bystander.still_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn clients_that_never_answer_pings_are_dropped() {
    let server = LocusServer::start_with(|c| {
        c.ping_interval = Duration::from_millis(200);
        c.ping_timeout = Duration::from_millis(200);
        c.connect_timeout = Duration::from_secs(30);
    })
    .await;
    // WebSocket: joined the namespace, then silent.
    let mut silent = raw_websocket(server.addr()).await;
    silent
        .write_all(&ws_frame(0x81, b"40", true))
        .await
        .unwrap();
    assert!(
        connection_ends(&mut silent).await,
        "a silent WebSocket client is dropped"
    );
    // Polling: keeps polling but never pongs.
    let sid = polling_session(&server).await;
    let mut gone = false;
    for _ in 0..100 {
        let res = server
            .http
            .get(poll_url(&server, &sid))
            .timeout(PATIENCE)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body = res.text().await.unwrap();
        if status != 200 || body.split('\u{1e}').any(|p| p == "1") {
            gone = true;
            break;
        }
    }
    assert!(gone, "a polling client that never pongs is dropped");
    newcomer_plays(&server, "newcomer").await;
    server.stop().await;
}

#[tokio::test]
async fn handshakes_beyond_the_per_ip_rate_get_429() {
    let server = LocusServer::start_with(|c| {
        // One handshake per 100 s: nothing refills during the test.
        c.handshake_rate = 0.01;
        c.handshake_burst = 5;
    })
    .await;
    let mut sids = Vec::new();
    for _ in 0..5 {
        sids.push(polling_session(&server).await);
    }
    let res = server
        .http
        .get(server.url("/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("Too many handshakes")),
        "{body}"
    );
    // Sessions already open keep working: requests with a sid are not handshakes.
    let res = server
        .http
        .post(poll_url(&server, &sids[0]))
        .body("40")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Other addresses have their own budget.
    let other = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .build()
        .unwrap();
    let res = other
        .get(server.url("/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "another address is not limited");
    // And the HTTP API is not affected.
    assert_eq!(
        server
            .http
            .get(server.url("/api/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.stop().await;
}

#[tokio::test]
async fn origins_off_the_allowlist_are_refused_on_polling_and_websocket() {
    let server =
        LocusServer::start_with(|c| c.allowed_origins = vec!["http://game.example".into()]).await;
    let mut bystander = Bystander::join(&server, "bystander").await; // no Origin: non-browser client
    let handshake = server.url("/socket.io/?EIO=4&transport=polling");
    let res = server
        .http
        .get(&handshake)
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(engine_code(res).await, (403, Some(4)));
    let res = server
        .http
        .get(&handshake)
        .header("Origin", "http://game.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://game.example"
    );

    // A session opened from a good origin cannot be used from a bad one.
    let sid = polling_session(&server).await;
    let res = server
        .http
        .get(poll_url(&server, &sid))
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(engine_code(res).await, (403, Some(4)));

    let ws_url = format!(
        "ws://{}/socket.io/?EIO=4&transport=websocket",
        server.addr()
    );
    for (origin, allowed) in [
        ("http://evil.example", false),
        ("null", false),
        ("http://game.example", true),
    ] {
        let mut request = ws_url.as_str().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
        let result = tokio_tungstenite::connect_async(request).await;
        match result {
            Ok(_) => assert!(allowed, "WebSocket from {origin} accepted"),
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                assert!(!allowed, "WebSocket from {origin} refused");
                assert_eq!(res.status(), 403);
            }
            Err(other) => panic!("WebSocket from {origin}: {other}"),
        }
    }
    // The upgrade of a polling session is checked too.
    let sid = polling_session(&server).await;
    let mut request = format!("{ws_url}&sid={sid}").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", "http://evil.example".parse().unwrap());
    assert!(
        tokio_tungstenite::connect_async(request).await.is_err(),
        "upgrade from a bad origin refused"
    );
    bystander.still_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_per_ip_cap_are_closed() {
    let server = LocusServer::start_with(|c| c.max_connections_per_ip = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(raw_websocket(server.addr()).await);
    }
    let mut extra = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let _ = extra
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let answer = read_until_closed(&mut extra, 1 << 16).await;
    assert!(
        answer.is_empty(),
        "the fourth connection from one address is closed unanswered"
    );
    // Another address is not affected.
    let mut other = connect_from(server.addr(), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)))
        .await
        .unwrap();
    other
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer =
        String::from_utf8_lossy(&read_until_closed(&mut other, 1 << 16).await).into_owned();
    assert_eq!(status_of(&answer), 200, "{answer}");
    // Closing one frees a slot.
    drop(held.pop());
    let mut again = None;
    for _ in 0..100 {
        let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        let _ = stream
            .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let answer =
            String::from_utf8_lossy(&read_until_closed(&mut stream, 1 << 16).await).into_owned();
        if status_of(&answer) == 200 {
            again = Some(answer);
            break;
        }
        pause(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "a freed slot is reusable");
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_total_cap_wait_for_a_free_slot() {
    let server = LocusServer::start_with(|c| c.max_connections = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(raw_websocket(server.addr()).await);
    }
    let waiting = tokio::spawn({
        let addr = server.addr();
        async move {
            raw_request(
                addr,
                b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .await
        }
    });
    // Not served while every slot is taken (the TCP handshake itself may
    // complete in the kernel's backlog).
    pause(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "a fourth connection is served beyond --max-connections 3"
    );
    drop(held.pop());
    let answer = waiting.await.unwrap();
    assert_eq!(
        status_of(&answer),
        200,
        "served once a slot frees: {answer}"
    );
    server.stop().await;
}
