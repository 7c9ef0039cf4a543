//! Shared helpers for tests of the running game server: start `locus` in
//! process on 127.0.0.1:0 with a temporary database, use the HTTP API, and
//! play over a small raw Socket.IO WebSocket client (JSON parser) that
//! records every event it receives.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use locus::config::Config;
use locus::server::RunningServer;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for an expected event before failing.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A `locus` server running in this process on its own temporary database.
pub struct TestServer {
    pub server: RunningServer,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl TestServer {
    /// A server with the contract's defaults.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server with the defaults changed by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            db: dir.path().join("locus.db"),
            ..Config::default()
        };
        tweak(&mut config);
        let server = locus::server::start(config).await.expect("server starts");
        Self {
            server,
            dir,
            http: reqwest::Client::new(),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr(), path)
    }

    /// Registers `username` and returns its account id.
    pub async fn register(&self, username: &str, password: &str) -> u64 {
        let res = self
            .http
            .post(self.url("/api/register"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "register {username}");
        res.json::<Value>().await.unwrap()["id"].as_u64().unwrap()
    }

    /// Logs in and returns the token.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let res = self
            .http
            .post(self.url("/api/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "login {username}");
        res.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Registers and logs in; returns (account id, token).
    pub async fn account(&self, username: &str) -> (u64, String) {
        let id = self.register(username, "password1").await;
        (id, self.login(username, "password1").await)
    }

    /// Stops the server gracefully.
    pub async fn stop(self) {
        self.server.shutdown().await.expect("clean shutdown");
    }
}

/// A raw Socket.IO v5 client over WebSocket on namespace `/`.
pub struct Player {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Every event received so far, in order: (name, first argument).
    pub events: Vec<(String, Value)>,
    /// Whether the server closed the connection.
    pub closed: bool,
    seq: u64,
}

/// How a connection attempt ended.
pub enum Connected {
    /// CONNECT accepted; the client holds the socket.
    Ok(Box<Player>),
    /// CONNECT_ERROR with this payload.
    Refused(Value),
}

impl Player {
    /// Opens a WebSocket session and connects to `/` with `auth`.
    pub async fn connect_with(addr: SocketAddr, auth: Value) -> Connected {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        let open = next_text(&mut ws).await.expect("open packet");
        assert!(open.starts_with('0'), "open packet: {open}");
        ws.send(Message::text(format!("40{auth}"))).await.unwrap();
        loop {
            let text = next_text(&mut ws).await.expect("connect answer");
            if text == "2" {
                ws.send(Message::text("3")).await.unwrap();
            } else if let Some(body) = text.strip_prefix("40") {
                let reply: Value = serde_json::from_str(body).unwrap();
                assert!(reply["sid"].is_string(), "CONNECT reply: {text}");
                return Connected::Ok(Box::new(Player {
                    ws,
                    events: Vec::new(),
                    closed: false,
                    seq: 0,
                }));
            } else if let Some(body) = text.strip_prefix("44") {
                return Connected::Refused(serde_json::from_str(body).unwrap());
            } else {
                panic!("unexpected packet before CONNECT answer: {text}");
            }
        }
    }

    /// Connects with `auth`, which must be refused with `unauthorized`.
    pub async fn assert_unauthorized(addr: SocketAddr, auth: Value) {
        match Self::connect_with(addr, auth.clone()).await {
            Connected::Refused(v) => assert_eq!(v["message"], "unauthorized", "{auth}"),
            Connected::Ok(_) => panic!("connected with {auth}"),
        }
    }

    /// Connects with `{"token": token}`, which must be accepted.
    pub async fn join(addr: SocketAddr, token: &str) -> Player {
        match Self::connect_with(addr, json!({ "token": token })).await {
            Connected::Ok(p) => *p,
            Connected::Refused(v) => panic!("connection refused: {v}"),
        }
    }

    /// Emits `event` with one argument.
    pub async fn emit(&mut self, event: &str, data: Value) {
        let packet = format!("42{}", json!([event, data]));
        self.ws.send(Message::text(packet)).await.unwrap();
    }

    /// Sends a raw Engine.IO text frame.
    pub async fn send_raw(&mut self, frame: &str) {
        let _ = self.ws.send(Message::text(frame.to_owned())).await;
    }

    /// Emits `position` with the next seq; returns the seq used.
    pub async fn move_to(&mut self, x: f64, y: f64) -> u64 {
        self.seq += 1;
        let seq = self.seq;
        self.emit("position", json!({"x": x, "y": y, "seq": seq}))
            .await;
        seq
    }

    /// Reads frames until an event named `name` satisfying `pred` arrives
    /// (answering pings meanwhile); returns its argument.
    pub async fn wait_for(&mut self, name: &str, mut pred: impl FnMut(&Value) -> bool) -> Value {
        let seen = self.events.len();
        if let Some((_, v)) = self.events[..seen]
            .iter()
            .find(|(n, v)| n == name && pred(v))
        {
            return v.clone();
        }
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let step = tokio::time::timeout_at(deadline, self.read_one()).await;
            match step {
                Err(_) => panic!("no `{name}` event within {PATIENCE:?}; {}", self.recent()),
                Ok(false) => panic!(
                    "connection closed while waiting for `{name}`; {}",
                    self.recent()
                ),
                Ok(true) => {
                    if let Some((n, v)) = self.events.last() {
                        if n == name && pred(v) {
                            return v.clone();
                        }
                    }
                }
            }
        }
    }

    /// Reads until the server closes the connection; returns the events seen.
    pub async fn wait_closed(&mut self) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !self.closed {
            if tokio::time::timeout_at(deadline, self.read_one())
                .await
                .is_err()
            {
                panic!("server did not close the connection; {}", self.recent());
            }
        }
    }

    /// The last few events received, for failure messages.
    fn recent(&self) -> String {
        let skip = self.events.len().saturating_sub(4);
        format!(
            "{} events, the last ones: {:?}",
            self.events.len(),
            &self.events[skip..]
        )
    }

    /// Reads one frame; records events; false when the connection ended.
    async fn read_one(&mut self) -> bool {
        match next_text(&mut self.ws).await {
            None => {
                self.closed = true;
                false
            }
            Some(text) => {
                if text == "2" {
                    let _ = self.ws.send(Message::text("3")).await;
                } else if let Some(body) = text.strip_prefix("42") {
                    let mut args: Vec<Value> =
                        serde_json::from_str(body).expect("event payload is a JSON array");
                    let name = args.remove(0).as_str().expect("event name").to_owned();
                    let first = args.into_iter().next().unwrap_or(Value::Null);
                    self.events.push((name, first));
                } else if text.starts_with("41") {
                    self.events.push(("__disconnect".to_owned(), Value::Null));
                }
                true
            }
        }
    }

    /// Closes the WebSocket.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

async fn next_text(ws: &mut WebSocketStream<MaybeTlsStream<TcpStream>>) -> Option<String> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(t)) => return Some(t.to_string()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}
