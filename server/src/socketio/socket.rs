//! One client's membership of one namespace: emits, acknowledgements in both
//! directions, rooms, typed per-socket data and disconnection.
//!
//! Owns the socket's lifecycle state, its pending acks and the packets
//! emitted while its connect handler still runs. Sends through the
//! connection's Engine.IO socket; never touches other sockets' state.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::oneshot;

use super::adapter::{BroadcastTarget, Room};
use super::client::Connection;
use super::encode::{self, EncodedPacket};
use super::namespace::{BroadcastOperator, NamespaceInner};
use super::{lock, AckError, DisconnectReason, EmitError};
use crate::engineio::{EngineSocket, Handshake, OutboundMessage, TransportKind};
use crate::protocol::socketio::{Args, Packet, PacketBody};

/// The connect handler is still deciding.
const CONNECTING: u8 = 0;
/// The client got its CONNECT reply.
const CONNECTED: u8 = 1;
/// Gone (or refused).
const CLOSED: u8 = 2;

/// A client connected to a namespace. Cheap to clone; all clones are the
/// same socket.
#[derive(Clone)]
pub struct Socket {
    inner: Arc<SocketInner>,
}

pub(crate) struct SocketInner {
    /// The Socket.IO id: random, per namespace, never the Engine.IO sid.
    id: Arc<str>,
    /// The namespace the socket belongs to.
    ns: Arc<NamespaceInner>,
    /// The Engine.IO session carrying the socket.
    conn: Arc<EngineSocket<Connection>>,
    /// The CONNECT payload (`{}` when the client sent none).
    auth: Value,
    /// CONNECTING, CONNECTED or CLOSED.
    state: AtomicU8,
    /// Packets emitted while CONNECTING, sent right after the CONNECT reply.
    /// Also the lock that orders those emits against the reply.
    early: Mutex<Vec<EncodedPacket>>,
    /// `disconnect()` was called while CONNECTING: done after the reply.
    disconnect_requested: AtomicBool,
    /// The next ack id for server-to-client emits.
    next_ack: AtomicU64,
    /// Emits waiting for the client's ACK, by id.
    acks: Mutex<HashMap<u64, oneshot::Sender<Args>>>,
    /// The application's typed per-socket value.
    data: Mutex<Option<Arc<dyn Any + Send + Sync>>>,
}

/// An event with one binary argument, its header encoded once for a
/// namespace ([`Socket::binary_event_header`]).
#[derive(Debug, Clone)]
pub struct BinaryEventHeader {
    /// The namespace the header was encoded for.
    namespace: Arc<str>,
    /// The event name.
    event: String,
    /// The JSON parser's header message; `None` with msgpack.
    header: Option<OutboundMessage>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.inner.id)
            .field("nsp", &self.inner.ns.name)
            .finish_non_exhaustive()
    }
}

impl Socket {
    pub(crate) fn new(
        ns: Arc<NamespaceInner>,
        conn: Arc<EngineSocket<Connection>>,
        auth: Value,
    ) -> Self {
        Self {
            inner: Arc::new(SocketInner {
                id: super::random_id().into(),
                ns,
                conn,
                auth,
                state: AtomicU8::new(CONNECTING),
                early: Mutex::new(Vec::new()),
                disconnect_requested: AtomicBool::new(false),
                next_ack: AtomicU64::new(0),
                acks: Mutex::new(HashMap::new()),
                data: Mutex::new(None),
            }),
        }
    }

