//! One Engine.IO connection as the Socket.IO layer sees it: decoding its
//! messages, its namespace memberships (joined or still connecting, with the
//! packets queued meanwhile), the connect timeout, and the protocol-state
//! rules that close the whole connection.
//!
//! Owns [`Connection`] (the per-session state stored in the engine) and
//! [`SocketIoHandler`] (the [`EngineHandler`] the engine calls). Does not own
//! sockets' inner state nor the namespaces' handler tables.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use serde_json::{Map, Value};
use tokio::task::AbortHandle;

use super::encode::{self, EncodedPacket};
use super::namespace::panic_error;
use super::socket::Socket;
use super::{lock, ConnectError, DisconnectReason, Parser, ServerInner};
use crate::engineio::{CloseReason, EngineHandler, EngineSocket, Message};
use crate::protocol::msgpack;
use crate::protocol::socketio::{Decoder, Packet, PacketBody, ParseError, Progress};

/// The Socket.IO state of one Engine.IO session.
#[derive(Default)]
pub struct Connection {
    /// Reassembles binary packets (default parser).
    decoder: Mutex<Decoder>,
    /// The namespaces joined or being joined, in CONNECT order.
    slots: Mutex<Vec<Slot>>,
    /// Closes the connection if no namespace is joined in time.
    connect_timer: Mutex<Option<AbortHandle>>,
    /// Why the Socket.IO layer closed the connection, if it did.
    close_reason: Mutex<Option<DisconnectReason>>,
    /// Whether a namespace was ever joined (stops the connect timeout).
    joined: AtomicBool,
}

/// A namespace membership.
struct Slot {
    /// The socket, connecting or connected.
    socket: Socket,
    /// Packets received while the connect handler runs; `None` once the
    /// socket is connected and packets are dispatched directly.
    queue: Option<VecDeque<Packet>>,
}

impl Connection {
    /// Removes the membership of socket `id` in `nsp`, if still there.
    pub(crate) fn forget(&self, nsp: &str, id: &str) {
        lock(&self.slots)
            .retain(|slot| !(slot.socket.namespace() == nsp && slot.socket.id() == id));
    }

    /// Closes the connection; its sockets disconnect with `reason`.
    pub(crate) fn close_with(
        &self,
        conn: &Arc<EngineSocket<Connection>>,
        reason: DisconnectReason,
    ) {
        lock(&self.close_reason).get_or_insert(reason);
        conn.close(CloseReason::ServerClose);
    }

    /// Number of namespaces joined or being joined.
    pub fn namespace_count(&self) -> usize {
        lock(&self.slots).len()
    }
}

/// The [`EngineHandler`] that runs Socket.IO over the engine's sessions.
pub struct SocketIoHandler {
    /// Namespaces and settings.
    server: Arc<ServerInner>,
}

impl SocketIoHandler {
    pub(crate) fn new(server: Arc<ServerInner>) -> Self {
        Self { server }
    }

    fn parser(&self) -> Parser {
        self.server.settings.parser
    }

    fn decode(
        &self,
        conn: &EngineSocket<Connection>,
        message: Message,
    ) -> Result<Progress, ParseError> {
        match (self.parser(), message) {
            (Parser::Json, Message::Text(text)) => lock(&conn.data().decoder).feed_text(&text),
            (Parser::Json, Message::Binary(data)) => lock(&conn.data().decoder).feed_binary(data),
            (Parser::MsgPack, Message::Binary(data)) => {
                msgpack::decode(&data).map(Progress::Packet)
            }
            (Parser::MsgPack, Message::Text(_)) => {
                Err(ParseError::InvalidMsgpack("text message".to_owned()))
            }
        }
    }

