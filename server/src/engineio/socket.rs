//! One Engine.IO session as the layer above sees it ([`EngineSocket`]) and
//! the shared state its transports work on: the phase (polling, upgrading,
//! websocket, closed), the bounded outbound queue with its ping slot, and
//! the wakers of whoever waits on it.
//!
//! Also the vocabulary the other files share ([`Message`], [`CloseReason`],
//! [`SendError`], [`TransportKind`], [`Traffic`], [`EngineHandler`]).
//!
//! Also the held wake-ups of [`hold_wakes`]: a thread that sends to many
//! sessions in a burst (the world's tick thread) hands their writers'
//! wake-ups over in one batch instead of one by one.
//!
//! Owns no task, does no I/O and imports no transport: the session driver,
//! the polling handlers and the WebSocket probe read and change this state
//! under its lock, which is only ever held for short, non-async sections.
//! The phase changes only through [`State`]'s transitions, each of which
//! refuses an illegal move (nothing leaves `Closed`, only a polling session
//! upgrades).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::mem;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use bytes::Bytes;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};

use std::sync::atomic::{AtomicU64, Ordering};

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;

use super::handshake::Handshake;

/// A server-side WebSocket over an upgraded hyper connection: what a probe
/// hands to the session driver when an upgrade completes.
pub(crate) type WsStream = WebSocketStream<TokioIo<Upgraded>>;

/// One application message received through Engine.IO (a `message` packet),
/// without the Engine.IO type prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Bytes),
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The connection closed or reset underneath.
    TransportClose,
    /// The transport failed: bad framing, oversized message, protocol error.
    TransportError,
    /// The client did not answer a ping in time.
    PingTimeout,
    /// The client sent a `close` packet.
    ClientClose,
    /// The layer above called [`EngineSocket::close`].
    ServerClose,
    /// The server is shutting down.
    ServerShutdown,
}

/// Why a send was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The session's outbound queue is at `max_buffered_packets`.
    #[error("outbound queue full")]
    Full,
    /// The session is closed.
    #[error("session closed")]
    Closed,
}

/// The transport a session currently uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

/// The layer above Engine.IO (Socket.IO, or the conformance echo server).
///
/// Calls for one session never overlap and arrive in order: `on_open`, then
/// `on_message` for each message in the order the client sent them, then
/// `on_close` exactly once.
pub trait EngineHandler: Send + Sync + 'static {
    /// Per-session state owned by the layer above.
    type Data: Default + Send + Sync + 'static;
    /// A session completed its handshake.
    fn on_open(&self, socket: &Arc<EngineSocket<Self::Data>>);
    /// A message arrived.
    fn on_message(&self, socket: &Arc<EngineSocket<Self::Data>>, message: Message);
    /// The session ended.
    fn on_close(&self, socket: &Arc<EngineSocket<Self::Data>>, reason: CloseReason);
}

/// Application messages (`message` packets) through an engine, in and out,
/// for metrics. A broadcast counts once per recipient.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Messages received from clients.
    pub messages_in: AtomicU64,
    /// Payload bytes received from clients.
    pub bytes_in: AtomicU64,
    /// Messages queued for clients.
    pub messages_out: AtomicU64,
    /// Encoded bytes queued for clients.
    pub bytes_out: AtomicU64,
}

