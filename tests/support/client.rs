//! The one raw Engine.IO / Socket.IO client of the tests: [`WsClient`] over
//! WebSocket and [`PollClient`] over long-polling, both speaking the wire
//! bytes directly (type digits, `\x1e` separators, `b`+base64) so tests can
//! send what no well-behaved client would. Knows the Engine.IO path
//! `/socket.io/` and nothing of the game beyond [`WsClient::join_world`];
//! the game's event recorder is [`super::player::Player`], built on this.
//! Every wait is bounded by [`PATIENCE`], so a broken server fails the test
//! instead of hanging it.

use std::net::SocketAddr;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::PATIENCE;

/// A client WebSocket as tokio-tungstenite opens it.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// `ws://ADDR/socket.io/?EIO=4&transport=websocket`.
pub fn ws_url(addr: SocketAddr) -> String {
    format!("ws://{addr}/socket.io/?EIO=4&transport=websocket")
}

/// What a raw client received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text message (Engine.IO packet, type digit included).
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// The server closed the connection.
    Closed,
}

impl Frame {
    /// The text, panicking on anything else.
    pub fn text(self) -> String {
        match self {
            Frame::Text(text) => text,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// A raw Engine.IO-over-WebSocket client.
pub struct WsClient {
    /// The WebSocket.
    ws: Ws,
    /// The Engine.IO sid from the open packet.
    pub sid: String,
    /// The open packet, as received.
    pub open: serde_json::Value,
}

impl WsClient {
    /// Opens a WebSocket-only session on `/socket.io/` and reads the open packet.
    pub async fn connect(addr: SocketAddr) -> Self {
        let (ws, _) =
            tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(ws_url(addr)))
                .await
                .expect("websocket connect timed out")
                .expect("websocket connect");
        Self::from_stream(ws).await
    }

    /// [`WsClient::connect`] over a TCP socket whose kernel receive buffer is
    /// `bytes` (a client that reads slowly, or not at all, fills it soon).
    pub async fn connect_with_recv_buffer(addr: SocketAddr, bytes: u32) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(bytes).unwrap();
        let stream = socket.connect(addr).await.expect("tcp connect");
        let (ws, _) = tokio::time::timeout(
            PATIENCE,
            tokio_tungstenite::client_async(
                ws_url(addr),
                tokio_tungstenite::MaybeTlsStream::Plain(stream),
            ),
        )
        .await
        .expect("websocket connect timed out")
        .expect("websocket connect");
        Self::from_stream(ws).await
    }

    /// Wraps a WebSocket opened by the caller (e.g. over a tuned socket) and
    /// reads the open packet.
    pub async fn from_stream(ws: Ws) -> Self {
        let mut client = Self {
            ws,
            sid: String::new(),
            open: serde_json::Value::Null,
        };
        let open = client.recv().await.text();
        let open = open
            .strip_prefix('0')
            .unwrap_or_else(|| panic!("not an open packet: {open}"));
        client.open = serde_json::from_str(open).expect("open packet JSON");
        client.sid = client.open["sid"].as_str().expect("sid").to_owned();
        client
    }

    /// Opens a session and joins the game on `/` with `token`; waits for
    /// `welcome`.
    pub async fn joined(addr: SocketAddr, token: &str) -> Self {
        let mut client = Self::connect(addr).await;
        client.join_world(token).await;
        client
    }

    /// Joins the game on `/` with `token` and waits for `welcome` (the
    /// first packet after the CONNECT reply).
    pub async fn join_world(&mut self, token: &str) {
        self.send_text(&format!("40{}", serde_json::json!({ "token": token })))
            .await;
        let reply = self.text_or_closed().await.expect("CONNECT reply");
        assert!(reply.starts_with("40{"), "CONNECT reply: {reply}");
        let welcome = self.text_or_closed().await.expect("welcome");
        assert!(welcome.starts_with("42[\"welcome\""), "{welcome}");
    }

    /// The underlying WebSocket.
    pub fn into_inner(self) -> Ws {
        self.ws
    }

    /// Sends a text frame, which must go out.
    pub async fn send(&mut self, text: &str) {
        self.ws
            .send(WsMessage::text(text))
            .await
            .expect("send text");
    }

    /// Sends a binary frame, which must go out.
    pub async fn send_binary(&mut self, data: &[u8]) {
        self.ws
            .send(WsMessage::binary(data.to_vec()))
            .await
            .expect("send binary");
    }

    /// Sends one text frame; errors (the server closed already) are
    /// ignored, for attacks the server may cut short.
    pub async fn send_text(&mut self, text: &str) {
        self.send_raw(WsMessage::text(text.to_owned())).await;
    }

    /// Sends one binary frame; errors are ignored like [`Self::send_text`].
    pub async fn send_bytes(&mut self, data: Vec<u8>) {
        self.send_raw(WsMessage::binary(data)).await;
    }

    /// Sends any WebSocket message, ignoring failures (the server may have
    /// closed already).
    pub async fn send_raw(&mut self, message: WsMessage) {
        let _ = self.ws.send(message).await;
    }

    /// The next frame, pings included.
    pub async fn recv(&mut self) -> Frame {
        loop {
            let next = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("no frame within the patience");
            return match next {
                None | Some(Err(_)) => Frame::Closed,
                Some(Ok(WsMessage::Close(_))) => {
                    // Complete the closing handshake as a real client does.
                    let _ = self.ws.flush().await;
                    Frame::Closed
                }
                Some(Ok(WsMessage::Text(text))) => Frame::Text(text.to_string()),
                Some(Ok(WsMessage::Binary(data))) => Frame::Binary(data.to_vec()),
                Some(Ok(_)) => continue,
            };
        }
    }

    /// The next frame that is not a ping; pings are answered. Panics when
    /// nothing else arrives within [`PATIENCE`].
    pub async fn next(&mut self) -> Frame {
        let next = async {
            loop {
                match self.recv().await {
                    Frame::Text(text) if text == "2" => self.send_text("3").await,
                    other => return other,
                }
            }
        };
        tokio::time::timeout(PATIENCE, next)
            .await
            .expect("only pings within the patience")
    }

    /// The next non-ping text frame.
    pub async fn next_text(&mut self) -> String {
        self.next().await.text()
    }

    /// The next non-ping text frame (binary skipped), or `None` once closed.
    pub async fn text_or_closed(&mut self) -> Option<String> {
        loop {
            match self.next().await {
                Frame::Text(text) => return Some(text),
                Frame::Binary(_) => continue,
                Frame::Closed => return None,
            }
        }
    }

    /// The next binary frame (pings answered, text skipped), or `None` once closed.
    pub async fn binary_or_closed(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.next().await {
                Frame::Binary(data) => return Some(data),
                Frame::Text(_) => continue,
                Frame::Closed => return None,
            }
        }
    }

