//! The WebSocket transport: the upgrade answer (101 with the accept key),
//! sessions opened directly on WebSocket, the probe that upgrades a polling
//! session (`2probe` / `3probe` / `5`), refusing a second WebSocket for a
//! session, and the connection loop that reads frames, writes queued
//! packets in batches (one flush per batch, the next batch taken only
//! once the previous one is written) and runs the heartbeat. While it
//! runs, the loop lends its writer to the session, so that a burst's held
//! wake-up (a tick's snapshots) writes an idle connection's queue without
//! waking the loop.
//!
//! One task per connection does all of that, so an idle connection costs a
//! task, a small read buffer and the session. Frames are size-capped by
//! tungstenite at `max_payload` (close 1009 above it).

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use http::{header, HeaderValue, Request, Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::config::EngineConfig;
use super::errors::{EngineBody, EngineError};
use super::handshake;
use super::heartbeat::{self, Heartbeat};
use super::socket::{
    CloseReason, DirectWrite, EngineHandler, EngineSocket, Frame, Message, OutboundMessage, Phase,
    Wakers, WsStream,
};
use crate::protocol::engineio::{decode_text_packet, Packet};

/// How a WebSocket connection loop ended.
pub(crate) enum WsEnd {
    /// Say goodbye: write `leftover` (a server close flushes what was
    /// queued), then this close frame.
    Close {
        frame: CloseFrame,
        leftover: VecDeque<OutboundMessage>,
    },
    /// The peer closed or vanished: only flush a pending close reply.
    Gone,
}

/// Answers a WebSocket upgrade request with `101 Switching Protocols`.
pub(crate) fn switching_protocols<B>(
    request: &Request<B>,
) -> Result<Response<EngineBody>, EngineError> {
    let key = handshake::websocket_key(request.method(), request.headers())?;
    let accept = HeaderValue::try_from(derive_accept_key(key.as_bytes()))
        .map_err(|_| EngineError::BadRequest("websocket key"))?;
    let mut response = Response::new(EngineBody::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    Ok(response)
}

/// A WebSocket for an existing session: the upgrade probe of a polling
/// session, or an extra connection that is accepted and closed at once.
pub(crate) fn upgrade<D, B>(
    config: &EngineConfig,
    ws_config: WebSocketConfig,
    socket: Arc<EngineSocket<D>>,
    mut request: Request<B>,
) -> Result<Response<EngineBody>, EngineError>
where
    D: Send + Sync + 'static,
{
    let response = switching_protocols(&request)?;
    let probe_it = {
        let mut state = socket.lock();
        match state.phase() {
            Phase::Closed(_) => return Err(EngineError::UnknownSid),
            Phase::Polling if !config.allow_upgrades => {
                return Err(EngineError::BadRequest("upgrades disabled"))
            }
            Phase::Polling if !state.probe_attached => {
                state.probe_attached = true;
                true
            }
            Phase::Polling | Phase::Upgrading | Phase::WebSocket => false,
        }
    };
    let on_upgrade = hyper::upgrade::on(&mut request);
    if probe_it {
        let timeouts = (config.upgrade_timeout, config.close_timeout);
        tokio::spawn(probe(socket, on_upgrade, ws_config, timeouts));
    } else {
        tracing::debug!(
            sid = socket.id(),
            "closing a second websocket for one session"
        );
        tokio::spawn(refuse(on_upgrade, ws_config, config.close_timeout));
    }
    Ok(response)
}

/// Waits for the upgraded connection (bounded) and wraps it as a WebSocket.
pub(crate) async fn accept(
    on_upgrade: OnUpgrade,
    config: WebSocketConfig,
    deadline: Instant,
) -> Option<WsStream> {
    let upgraded = tokio::time::timeout_at(deadline, on_upgrade)
        .await
        .ok()?
        .ok()?;
    Some(WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await)
}

/// Runs the upgrade probe of a polling session, bounded by `upgrade_timeout`.
async fn probe<D>(
    socket: Arc<EngineSocket<D>>,
    on_upgrade: OnUpgrade,
    ws_config: WebSocketConfig,
    (upgrade_timeout, close_timeout): (Duration, Duration),
) {
    let deadline = Instant::now() + upgrade_timeout;
    let Some(mut ws) = accept(on_upgrade, ws_config, deadline).await else {
        detach_probe(&socket);
        return;
    };
    let outcome = tokio::time::timeout_at(deadline, probe_exchange(&socket, &mut ws)).await;
    if let Ok(ProbeOutcome::Upgrade) = outcome {
        let mut state = socket.lock();
        state.probe_attached = false;
        match state.complete_upgrade(Box::new(ws)) {
            Ok(()) => {
                tracing::debug!(sid = socket.id(), "engine.io session upgraded to websocket");
                return;
            }
            Err(back) => ws = *back,
        }
    } else {
        tracing::debug!(
            sid = socket.id(),
            timed_out = outcome.is_err(),
            "engine.io upgrade abandoned"
        );
        detach_probe(&socket);
    }
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: Utf8Bytes::from_static("upgrade abandoned"),
    };
    close_quietly(&mut ws, frame, close_timeout).await;
}

/// Forgets a probe that did not complete: the session keeps polling.
fn detach_probe<D>(socket: &EngineSocket<D>) {
    let mut state = socket.lock();
    state.probe_attached = false;
    state.abandon_upgrade();
}

enum ProbeOutcome {
    Upgrade,
    Abandon,
}

/// Answers `2probe` with `3probe` (from then on polls get `6`) until the
/// client sends `5`. Anything else abandons the upgrade, as in the reference.
async fn probe_exchange<D>(socket: &EngineSocket<D>, ws: &mut WsStream) -> ProbeOutcome {
    loop {
        let next = poll_fn(|cx| {
            {
                let mut state = socket.lock();
                if state.is_closed() {
                    return Poll::Ready(None);
                }
                Wakers::register(&mut state.wakers.probe, cx.waker());
            }
            ws.poll_next_unpin(cx).map(Some)
        })
        .await;
        let Some(Some(Ok(message))) = next else {
            return ProbeOutcome::Abandon;
        };
        match message {
            WsMessage::Text(text) => match decode_text_packet(&text) {
                Ok(Packet::Ping(data)) if data == "probe" => {
                    if ws
                        .send(WsMessage::Text(Utf8Bytes::from_static("3probe")))
                        .await
                        .is_err()
                    {
                        return ProbeOutcome::Abandon;
                    }
                    socket.lock().begin_upgrade();
                }
                Ok(Packet::Upgrade) => return ProbeOutcome::Upgrade,
                _ => return ProbeOutcome::Abandon,
            },
            WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => {}
            WsMessage::Binary(_) | WsMessage::Close(_) => return ProbeOutcome::Abandon,
        }
    }
}

/// Accepts a WebSocket only to close it: a session has one WebSocket.
async fn refuse(on_upgrade: OnUpgrade, config: WebSocketConfig, close_timeout: Duration) {
    if let Some(mut ws) = accept(on_upgrade, config, Instant::now() + close_timeout).await {
        let frame = CloseFrame {
            code: CloseCode::Policy,
            reason: Utf8Bytes::from_static("session already has a websocket"),
        };
        close_quietly(&mut ws, frame, close_timeout).await;
    }
}

/// Sends a close frame and waits (bounded) for the peer's answer.
async fn close_quietly(ws: &mut WsStream, frame: CloseFrame, timeout: Duration) {
    let close = async {
        ws.close(Some(frame)).await?;
        while let Some(Ok(_)) = ws.next().await {}
        Ok::<(), WsError>(())
    };
    let _ = tokio::time::timeout(timeout, close).await;
}

/// What woke the connection loop.
enum Event {
    Closed(CloseReason),
    WriteFailed,
    Inbound(Option<Result<WsMessage, WsError>>),
    Timer,
}

/// The writing side of a connection loop: the WebSocket and what it has
/// in flight. Shared (see [`SharedWriter`]) between the loop and the direct
/// writes of held wake-ups, whichever holds its lock writes.
struct Writer<W> {
    /// The connection.
    ws: W,
    /// Messages taken from the session queue, not yet handed to `ws`.
    batch: VecDeque<OutboundMessage>,
    /// Frames handed to `ws` and not yet flushed to the socket.
    unflushed: bool,
    /// Mirrors `State::write_blocked`, to lock the state only when it changes.
    blocked: bool,
}

/// A connection loop's [`Writer`], lent to the session as its
/// [`DirectWrite`] while the loop runs. Lock order: the writer, then the
/// session state (as the loop does), so nothing taken from the queue can
/// be overtaken on the wire.
struct SharedWriter<D, W> {
    /// The session (weak: the session holds this writer while it runs).
    socket: std::sync::Weak<EngineSocket<D>>,
    /// The writer; `None` once the loop took it back.
    writer: Mutex<Option<Writer<W>>>,
}

impl<D, W> SharedWriter<D, W> {
    fn lock(&self) -> MutexGuard<'_, Option<Writer<W>>> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<D, W> DirectWrite for SharedWriter<D, W>
where
    D: Send + Sync + 'static,
    W: Sink<WsMessage, Error = WsError> + Unpin + Send + 'static,
{
    fn write_now(&self, driver: Waker) {
        // The loop holds the writer while it runs: it sees the queue itself
        // once woken.
        let (Some(socket), Ok(mut guard)) = (self.socket.upgrade(), self.writer.try_lock()) else {
            return driver.wake();
        };
        let Some(writer) = guard.as_mut() else {
            return driver.wake();
        };
        {
            let mut state = socket.lock();
            let idle = state.phase() == Phase::WebSocket
                && !state.ping_due
                && state.alone.is_empty()
                && writer.batch.is_empty()
                && !writer.unflushed;
            if !idle {
                drop(state);
                return driver.wake();
            }
            writer.batch = state.take_queue();
            // The loop sleeps on: the next send wakes it (or holds it) again.
            Wakers::register(&mut state.wakers.driver, &driver);
        }
        let mut cx = Context::from_waker(Waker::noop());
        match write_batch(
            &mut writer.ws,
            &mut cx,
            &mut writer.batch,
            &mut writer.unflushed,
        ) {
            Poll::Ready(Ok(())) => {}
            Poll::Pending => {
                // The kernel took part of it: the loop waits for the rest
                // with its own waker, and sends see the byte bound.
                writer.blocked = true;
                socket.lock().write_blocked = true;
                driver.wake();
            }
            // The loop's next write meets the failure and ends the session.
            Poll::Ready(Err(())) => driver.wake(),
        }
    }
}

/// Lends the loop's writer to the session while it runs, and takes it back
/// however the loop ends.
struct LentWriter<'a, D, W> {
    socket: &'a EngineSocket<D>,
    shared: Arc<SharedWriter<D, W>>,
}

impl<'a, D, W> LentWriter<'a, D, W>
where
    D: Send + Sync + 'static,
    W: Sink<WsMessage, Error = WsError> + Unpin + Send + 'static,
{
    fn lend(socket: &'a Arc<EngineSocket<D>>, ws: W) -> Self {
        let shared = Arc::new(SharedWriter {
            socket: Arc::downgrade(socket),
            writer: Mutex::new(Some(Writer {
                ws,
                batch: VecDeque::new(),
                unflushed: false,
                blocked: false,
            })),
        });
        socket.lock().direct = Some(shared.clone());
        Self { socket, shared }
    }

    /// Ends the loan: no direct write starts after this, and the writer
    /// (with whatever it still holds) is the caller's.
    fn take_back(self) -> Option<Writer<W>> {
        self.socket.lock().direct = None;
        self.shared.lock().take()
    }
}

impl<D, W> Drop for LentWriter<'_, D, W> {
    fn drop(&mut self) {
        self.socket.lock().direct = None;
    }
}

