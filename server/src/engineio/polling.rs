//! HTTP long-polling: the polling handshake, the GET that waits for packets
//! (answering every one with all queued packets in one payload), the POST
//! that carries client packets, and the driver's wait while a session polls.
//!
//! Bodies are bounded by `max_payload` before and while they are read. Any
//! protocol violation closes the session; the HTTP answers come from
//! `errors`.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use tokio::time::{Instant, Sleep};

use super::config::EngineConfig;
use super::errors::{EngineBody, EngineError};
use super::heartbeat::{self, Heartbeat};
use super::socket::{
    CloseReason, EngineHandler, EngineSocket, Frame, Message, OutboundMessage, Phase, State,
    TransportKind, Wakers, WsStream,
};
use crate::protocol::engineio::{decode_payload, encode_payload, Packet, PayloadItem};

/// The answer to a polling handshake: the open packet, then whatever
/// `on_open` queued, in one payload.
pub(crate) fn open_response(
    open: &str,
    queued: &VecDeque<OutboundMessage>,
) -> Response<EngineBody> {
    let items =
        std::iter::once(PayloadItem::Text(open)).chain(queued.iter().map(|m| payload_item(&m.0)));
    payload_response(encode_payload(items))
}

/// Serves a polling GET: waits until there is something to deliver.
pub(crate) async fn poll<D>(
    socket: &Arc<EngineSocket<D>>,
) -> Result<Response<EngineBody>, EngineError> {
    {
        let mut state = socket.lock();
        if state.phase() == Phase::Polling && state.ping_expired() {
            drop(state);
            socket.close(CloseReason::PingTimeout);
            return Err(EngineError::UnknownSid);
        }
        match state.phase() {
            Phase::Polling => {}
            // Every poll during an upgrade is released at once (not only the
            // first: socketioxide #479/#497).
            Phase::Upgrading => return Ok(payload_response("6".to_owned())),
            Phase::WebSocket => {
                return Err(EngineError::BadRequest("polling on an upgraded session"))
            }
            Phase::Closed(reason)
                if reason.flushes_queue()
                    && !state.farewell_sent
                    && state.transport == TransportKind::Polling =>
            {
                return Ok(payload_response(farewell(&mut state)));
            }
            Phase::Closed(_) => return Err(EngineError::UnknownSid),
        }
        if state.poll_active {
            drop(state);
            socket.close(CloseReason::TransportError);
            return Err(EngineError::BadRequest("overlapping polls"));
        }
        state.poll_active = true;
    }
    let _active = Active {
        socket: socket.as_ref(),
        post: false,
    };
    let body = poll_fn(|cx| {
        let mut state = socket.lock();
        let body = match state.phase() {
            // The client's own close releases its pending poll with a noop.
            Phase::Closed(CloseReason::ClientClose) => "6".to_owned(),
            Phase::Closed(reason) if reason.flushes_queue() => farewell(&mut state),
            Phase::Closed(_) => "1".to_owned(),
            Phase::Upgrading | Phase::WebSocket => "6".to_owned(),
            Phase::Polling if state.ping_due || !state.queue.is_empty() => drain(&mut state),
            Phase::Polling => {
                Wakers::register(&mut state.wakers.poll, cx.waker());
                return Poll::Pending;
            }
        };
        Poll::Ready(body)
    })
    .await;
    Ok(payload_response(body))
}

/// Serves a polling POST: reads the bounded body, decodes it, hands the
/// messages to the layer above in order.
pub(crate) async fn post<H, B>(
    config: &EngineConfig,
    handler: &H,
    socket: &Arc<EngineSocket<H::Data>>,
    request: Request<B>,
) -> Result<Response<EngineBody>, EngineError>
where
    H: EngineHandler,
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    {
        let mut state = socket.lock();
        if state.phase() == Phase::Polling && state.ping_expired() {
            drop(state);
            socket.close(CloseReason::PingTimeout);
            return Err(EngineError::UnknownSid);
        }
        match state.phase() {
            Phase::Polling | Phase::Upgrading => {}
            Phase::WebSocket => {
                return Err(EngineError::BadRequest("polling on an upgraded session"))
            }
            Phase::Closed(_) => return Err(EngineError::UnknownSid),
        }
        if state.post_active {
            drop(state);
            socket.close(CloseReason::TransportError);
            return Err(EngineError::BadRequest("overlapping posts"));
        }
        state.post_active = true;
    }
    let _active = Active {
        socket: socket.as_ref(),
        post: true,
    };
    let fail = |error: EngineError| {
        tracing::debug!(sid = socket.id(), %error, "closing engine.io session after a bad post");
        socket.close(CloseReason::TransportError);
        Err(error)
    };

    let max = config.max_payload;
    let headers = request.headers();
    if headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/octet-stream"))
    {
        // Engine.IO v4 carries binary in base64 over polling.
        return fail(EngineError::BadRequest("binary polling body"));
    }
    if let Some(length) = headers.get(header::CONTENT_LENGTH) {
        match length.to_str().ok().and_then(|l| l.parse::<u64>().ok()) {
            Some(length) if length > max as u64 => {
                return fail(EngineError::PayloadTooLarge { max })
            }
            Some(_) => {}
            None => return fail(EngineError::BadRequest("bad content-length")),
        }
    }
    let read = Limited::new(request.into_body(), max).collect();
    let body = match tokio::time::timeout(config.body_read_timeout, read).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
            return fail(EngineError::PayloadTooLarge { max })
        }
        Ok(Err(_)) => return fail(EngineError::BadRequest("body read failed")),
        Err(_) => return fail(EngineError::BadRequest("body read timed out")),
    };
    let packets = match decode_payload(&body, max) {
        Ok(packets) => packets,
        Err(_) => return fail(EngineError::BadRequest("malformed payload")),
    };
    for packet in packets {
        match packet {
            Packet::Message(text) => socket.dispatch_message(handler, Message::Text(text)),
            Packet::Binary(data) => socket.dispatch_message(handler, Message::Binary(data)),
            Packet::Pong(_) => {
                let mut state = socket.lock();
                state.pong_received = true;
                if let Some(waker) = state.wakers.driver.take() {
                    waker.wake();
                }
            }
            Packet::Close => {
                socket.close(CloseReason::ClientClose);
                break;
            }
            // v4 clients never ping: the heartbeat goes the other way.
            Packet::Ping(_) => return fail(EngineError::BadRequest("ping from client")),
            Packet::Open(_) | Packet::Upgrade | Packet::Noop => {}
        }
    }
    let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    Ok(response)
}

