//! [`Client`]: a minimal Socket.IO v5 client (namespace `/`, JSON parser)
//! over Engine.IO v4, on WebSocket or HTTP long-polling, built on the
//! crate's own codecs ([`crate::protocol::engineio`],
//! [`crate::protocol::socketio`]). Used by the load generator; it keeps its
//! per-connection memory small (4 KiB WebSocket read buffer, no task per
//! WebSocket connection). Must not know the game's events: callers get
//! `(name, args)` and decide.
//!
//! Cancel safety: [`Client::next`] may be dropped inside `tokio::select!`
//! without losing input; sends ([`Client::emit`], [`Client::pong`]) must be
//! awaited to completion.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt as _};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::protocol::engineio::{self, Packet as EioPacket};
use crate::protocol::socketio::{self, PacketBody};

/// How a client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// `transport=websocket` straight away (no polling handshake).
    Websocket,
    /// HTTP long-polling only (never upgrades).
    Polling,
}

/// Why a connection failed or ended.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// TCP connect or socket I/O failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The WebSocket layer failed.
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    /// An HTTP request failed.
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
    /// The HTTP server answered with an error status.
    #[error("http status {0}")]
    Status(u16),
    /// The server broke the Engine.IO / Socket.IO protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The server refused the Socket.IO CONNECT.
    #[error("connect refused: {0}")]
    Refused(Value),
    /// The connection closed.
    #[error("connection closed")]
    Closed,
}

/// Bytes moved by every client sharing it, including WebSocket frame
/// headers (and the client's 4-byte masks) or HTTP bodies (headers not
/// counted).
#[derive(Debug, Default)]
pub struct Traffic {
    /// Bytes received.
    pub bytes_in: AtomicU64,
    /// Bytes sent.
    pub bytes_out: AtomicU64,
}

/// What [`Client::next`] yields.
#[derive(Debug)]
pub enum Incoming {
    /// A Socket.IO EVENT on `/`.
    Event {
        /// Event name.
        name: String,
        /// Arguments after the name.
        args: Vec<Value>,
    },
    /// An Engine.IO ping: answer with [`Client::pong`].
    Ping,
    /// The server closed the session (Socket.IO DISCONNECT, Engine.IO
    /// CLOSE or end of stream).
    Closed,
}

/// One Socket.IO client connection.
pub struct Client {
    /// The transport-specific half.
    link: Link,
    /// Shared byte counters.
    traffic: Arc<Traffic>,
    /// Engine.IO packets decoded but not yet handed out (a polling response
    /// carries several).
    queue: std::collections::VecDeque<EioPacket>,
}

enum Link {
    Ws(Box<WebSocketStream<TcpStream>>),
    Polling(Box<Polling>),
}

/// Long-polling: a reader task runs the GET loop and forwards packets;
/// sends go out as POSTs on a second connection.
struct Polling {
    /// Packets from the GET loop; closed when the session ends.
    rx: mpsc::Receiver<Result<EioPacket, ClientError>>,
    /// The POST connection.
    post: SendRequest<Full<Bytes>>,
    /// `/socket.io/?EIO=4&transport=polling&sid=...`.
    path: String,
    /// `Host` header value.
    host: String,
    /// Ends the GET loop when the client is dropped.
    _reader: AbortOnDrop,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// WebSocket frame header size for a payload of `len` bytes, plus the mask
/// when the client sends it.
fn ws_overhead(len: usize, masked: bool) -> u64 {
    let header = if len < 126 {
        2
    } else if len < 65_536 {
        4
    } else {
        10
    };
    header + if masked { 4 } else { 0 }
}

impl Client {
    /// Opens an Engine.IO session at `addr` over `transport` and connects
    /// to namespace `/` with `auth`. Fails with [`ClientError::Refused`] on
    /// CONNECT_ERROR.
    pub async fn connect(
        addr: SocketAddr,
        transport: Transport,
        auth: &Value,
        traffic: Arc<Traffic>,
    ) -> Result<Client, ClientError> {
        let mut client = match transport {
            Transport::Websocket => Self::open_ws(addr, traffic).await?,
            Transport::Polling => Self::open_polling(addr, traffic).await?,
        };
        client.send_text(format!("40{auth}")).await?;
        loop {
            match client.next_eio().await? {
                EioPacket::Message(text) => {
                    let header = socketio::decode_text(&text, 0)
                        .map_err(|e| ClientError::Protocol(e.to_string()))?;
                    match header.packet.body {
                        PacketBody::Connect(_) => return Ok(client),
                        PacketBody::ConnectError(value) => return Err(ClientError::Refused(value)),
                        _ => {
                            return Err(ClientError::Protocol(format!(
                                "expected CONNECT, got {text}"
                            )))
                        }
                    }
                }
                EioPacket::Ping(data) => client.send_eio(&EioPacket::Pong(data)).await?,
                EioPacket::Close => return Err(ClientError::Closed),
                _ => {}
            }
        }
    }