    /// Reads until the server closes the connection; panics if it does not
    /// within [`PATIENCE`] of the last frame. Returns the text frames seen
    /// meanwhile.
    pub async fn closed_by_server(&mut self) -> Vec<String> {
        let mut seen = Vec::new();
        while let Some(text) = self.text_or_closed().await {
            seen.push(text);
        }
        seen
    }

    /// Joins namespace `nsp` with `auth` (if any) and returns the Socket.IO
    /// sid of the CONNECT reply.
    pub async fn join(&mut self, nsp: &str, auth: Option<&str>) -> String {
        let prefix = if nsp == "/" {
            String::new()
        } else {
            format!("{nsp},")
        };
        self.send(&format!("40{prefix}{}", auth.unwrap_or("")))
            .await;
        let reply = self.next_text().await;
        let body = reply
            .strip_prefix(&format!("40{prefix}"))
            .unwrap_or_else(|| panic!("expected a CONNECT reply for {nsp}, got {reply}"));
        let value: serde_json::Value = serde_json::from_str(body).expect("CONNECT reply JSON");
        value["sid"].as_str().expect("sid").to_owned()
    }

    /// Waits until the server closes the connection, answering pings (so the
    /// close cannot be a ping timeout) and skipping anything else.
    pub async fn expect_closed(&mut self) {
        let closed = async { while self.next().await != Frame::Closed {} };
        tokio::time::timeout(PATIENCE, closed)
            .await
            .expect("the server did not close the connection");
    }

