//! [`EngineServer`]: the bare Engine.IO layer (`locus::engineio::Engine`
//! behind `net::listener::serve`) on 127.0.0.1:0 with a [`Recorder`]
//! handler that records every open, message and close and may echo
//! messages back; and the raw Engine.IO calls the `engineio_*` tests make
//! on its path `/engine.io/` (reqwest for polling, tokio-tungstenite for
//! WebSocket; bare TCP is in [`super::raw`]). Knows no Socket.IO and no
//! game. Waits here use this module's own, longer [`PATIENCE`] because the
//! paused-clock tests must outlast a real 25 s + 20 s heartbeat.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use locus::engineio::{
    CloseReason, Engine, EngineConfig, EngineHandler, EngineSocket, Message, OutboundMessage,
};
use locus::http::listener::{self, HttpLimits};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;

pub use super::client::Ws;

/// Longest any single awaited event may take before a test fails (virtual
/// time in the paused-clock tests, where it must exceed the 25 s + 20 s
/// heartbeat).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// What the handler saw, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Open(String),
    Message(String, Message),
    Close(String, CloseReason),
}

/// Records every handler call and (optionally) echoes messages back.
pub struct Recorder {
    echo: bool,
    events: mpsc::UnboundedSender<Event>,
}

impl EngineHandler for Recorder {
    type Data = ();

    fn on_open(&self, socket: &Arc<EngineSocket<()>>) {
        let _ = self.events.send(Event::Open(socket.id().to_owned()));
    }

    fn on_message(&self, socket: &Arc<EngineSocket<()>>, message: Message) {
        if self.echo {
            let reply = match &message {
                Message::Text(text) => OutboundMessage::text(text),
                Message::Binary(data) => OutboundMessage::binary(data.clone()),
            };
            let _ = socket.send(reply);
        }
        let _ = self
            .events
            .send(Event::Message(socket.id().to_owned(), message));
    }

    fn on_close(&self, socket: &Arc<EngineSocket<()>>, reason: CloseReason) {
        let _ = self
            .events
            .send(Event::Close(socket.id().to_owned(), reason));
    }
}

/// The engine config the tests start from: path `/engine.io/`, long
/// heartbeat (tests that need one shorten it).
pub fn config() -> EngineConfig {
    EngineConfig {
        path: "/engine.io/".to_owned(),
        ping_interval: Duration::from_secs(60),
        ping_timeout: Duration::from_secs(60),
        ..EngineConfig::default()
    }
}