/// The WebSocket connection loop of a session: until the session closes,
/// writes queued packets (pings first; each batch written and flushed
/// before the next is taken, so a message sent alone is a write of its own
/// and a tick's messages are one write), reads client packets in order,
/// and runs the heartbeat. Gives the WebSocket back for the goodbye
/// (`None` only if it was lost to a panic).
///
/// While it runs, the loop lends its writer to the session, so that a
/// tick's held wake-up writes an idle connection's queue directly instead
/// of waking this task (see `DirectWrite`); a write that cannot complete
/// at once comes back to this loop.
///
/// Nothing more is taken from the session queue while a write is pending:
/// the queue then fills (see `State::write_blocked`) and the layer above
/// sees `SendError::Full` for a client that does not read, instead of the
/// writer buffering for it without bound.
pub(crate) async fn run<H, W>(
    handler: &H,
    socket: &Arc<EngineSocket<H::Data>>,
    ws: W,
    heartbeat: &mut Heartbeat,
    mut sleep: Pin<&mut Sleep>,
) -> (Option<W>, WsEnd)
where
    H: EngineHandler,
    W: Sink<WsMessage, Error = WsError>
        + Stream<Item = Result<WsMessage, WsError>>
        + Unpin
        + Send
        + 'static,
{
    let lent = LentWriter::lend(socket, ws);
    let end = connection_loop(handler, socket, &lent.shared, heartbeat, sleep.as_mut()).await;
    let writer = lent.take_back();
    (writer.map(|writer| writer.ws), end)
}