impl Traffic {
    pub(crate) fn count_out(&self, bytes: usize) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn count_in(&self, message: &Message) {
        let bytes = match message {
            Message::Text(text) => text.len(),
            Message::Binary(data) => data.len(),
        };
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// A `message` packet encoded once for the wire and shared by every
/// recipient: cloning it copies no payload bytes.
#[derive(Debug, Clone)]
pub struct OutboundMessage(pub(crate) Frame);

/// An encoded packet: what a WebSocket frame carries, and what a polling
/// payload is built from.
#[derive(Debug, Clone)]
pub(crate) enum Frame {
    /// A text packet, type digit included (`4hello`, `2`).
    Text(Utf8Bytes),
    /// A binary message, raw.
    Binary(Bytes),
}

impl Frame {
    /// The WebSocket frame for this packet.
    pub fn into_ws(self) -> WsMessage {
        match self {
            Self::Text(text) => WsMessage::Text(text),
            Self::Binary(data) => WsMessage::Binary(data),
        }
    }
}

impl OutboundMessage {
    /// Bytes of the encoded packet (type digit included for text).
    pub fn len(&self) -> usize {
        match &self.0 {
            Frame::Text(text) => text.len(),
            Frame::Binary(data) => data.len(),
        }
    }

    /// Whether the encoded packet is empty (never, for a message).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A text message; `payload` excludes the Engine.IO `4` prefix.
    pub fn text(payload: &str) -> Self {
        let mut packet = String::with_capacity(1 + payload.len());
        packet.push('4');
        packet.push_str(payload);
        Self(Frame::Text(Utf8Bytes::from(packet)))
    }

    /// A binary message.
    pub fn binary(payload: Bytes) -> Self {
        Self(Frame::Binary(payload))
    }
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Long-polling; a probe WebSocket may be attached but has not probed.
    Polling,
    /// The probe WebSocket answered `3probe`: every poll gets `6` until the
    /// client sends `5` or the upgrade is abandoned.
    Upgrading,
    /// On WebSocket, for good.
    WebSocket,
    /// Ended (the driver finishes the transport and calls `on_close`).
    Closed(CloseReason),
}

/// Who to wake when the state changes.
#[derive(Debug, Default)]
pub(crate) struct Wakers {
    /// The pending polling GET.
    pub poll: Option<Waker>,
    /// The session driver task.
    pub driver: Option<Waker>,
    /// The task probing an upgrade WebSocket.
    pub probe: Option<Waker>,
}

impl Wakers {
    /// Stores `waker` in `slot` unless it already holds one that wakes the same task.
    pub fn register(slot: &mut Option<Waker>, waker: &Waker) {
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }

    fn wake_all(&mut self) {
        for waker in [self.poll.take(), self.driver.take(), self.probe.take()]
            .into_iter()
            .flatten()
        {
            waker.wake();
        }
    }
}

/// The mutable part of a session.
pub(crate) struct State {
    /// Lifecycle phase: changed only through the transitions below, which
    /// refuse illegal moves.
    phase: Phase,
    /// The transport messages currently flow on.
    pub transport: TransportKind,
    /// Outbound messages not yet handed to a transport.
    pub queue: VecDeque<OutboundMessage>,
    /// Items in `queue`, a `send_all` group counting once: the bound.
    pub queued_items: usize,
    /// Encoded bytes in `queue`: bounded while `write_blocked`.
    pub queued_bytes: usize,
    /// The WebSocket writer holds a write the kernel has not taken yet
    /// (the client is not reading as fast as it is sent to): set and
    /// cleared by the writer. While it is set, sends fail with
    /// [`SendError::Full`] once `queued_bytes` reaches the session's
    /// `max_unsent_bytes`, so the layer above sees a slow reader within a
    /// few messages instead of after `max_buffered_packets` of them.
    pub write_blocked: bool,
    /// Messages in `queue` that must reach a WebSocket in a write of their
    /// own ([`EngineSocket::send_alone`]), front first.
    pub alone: VecDeque<AloneMark>,
    /// A ping is due and not yet written: kept apart from `queue` so pings
    /// never wait behind data.
    pub ping_due: bool,
    /// A pong arrived over polling; the driver consumes it.
    pub pong_received: bool,
    /// When the outstanding ping expires, mirrored from the driver's
    /// heartbeat so a request can see an expired session even if the
    /// driver's timer fires late.
    pub pong_deadline: Option<Instant>,
    /// A polling GET is being served.
    pub poll_active: bool,
    /// A polling POST is being served.
    pub post_active: bool,
    /// A probe WebSocket is attached (only one at a time).
    pub probe_attached: bool,
    /// The `1` of a server close reached the client over polling.
    pub farewell_sent: bool,
    /// The probed WebSocket, handed from the probe task to the driver on `5`.
    pub upgraded: Option<Box<WsStream>>,
    /// Tasks waiting on this state.
    pub wakers: Wakers,
    /// The WebSocket connection loop's writer while it runs: what a held
    /// wake-up uses to write the queue without waking the loop.
    pub direct: Option<Arc<dyn DirectWrite>>,
}

/// A transport writer that can write a session's queue at once from any
/// task: the WebSocket connection loop's, shared while it runs. Used by
/// [`HeldWakes::wake_all`] so that a tick's snapshots cost a write per
/// socket and no task wake-up.
pub(crate) trait DirectWrite: Send + Sync {
    /// Writes everything queued now when the connection is idle (nothing
    /// of its own in flight, no ping due, no message that must go alone)
    /// and the socket takes it all at once, leaving `driver` (the
    /// connection loop's waker, taken by the send) registered; otherwise
    /// wakes `driver`, whose loop then writes as it always does.
    fn write_now(&self, driver: Waker);
}

/// Where a [`EngineSocket::send_alone`] message sits in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AloneMark {
    /// Its index in `queue`.
    at: usize,
    /// `queued_items` of everything before it (a `send_all` group counts
    /// once), so taking the messages before it keeps the bound exact.
    items_before: usize,
}

/// Serializes calls into the layer above for one session.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// `on_close` has run: no further calls.
    pub closed: bool,
}