/// A running engine on 127.0.0.1:0.
pub struct EngineServer {
    pub addr: SocketAddr,
    pub engine: Arc<Engine<Recorder>>,
    pub events: mpsc::UnboundedReceiver<Event>,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl EngineServer {
    pub async fn start(config: EngineConfig) -> Self {
        Self::start_with(config, HttpLimits::default(), true).await
    }

    pub async fn start_with(config: EngineConfig, limits: HttpLimits, echo: bool) -> Self {
        let (events_tx, events) = mpsc::unbounded_channel();
        let engine = Engine::new(
            config,
            Arc::new(Recorder {
                echo,
                events: events_tx,
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let closing = engine.clone();
        let shutdown = async move {
            let _ = stopped.await;
            closing.close_all(Duration::from_secs(2)).await;
        };
        let task = tokio::spawn(listener::serve(listener, engine.router(), limits, shutdown));
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        Self {
            addr,
            engine,
            events,
            http,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server (close_all, then graceful HTTP shutdown) and waits for `serve` to return.
    pub async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let task = self.task.take().unwrap();
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("serve returned")
            .unwrap()
            .unwrap();
    }

    pub fn url(&self, query: &str) -> String {
        format!("http://{}/engine.io/?{query}", self.addr)
    }

    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://{}/engine.io/?{query}", self.addr)
    }

    /// Opens a polling session and returns its sid.
    pub async fn open_polling(&self) -> String {
        let (status, body) = self.get_url(&self.url("EIO=4&transport=polling")).await;
        assert_eq!(status, 200, "{body}");
        open_packet_sid(&body)
    }

    pub async fn get_url(&self, url: &str) -> (u16, String) {
        let response = tokio::time::timeout(PATIENCE, self.http.get(url).send())
            .await
            .expect("GET answered")
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// A polling GET on `sid`.
    pub async fn poll(&self, sid: &str) -> (u16, String) {
        self.get_url(&self.url(&format!("EIO=4&transport=polling&sid={sid}")))
            .await
    }

    /// A polling POST on `sid`.
    pub async fn post(&self, sid: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
        let request = self
            .http
            .post(self.url(&format!("EIO=4&transport=polling&sid={sid}")))
            .body(body)
            .send();
        let response = tokio::time::timeout(PATIENCE, request)
            .await
            .expect("POST answered")
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// Opens a WebSocket (any query) and returns it.
    pub async fn ws(&self, query: &str) -> Ws {
        let (ws, response) = tokio::time::timeout(
            PATIENCE,
            tokio_tungstenite::connect_async(self.ws_url(query)),
        )
        .await
        .expect("websocket connected")
        .unwrap();
        assert_eq!(response.status(), 101);
        ws
    }

    /// A WebSocket with an `Origin` header; the raw result, for refusals.
    pub async fn ws_with_origin(
        &self,
        query: &str,
        origin: &str,
    ) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        let mut request = self.ws_url(query).into_client_request().unwrap();
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(request))
            .await
            .expect("websocket answered")
            .map(|(ws, _)| ws)
    }

    /// Opens a WebSocket session and returns it with its sid.
    pub async fn open_websocket(&self) -> (Ws, String) {
        let mut ws = self.ws("EIO=4&transport=websocket").await;
        let open = next_text(&mut ws).await;
        let sid = open_packet_sid(&open);
        (ws, sid)
    }

    /// The session `sid` as the layer above sees it.
    pub fn socket(&self, sid: &str) -> Arc<EngineSocket<()>> {
        self.engine.session(sid).expect("session is open")
    }

    /// The next handler event.
    pub async fn next_event(&mut self) -> Event {
        tokio::time::timeout(PATIENCE, self.events.recv())
            .await
            .expect("handler event")
            .expect("engine alive")
    }

    /// Skips events until `sid` closes; returns the reason.
    pub async fn closed(&mut self, sid: &str) -> CloseReason {
        loop {
            if let Event::Close(id, reason) = self.next_event().await {
                if id == sid {
                    return reason;
                }
            }
        }
    }

    /// Skips events until `sid` receives a message.
    pub async fn message(&mut self, sid: &str) -> Message {
        loop {
            if let Event::Message(id, message) = self.next_event().await {
                if id == sid {
                    return message;
                }
            }
        }
    }

    /// Waits until no session is left (driver clean-up runs just after `on_close`).
    pub async fn no_sessions_left(&self) {
        wait_until(|| self.engine.session_count() == 0).await;
    }
}

/// Waits (bounded by [`PATIENCE`]) until `condition` holds, checking every few ms.
pub async fn wait_until(mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached in time"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The sid inside an open packet `0{...}` (the body may carry more packets after `\x1e`).
pub fn open_packet_sid(body: &str) -> String {
    let open = body.split('\x1e').next().unwrap();
    assert!(open.starts_with('0'), "not an open packet: {open}");
    let value: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
    value["sid"].as_str().unwrap().to_owned()
}

/// The next WebSocket message, skipping WS-level pings/pongs.
pub async fn next_ws(ws: &mut Ws) -> Option<WsMessage> {
    loop {
        match tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("websocket event")
        {
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
            Some(Ok(message)) => return Some(message),
            Some(Err(_)) | None => return None,
        }
    }
}

/// The next text frame; panics on anything else.
pub async fn next_text(ws: &mut Ws) -> String {
    match next_ws(ws).await {
        Some(WsMessage::Text(text)) => text.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// The close code the server ends the WebSocket with (skipping data
/// frames); answers the close handshake like a real client.
pub async fn close_code(ws: &mut Ws) -> Option<u16> {
    loop {
        match next_ws(ws).await {
            Some(WsMessage::Close(frame)) => {
                // Reading on flushes our reply and sees the end.
                while let Ok(Some(Ok(_))) = tokio::time::timeout(PATIENCE, ws.next()).await {}
                return frame.map(|f| f.code.into());
            }
            Some(_) => continue,
            None => return None,
        }
    }
}

pub async fn send_text(ws: &mut Ws, text: &str) {
    ws.send(WsMessage::Text(text.into())).await.unwrap();
}
