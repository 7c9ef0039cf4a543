//! [`Client`]: a minimal Socket.IO v5 client (namespace `/`, JSON parser)
//! over Engine.IO v4, on WebSocket or HTTP long-polling, built on the
//! crate's own codecs ([`crate::protocol::engineio`],
//! [`crate::protocol::socketio`]). Used by the load generator; it keeps its
//! per-connection memory small (4 KiB WebSocket read buffer, no task per
//! WebSocket connection) and its per-message work small: events the caller
//! names as raw come out as their argument's JSON text, unparsed, and an
//! event whose one argument is a binary attachment comes out as its bytes
//! (a repeated header is recognised without parsing it again). Must not
//! know the game's events: callers get `(name, args)` and decide. It follows
//! a cluster's `moved` refusal to the named node ([`Client::connect_following_moved`]).
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
use crate::protocol::socketio::{self, Args, PacketBody, Progress};

/// Attachments one binary packet may declare.
const MAX_ATTACHMENTS: usize = 16;

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
/// counted). Aligned to its own cache lines: clients on one thread add to
/// it for every message, and no other data should share those lines.
#[derive(Debug, Default)]
#[repr(align(128))]
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
        /// Arguments after the name (binaries as placeholders and
        /// attachments).
        args: Args,
    },
    /// An EVENT named in [`Client::set_raw_events`] with one plain (not
    /// binary) argument: that argument's JSON text, not parsed.
    Raw {
        /// Event name (one of the raw ones).
        name: &'static str,
        /// The argument's JSON text (valid UTF-8; the caller parses it).
        json: Bytes,
    },
    /// An EVENT whose one argument is a binary attachment.
    Binary {
        /// Event name (shared with the remembered header: no allocation
        /// per event).
        name: Arc<str>,
        /// The attachment.
        data: Bytes,
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
    /// Events whose argument [`Client::next`] hands out as JSON text.
    raw_events: &'static [&'static str],
    /// Reassembles binary packets in general.
    decoder: socketio::Decoder,
    /// The last header of an event with one binary argument, as text, and
    /// its event name: the same header again needs no parsing.
    binary_header: Option<(Bytes, Arc<str>)>,
    /// Set between such a header and its attachment: the event's name.
    awaiting_binary: Option<Arc<str>>,
}

/// One WebSocket message or Engine.IO packet, as [`Client::next`] reads it.
enum Frame {
    /// A text packet (UTF-8, with its type digit).
    Text(Bytes),
    /// A binary packet.
    Binary(Bytes),
    /// An Engine.IO packet from a polling payload.
    Decoded(EioPacket),
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

    /// [`Client::connect`] that follows a cluster's `moved` refusal
    /// (`{"message":"moved","data":{"url"}}`): connects again, with the
    /// same `auth`, to the node at that URL, at most [`MAX_MOVES`] times.
    pub async fn connect_following_moved(
        addr: SocketAddr,
        transport: Transport,
        auth: &Value,
        traffic: Arc<Traffic>,
    ) -> Result<Client, ClientError> {
        let mut addr = addr;
        let mut moves = 0;
        loop {
            match Self::connect(addr, transport, auth, traffic.clone()).await {
                Err(ClientError::Refused(refusal))
                    if refusal["message"] == "moved" && moves < MAX_MOVES =>
                {
                    addr = moved_to(&refusal).await?;
                    moves += 1;
                }
                other => return other,
            }
        }
    }

    fn over(
        link: Link,
        traffic: Arc<Traffic>,
        queue: std::collections::VecDeque<EioPacket>,
    ) -> Client {
        Client {
            link,
            traffic,
            queue,
            raw_events: &[],
            decoder: socketio::Decoder::new(MAX_ATTACHMENTS),
            binary_header: None,
            awaiting_binary: None,
        }
    }

