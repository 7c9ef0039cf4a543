//! Shared tools of the `hostile_*` tests: raw TCP requests and hand-built
//! WebSocket frames (what well-behaved clients cannot send), polling
//! helpers, and the bystander checks proving the server still serves others
//! after each attack. Builds on `game_support` (the in-process server).
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::game_support::{Player, TestServer, PATIENCE};

/// Opens a TCP connection to `addr` from the loopback address `from`.
pub async fn connect_from(addr: SocketAddr, from: IpAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(addr).await
}

/// Reads until the peer closes, `limit` bytes arrive, or `PATIENCE` passes.
pub async fn read_until_closed(stream: &mut TcpStream, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while out.len() < limit {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// Reads one HTTP response head (up to the blank line) and returns it.
pub async fn read_head(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !out.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout_at(deadline, stream.read(&mut byte)).await {
            Ok(Ok(1)) => out.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends `request` as is on a fresh connection and returns everything the
/// server answers until it closes (requests should say `Connection: close`).
/// Write errors are ignored: the server may close before reading it all.
pub async fn raw_request(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("tcp connect");
    let _ = stream.write_all(request).await;
    String::from_utf8_lossy(&read_until_closed(&mut stream, 1 << 20).await).into_owned()
}

/// The status code of a raw HTTP response (0 when there is none).
pub fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The Engine.IO error code in a JSON error body.
pub async fn engine_code(response: reqwest::Response) -> (u16, Option<u64>) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_u64())
}

/// Opens a polling session; returns its sid.
pub async fn polling_session(server: &TestServer) -> String {
    let res = server
        .http
        .get(server.url("/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "polling handshake");
    let body = res.text().await.unwrap();
    let open: Value = serde_json::from_str(body.strip_prefix('0').expect("open packet")).unwrap();
    open["sid"].as_str().unwrap().to_owned()
}

/// The URL of polling session `sid`.
pub fn poll_url(server: &TestServer, sid: &str) -> String {
    server.url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}"))
}

/// Whether polling session `sid` is gone (its next GET gets code 1).
pub async fn session_is_gone(server: &TestServer, sid: &str) -> bool {
    let res = server
        .http
        .get(poll_url(server, sid))
        .timeout(PATIENCE)
        .send()
        .await
        .unwrap();
    engine_code(res).await == (400, Some(1))
}

/// A logged-in player that keeps playing while others attack the server.
pub struct Bystander {
    player: Player,
    x: f64,
}

impl Bystander {
    /// Registers `name`, joins the world and waits for `welcome`.
    pub async fn join(server: &TestServer, name: &str) -> Self {
        let (_, token) = server.account(name).await;
        let mut player = Player::join(server.addr(), &token).await;
        player.wait_for("welcome", |_| true).await;
        Self { player, x: 2048.0 }
    }

    /// Asserts the server still serves: HTTP answers, and this player's
    /// next move comes back acknowledged in a snapshot.
    pub async fn still_served(&mut self, server: &TestServer) {
        let health = server
            .http
            .get(server.url("/api/health"))
            .timeout(PATIENCE)
            .send()
            .await
            .expect("health answers");
        assert_eq!(health.status(), 200, "health after the attack");
        self.x += 1.0;
        let seq = self.player.move_to(self.x, 2048.0).await;
        self.player
            .wait_for("snapshot", |s| s["ack"].as_u64() >= Some(seq))
            .await;
    }
}

/// A brand-new account can still join and play (for tests whose settings
/// would time out a long-lived bystander).
pub async fn newcomer_plays(server: &TestServer, name: &str) {
    let mut newcomer = Bystander::join(server, name).await;
    newcomer.still_served(server).await;
}

/// A client-to-server WebSocket frame: `first` is FIN/RSV/opcode; masked
/// with a fixed key unless `masked` is false.
pub fn ws_frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![first];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x12, 0x34, 0x56, 0x78];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// A raw WebSocket session on the Engine.IO endpoint: handshake done, the
/// `open` packet read. Returns the stream for hand-built frames.
pub async fn raw_websocket(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("tcp connect");
    let request = format!(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "upgrade answered: {head}");
    let (opcode, payload) = read_ws_frame(&mut stream).await.expect("open packet frame");
    assert_eq!(opcode, 1);
    assert!(payload.starts_with(b"0{"), "open packet");
    stream
}

/// Reads one server frame (servers never mask): (opcode, payload), or
/// `None` when the connection ends first.
pub async fn read_ws_frame(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let read = async {
        let mut head = [0u8; 2];
        stream.read_exact(&mut head).await.ok()?;
        let len = match head[1] & 0x7f {
            126 => u64::from(stream.read_u16().await.ok()?),
            127 => stream.read_u64().await.ok()?,
            n => u64::from(n),
        };
        let mut payload = vec![0u8; usize::try_from(len).ok()?.min(1 << 20)];
        stream.read_exact(&mut payload).await.ok()?;
        Some((head[0] & 0x0f, payload))
    };
    tokio::time::timeout(PATIENCE, read).await.ok().flatten()
}

/// Reads frames until the server sends a close frame (returns its status
/// code, if any) or the connection ends (`None`). Panics if the connection
/// stays open past `PATIENCE`.
pub async fn ws_close_code(stream: &mut TcpStream) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let frame = tokio::time::timeout_at(deadline, read_ws_frame(stream))
            .await
            .expect("server closes the connection");
        match frame {
            None => return None,
            Some((8, payload)) => {
                return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]))
            }
            Some(_) => continue,
        }
    }
}