    /// The socket id (the `sid` of the CONNECT reply).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    pub(crate) fn id_arc(&self) -> &Arc<str> {
        &self.inner.id
    }

    /// The namespace name, e.g. `/`.
    pub fn namespace(&self) -> &str {
        &self.inner.ns.name
    }

    pub(crate) fn ns(&self) -> &Arc<NamespaceInner> {
        &self.inner.ns
    }

    pub(crate) fn conn(&self) -> &Arc<EngineSocket<Connection>> {
        &self.inner.conn
    }

    /// The CONNECT payload the client sent (`{}` when none).
    pub fn auth(&self) -> &Value {
        &self.inner.auth
    }

    /// The HTTP request that opened the connection (headers, query, peer).
    pub fn handshake(&self) -> &Handshake {
        self.inner.conn.handshake()
    }

    /// The Engine.IO session id of the connection (shared by the
    /// connection's sockets in every namespace).
    pub fn connection_id(&self) -> &str {
        self.inner.conn.id()
    }

    /// The transport the connection currently uses.
    pub fn transport(&self) -> TransportKind {
        self.inner.conn.transport()
    }

    /// Whether the socket is connected (false while its connect handler runs
    /// and after it left).
    pub fn connected(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) == CONNECTED
    }

    /// Stores the application's value for this socket, replacing any.
    pub fn set_data<T: Any + Send + Sync>(&self, value: T) {
        *lock(&self.inner.data) = Some(Arc::new(value));
    }

    /// The value stored with [`Socket::set_data`], if it is a `T`.
    pub fn data<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let data = lock(&self.inner.data).clone()?;
        data.downcast::<T>().ok()
    }

    /// Removes the stored value.
    pub fn clear_data(&self) {
        lock(&self.inner.data).take();
    }

    /// Emits `event` to this socket. `data` serializing to a JSON array (a
    /// `Vec`, a tuple) gives one argument per element; anything else is one
    /// argument. Wrap a list in a 1-tuple, `(list,)`, to send it as one
    /// argument, and pass [`super::NO_ARGS`] to send none (`()` is `null`).
    ///
    /// Fails with [`EmitError::Full`] when the connection's outbound queue is
    /// full: nothing was queued and the caller decides what to do.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        let packet = encode::event(self.parser(), &self.inner.ns.name, event, None, data)?;
        self.send_encoded(&packet)
    }

    /// Emits `event` with one argument given as JSON text that is already
    /// encoded (say, a game snapshot written by its own encoder): it is sent
    /// as is, without being parsed again, so it must be valid JSON. Only the
    /// JSON parser can send it; with msgpack this fails with
    /// [`EmitError::Serialize`] (use [`Socket::emit`]).
    pub fn emit_json(&self, event: &str, json: &str) -> Result<(), EmitError> {
        if self.parser() != super::Parser::Json {
            return Err(EmitError::Serialize(
                "emit_json needs the JSON parser".to_owned(),
            ));
        }
        let packet = encode::event_with_json(&self.inner.ns.name, event, json)?;
        self.send_encoded(&packet)
    }

    /// Emits `event` with arguments given as values, binaries included.
    pub fn emit_args(&self, event: &str, args: Args) -> Result<(), EmitError> {
        encode::check_event(event)?;
        let packet = Packet::new(
            &*self.inner.ns.name,
            PacketBody::Event {
                name: event.to_owned(),
                args,
                ack: None,
            },
        );
        self.send_encoded(&encode::packet(self.parser(), &packet))
    }

    /// The encoded header of `event` with one binary argument on this
    /// socket's namespace, to share between many [`Socket::emit_binary`]
    /// calls (a tick's snapshots): only the attachment is encoded per socket.
    pub fn binary_event_header(&self, event: &str) -> Result<BinaryEventHeader, EmitError> {
        Ok(BinaryEventHeader {
            namespace: self.inner.ns.name.clone(),
            event: event.to_owned(),
            header: encode::binary_event_header(self.parser(), &self.inner.ns.name, event)?,
        })
    }

    /// Emits the event of `header` with `data` as its one argument, a binary
    /// attachment: the same packet as [`Socket::emit_args`] with
    /// `Args::new().with_binary(data)`, which it falls back to for a header
    /// of another namespace or with msgpack (whose packet has no header).
    pub fn emit_binary(&self, header: &BinaryEventHeader, data: Bytes) -> Result<(), EmitError> {
        match &header.header {
            Some(message) if header.namespace == self.inner.ns.name => {
                self.send_encoded(&encode::binary_event(message, data))
            }
            _ => self.emit_args(&header.event, Args::new().with_binary(data)),
        }
    }

    /// Emits `event` and waits for the client's acknowledgement, for at most
    /// the configured `ack_timeout`. The packet is queued before this returns;
    /// the returned future only waits.
    pub fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> impl Future<Output = Result<Args, AckError>> + Send + 'static {
        self.emit_with_ack_timeout(event, data, self.inner.ns.settings.ack_timeout)
    }

    /// [`Socket::emit_with_ack`] with an explicit timeout.
    pub fn emit_with_ack_timeout<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        timeout: Duration,
    ) -> impl Future<Output = Result<Args, AckError>> + Send + 'static {
        let sent = self.send_with_ack(|id| {
            encode::event(self.parser(), &self.inner.ns.name, event, Some(id), data)
        });
        self.await_ack(sent, timeout)
    }

    /// [`Socket::emit_with_ack`] with arguments given as values.
    pub fn emit_args_with_ack(
        &self,
        event: &str,
        args: Args,
        timeout: Duration,
    ) -> impl Future<Output = Result<Args, AckError>> + Send + 'static {
        let sent = encode::check_event(event).and_then(|()| {
            self.send_with_ack(|id| {
                let body = PacketBody::Event {
                    name: event.to_owned(),
                    args,
                    ack: Some(id),
                };
                Ok(encode::packet(
                    self.parser(),
                    &Packet::new(&*self.inner.ns.name, body),
                ))
            })
        });
        self.await_ack(sent, timeout)
    }

    /// Registers an ack id, encodes with it and sends.
    fn send_with_ack(
        &self,
        encode: impl FnOnce(u64) -> Result<EncodedPacket, EmitError>,
    ) -> Result<(u64, oneshot::Receiver<Args>), EmitError> {
        let (tx, rx) = oneshot::channel();
        let id = self.inner.next_ack.fetch_add(1, Ordering::Relaxed);
        {
            let mut acks = lock(&self.inner.acks);
            if acks.len() >= self.inner.ns.settings.max_pending_acks {
                return Err(EmitError::TooManyPendingAcks);
            }
            acks.insert(id, tx);
        }
        let result = encode(id).and_then(|packet| self.send_encoded(&packet));
        if let Err(error) = result {
            lock(&self.inner.acks).remove(&id);
            return Err(error);
        }
        Ok((id, rx))
    }

    fn await_ack(
        &self,
        sent: Result<(u64, oneshot::Receiver<Args>), EmitError>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Args, AckError>> + Send + 'static {
        let socket = Arc::downgrade(&self.inner);
        async move {
            let (id, rx) = sent?;
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(args)) => Ok(args),
                Ok(Err(_)) => Err(AckError::Disconnected),
                Err(_) => {
                    if let Some(socket) = Weak::upgrade(&socket) {
                        lock(&socket.acks).remove(&id);
                    }
                    Err(AckError::Timeout(timeout))
                }
            }
        }
    }

    /// Routes a client ACK to the emit waiting for it; unknown ids are ignored.
    pub(crate) fn on_ack(&self, id: u64, args: Args) {
        if let Some(tx) = lock(&self.inner.acks).remove(&id) {
            let _ = tx.send(args);
        }
    }

    /// Number of emits waiting for an acknowledgement.
    pub fn pending_acks(&self) -> usize {
        lock(&self.inner.acks).len()
    }

    /// Adds the socket to `room`.
    pub fn join(&self, room: impl Into<Room>) {
        self.inner.ns.adapter.join(&self.inner.id, room.into());
    }

    /// Removes the socket from `room`.
    pub fn leave(&self, room: &str) {
        self.inner.ns.adapter.leave(&self.inner.id, room);
    }

    /// The socket's rooms, including the one named by its id.
    pub fn rooms(&self) -> Vec<Room> {
        self.inner.ns.adapter.rooms(&self.inner.id)
    }

    /// A broadcast to the sockets in `room`, this one excluded.
    pub fn to(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.broadcast().to(room)
    }

    /// A broadcast to every other socket of the namespace not in `room`.
    pub fn except(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.broadcast().except(room)
    }

    /// A broadcast to every other socket of the namespace.
    pub fn broadcast(&self) -> BroadcastOperator {
        let target = BroadcastTarget {
            except_socket: Some(self.inner.id.clone()),
            ..BroadcastTarget::default()
        };
        BroadcastOperator::new(self.inner.ns.clone(), target)
    }

    /// Leaves the namespace: the client gets DISCONNECT (`41<nsp>`) and the
    /// disconnect handler runs with [`DisconnectReason::ServerNamespaceDisconnect`].
    /// The connection itself stays open. Called from a connect handler, takes
    /// effect right after the CONNECT reply.
    pub fn disconnect(&self) {
        if self.inner.state.load(Ordering::Acquire) == CONNECTING {
            self.inner
                .disconnect_requested
                .store(true, Ordering::Release);
            // Re-check: the reply may have gone out meanwhile.
            if self.inner.state.load(Ordering::Acquire) != CONNECTED {
                return;
            }
        }
        // Claim the socket first, so concurrent calls send one DISCONNECT.
        if self
            .inner
            .state
            .compare_exchange(CONNECTED, CLOSED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let packet = encode::packet(
            self.parser(),
            &Packet::new(&*self.inner.ns.name, PacketBody::Disconnect),
        );
        let _ = self.send_now(&packet);
        self.inner
            .conn
            .data()
            .forget(&self.inner.ns.name, &self.inner.id);
        self.finish_close(CONNECTED, DisconnectReason::ServerNamespaceDisconnect);
    }

    /// Closes the whole connection (every namespace of this client); the
    /// disconnect handlers run with [`DisconnectReason::ForcedServerClose`].
    pub fn close_connection(&self) {
        self.inner
            .conn
            .data()
            .close_with(&self.inner.conn, DisconnectReason::ForcedServerClose);
    }

    fn parser(&self) -> super::Parser {
        self.inner.ns.settings.parser
    }

    /// Queues an encoded packet, or holds it until the CONNECT reply went out.
    pub(crate) fn send_encoded(&self, packet: &EncodedPacket) -> Result<(), EmitError> {
        match self.inner.state.load(Ordering::Acquire) {
            CONNECTED => self.send_now(packet),
            CLOSED => Err(EmitError::Closed),
            _ => {
                let mut early = lock(&self.inner.early);
                match self.inner.state.load(Ordering::Acquire) {
                    CONNECTING if early.len() >= self.inner.ns.settings.max_early_packets => {
                        Err(EmitError::Full)
                    }
                    CONNECTING => {
                        early.push(packet.clone());
                        Ok(())
                    }
                    CONNECTED => {
                        drop(early);
                        self.send_now(packet)
                    }
                    _ => Err(EmitError::Closed),
                }
            }
        }
    }

    fn send_now(&self, packet: &EncodedPacket) -> Result<(), EmitError> {
        match packet.as_single() {
            Some(message) => self.inner.conn.send(message.clone())?,
            None => self.inner.conn.send_all(packet.messages().to_vec())?,
        }
        Ok(())
    }

    /// Sends the CONNECT reply (alone: [`EngineSocket::send_alone`]) and
    /// what was emitted meanwhile, then marks the
    /// socket connected. False when the socket closed first or the reply did
    /// not fit in the queue.
    pub(crate) fn complete_connect(&self) -> bool {
        let mut early = lock(&self.inner.early);
        if self.inner.state.load(Ordering::Acquire) != CONNECTING {
            return false;
        }
        let reply = encode::packet(
            self.parser(),
            &Packet::connect_reply(&*self.inner.ns.name, &self.inner.id),
        );
        // In a WebSocket write of its own: some clients miss an event that
        // arrives in the same TCP read as the CONNECT reply.
        let sent = match reply.as_single() {
            Some(message) => self.inner.conn.send_alone(message.clone()),
            None => self.inner.conn.send_all(reply.messages().to_vec()),
        };
        if sent.is_err() {
            return false;
        }
        for packet in early.drain(..) {
            if let Err(error) = self.send_now(&packet) {
                tracing::debug!(sid = %self.inner.id, %error, "dropped a packet emitted during connect");
            }
        }
        *early = Vec::new();
        let connected = self
            .inner
            .state
            .compare_exchange(CONNECTING, CONNECTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        drop(early);
        if connected {
            self.inner.ns.register(self);
        }
        connected
    }

    /// Whether `disconnect()` was called while connecting.
    pub(crate) fn disconnect_requested(&self) -> bool {
        self.inner.disconnect_requested.load(Ordering::Acquire)
    }

    /// Ends the socket (idempotent): runs the disconnect handler if the
    /// client had been told it was connected, leaves every room, fails the
    /// pending acks. Sends nothing.
    pub(crate) fn close(&self, reason: DisconnectReason) {
        let previous = self.inner.state.swap(CLOSED, Ordering::AcqRel);
        if previous != CLOSED {
            self.finish_close(previous, reason);
        }
    }

    /// The rest of [`Socket::close`], once the state was CLOSED by this call.
    fn finish_close(&self, previous: u8, reason: DisconnectReason) {
        if previous == CONNECTED {
            self.inner.ns.unregister(self);
            self.inner.ns.run_disconnect_handler(self, reason);
        }
        self.inner.ns.adapter.remove_socket(&self.inner.id);
        lock(&self.inner.acks).clear();
        lock(&self.inner.early).clear();
    }
}

/// The reply channel of a client event that asked for an acknowledgement.
/// Consumed by sending: an event is acknowledged at most once.
#[derive(Debug)]
pub struct AckSender {
    /// The socket the event came from.
    socket: Socket,
    /// The client's ack id.
    id: u64,
}

impl AckSender {
    pub(crate) fn new(socket: Socket, id: u64) -> Self {
        Self { socket, id }
    }

    /// The client's ack id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Replies with arguments from `data` (an array or tuple spreads into
    /// several, as in [`Socket::emit`]).
    pub fn send<T: Serialize + ?Sized>(self, data: &T) -> Result<(), EmitError> {
        let packet = encode::ack(self.socket.parser(), self.socket.namespace(), self.id, data)?;
        self.socket.send_encoded(&packet)
    }

    /// Replies with arguments given as values, binaries included.
    pub fn send_args(self, args: Args) -> Result<(), EmitError> {
        let packet = Packet::new(
            self.socket.namespace(),
            PacketBody::Ack { id: self.id, args },
        );
        self.socket
            .send_encoded(&encode::packet(self.socket.parser(), &packet))
    }
}
