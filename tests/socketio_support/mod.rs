//! Raw Socket.IO test clients for the `tests/socketio_*.rs` files: a
//! WebSocket client and a long-polling client that speak Engine.IO /
//! Socket.IO bytes directly, and a helper that serves a [`SocketIo`] on
//! 127.0.0.1:0. Every wait is bounded so a broken server fails the test
//! instead of hanging it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use locus::http::listener::{self, HttpLimits};
use locus::socketio::SocketIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest wait for any single expected event.
pub const WAIT: Duration = Duration::from_secs(5);

/// A served [`SocketIo`]; dropping it shuts the listener down.
pub struct TestServer {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// The server, for server-side calls.
    pub io: SocketIo,
    /// Completes the listener's shutdown future.
    stop: Option<oneshot::Sender<()>>,
    /// The accept loop.
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Serves `io` on 127.0.0.1:0.
    pub async fn start(io: SocketIo) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let router = io.engine().router();
        let task = tokio::spawn(listener::serve(
            listener,
            router,
            HttpLimits::default(),
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            addr,
            io,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and waits for the accept loop to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(WAIT * 2, task).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
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
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The Engine.IO sid from the open packet.
    pub sid: String,
    /// The open packet, as received.
    pub open: serde_json::Value,
}

impl WsClient {
    /// Opens a WebSocket-only session on `/socket.io/` and reads the open packet.
    pub async fn connect(addr: SocketAddr) -> Self {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("websocket connect timed out")
            .expect("websocket connect");
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

    /// Sends a text frame.
    pub async fn send(&mut self, text: &str) {
        self.ws
            .send(WsMessage::text(text))
            .await
            .expect("send text");
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, data: &[u8]) {
        self.ws
            .send(WsMessage::binary(data.to_vec()))
            .await
            .expect("send binary");
    }

    /// Sends any WebSocket message, ignoring failures (the server may have
    /// closed already).
    pub async fn send_raw(&mut self, message: WsMessage) {
        let _ = self.ws.send(message).await;
    }

    /// The next frame, pings included.
    pub async fn recv(&mut self) -> Frame {
        let next = tokio::time::timeout(WAIT, self.ws.next())
            .await
            .expect("no frame within the wait");
        match next {
            None | Some(Err(_)) => Frame::Closed,
            Some(Ok(WsMessage::Close(_))) => {
                // Complete the closing handshake as a real client does.
                let _ = self.ws.flush().await;
                Frame::Closed
            }
            Some(Ok(WsMessage::Text(text))) => Frame::Text(text.to_string()),
            Some(Ok(WsMessage::Binary(data))) => Frame::Binary(data.to_vec()),
            Some(Ok(_)) => Box::pin(self.recv()).await,
        }
    }

    /// The next frame that is not a ping; pings are answered. Panics when
    /// nothing else arrives within [`WAIT`].
    pub async fn next(&mut self) -> Frame {
        let next = async {
            loop {
                match self.recv().await {
                    Frame::Text(text) if text == "2" => self.send("3").await,
                    other => return other,
                }
            }
        };
        tokio::time::timeout(WAIT, next)
            .await
            .expect("only pings within the wait")
    }

    /// The next non-ping text frame.
    pub async fn next_text(&mut self) -> String {
        self.next().await.text()
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
        tokio::time::timeout(WAIT, closed)
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
            .timeout(WAIT)
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