    async fn open_ws(addr: SocketAddr, traffic: Arc<Traffic>) -> Result<Client, ClientError> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0)
            .max_message_size(Some(4 << 20));
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config)).await?;
        let mut client = Client {
            link: Link::Ws(Box::new(ws)),
            traffic,
            queue: Default::default(),
        };
        match client.next_eio().await? {
            EioPacket::Open(_) => Ok(client),
            other => Err(ClientError::Protocol(format!(
                "expected OPEN, got {other:?}"
            ))),
        }
    }

    async fn open_polling(addr: SocketAddr, traffic: Arc<Traffic>) -> Result<Client, ClientError> {
        let host = addr.to_string();
        let mut get = http_connection(addr).await?;
        let body = http_request(
            &mut get,
            "GET",
            &host,
            "/socket.io/?EIO=4&transport=polling",
            Bytes::new(),
        )
        .await?;
        traffic
            .bytes_in
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        let mut packets = engineio::decode_payload(&body, usize::MAX)
            .map_err(|e| ClientError::Protocol(e.to_string()))?
            .into_iter();
        let Some(EioPacket::Open(open)) = packets.next() else {
            return Err(ClientError::Protocol("expected OPEN".into()));
        };
        let open: Value =
            serde_json::from_str(&open).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let sid = open["sid"]
            .as_str()
            .ok_or_else(|| ClientError::Protocol("OPEN without sid".into()))?;
        let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
        let post = http_connection(addr).await?;
        let (tx, rx) = mpsc::channel(64);
        let reader = tokio::spawn(poll_loop(
            get,
            host.clone(),
            path.clone(),
            tx,
            traffic.clone(),
        ));
        Ok(Client {
            link: Link::Polling(Box::new(Polling {
                rx,
                post,
                path,
                host,
                _reader: AbortOnDrop(reader),
            })),
            traffic,
            queue: packets.collect(),
        })
    }

    /// Emits event `name` with `data` as its single argument (or its
    /// elements, for a tuple or array; see [`socketio::write_event`]).
    pub async fn emit<T: Serialize + ?Sized>(
        &mut self,
        name: &str,
        data: &T,
    ) -> Result<(), ClientError> {
        let mut out = vec![b'4'];
        socketio::write_event(&mut out, "/", name, None, data)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let text = String::from_utf8(out).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.send_text(text).await
    }

    /// Answers a ping.
    pub async fn pong(&mut self) -> Result<(), ClientError> {
        self.send_eio(&EioPacket::Pong(String::new())).await
    }

    /// The next thing that happened on the connection. Cancel safe.
    pub async fn next(&mut self) -> Result<Incoming, ClientError> {
        loop {
            let packet = match self.next_eio().await {
                Ok(packet) => packet,
                Err(ClientError::Closed) => return Ok(Incoming::Closed),
                Err(e) => return Err(e),
            };
            match packet {
                EioPacket::Ping(_) => return Ok(Incoming::Ping),
                EioPacket::Close => return Ok(Incoming::Closed),
                EioPacket::Message(text) => {
                    let header = socketio::decode_text(&text, 0)
                        .map_err(|e| ClientError::Protocol(e.to_string()))?;
                    match header.packet.body {
                        PacketBody::Event { name, args, .. } => {
                            let (args, _) = args.into_parts();
                            return Ok(Incoming::Event { name, args });
                        }
                        PacketBody::Disconnect => return Ok(Incoming::Closed),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }

    /// Closes the session politely (best effort).
    pub async fn close(mut self) {
        let _ = self.send_text("41".to_owned()).await;
        if let Link::Ws(ws) = &mut self.link {
            let _ = SinkExt::close(ws).await;
        } else {
            let _ = self.send_eio(&EioPacket::Close).await;
        }
    }

    async fn send_eio(&mut self, packet: &EioPacket) -> Result<(), ClientError> {
        let text = engineio::encode_text_packet(packet)
            .ok_or_else(|| ClientError::Protocol("binary packet".into()))?;
        self.send_text(text).await
    }

    /// Sends one Engine.IO text packet (already encoded).
    async fn send_text(&mut self, text: String) -> Result<(), ClientError> {
        match &mut self.link {
            Link::Ws(ws) => {
                let len = text.len();
                ws.send(Message::text(text)).await?;
                self.traffic
                    .bytes_out
                    .fetch_add(len as u64 + ws_overhead(len, true), Ordering::Relaxed);
            }
            Link::Polling(p) => {
                let body = Bytes::from(text);
                self.traffic
                    .bytes_out
                    .fetch_add(body.len() as u64, Ordering::Relaxed);
                http_request(&mut p.post, "POST", &p.host, &p.path, body).await?;
            }
        }
        Ok(())
    }

    /// The next Engine.IO packet. Cancel safe.
    async fn next_eio(&mut self) -> Result<EioPacket, ClientError> {
        if let Some(packet) = self.queue.pop_front() {
            return Ok(packet);
        }
        match &mut self.link {
            Link::Ws(ws) => loop {
                match ws.next().await {
                    None => return Err(ClientError::Closed),
                    Some(Err(e)) => return Err(e.into()),
                    Some(Ok(Message::Text(text))) => {
                        let len = text.len();
                        self.traffic
                            .bytes_in
                            .fetch_add(len as u64 + ws_overhead(len, false), Ordering::Relaxed);
                        return engineio::decode_text_packet(&text)
                            .map_err(|e| ClientError::Protocol(e.to_string()));
                    }
                    Some(Ok(Message::Binary(data))) => {
                        let len = data.len();
                        self.traffic
                            .bytes_in
                            .fetch_add(len as u64 + ws_overhead(len, false), Ordering::Relaxed);
                        return Ok(engineio::decode_binary_frame(data));
                    }
                    Some(Ok(Message::Close(_))) => return Err(ClientError::Closed),
                    Some(Ok(_)) => {}
                }
            },
            Link::Polling(p) => match p.rx.recv().await {
                Some(result) => result,
                None => Err(ClientError::Closed),
            },
        }
    }
}

/// The long-polling GET loop: forwards each packet of each response until
/// the session closes or the receiver goes away.
async fn poll_loop(
    mut get: SendRequest<Full<Bytes>>,
    host: String,
    path: String,
    tx: mpsc::Sender<Result<EioPacket, ClientError>>,
    traffic: Arc<Traffic>,
) {
    loop {
        let body = match http_request(&mut get, "GET", &host, &path, Bytes::new()).await {
            Ok(body) => body,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        traffic
            .bytes_in
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        let packets = match engineio::decode_payload(&body, usize::MAX) {
            Ok(packets) => packets,
            Err(e) => {
                let _ = tx.send(Err(ClientError::Protocol(e.to_string()))).await;
                return;
            }
        };
        for packet in packets {
            let close = matches!(packet, EioPacket::Close);
            if tx.send(Ok(packet)).await.is_err() || close {
                return;
            }
        }
    }
}

/// An HTTP/1.1 connection to `addr` (its driver runs on its own task and
/// ends with the connection).
async fn http_connection(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, ClientError> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}

/// Sends one request and reads the whole body; a non-2xx status is an
/// error.
async fn http_request(
    conn: &mut SendRequest<Full<Bytes>>,
    method: &str,
    host: &str,
    path: &str,
    body: Bytes,
) -> Result<Bytes, ClientError> {
    conn.ready().await?;
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, host)
        .header(http::header::CONTENT_TYPE, "text/plain;charset=UTF-8")
        .body(Full::new(body))
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
    let response = conn.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        return Err(ClientError::Status(status.as_u16()));
    }
    Ok(body)
}

/// `GET path` on a fresh connection to `addr`; the body as text. For
/// scraping `/metrics`.
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<String, ClientError> {
    let mut conn = http_connection(addr).await?;
    let body = http_request(&mut conn, "GET", &addr.to_string(), path, Bytes::new()).await?;
    String::from_utf8(body.to_vec()).map_err(|e| ClientError::Protocol(e.to_string()))
}