/// What the driver sees while its session polls.
pub(crate) enum DriverEvent {
    /// The client sent `5` on the probe WebSocket: carry on there.
    Upgraded(Box<WsStream>),
    /// The session was closed.
    Closed,
}

/// The driver's wait while the session is on polling: runs the heartbeat
/// until the session closes or completes an upgrade.
pub(crate) async fn wait<D>(
    socket: &EngineSocket<D>,
    heartbeat: &mut Heartbeat,
    mut sleep: Pin<&mut Sleep>,
) -> DriverEvent {
    loop {
        let event = poll_fn(|cx| {
            let mut state = socket.lock();
            if let Some(stream) = state.upgraded.take() {
                return Poll::Ready(Some(DriverEvent::Upgraded(stream)));
            }
            if state.is_closed() {
                return Poll::Ready(Some(DriverEvent::Closed));
            }
            if std::mem::take(&mut state.pong_received) {
                state.pong_deadline = None;
                heartbeat.on_pong(Instant::now());
                sleep.as_mut().reset(heartbeat.deadline());
            }
            Wakers::register(&mut state.wakers.driver, cx.waker());
            drop(state);
            match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        match event {
            Some(event) => return event,
            None => heartbeat::on_heartbeat_timer(socket, heartbeat, sleep.as_mut()),
        }
    }
}

/// After a server close on polling, waits (at most `timeout`) for a poll to
/// carry the `1` to the client.
pub(crate) async fn linger<D>(socket: &EngineSocket<D>, timeout: Duration) {
    let delivered = poll_fn(|cx| {
        let mut state = socket.lock();
        if state.farewell_sent {
            return Poll::Ready(());
        }
        Wakers::register(&mut state.wakers.driver, cx.waker());
        Poll::Pending
    });
    let _ = tokio::time::timeout(timeout, delivered).await;
}

/// Marks a GET or POST as no longer in flight, however it ends (a client
/// hanging up drops the request future).
struct Active<'a, D> {
    socket: &'a EngineSocket<D>,
    post: bool,
}

impl<D> Drop for Active<'_, D> {
    fn drop(&mut self) {
        let mut state = self.socket.lock();
        if self.post {
            state.post_active = false;
        } else {
            state.poll_active = false;
            state.wakers.poll = None;
        }
    }
}

fn payload_item(frame: &Frame) -> PayloadItem<'_> {
    match frame {
        Frame::Text(text) => PayloadItem::Text(text.as_str()),
        Frame::Binary(data) => PayloadItem::Binary(data),
    }
}

/// Everything due on the session: the pending ping first, then the queue.
fn drain(state: &mut State) -> String {
    let ping = std::mem::take(&mut state.ping_due).then_some(PayloadItem::Text("2"));
    let queued = state.take_queue();
    encode_payload(
        ping.into_iter()
            .chain(queued.iter().map(|m| payload_item(&m.0))),
    )
}

/// The last payload of a session the server closed: what was still queued,
/// then `1`.
fn farewell(state: &mut State) -> String {
    state.farewell_sent = true;
    let queued = state.take_queue();
    let body = encode_payload(
        queued
            .iter()
            .map(|m| payload_item(&m.0))
            .chain([PayloadItem::Text("1")]),
    );
    if let Some(waker) = state.wakers.driver.take() {
        waker.wake();
    }
    body
}

/// A polling answer: a text payload that must never be cached.
fn payload_response(body: String) -> Response<EngineBody> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