/// [`run`]'s loop, writing through the lent writer.
async fn connection_loop<H, W>(
    handler: &H,
    socket: &Arc<EngineSocket<H::Data>>,
    shared: &SharedWriter<H::Data, W>,
    heartbeat: &mut Heartbeat,
    mut sleep: Pin<&mut Sleep>,
) -> WsEnd
where
    H: EngineHandler,
    W: Sink<WsMessage, Error = WsError> + Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    loop {
        let event = poll_fn(|cx| {
            let mut guard = shared.lock();
            let Some(writer) = guard.as_mut() else {
                return Poll::Ready(Event::WriteFailed);
            };
            let written = loop {
                {
                    let mut state = socket.lock();
                    if let Phase::Closed(reason) = state.phase() {
                        return Poll::Ready(Event::Closed(reason));
                    }
                    if std::mem::take(&mut state.ping_due) {
                        writer
                            .batch
                            .push_front(OutboundMessage(Frame::Text(Utf8Bytes::from_static("2"))));
                    }
                    if writer.batch.is_empty() && !writer.unflushed {
                        writer.batch = state.take_batch();
                    }
                    Wakers::register(&mut state.wakers.driver, cx.waker());
                    if writer.batch.is_empty() && !writer.unflushed {
                        break Poll::Ready(Ok(()));
                    }
                }
                match write_batch(&mut writer.ws, cx, &mut writer.batch, &mut writer.unflushed) {
                    // Written: whatever was queued meanwhile is the next write.
                    Poll::Ready(Ok(())) => {}
                    other => break other,
                }
            };
            let now_blocked = match written {
                Poll::Ready(Err(())) => return Poll::Ready(Event::WriteFailed),
                Poll::Ready(Ok(())) => false,
                Poll::Pending => true,
            };
            if now_blocked != writer.blocked {
                writer.blocked = now_blocked;
                socket.lock().write_blocked = now_blocked;
            }
            if let Poll::Ready(item) = writer.ws.poll_next_unpin(cx) {
                return Poll::Ready(Event::Inbound(item));
            }
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::Timer);
            }
            Poll::Pending
        })
        .await;

        match event {
            Event::Closed(reason) => {
                let leftover = if reason.flushes_queue() {
                    // What the writer took from the queue goes out first.
                    let mut leftover = shared
                        .lock()
                        .as_mut()
                        .map(|writer| std::mem::take(&mut writer.batch))
                        .unwrap_or_default();
                    leftover.extend(socket.lock().take_queue());
                    leftover
                } else {
                    VecDeque::new()
                };
                return WsEnd::Close {
                    frame: close_frame(reason),
                    leftover,
                };
            }
            Event::WriteFailed => {
                socket.close(CloseReason::TransportClose);
                return WsEnd::Gone;
            }
            Event::Timer => {
                heartbeat::on_heartbeat_timer(socket.as_ref(), heartbeat, sleep.as_mut())
            }
            Event::Inbound(None) => {
                socket.close(CloseReason::TransportClose);
                return WsEnd::Gone;
            }
            Event::Inbound(Some(Err(error))) => {
                tracing::debug!(sid = socket.id(), %error, "websocket read failed");
                return match error_close_code(&error) {
                    Some(code) => {
                        socket.close(CloseReason::TransportError);
                        WsEnd::Close {
                            frame: CloseFrame {
                                code,
                                reason: Utf8Bytes::from_static(""),
                            },
                            leftover: VecDeque::new(),
                        }
                    }
                    None => {
                        socket.close(CloseReason::TransportClose);
                        WsEnd::Gone
                    }
                };
            }
            Event::Inbound(Some(Ok(message))) => match message {
                WsMessage::Text(text) => match decode_text_packet(&text) {
                    Ok(Packet::Message(text)) => {
                        socket.dispatch_message(handler, Message::Text(text))
                    }
                    Ok(Packet::Pong(_)) => {
                        socket.lock().pong_deadline = None;
                        heartbeat.on_pong(Instant::now());
                        sleep.as_mut().reset(heartbeat.deadline());
                    }
                    Ok(Packet::Close) => socket.close(CloseReason::ClientClose),
                    Ok(Packet::Open(_) | Packet::Upgrade | Packet::Noop) => {}
                    // A client ping is a protocol error in v4, like bad framing.
                    Ok(Packet::Ping(_) | Packet::Binary(_)) | Err(_) => {
                        tracing::debug!(sid = socket.id(), "invalid engine.io packet on websocket");
                        socket.close(CloseReason::TransportError);
                        let frame = CloseFrame {
                            code: CloseCode::Protocol,
                            reason: Utf8Bytes::from_static("invalid packet"),
                        };
                        return WsEnd::Close {
                            frame,
                            leftover: VecDeque::new(),
                        };
                    }
                },
                WsMessage::Binary(data) => socket.dispatch_message(handler, Message::Binary(data)),
                WsMessage::Close(_) => {
                    socket.close(CloseReason::TransportClose);
                    return WsEnd::Gone;
                }
                WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => {}
            },
        }
    }
}