    fn on_packet(&self, conn: &Arc<EngineSocket<Connection>>, packet: Packet) {
        let state = conn.data();
        match packet.body {
            PacketBody::Connect(auth) => self.on_connect(conn, packet.nsp, auth),
            PacketBody::ConnectError(_) => {
                tracing::debug!(conn = conn.id(), "client sent CONNECT_ERROR");
                state.close_with(conn, DisconnectReason::ForcedServerClose);
            }
            body => {
                let mut slots = lock(&state.slots);
                let Some(slot) = slots
                    .iter_mut()
                    .find(|slot| slot.socket.namespace() == packet.nsp)
                else {
                    drop(slots);
                    tracing::debug!(
                        conn = conn.id(),
                        nsp = packet.nsp,
                        "packet for a namespace not joined"
                    );
                    return state.close_with(conn, DisconnectReason::ForcedServerClose);
                };
                if let Some(queue) = slot.queue.as_mut() {
                    if queue.len() >= self.server.config.max_queued_while_connecting {
                        drop(slots);
                        tracing::debug!(conn = conn.id(), "too many packets while connecting");
                        return state.close_with(conn, DisconnectReason::ForcedServerClose);
                    }
                    queue.push_back(Packet {
                        nsp: packet.nsp,
                        body,
                    });
                    return;
                }
                let socket = slot.socket.clone();
                drop(slots);
                dispatch(&socket, body);
            }
        }
    }

    fn on_connect(
        &self,
        conn: &Arc<EngineSocket<Connection>>,
        nsp: String,
        auth: Option<Map<String, Value>>,
    ) {
        let state = conn.data();
        if lock(&state.slots)
            .iter()
            .any(|slot| slot.socket.namespace() == nsp)
        {
            tracing::debug!(conn = conn.id(), nsp, "second CONNECT for a namespace");
            return state.close_with(conn, DisconnectReason::ForcedServerClose);
        }
        let Some(ns) = self.server.namespace(&nsp) else {
            let refusal = encode::packet(
                self.parser(),
                &Packet::connect_error(nsp, "Invalid namespace", None),
            );
            send_raw(conn, &refusal);
            return;
        };
        let auth = Value::Object(auth.unwrap_or_default());
        let socket = Socket::new(ns.inner.clone(), conn.clone(), auth.clone());
        ns.inner.adapter.add_socket(&socket);
        lock(&state.slots).push(Slot {
            socket: socket.clone(),
            queue: Some(VecDeque::new()),
        });

        let Some(handler) = ns.inner.connect_handler() else {
            return finish_connect(&socket, Ok(()));
        };
        let mut decision = AssertUnwindSafe(handler(socket.clone(), auth))
            .catch_unwind()
            .boxed();
        // A handler that decides at once is completed inline, keeping the
        // reply in order with the packets that follow; a slow one gets a task.
        match (&mut decision).now_or_never() {
            Some(outcome) => finish_connect(&socket, flatten(&socket, outcome)),
            None => {
                tokio::spawn(async move {
                    let outcome = decision.await;
                    finish_connect(&socket, flatten(&socket, outcome));
                });
            }
        }
    }
}

/// A connect handler's outcome, a panic counting as a refusal.
fn flatten(
    socket: &Socket,
    outcome: Result<Result<(), ConnectError>, Box<dyn std::any::Any + Send>>,
) -> Result<(), ConnectError> {
    outcome.unwrap_or_else(|panic| {
        socket
            .ns()
            .report_error(socket, "connect", &panic_error(panic));
        Err(ConnectError::new("Internal server error"))
    })
}