/// One Engine.IO session, as seen by the layer above.
pub struct EngineSocket<D> {
    /// The session id (`sid`).
    id: Box<str>,
    /// The request that opened the session.
    handshake: Handshake,
    /// The layer above's per-session state.
    data: D,
    /// Outbound queue bound (`max_buffered_packets`).
    max_buffered: usize,
    /// Queued bytes allowed behind a blocked write (`max_unsent_bytes`).
    max_unsent_bytes: usize,
    /// The engine's traffic counters, counted as messages are queued.
    traffic: Arc<Traffic>,
    /// Phase, queue and wakers.
    state: Mutex<State>,
    /// Held while calling the handler, so its calls never overlap.
    gate: Mutex<Gate>,
}

impl<D> EngineSocket<D> {
    pub(crate) fn new(
        id: String,
        handshake: Handshake,
        data: D,
        (max_buffered, max_unsent_bytes): (usize, usize),
        transport: TransportKind,
        traffic: Arc<Traffic>,
    ) -> Self {
        let phase = match transport {
            TransportKind::Polling => Phase::Polling,
            TransportKind::WebSocket => Phase::WebSocket,
        };
        Self {
            id: id.into_boxed_str(),
            handshake,
            data,
            max_buffered,
            max_unsent_bytes,
            traffic,
            state: Mutex::new(State {
                phase,
                transport,
                queue: VecDeque::new(),
                queued_items: 0,
                queued_bytes: 0,
                write_blocked: false,
                alone: VecDeque::new(),
                ping_due: false,
                pong_received: false,
                pong_deadline: None,
                poll_active: false,
                post_active: false,
                probe_attached: false,
                farewell_sent: false,
                upgraded: None,
                wakers: Wakers::default(),
                direct: None,
            }),
            gate: Mutex::new(Gate::default()),
        }
    }