/// Hands `batch` to the WebSocket and flushes it: ready once everything is
/// written to the socket, pending while the socket takes no more (what is
/// left stays in `batch` or in the WebSocket's buffer), an error when the
/// connection failed.
fn write_batch<W>(
    ws: &mut W,
    cx: &mut Context<'_>,
    batch: &mut VecDeque<OutboundMessage>,
    unflushed: &mut bool,
) -> Poll<Result<(), ()>>
where
    W: Sink<WsMessage, Error = WsError> + Unpin,
{
    while !batch.is_empty() {
        match ws.poll_ready_unpin(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_)) => return Poll::Ready(Err(())),
            Poll::Pending => return Poll::Pending,
        }
        let Some(OutboundMessage(frame)) = batch.pop_front() else {
            break;
        };
        if ws.start_send_unpin(frame.into_ws()).is_err() {
            return Poll::Ready(Err(()));
        }
        *unflushed = true;
    }
    // Keep no capacity from a burst on an idle connection.
    *batch = VecDeque::new();
    if *unflushed {
        match ws.poll_flush_unpin(cx) {
            Poll::Ready(Ok(())) => *unflushed = false,
            Poll::Ready(Err(_)) => return Poll::Ready(Err(())),
            Poll::Pending => return Poll::Pending,
        }
    }
    Poll::Ready(Ok(()))
}

