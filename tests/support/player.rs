//! [`Player`]: a game client over the raw [`WsClient`] (namespace `/`, JSON
//! parser) that records every event it receives, so a test can wait for
//! `welcome`, a `snapshot` acknowledging a move, or a kick. Knows the
//! game's `position` event and `{token}` auth; must not know the server's
//! internals.

use std::net::SocketAddr;

use serde_json::{json, Value};

use super::client::{Frame, WsClient};
use super::PATIENCE;

/// A Socket.IO v5 game client over WebSocket on namespace `/`.
pub struct Player {
    /// The raw connection.
    client: WsClient,
    /// Every event received so far, in order: (name, first argument); a
    /// Socket.IO DISCONNECT is recorded as `__disconnect`.
    pub events: Vec<(String, Value)>,
    /// Whether the server closed the connection.
    pub closed: bool,
    /// The last `position` seq sent.
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
        let mut client = WsClient::connect(addr).await;
        client.send(&format!("40{auth}")).await;
        let text = client.text_or_closed().await.expect("connect answer");
        if let Some(body) = text.strip_prefix("40") {
            let reply: Value = serde_json::from_str(body).unwrap();
            assert!(reply["sid"].is_string(), "CONNECT reply: {text}");
            Connected::Ok(Box::new(Player {
                client,
                events: Vec::new(),
                closed: false,
                seq: 0,
            }))
        } else if let Some(body) = text.strip_prefix("44") {
            Connected::Refused(serde_json::from_str(body).unwrap())
        } else {
            panic!("unexpected packet before CONNECT answer: {text}");
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
        self.client.send(&packet).await;
    }

    /// Sends a raw Engine.IO text frame (errors ignored).
    pub async fn send_raw(&mut self, frame: &str) {
        self.client.send_text(frame).await;
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
    /// (answering pings meanwhile); returns its argument. An event already
    /// recorded counts.
    pub async fn wait_for(&mut self, name: &str, mut pred: impl FnMut(&Value) -> bool) -> Value {
        if let Some((_, v)) = self.events.iter().find(|(n, v)| n == name && pred(v)) {
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

    /// Reads until the server closes the connection.
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
        let text = match self.client.recv().await {
            Frame::Closed => {
                self.closed = true;
                return false;
            }
            Frame::Binary(_) => return true,
            Frame::Text(text) => text,
        };
        if text == "2" {
            self.client.send_text("3").await;
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

    /// Closes the WebSocket.
    pub async fn close(self) {
        self.client.close().await;
    }
}