    /// Locks the session state. A panic elsewhere cannot poison it for good:
    /// every section leaves the state consistent.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks the handler gate.
    pub(crate) fn lock_gate(&self) -> MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The Engine.IO session id (`sid`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The layer above's per-session state.
    pub fn data(&self) -> &D {
        &self.data
    }

    /// The request that opened the session.
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// The current transport.
    pub fn transport(&self) -> TransportKind {
        self.lock().transport
    }

    /// Queues one message without waiting. Fails with [`SendError::Full`]
    /// when the outbound queue is at its bound: never blocks, never grows
    /// memory past the bound.
    pub fn send(&self, message: OutboundMessage) -> Result<(), SendError> {
        let mut state = self.lock();
        self.admit(&state)?;
        self.traffic.count_out(message.len());
        state.queued_bytes += message.len();
        state.queue.push_back(message);
        state.queued_items += 1;
        Self::wake_writer(&mut state);
        Ok(())
    }

    /// Queues one message that must reach a WebSocket in a write of its
    /// own: what was queued before it is flushed first, and nothing queued
    /// after it joins its write (some clients, the socket.io protocol test
    /// suite among them, miss a message that arrives in the same TCP read
    /// as the Socket.IO CONNECT reply). Over polling it shares a payload
    /// like any message, as the protocol allows. Fails like [`Self::send`].
    pub fn send_alone(&self, message: OutboundMessage) -> Result<(), SendError> {
        let mut state = self.lock();
        self.admit(&state)?;
        self.traffic.count_out(message.len());
        let mark = AloneMark {
            at: state.queue.len(),
            items_before: state.queued_items,
        };
        state.alone.push_back(mark);
        state.queued_bytes += message.len();
        state.queue.push_back(message);
        state.queued_items += 1;
        Self::wake_writer(&mut state);
        Ok(())
    }

    /// Queues several messages that must reach the wire adjacent and in
    /// order (a Socket.IO binary packet and its attachments). All or none.
    pub fn send_all(&self, messages: Vec<OutboundMessage>) -> Result<(), SendError> {
        let mut state = self.lock();
        self.admit(&state)?;
        if messages.is_empty() {
            return Ok(());
        }
        for message in &messages {
            self.traffic.count_out(message.len());
            state.queued_bytes += message.len();
        }
        state.queue.extend(messages);
        state.queued_items += 1;
        Self::wake_writer(&mut state);
        Ok(())
    }

    fn admit(&self, state: &State) -> Result<(), SendError> {
        if state.is_closed() {
            Err(SendError::Closed)
        } else if state.queued_items >= self.max_buffered
            || (state.write_blocked && state.queued_bytes >= self.max_unsent_bytes)
        {
            Err(SendError::Full)
        } else {
            Ok(())
        }
    }

    /// Wakes whichever task writes queued messages: the pending poll, or the
    /// driver on WebSocket; on a thread that [holds wakes](hold_wakes), the
    /// wake-up is held instead. A writer already woken (its waker taken) is
    /// not woken twice: it takes everything queued when it runs.
    fn wake_writer(state: &mut State) {
        let waker = match state.phase {
            Phase::WebSocket => state.wakers.driver.take(),
            _ => state.wakers.poll.take(),
        };
        if let Some(waker) = waker {
            let direct = match state.phase {
                Phase::WebSocket => state.direct.clone(),
                _ => None,
            };
            wake_or_hold(waker, direct);
        }
    }

    /// Closes the session; `on_close` follows with `reason`.
    pub fn close(&self, reason: CloseReason) {
        self.lock().close(reason);
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.lock().is_closed()
    }

    /// Calls `on_open` unless the session already closed.
    pub(crate) fn dispatch_open<H: EngineHandler<Data = D>>(self: &Arc<Self>, handler: &H) {
        let gate = self.lock_gate();
        if !gate.closed {
            handler.on_open(self);
        }
    }

    /// Calls `on_message` (and counts it) unless the session closed.
    pub(crate) fn dispatch_message<H: EngineHandler<Data = D>>(
        self: &Arc<Self>,
        handler: &H,
        message: Message,
    ) {
        let gate = self.lock_gate();
        if !gate.closed && !self.is_closed() {
            self.traffic.count_in(&message);
            handler.on_message(self, message);
        }
    }

    /// Calls `on_close` the first time only.
    pub(crate) fn dispatch_close<H: EngineHandler<Data = D>>(
        self: &Arc<Self>,
        handler: &H,
        reason: CloseReason,
    ) {
        let mut gate = self.lock_gate();
        if !std::mem::replace(&mut gate.closed, true) {
            handler.on_close(self, reason);
        }
    }
}

thread_local! {
    /// The writer wake-ups held on this thread, once [`hold_wakes`] was called.
    static HELD_WAKES: RefCell<Option<Vec<HeldWake>>> = const { RefCell::new(None) };
}

/// From now on, a send on the calling thread holds back the wake-up of the
/// session's writer instead of waking it; [`take_held_wakes`] hands over
/// what was held. For a thread that sends to many sessions in a burst (the
/// world's tick thread, a tick's snapshots): the burst then goes out after
/// it is encoded, from one task on the runtime, and a WebSocket connection
/// that is idle gets its messages written by that task directly, without
/// its own task being woken at all. The thread must take its held wakes
/// after every burst: a held writer does not run until then. Closing a
/// session never waits: it wakes at once.
pub fn hold_wakes() {
    HELD_WAKES.with(|held| {
        held.borrow_mut().get_or_insert_with(Vec::new);
    });
}

/// The wake-ups held on this thread since the last call (see [`hold_wakes`]).
pub fn take_held_wakes() -> HeldWakes {
    HeldWakes(HELD_WAKES.with(|held| {
        held.borrow_mut()
            .as_mut()
            .map(mem::take)
            .unwrap_or_default()
    }))
}

/// Wakes `waker` now, or holds it (with the session's direct writer, if it
/// has one) when this thread [holds wakes](hold_wakes).
fn wake_or_hold(waker: Waker, direct: Option<Arc<dyn DirectWrite>>) {
    let unheld = HELD_WAKES.with(|held| match held.borrow_mut().as_mut() {
        Some(held) => {
            held.push(HeldWake { waker, direct });
            None
        }
        None => Some(waker),
    });
    if let Some(waker) = unheld {
        waker.wake();
    }
}

/// One held wake-up: a session's writer, and how to write for it directly.
struct HeldWake {
    /// The writer's waker, taken by the send.
    waker: Waker,
    /// The session's WebSocket writer, when it runs.
    direct: Option<Arc<dyn DirectWrite>>,
}

/// Writer wake-ups held back by [`hold_wakes`], one per session at most.
#[derive(Default)]
#[must_use = "held writers do not run until woken"]
pub struct HeldWakes(Vec<HeldWake>);

impl std::fmt::Debug for HeldWakes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldWakes")
            .field("len", &self.0.len())
            .finish()
    }
}