/// Applies the connect handler's decision, then dispatches the packets queued
/// meanwhile, in order, before letting new ones through directly.
fn finish_connect(socket: &Socket, decision: Result<(), ConnectError>) {
    let conn = socket.conn();
    let state = conn.data();
    if let Err(refusal) = decision {
        state.forget(socket.namespace(), socket.id());
        socket.close(DisconnectReason::ServerNamespaceDisconnect);
        let packet = Packet::connect_error(socket.namespace(), &refusal.message, refusal.data);
        send_raw(conn, &encode::packet(socket.ns().settings.parser, &packet));
        return;
    }
    if !socket.complete_connect() {
        // Closed meanwhile, or the reply did not fit in the queue.
        state.forget(socket.namespace(), socket.id());
        socket.close(DisconnectReason::ForcedServerClose);
        if !conn.is_closed() {
            state.close_with(conn, DisconnectReason::ForcedServerClose);
        }
        return;
    }
    if !state.joined.swap(true, Ordering::AcqRel) {
        if let Some(timer) = lock(&state.connect_timer).take() {
            timer.abort();
        }
    }
    loop {
        let batch = {
            let mut slots = lock(&state.slots);
            let Some(slot) = slots
                .iter_mut()
                .find(|slot| slot.socket.id() == socket.id())
            else {
                break;
            };
            match slot.queue.as_mut() {
                Some(queue) if !queue.is_empty() => std::mem::take(queue),
                _ => {
                    slot.queue = None;
                    break;
                }
            }
        };
        for packet in batch {
            dispatch(socket, packet.body);
        }
    }
    if socket.disconnect_requested() {
        socket.disconnect();
    }
}

/// Handles a packet for a joined namespace.
fn dispatch(socket: &Socket, body: PacketBody) {
    match body {
        PacketBody::Event { name, args, ack } => {
            socket.ns().dispatch_event(socket, &name, args, ack)
        }
        PacketBody::Ack { id, args } => socket.on_ack(id, args),
        PacketBody::Disconnect => {
            socket.conn().data().forget(socket.namespace(), socket.id());
            socket.close(DisconnectReason::ClientNamespaceDisconnect);
        }
        PacketBody::Connect(_) | PacketBody::ConnectError(_) => {
            unreachable!("CONNECT and CONNECT_ERROR are handled before dispatch")
        }
    }
}

/// Sends a packet outside any socket (refusals).
fn send_raw(conn: &EngineSocket<Connection>, packet: &EncodedPacket) {
    let result = match packet.as_single() {
        Some(message) => conn.send(message.clone()),
        None => conn.send_all(packet.messages().to_vec()),
    };
    if let Err(error) = result {
        tracing::debug!(conn = conn.id(), %error, "could not send");
    }
}

impl EngineHandler for SocketIoHandler {
    type Data = Connection;

    fn on_open(&self, conn: &Arc<EngineSocket<Connection>>) {
        *lock(&conn.data().decoder) = Decoder::new(self.server.config.max_attachments);
        let weak = Arc::downgrade(conn);
        let timeout = self.server.config.connect_timeout;
        let timer = tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if let Some(conn) = weak.upgrade() {
                if !conn.data().joined.load(Ordering::Acquire) {
                    tracing::debug!(conn = conn.id(), "no namespace joined in time");
                    conn.data()
                        .close_with(&conn, DisconnectReason::ForcedServerClose);
                }
            }
        });
        *lock(&conn.data().connect_timer) = Some(timer.abort_handle());
    }

    fn on_message(&self, conn: &Arc<EngineSocket<Connection>>, message: Message) {
        match self.decode(conn, message) {
            Ok(Progress::Packet(packet)) => self.on_packet(conn, packet),
            Ok(Progress::NeedAttachments(_)) => {}
            Err(error) => {
                tracing::debug!(conn = conn.id(), %error, "invalid packet");
                conn.data().close_with(conn, DisconnectReason::ParseError);
            }
        }
    }

    fn on_close(&self, conn: &Arc<EngineSocket<Connection>>, reason: CloseReason) {
        let state = conn.data();
        if let Some(timer) = lock(&state.connect_timer).take() {
            timer.abort();
        }
        let reason = lock(&state.close_reason)
            .take()
            .unwrap_or_else(|| reason.into());
        let slots = std::mem::take(&mut *lock(&state.slots));
        for slot in slots {
            slot.socket.close(reason);
        }
        *lock(&state.decoder) = Decoder::default();
    }
}