/// Waits (bounded) for the connection to end; true if it did.
pub async fn connection_ends(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// A short pause, for tests that must let time pass on a real clock.
pub async fn pause(duration: Duration) {
    tokio::time::sleep(duration).await;
}

/// A raw Engine.IO WebSocket client that sends whatever it is told and
/// answers pings, for Socket.IO-level abuse.
pub struct RawSio {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
}

impl RawSio {
    /// Opens a WebSocket session (no namespace joined yet).
    pub async fn open(addr: SocketAddr) -> Self {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        let mut client = Self { ws };
        let open = client.next_text().await.expect("open packet");
        assert!(open.starts_with('0'), "{open}");
        client
    }

    /// Opens a session and joins `/` with `token`; waits for `welcome`.
    pub async fn joined(addr: SocketAddr, token: &str) -> Self {
        let mut client = Self::open(addr).await;
        client.join(token).await;
        client
    }

    /// Wraps a WebSocket opened by the caller (e.g. over a tuned socket);
    /// reads the `open` packet.
    pub async fn from_stream(
        ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    ) -> Self {
        let mut client = Self { ws };
        let open = client.next_text().await.expect("open packet");
        assert!(open.starts_with('0'), "{open}");
        client
    }

    /// Joins `/` with `token` and waits for `welcome`.
    pub async fn join(&mut self, token: &str) {
        self.send_text(&format!("40{}", serde_json::json!({ "token": token })))
            .await;
        let reply = self.next_text().await.expect("CONNECT reply");
        assert!(reply.starts_with("40{"), "CONNECT reply: {reply}");
        let welcome = self.next_text().await.expect("welcome");
        assert!(welcome.starts_with("42[\"welcome\""), "{welcome}");
    }

    /// The underlying WebSocket.
    pub fn into_inner(
        self,
    ) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>> {
        self.ws
    }

    /// Sends one text frame; errors (a closed connection) are ignored.
    pub async fn send_text(&mut self, text: &str) {
        use futures_util::SinkExt;
        let _ = self
            .ws
            .send(tokio_tungstenite::tungstenite::Message::text(
                text.to_owned(),
            ))
            .await;
    }

    /// Sends one binary frame; errors are ignored.
    pub async fn send_binary(&mut self, data: Vec<u8>) {
        use futures_util::SinkExt;
        let _ = self
            .ws
            .send(tokio_tungstenite::tungstenite::Message::binary(data))
            .await;
    }

    /// The next text frame (pings answered), or `None` once closed. Panics
    /// after `PATIENCE` without one.
    pub async fn next_text(&mut self) -> Option<String> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("a frame within the patience");
            match frame {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return None,
                Some(Ok(Message::Text(t))) if t.as_str() == "2" => self.send_text("3").await,
                Some(Ok(Message::Text(t))) => return Some(t.to_string()),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next binary frame (pings answered, text skipped), or `None` once closed.
    pub async fn next_binary(&mut self) -> Option<Vec<u8>> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("a frame within the patience");
            match frame {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return None,
                Some(Ok(Message::Text(t))) if t.as_str() == "2" => self.send_text("3").await,
                Some(Ok(Message::Binary(b))) => return Some(b.to_vec()),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Reads until the server closes the connection; panics if it does not
    /// within `PATIENCE`. Returns the text frames seen meanwhile.
    pub async fn closed_by_server(&mut self) -> Vec<String> {
        let mut seen = Vec::new();
        while let Some(text) = self.next_text().await {
            seen.push(text);
        }
        seen
    }
}