impl HeldWakes {
    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many writers are held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Splits the held wake-ups into batches of at most `size` (at least
    /// one), to let them run on several tasks.
    pub fn into_batches(self, size: usize) -> impl Iterator<Item = HeldWakes> {
        let mut rest = self.0;
        let size = size.max(1);
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let tail = rest.split_off(size.min(rest.len()));
            Some(HeldWakes(mem::replace(&mut rest, tail)))
        })
    }

    /// Lets every held writer run: writes an idle WebSocket's queue
    /// directly (see `DirectWrite`), wakes the writer otherwise. Call it
    /// on the runtime the sessions run on, outside tokio's cooperative
    /// budget (`tokio::task::coop::unconstrained`): once a task's budget
    /// is spent every socket write is refused, and each connection would
    /// be woken to write for itself.
    pub fn wake_all(self) {
        for HeldWake { waker, direct } in self.0 {
            match direct {
                Some(direct) => direct.write_now(waker),
                None => waker.wake(),
            }
        }
    }
}

impl State {
    /// Where the session is in its life.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed(_))
    }

    /// Polling → Upgrading: the probe answered `3probe`, polls now get `6`.
    /// Wakes the pending poll. False (and no change) from any other phase.
    pub fn begin_upgrade(&mut self) -> bool {
        if self.phase != Phase::Polling {
            return false;
        }
        self.phase = Phase::Upgrading;
        if let Some(waker) = self.wakers.poll.take() {
            waker.wake();
        }
        true
    }

    /// Upgrading → Polling: the probe went away before `5`. No change from
    /// any other phase.
    pub fn abandon_upgrade(&mut self) {
        if self.phase == Phase::Upgrading {
            self.phase = Phase::Polling;
        }
    }

    /// Polling or Upgrading → WebSocket: the client sent `5` on `ws`, which
    /// is handed to the driver; wakes everyone. A closed session (or one
    /// already on WebSocket) refuses and gives `ws` back.
    pub fn complete_upgrade(&mut self, ws: Box<WsStream>) -> Result<(), Box<WsStream>> {
        if !matches!(self.phase, Phase::Polling | Phase::Upgrading) {
            return Err(ws);
        }
        self.phase = Phase::WebSocket;
        self.transport = TransportKind::WebSocket;
        self.upgraded = Some(ws);
        self.wakers.wake_all();
        Ok(())
    }

    /// Any open phase → Closed(`reason`), dropping the queue unless the
    /// reason flushes it; wakes everyone. False when already closed (the
    /// first reason wins).
    fn close(&mut self, reason: CloseReason) -> bool {
        if self.is_closed() {
            return false;
        }
        self.phase = Phase::Closed(reason);
        if !reason.flushes_queue() {
            self.queue = VecDeque::new();
            self.queued_items = 0;
            self.queued_bytes = 0;
            self.alone = VecDeque::new();
        }
        self.wakers.wake_all();
        true
    }

    /// Whether the client let a ping expire (its pong is overdue).
    pub fn ping_expired(&self) -> bool {
        !self.pong_received
            && self
                .pong_deadline
                .is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// Takes every queued message (the caller writes them out).
    pub fn take_queue(&mut self) -> VecDeque<OutboundMessage> {
        self.queued_items = 0;
        self.queued_bytes = 0;
        self.alone = VecDeque::new();
        mem::take(&mut self.queue)
    }

    /// Takes the next WebSocket write: everything queued when no message
    /// must go alone, else the messages before the first such message, or
    /// that message by itself. The writer completes each write before it
    /// takes the next, which keeps a message sent alone in a write of its own.
    pub fn take_batch(&mut self) -> VecDeque<OutboundMessage> {
        let Some(&mark) = self.alone.front() else {
            return self.take_queue();
        };
        let (count, items) = if mark.at == 0 {
            self.alone.pop_front();
            (1, 1)
        } else {
            (mark.at, mark.items_before)
        };
        let rest = self.queue.split_off(count);
        let batch = mem::replace(&mut self.queue, rest);
        self.queued_items -= items;
        self.queued_bytes -= batch.iter().map(OutboundMessage::len).sum::<usize>();
        for later in &mut self.alone {
            later.at -= count;
            later.items_before -= items;
        }
        batch
    }
}