    /// Events whose one argument [`Client::next`] yields as JSON text
    /// ([`Incoming::Raw`]) instead of parsed values.
    pub fn set_raw_events(&mut self, names: &'static [&'static str]) {
        self.raw_events = names;
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
        let mut client = Client::over(Link::Ws(Box::new(ws)), traffic, Default::default());
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
        let link = Link::Polling(Box::new(Polling {
            rx,
            post,
            path,
            host,
            _reader: AbortOnDrop(reader),
        }));
        Ok(Client::over(link, traffic, packets.collect()))
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

    /// Sends one Socket.IO packet already encoded as text (`42[...]` with
    /// its Engine.IO type digit), for callers that write it without serde.
    pub async fn send_packet_text(&mut self, text: String) -> Result<(), ClientError> {
        self.send_text(text).await
    }

    /// Answers a ping.
    pub async fn pong(&mut self) -> Result<(), ClientError> {
        self.send_eio(&EioPacket::Pong(String::new())).await
    }

    /// The next thing that happened on the connection. Cancel safe.
    pub async fn next(&mut self) -> Result<Incoming, ClientError> {
        loop {
            let frame = match self.next_frame().await {
                Ok(frame) => frame,
                Err(ClientError::Closed) => return Ok(Incoming::Closed),
                Err(e) => return Err(e),
            };
            let text = match frame {
                Frame::Binary(data) => match self.attachment(data)? {
                    Some(incoming) => return Ok(incoming),
                    None => continue,
                },
                Frame::Text(text) => text,
                Frame::Decoded(EioPacket::Message(text)) => {
                    // Already without its Engine.IO digit.
                    match self.message(Bytes::from(text.into_bytes()))? {
                        Some(incoming) => return Ok(incoming),
                        None => continue,
                    }
                }
                Frame::Decoded(EioPacket::Binary(data)) => match self.attachment(data)? {
                    Some(incoming) => return Ok(incoming),
                    None => continue,
                },
                Frame::Decoded(EioPacket::Ping(_)) => return Ok(Incoming::Ping),
                Frame::Decoded(EioPacket::Close) => return Ok(Incoming::Closed),
                Frame::Decoded(_) => continue,
            };
            match text.first() {
                Some(b'4') => {}
                Some(b'2') => return Ok(Incoming::Ping),
                Some(b'1') => return Ok(Incoming::Closed),
                Some(b'0' | b'3' | b'5' | b'6') => continue,
                _ => {
                    return Err(ClientError::Protocol(format!(
                        "bad Engine.IO packet {:?}",
                        String::from_utf8_lossy(&text[..text.len().min(40)])
                    )))
                }
            }
            if let Some(incoming) = self.message(text.slice(1..))? {
                return Ok(incoming);
            }
        }
    }

    /// A Socket.IO text packet (UTF-8, without the Engine.IO digit).
    fn message(&mut self, text: Bytes) -> Result<Option<Incoming>, ClientError> {
        if self.awaiting_binary.is_some() {
            return Err(ClientError::Protocol(
                "text packet while an attachment was due".into(),
            ));
        }
        if let Some(incoming) = self.raw(&text) {
            return Ok(Some(incoming));
        }
        if let Some((header, name)) = &self.binary_header {
            if *header == text {
                self.awaiting_binary = Some(name.clone());
                return Ok(None);
            }
        }
        let utf8 = std::str::from_utf8(&text).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let packet = match self.decoder.feed_text(utf8) {
            Ok(Progress::Packet(packet)) => packet,
            Ok(Progress::NeedAttachments(_)) => {
                self.remember_binary_header(&text);
                return Ok(None);
            }
            Err(e) => return Err(ClientError::Protocol(e.to_string())),
        };
        Ok(match packet.body {
            PacketBody::Event { name, args, .. } if packet.nsp == "/" => {
                Some(Incoming::Event { name, args })
            }
            PacketBody::Disconnect => Some(Incoming::Closed),
            _ => None,
        })
    }

    /// `2["NAME",ARG]` for a raw event NAME: ARG's text.
    fn raw(&self, text: &Bytes) -> Option<Incoming> {
        let rest = text.strip_prefix(b"2[\"")?;
        for &name in self.raw_events {
            let Some(arg) = rest
                .strip_prefix(name.as_bytes())
                .and_then(|r| r.strip_prefix(b"\","))
            else {
                continue;
            };
            if arg.last() != Some(&b']') {
                return None;
            }
            let start = text.len() - arg.len();
            return Some(Incoming::Raw {
                name,
                json: text.slice(start..text.len() - 1),
            });
        }
        None
    }

    /// After a binary header: when it is an event on `/` with exactly one
    /// argument, that argument attachment 0, remembers the header's text so
    /// the next identical one is recognised without parsing, and switches
    /// from the general decoder to the one-attachment path.
    fn remember_binary_header(&mut self, text: &Bytes) {
        let Ok(header) = socketio::decode_text(
            std::str::from_utf8(text).unwrap_or_default(),
            MAX_ATTACHMENTS,
        ) else {
            return;
        };
        if header.attachments != 1 || header.packet.nsp != "/" {
            return;
        }
        if let PacketBody::Event { name, args, .. } = header.packet.body {
            let single = args.len() == 1
                && args
                    .get(0)
                    .and_then(socketio::placeholder_num)
                    .is_some_and(|num| num == Ok(0));
            if single {
                // The general decoder forgets this packet; the fast path
                // takes its attachment.
                self.decoder = socketio::Decoder::new(MAX_ATTACHMENTS);
                let name: Arc<str> = name.into();
                self.binary_header = Some((text.clone(), name.clone()));
                self.awaiting_binary = Some(name);
            }
        }
    }

    /// A binary message: the attachment a header announced.
    fn attachment(&mut self, data: Bytes) -> Result<Option<Incoming>, ClientError> {
        if let Some(name) = self.awaiting_binary.take() {
            return Ok(Some(Incoming::Binary { name, data }));
        }
        match self.decoder.feed_binary(data) {
            Ok(Progress::NeedAttachments(_)) => Ok(None),
            Ok(Progress::Packet(packet)) => Ok(match packet.body {
                PacketBody::Event { name, args, .. } if packet.nsp == "/" => {
                    Some(Incoming::Event { name, args })
                }
                _ => None,
            }),
            Err(e) => Err(ClientError::Protocol(e.to_string())),
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

    /// The next Engine.IO packet (for the handshake). Cancel safe.
    async fn next_eio(&mut self) -> Result<EioPacket, ClientError> {
        match self.next_frame().await? {
            Frame::Decoded(packet) => Ok(packet),
            Frame::Binary(data) => Ok(engineio::decode_binary_frame(data)),
            Frame::Text(text) => std::str::from_utf8(&text)
                .map_err(|e| ClientError::Protocol(e.to_string()))
                .and_then(|t| {
                    engineio::decode_text_packet(t)
                        .map_err(|e| ClientError::Protocol(e.to_string()))
                }),
        }
    }

    /// The next WebSocket message or polled packet, counted. Cancel safe.
    async fn next_frame(&mut self) -> Result<Frame, ClientError> {
        if let Some(packet) = self.queue.pop_front() {
            return Ok(Frame::Decoded(packet));
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
                        return Ok(Frame::Text(Bytes::from(text)));
                    }
                    Some(Ok(Message::Binary(data))) => {
                        let len = data.len();
                        self.traffic
                            .bytes_in
                            .fetch_add(len as u64 + ws_overhead(len, false), Ordering::Relaxed);
                        return Ok(Frame::Binary(data));
                    }
                    Some(Ok(Message::Close(_))) => return Err(ClientError::Closed),
                    Some(Ok(_)) => {}
                }
            },
            Link::Polling(p) => match p.rx.recv().await {
                Some(result) => result.map(Frame::Decoded),
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

/// Most `moved` refusals one connection follows (a cluster answers one;
/// more means its nodes disagree while regions change hands).
const MAX_MOVES: usize = 3;

/// The address of a `moved` refusal's `data.url`.
async fn moved_to(refusal: &Value) -> Result<SocketAddr, ClientError> {
    let url = refusal["data"]["url"]
        .as_str()
        .ok_or_else(|| ClientError::Protocol(format!("moved without a url: {refusal}")))?;
    resolve_url(url)
        .await
        .map_err(|why| ClientError::Protocol(format!("moved to an unusable url {url}: {why}")))
}

/// Resolves `http://HOST[:PORT]` (port 80 by default) to a socket address,
/// or says why it cannot.
pub async fn resolve_url(url: &str) -> Result<SocketAddr, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| e.to_string())?;
    if uri.scheme_str() != Some("http") {
        return Err("only http:// is supported".to_owned());
    }
    let host = uri.host().ok_or("no host")?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| e.to_string())?;
    addrs.next().ok_or_else(|| "resolves to nothing".to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_resolve_with_port_80_by_default_and_http_only() {
        let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
        assert_eq!(resolve_url("http://127.0.0.1").await, Ok(at(80)));
        assert_eq!(resolve_url("http://127.0.0.1:3001/").await, Ok(at(3001)));
        assert!(resolve_url("https://127.0.0.1:3001").await.is_err());
        assert!(resolve_url("127.0.0.1:3001").await.is_err());
    }

    #[tokio::test]
    async fn a_moved_refusal_needs_a_usable_url() {
        let refusal = |data| serde_json::json!({"message": "moved", "data": data});
        let to = refusal(serde_json::json!({"url": "http://127.0.0.1:4000"}));
        assert_eq!(
            moved_to(&to).await.unwrap(),
            SocketAddr::from(([127, 0, 0, 1], 4000))
        );
        assert!(moved_to(&refusal(serde_json::json!({}))).await.is_err());
        let ftp = refusal(serde_json::json!({"url": "ftp://127.0.0.1:4000"}));
        assert!(moved_to(&ftp).await.is_err());
    }
}
