//! [`play`]: a long-running walking client for the fault tests. It joins
//! with a token, walks as told, and records into a [`Track`] everything it
//! saw and how its connection ended; it never panics on a dead server (the
//! ending is recorded instead), so a test can kill the server under it.
//! Speaks raw Socket.IO over its own WebSocket because it must survive
//! what [`super::client::WsClient`] treats as failures.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::client::ws_url;
use super::lock;

/// How a client's connection ended.
#[derive(Debug, Default, Clone)]
pub struct Ending {
    /// A Socket.IO DISCONNECT (`41`) arrived.
    pub sio_disconnect: bool,
    /// An Engine.IO close packet (`1`) arrived.
    pub eio_close: bool,
    /// A WebSocket close frame arrived, with this code.
    pub ws_close: Option<u16>,
    /// The connection ended with an error (reset) instead.
    pub error: Option<String>,
    /// A CONNECT_ERROR (`44`) refused the connection, with this payload.
    pub refused: Option<String>,
    /// The close frame's reason text.
    pub close_reason: String,
    /// Frames received before the end (only while not yet in the world).
    pub early_frames: Vec<String>,
}

impl Ending {
    /// A clean close: a close frame or a protocol-level disconnect.
    pub fn clean(&self) -> bool {
        self.ws_close.is_some() || self.sio_disconnect || self.eio_close
    }
}

/// What one walking client saw.
#[derive(Debug, Default)]
pub struct Track {
    /// The `welcome` position.
    pub welcome: Option<(f64, f64)>,
    /// Every snapshot: (tick, x, y, ack).
    pub snapshots: Vec<(u64, f64, f64, u64)>,
    /// Every target sent, with its seq: (seq, x, y).
    pub targets: Vec<(u64, f64, f64)>,
    /// Set once the connection ended.
    pub ending: Option<Ending>,
    /// When the connection ended.
    pub ended_at: Option<Instant>,
}

impl Track {
    /// The last position the server reported.
    pub fn last_position(&self) -> Option<(f64, f64)> {
        self.snapshots.last().map(|s| (s.1, s.2)).or(self.welcome)
    }
}

/// How a client moves once in the world.
#[derive(Debug, Clone, Copy)]
pub enum Walk {
    /// Keep stepping by (dx, dy) each time the last target is reached.
    Steps {
        dx: f64,
        dy: f64,
        until: Option<Instant>,
    },
    /// Go to welcome + (dx, dy) once, then idle (answering pings).
    Once { dx: f64, dy: f64 },
}

/// Connects with `token`, walks as told, and records into `track` until the
/// server ends the connection. Never panics on a dead server: the ending is
/// recorded instead. `joined` is told once `welcome` arrived.
pub async fn play(
    addr: SocketAddr,
    token: String,
    walk: Walk,
    track: Arc<Mutex<Track>>,
    joined: Option<tokio::sync::mpsc::UnboundedSender<()>>,
) {
    let (mut ws, _) = match tokio_tungstenite::connect_async(ws_url(addr)).await {
        Ok(ok) => ok,
        Err(e) => {
            let mut t = lock(&track);
            t.ending = Some(Ending {
                error: Some(format!("connect: {e}")),
                ..Ending::default()
            });
            t.ended_at = Some(Instant::now());
            return;
        }
    };
    let mut seq = 0u64;
    let mut target: Option<(f64, f64)> = None;
    let mut ending = Ending::default();
    let mut connected = false;
    loop {
        let frame = match ws.next().await {
            None => break,
            Some(Err(e)) => {
                ending.error = Some(e.to_string());
                break;
            }
            Some(Ok(frame)) => frame,
        };
        let text = match frame {
            Message::Text(t) => t.to_string(),
            Message::Close(frame) => {
                ending.close_reason = frame
                    .as_ref()
                    .map(|f| f.reason.to_string())
                    .unwrap_or_default();
                ending.ws_close = Some(frame.map_or(1005, |f| u16::from(f.code)));
                // Finish the closing handshake like a real client.
                while let Some(Ok(_)) = ws.next().await {}
                break;
            }
            _ => continue,
        };
        if lock(&track).welcome.is_none() && ending.early_frames.len() < 8 {
            ending.early_frames.push(text.chars().take(200).collect());
        }
        if text.starts_with('0') && !connected {
            connected = true;
            let _ = ws
                .send(Message::text(format!("40{}", json!({ "token": token }))))
                .await;
            continue;
        }
        if text == "2" {
            let _ = ws.send(Message::text("3")).await;
            continue;
        }
        if text == "1" {
            ending.eio_close = true;
            continue;
        }
        if let Some(reason) = text.strip_prefix("44") {
            ending.refused = Some(reason.to_owned());
            continue;
        }
        if text.starts_with("41") {
            ending.sio_disconnect = true;
            continue;
        }
        let Some(body) = text.strip_prefix("42") else {
            continue;
        };
        let Ok(Value::Array(args)) = serde_json::from_str::<Value>(body) else {
            continue;
        };
        let name = args
            .first()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let data = args.get(1).cloned().unwrap_or(Value::Null);
        let (here, ack) = match name.as_str() {
            "welcome" => {
                let here = (data["x"].as_f64().unwrap(), data["y"].as_f64().unwrap());
                lock(&track).welcome = Some(here);
                if let Some(joined) = &joined {
                    let _ = joined.send(());
                }
                (here, seq)
            }
            "snapshot" => {
                let here = (data["x"].as_f64().unwrap(), data["y"].as_f64().unwrap());
                let ack = data["ack"].as_u64().unwrap_or(0);
                lock(&track).snapshots.push((
                    data["tick"].as_u64().unwrap_or(0),
                    here.0,
                    here.1,
                    ack,
                ));
                (here, ack)
            }
            _ => continue,
        };
        let arrived = target.is_none_or(|t| ack == seq && here == t);
        let next = match walk {
            Walk::Steps { dx, dy, until }
                if arrived && until.is_none_or(|u| Instant::now() < u) =>
            {
                Some((here.0 + dx, here.1 + dy))
            }
            Walk::Once { dx, dy } if target.is_none() => Some((here.0 + dx, here.1 + dy)),
            _ => None,
        };
        if let Some(next) = next {
            seq += 1;
            target = Some(next);
            lock(&track).targets.push((seq, next.0, next.1));
            let packet = format!(
                "42{}",
                json!(["position", {"x": next.0, "y": next.1, "seq": seq}])
            );
            if ws.send(Message::text(packet)).await.is_err() {
                break;
            }
        }
    }
    let mut t = lock(&track);
    t.ending = Some(ending);
    t.ended_at = Some(Instant::now());
}