impl CloseReason {
    /// Whether messages queued before this close still go out first.
    pub(crate) fn flushes_queue(self) -> bool {
        matches!(self, Self::ServerClose | Self::ServerShutdown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(max: usize) -> EngineSocket<()> {
        let handshake = Handshake {
            uri: "/".parse().unwrap(),
            headers: Default::default(),
            remote_addr: None,
        };
        EngineSocket::new(
            "sid".into(),
            handshake,
            (),
            (max, 64),
            TransportKind::Polling,
            Arc::default(),
        )
    }

    #[test]
    fn send_refuses_when_queue_full() {
        let socket = socket(2);
        socket.send(OutboundMessage::text("a")).unwrap();
        socket
            .send_all(vec![OutboundMessage::text("b"), OutboundMessage::text("c")])
            .unwrap();
        assert_eq!(
            socket.send(OutboundMessage::text("d")),
            Err(SendError::Full)
        );
        assert_eq!(
            socket.send_all(vec![OutboundMessage::text("d")]),
            Err(SendError::Full)
        );
        assert_eq!(socket.lock().queue.len(), 3);
    }

    #[test]
    fn a_blocked_writer_bounds_queued_bytes_not_only_items() {
        let socket = socket(100);
        let kilobyte = "x".repeat(1023);
        for _ in 0..3 {
            socket.send(OutboundMessage::text(&kilobyte)).unwrap();
        }
        // The writer keeps up: only the item bound applies.
        assert_eq!(socket.lock().queued_bytes, 3 * 1024);
        socket.send(OutboundMessage::text(&kilobyte)).unwrap();
        // The kernel stopped taking writes: 64 bytes may wait behind them.
        socket.lock().write_blocked = true;
        assert_eq!(
            socket.send(OutboundMessage::text("late")),
            Err(SendError::Full)
        );
        let taken = socket.lock().take_batch();
        assert_eq!(taken.len(), 4);
        assert_eq!(socket.lock().queued_bytes, 0);
        socket.send(OutboundMessage::text(&kilobyte)).unwrap();
        assert_eq!(
            socket.send(OutboundMessage::text("x")),
            Err(SendError::Full),
            "one message may always wait, then the byte bound holds"
        );
        socket.lock().write_blocked = false;
        socket.send(OutboundMessage::text("x")).unwrap();
    }

    /// A waker that counts its wake-ups.
    #[derive(Default)]
    struct CountingWaker(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn held_wakes_wake_each_writer_once_when_released() {
        // On a thread of its own: holding wakes is a property of the thread.
        std::thread::spawn(|| {
            let sockets: Vec<_> = (0..3).map(|_| socket(10)).collect();
            let counters: Vec<_> = sockets
                .iter()
                .map(|socket| {
                    let counter = Arc::new(CountingWaker::default());
                    let mut state = socket.lock();
                    state.phase = Phase::WebSocket;
                    state.wakers.driver = Some(Waker::from(counter.clone()));
                    counter
                })
                .collect();
            let woken = || -> Vec<usize> {
                counters
                    .iter()
                    .map(|c| c.0.load(Ordering::SeqCst))
                    .collect()
            };
            hold_wakes();
            assert_eq!(take_held_wakes().into_batches(2).count(), 0);
            for socket in &sockets[..2] {
                socket.send(OutboundMessage::text("a")).unwrap();
                socket.send(OutboundMessage::text("b")).unwrap();
            }
            assert_eq!(woken(), [0, 0, 0], "held, not woken");
            let held = take_held_wakes();
            assert_eq!(held.len(), 2, "one per session, however many sends");
            assert!(take_held_wakes().is_empty(), "taken once");
            let batches: Vec<_> = held.into_batches(1).collect();
            assert_eq!(
                batches.iter().map(HeldWakes::len).collect::<Vec<_>>(),
                [1, 1]
            );
            for batch in batches {
                batch.wake_all();
            }
            assert_eq!(woken(), [1, 1, 0]);
            sockets[2].close(CloseReason::ServerClose);
            assert_eq!(woken(), [1, 1, 1], "a close is never held");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn send_refuses_after_close() {
        let socket = socket(2);
        socket.close(CloseReason::ClientClose);
        assert!(socket.is_closed());
        assert_eq!(
            socket.send(OutboundMessage::text("a")),
            Err(SendError::Closed)
        );
    }

    #[test]
    fn first_close_reason_wins() {
        let socket = socket(2);
        socket.close(CloseReason::PingTimeout);
        socket.close(CloseReason::ServerClose);
        assert_eq!(socket.lock().phase, Phase::Closed(CloseReason::PingTimeout));
    }

    fn texts(batch: &VecDeque<OutboundMessage>) -> Vec<&str> {
        batch
            .iter()
            .map(|m| match &m.0 {
                Frame::Text(text) => text.as_str(),
                Frame::Binary(_) => "<binary>",
            })
            .collect()
    }

    #[test]
    fn a_message_sent_alone_is_its_own_batch() {
        let socket = socket(10);
        socket.send(OutboundMessage::text("a")).unwrap();
        socket
            .send_all(vec![OutboundMessage::text("b"), OutboundMessage::text("c")])
            .unwrap();
        socket.send_alone(OutboundMessage::text("connect")).unwrap();
        socket.send(OutboundMessage::text("d")).unwrap();
        socket.send_alone(OutboundMessage::text("again")).unwrap();
        socket.send(OutboundMessage::text("e")).unwrap();
        socket.send(OutboundMessage::text("f")).unwrap();
        let mut state = socket.lock();
        assert_eq!(state.queued_items, 7);
        let mut batches = Vec::new();
        loop {
            let batch = state.take_batch();
            if batch.is_empty() {
                break;
            }
            let bytes = state.queued_bytes;
            batches.push((texts(&batch).join(" "), state.queued_items, bytes));
        }
        assert_eq!(
            batches,
            [
                ("4a 4b 4c".to_owned(), 5, 20),
                ("4connect".to_owned(), 4, 12),
                ("4d".to_owned(), 3, 10),
                ("4again".to_owned(), 2, 4),
                ("4e 4f".to_owned(), 0, 0),
            ]
        );
        assert!(state.alone.is_empty());
    }

    #[test]
    fn a_message_sent_alone_shares_a_polling_payload() {
        let socket = socket(10);
        socket.send_alone(OutboundMessage::text("connect")).unwrap();
        socket.send(OutboundMessage::text("event")).unwrap();
        let mut state = socket.lock();
        assert_eq!(texts(&state.take_queue()), ["4connect", "4event"]);
        assert!(state.alone.is_empty());
        assert_eq!(state.queued_items, 0);
    }

    #[test]
    fn send_alone_counts_against_the_bound() {
        let socket = socket(1);
        socket.send_alone(OutboundMessage::text("connect")).unwrap();
        assert_eq!(
            socket.send_alone(OutboundMessage::text("x")),
            Err(SendError::Full)
        );
    }

    #[test]
    fn phase_transitions_refuse_illegal_moves() {
        let socket = socket(2);
        let mut state = socket.lock();
        state.abandon_upgrade();
        assert_eq!(state.phase(), Phase::Polling, "nothing to abandon");
        assert!(state.begin_upgrade());
        assert!(!state.begin_upgrade(), "already upgrading");
        state.abandon_upgrade();
        assert_eq!(state.phase(), Phase::Polling);
        assert!(state.close(CloseReason::ClientClose));
        assert!(!state.begin_upgrade(), "a closed session never upgrades");
        state.abandon_upgrade();
        assert_eq!(state.phase(), Phase::Closed(CloseReason::ClientClose));
        assert!(
            !state.close(CloseReason::ServerClose),
            "the first reason wins"
        );
    }

    #[test]
    fn outbound_text_carries_message_prefix() {
        let OutboundMessage(Frame::Text(text)) = OutboundMessage::text("hé") else {
            panic!("not text")
        };
        assert_eq!(text.as_str(), "4hé");
    }
}