/// The close frame that ends a session closed for `reason`.
fn close_frame(reason: CloseReason) -> CloseFrame {
    let (code, text) = match reason {
        CloseReason::ServerShutdown => (CloseCode::Away, "server shutting down"),
        CloseReason::PingTimeout => (CloseCode::Normal, "ping timeout"),
        CloseReason::TransportError => (CloseCode::Protocol, "transport error"),
        CloseReason::ServerClose | CloseReason::ClientClose | CloseReason::TransportClose => {
            (CloseCode::Normal, "")
        }
    };
    CloseFrame {
        code,
        reason: Utf8Bytes::from_static(text),
    }
}

/// The close code for a failed read, or `None` when the connection itself is gone.
fn error_close_code(error: &WsError) -> Option<CloseCode> {
    match error {
        WsError::Capacity(_) => Some(CloseCode::Size),
        WsError::Utf8(_) => Some(CloseCode::Invalid),
        WsError::ConnectionClosed | WsError::AlreadyClosed | WsError::Io(_) => None,
        WsError::Protocol(
            tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => None,
        _ => Some(CloseCode::Protocol),
    }
}

/// Says goodbye on a WebSocket whose session ended, then waits (at most
/// `timeout`) for the peer to close, and drops the connection.
pub(crate) async fn finish(mut ws: Box<WsStream>, end: WsEnd, timeout: Duration) {
    let farewell = async {
        match end {
            WsEnd::Close { frame, leftover } => {
                for OutboundMessage(message) in leftover {
                    ws.feed(message.into_ws()).await?;
                }
                WsStream::close(&mut ws, Some(frame)).await?;
            }
            WsEnd::Gone => ws.flush().await?,
        }
        while let Some(Ok(_)) = ws.next().await {}
        Ok::<(), WsError>(())
    };
    let _ = tokio::time::timeout(timeout, farewell).await;
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::task::Context;

    use super::*;
    use crate::engineio::handshake::Handshake;
    use crate::engineio::socket::TransportKind;

    struct Quiet;

    impl EngineHandler for Quiet {
        type Data = ();
        fn on_open(&self, _: &Arc<EngineSocket<()>>) {}
        fn on_message(&self, _: &Arc<EngineSocket<()>>, _: Message) {}
        fn on_close(&self, _: &Arc<EngineSocket<()>>, _: CloseReason) {}
    }

    /// What the connection loop did to the wire, in order.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Wire {
        Write(String),
        Flush,
    }

    /// A WebSocket that records writes and completed flushes and counts
    /// how often it is polled for frames (once per poll of the loop); it
    /// never yields a frame. A stalling one has every flush pending once
    /// first (a socket that cannot take the bytes at once): a writer that
    /// does not wait for the flush to complete before its next batch shows
    /// it here.
    #[derive(Default)]
    struct RecordingWs {
        wire: Arc<Mutex<Vec<Wire>>>,
        polls: Arc<std::sync::atomic::AtomicUsize>,
        stalls: bool,
        flush_pending: bool,
    }

    impl RecordingWs {
        fn stalling() -> Self {
            Self {
                stalls: true,
                ..Self::default()
            }
        }
    }

    impl Sink<WsMessage> for RecordingWs {
        type Error = WsError;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(self: Pin<&mut Self>, item: WsMessage) -> Result<(), WsError> {
            let text = item.into_text().unwrap_or_default().as_str().to_owned();
            self.wire.lock().unwrap().push(Wire::Write(text));
            Ok(())
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            self.flush_pending = self.stalls && !self.flush_pending;
            if self.flush_pending {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.wire.lock().unwrap().push(Wire::Flush);
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            Poll::Ready(Ok(()))
        }
    }

    impl Stream for RecordingWs {
        type Item = Result<WsMessage, WsError>;
        fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Poll::Pending
        }
    }

    fn websocket_session() -> Arc<EngineSocket<()>> {
        let handshake = Handshake {
            uri: "/".parse().unwrap(),
            headers: Default::default(),
            remote_addr: None,
        };
        Arc::new(EngineSocket::new(
            "sid".into(),
            handshake,
            (),
            (16, 1024),
            TransportKind::WebSocket,
            Arc::default(),
        ))
    }

    /// Runs the connection loop of `socket` on `ws` in a task.
    fn spawn_loop(
        socket: &Arc<EngineSocket<()>>,
        ws: RecordingWs,
    ) -> tokio::task::JoinHandle<(Option<RecordingWs>, WsEnd)> {
        let socket = socket.clone();
        tokio::spawn(async move {
            let config = EngineConfig::default();
            let mut heartbeat =
                Heartbeat::new(Instant::now(), config.ping_interval, config.ping_timeout);
            let sleep = tokio::time::sleep_until(heartbeat.deadline());
            tokio::pin!(sleep);
            run(&Quiet, &socket, ws, &mut heartbeat, sleep.as_mut()).await
        })
    }

    /// Yields until the loop of `socket` waits with its waker registered.
    async fn parked(socket: &EngineSocket<()>) {
        while socket.lock().wakers.driver.is_none() {
            tokio::task::yield_now().await;
        }
    }

    fn write(text: &str) -> Wire {
        Wire::Write(text.to_owned())
    }

    #[tokio::test]
    async fn a_held_wake_writes_an_idle_connection_without_waking_its_loop() {
        let socket = websocket_session();
        let ws = RecordingWs::default();
        let (wire, polls) = (ws.wire.clone(), ws.polls.clone());
        let driver = spawn_loop(&socket, ws);
        parked(&socket).await;
        let polls_parked = polls.load(std::sync::atomic::Ordering::SeqCst);

        // This test's thread sends like the tick thread.
        crate::engineio::hold_wakes();
        socket.send(OutboundMessage::text("snapshot")).unwrap();
        socket.send(OutboundMessage::text("chat")).unwrap();
        let held = crate::engineio::take_held_wakes();
        assert_eq!(held.len(), 1);
        held.wake_all();
        assert_eq!(
            *wire.lock().unwrap(),
            [write("4snapshot"), write("4chat"), Wire::Flush],
            "one write of everything queued, made by the caller"
        );
        // A woken loop would run during these yields (one thread, in order).
        for _ in 0..16 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            polls.load(std::sync::atomic::Ordering::SeqCst),
            polls_parked,
            "the loop was not woken"
        );
        assert!(
            socket.lock().wakers.driver.is_some(),
            "the next send still reaches the loop"
        );
        socket.close(CloseReason::ServerClose);
        let (ws, _) = driver.await.unwrap();
        assert!(ws.is_some(), "the loop gets its WebSocket back");
        assert!(socket.lock().direct.is_none(), "and takes its writer back");
    }

    #[tokio::test]
    async fn a_held_wake_that_cannot_write_at_once_hands_over_to_the_loop() {
        let socket = websocket_session();
        let ws = RecordingWs::stalling();
        let wire = ws.wire.clone();
        let driver = spawn_loop(&socket, ws);
        parked(&socket).await;

        crate::engineio::hold_wakes();
        socket.send(OutboundMessage::text("snapshot")).unwrap();
        crate::engineio::take_held_wakes().wake_all();
        assert_eq!(*wire.lock().unwrap(), [write("4snapshot")], "not flushed");
        assert!(
            socket.lock().write_blocked,
            "sends see the byte bound while the rest waits"
        );
        let flushed = || wire.lock().unwrap().contains(&Wire::Flush);
        while !flushed() {
            tokio::task::yield_now().await;
        }
        assert!(!socket.lock().write_blocked, "the loop completed the write");
        socket.send(OutboundMessage::text("next")).unwrap();
        crate::engineio::take_held_wakes().wake_all();
        while wire.lock().unwrap().len() < 4 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            *wire.lock().unwrap(),
            [write("4snapshot"), Wire::Flush, write("4next"), Wire::Flush]
        );
        socket.close(CloseReason::ServerClose);
        driver.await.unwrap();
    }

    #[tokio::test]
    async fn a_message_sent_alone_is_flushed_in_a_write_of_its_own() {
        let socket = websocket_session();
        socket.send(OutboundMessage::text("before")).unwrap();
        socket.send_alone(OutboundMessage::text("connect")).unwrap();
        socket.send(OutboundMessage::text("event")).unwrap();
        socket.send(OutboundMessage::text("more")).unwrap();

        let ws = RecordingWs::stalling();
        let wire = ws.wire.clone();
        let driver = spawn_loop(&socket, ws);
        let flushes = || {
            let wire = wire.lock().unwrap();
            wire.iter().filter(|w| **w == Wire::Flush).count()
        };
        tokio::time::timeout(Duration::from_secs(30), async {
            while flushes() < 3 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the loop writes everything queued");
        socket.close(CloseReason::ServerClose);
        driver.await.unwrap();

        assert_eq!(
            *wire.lock().unwrap(),
            [
                write("4before"),
                Wire::Flush,
                write("4connect"),
                Wire::Flush,
                write("4event"),
                write("4more"),
                Wire::Flush,
            ]
        );
    }
}