    /// Proves the connection is alive: waits for the next ping, answers it.
    pub async fn expect_ping(&mut self) {
        loop {
            match self.recv().await {
                Frame::Text(text) if text == "2" => return self.send("3").await,
                Frame::Closed => panic!("closed while waiting for a ping"),
                _ => {}
            }
        }
    }

    /// Proves nothing but pings arrives for a while (`pings` of them), and
    /// that the connection stays open meanwhile.
    pub async fn expect_only_pings(&mut self, pings: usize) {
        for _ in 0..pings {
            match self.recv().await {
                Frame::Text(text) if text == "2" => self.send("3").await,
                other => panic!("expected only pings, got {other:?}"),
            }
        }
    }

    /// Closes the WebSocket politely and reads until the server's answer
    /// ends the connection, as a real client does (best effort, bounded by
    /// [`PATIENCE`]).
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        let drain = async { while let Some(Ok(_)) = self.ws.next().await {} };
        let _ = tokio::time::timeout(PATIENCE, drain).await;
    }
}

/// A raw Engine.IO long-polling client.
pub struct PollClient {
    /// The HTTP client.
    http: reqwest::Client,
    /// `http://addr/socket.io/?EIO=4&transport=polling&sid=...`.
    url: String,
    /// The Engine.IO sid.
    pub sid: String,
}

impl PollClient {
    /// Performs the polling handshake.
    pub async fn connect(addr: SocketAddr) -> Self {
        let http = reqwest::Client::builder()
            .timeout(PATIENCE)
            .build()
            .expect("http client");
        let base = format!("http://{addr}/socket.io/?EIO=4&transport=polling");
        let body = http
            .get(&base)
            .send()
            .await
            .expect("handshake")
            .text()
            .await
            .expect("handshake body");
        let open = body
            .strip_prefix('0')
            .unwrap_or_else(|| panic!("not an open packet: {body}"));
        let open: serde_json::Value = serde_json::from_str(open).expect("open JSON");
        let sid = open["sid"].as_str().expect("sid").to_owned();
        Self {
            http,
            url: format!("{base}&sid={sid}"),
            sid,
        }
    }

    /// POSTs packets joined with `\x1e`; returns the HTTP status.
    pub async fn post(&self, packets: &[&str]) -> u16 {
        self.post_bytes(packets.join("\x1e").into_bytes()).await
    }

    /// POSTs a raw body; returns the HTTP status.
    pub async fn post_bytes(&self, body: Vec<u8>) -> u16 {
        match self.http.post(&self.url).body(body).send().await {
            Ok(response) => response.status().as_u16(),
            Err(error) => panic!("POST failed: {error}"),
        }
    }

    /// One GET: status and packets (split on `\x1e`).
    pub async fn poll(&self) -> (u16, Vec<String>) {
        let response = self.http.get(&self.url).send().await.expect("GET");
        let status = response.status().as_u16();
        let body = response.text().await.expect("GET body");
        (status, body.split('\x1e').map(str::to_owned).collect())
    }

    /// Polls until `count` non-ping packets arrived, answering pings.
    pub async fn collect(&self, count: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < count {
            let (status, packets) = self.poll().await;
            assert_eq!(status, 200, "poll failed: {packets:?}");
            for packet in packets {
                if packet == "2" {
                    assert_eq!(self.post(&["3"]).await, 200);
                } else {
                    out.push(packet);
                }
            }
        }
        out
    }
}

/// `b<base64>` as polling carries a binary message.
pub fn b64(data: &[u8]) -> String {
    format!(
        "b{}",
        base64::engine::general_purpose::STANDARD.encode(data)
    )
}
