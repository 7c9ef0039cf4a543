//! A namespace: its handlers (connect, events, catch-all, disconnect, error
//! hook), its connected sockets, its adapter, and broadcasts to it.
//!
//! Owns the handler table and the id → socket map of the namespace. Handlers
//! are looked up under a short read lock and called after it is released.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::FutureExt;
use serde::Serialize;
use serde_json::Value;

use super::adapter::{Adapter, BroadcastReport, BroadcastTarget, Room};
use super::encode::{self, EncodedPacket};
use super::socket::{AckSender, Socket};
use super::{
    read, write, ConnectError, DisconnectReason, EmitError, HandlerError, IntoHandlerResult, Parser,
};
use crate::protocol::socketio::{Args, Packet, PacketBody};

/// The settings every socket of a server reads.
#[derive(Debug)]
pub(crate) struct Settings {
    /// The wire format.
    pub(crate) parser: Parser,
    /// Default wait for a client's acknowledgement.
    pub(crate) ack_timeout: Duration,
    /// Bound on a socket's emits awaiting acknowledgement.
    pub(crate) max_pending_acks: usize,
    /// Bound on packets emitted to a socket while its connect handler runs.
    pub(crate) max_early_packets: usize,
}

/// What a connect handler returns, boxed.
pub(crate) type ConnectFuture = Pin<Box<dyn Future<Output = Result<(), ConnectError>> + Send>>;
type ConnectFn = dyn Fn(Socket, Value) -> ConnectFuture + Send + Sync;
type EventFn = dyn Fn(&Socket, Args, Option<AckSender>) -> Result<(), HandlerError> + Send + Sync;
type AnyFn =
    dyn Fn(&Socket, &str, Args, Option<AckSender>) -> Result<(), HandlerError> + Send + Sync;
type DisconnectFn = dyn Fn(&Socket, DisconnectReason) + Send + Sync;
type ErrorFn = dyn Fn(&Socket, &str, &HandlerError) + Send + Sync;

#[derive(Default)]
struct Handlers {
    /// Decides whether a client may join; `None` accepts everyone.
    connect: Option<Arc<ConnectFn>>,
    /// Event handlers by event name.
    events: HashMap<String, Arc<EventFn>>,
    /// Receives the events no handler is registered for.
    any: Option<Arc<AnyFn>>,
    /// Told when a socket leaves.
    disconnect: Option<Arc<DisconnectFn>>,
    /// Told when a handler fails; `None` logs a warning.
    error: Option<Arc<ErrorFn>>,
}

pub(crate) struct NamespaceInner {
    /// The namespace name, starting with `/`.
    pub(crate) name: Arc<str>,
    /// Server-wide settings.
    pub(crate) settings: Arc<Settings>,
    /// Rooms and broadcast delivery.
    pub(crate) adapter: Arc<dyn Adapter>,
    /// The application's handlers.
    handlers: RwLock<Handlers>,
    /// Connected sockets by id.
    sockets: RwLock<HashMap<Arc<str>, Socket>>,
}

impl NamespaceInner {
    pub(crate) fn connect_handler(&self) -> Option<Arc<ConnectFn>> {
        read(&self.handlers).connect.clone()
    }

    pub(crate) fn register(&self, socket: &Socket) {
        write(&self.sockets).insert(socket.id_arc().clone(), socket.clone());
    }

    pub(crate) fn unregister(&self, socket: &Socket) {
        write(&self.sockets).remove(socket.id());
    }

    /// Runs the handler for event `name`, or the catch-all, inline.
    pub(crate) fn dispatch_event(&self, socket: &Socket, name: &str, args: Args, ack: Option<u64>) {
        let ack = ack.map(|id| AckSender::new(socket.clone(), id));
        let (handler, any) = {
            let handlers = read(&self.handlers);
            match handlers.events.get(name) {
                Some(handler) => (Some(handler.clone()), None),
                None => (None, handlers.any.clone()),
            }
        };
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| match (handler, any) {
            (Some(handler), _) => handler(socket, args, ack),
            (None, Some(any)) => any(socket, name, args, ack),
            (None, None) => {
                tracing::trace!(sid = socket.id(), event = name, "no handler for event");
                Ok(())
            }
        }));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(error)) => self.report_error(socket, name, &error),
            Err(panic) => self.report_error(socket, name, &panic_error(panic)),
        }
    }

    /// Calls the error hook (or logs).
    pub(crate) fn report_error(&self, socket: &Socket, event: &str, error: &HandlerError) {
        let hook = read(&self.handlers).error.clone();
        match hook {
            Some(hook) => {
                if std::panic::catch_unwind(AssertUnwindSafe(|| hook(socket, event, error)))
                    .is_err()
                {
                    tracing::error!(nsp = %self.name, sid = socket.id(), event, "error hook panicked");
                }
            }
            None => {
                tracing::warn!(nsp = %self.name, sid = socket.id(), event, %error, "event handler failed")
            }
        }
    }

    pub(crate) fn run_disconnect_handler(&self, socket: &Socket, reason: DisconnectReason) {
        let handler = read(&self.handlers).disconnect.clone();
        if let Some(handler) = handler {
            if std::panic::catch_unwind(AssertUnwindSafe(|| handler(socket, reason))).is_err() {
                let error: HandlerError = "disconnect handler panicked".into();
                self.report_error(socket, "disconnect", &error);
            }
        }
    }
}

/// Turns a caught panic into an error for the hook.
pub(crate) fn panic_error(panic: Box<dyn std::any::Any + Send>) -> HandlerError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    format!("handler panicked: {message}").into()
}

/// A namespace of the server. Cheap to clone.
///
/// Handlers are registered per namespace (as in Flask-SocketIO) and shared
/// by all its sockets. Registering again replaces the previous handler.
#[derive(Clone)]
pub struct Namespace {
    pub(crate) inner: Arc<NamespaceInner>,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl Namespace {
    pub(crate) fn new(name: Arc<str>, settings: Arc<Settings>, adapter: Arc<dyn Adapter>) -> Self {
        let inner = NamespaceInner {
            name,
            settings,
            adapter,
            handlers: RwLock::new(Handlers::default()),
            sockets: RwLock::new(HashMap::new()),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The namespace name, e.g. `/`.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Sets the connect handler. It receives the new socket and the client's
    /// auth payload (`{}` when none) and may take its time (a database
    /// lookup): packets the client sends to the namespace meanwhile are
    /// queued and dispatched in order once it accepts. `Ok` accepts; the
    /// client then gets `{"sid"}` followed by whatever the handler emitted.
    /// `Err` refuses with CONNECT_ERROR `{"message","data"}`.
    pub fn on_connect<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
    {
        let handler: Arc<ConnectFn> = Arc::new(move |socket, auth| Box::pin(handler(socket, auth)));
        write(&self.inner.handlers).connect = Some(handler);
    }

    /// Sets the handler of `event`. It runs inline, in arrival order with the
    /// connection's other packets; keep it short or use [`Namespace::on_async`].
    /// `ack` is `Some` when the client asked for an acknowledgement. An `Err`
    /// (or a panic) goes to the error hook; the connection stays up.
    pub fn on<F, R>(&self, event: &str, handler: F)
    where
        F: Fn(&Socket, Args, Option<AckSender>) -> R + Send + Sync + 'static,
        R: IntoHandlerResult,
    {
        let handler: Arc<EventFn> =
            Arc::new(move |socket, args, ack| handler(socket, args, ack).into_handler_result());
        write(&self.inner.handlers)
            .events
            .insert(event.to_owned(), handler);
    }

    /// Sets an asynchronous handler of `event`: each event spawns a task, so
    /// such events may complete out of order.
    pub fn on_async<F, Fut, R>(&self, event: &str, handler: F)
    where
        F: Fn(Socket, Args, Option<AckSender>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoHandlerResult,
    {
        let event_name: Arc<str> = event.into();
        let handler: Arc<EventFn> = Arc::new(move |socket, args, ack| {
            let future = handler(socket.clone(), args, ack);
            let socket = socket.clone();
            let event = event_name.clone();
            tokio::spawn(async move {
                let error = match AssertUnwindSafe(future).catch_unwind().await {
                    Ok(result) => result.into_handler_result().err(),
                    Err(panic) => Some(panic_error(panic)),
                };
                if let Some(error) = error {
                    socket.ns().report_error(&socket, &event, &error);
                }
            });
            Ok(())
        });
        write(&self.inner.handlers)
            .events
            .insert(event.to_owned(), handler);
    }

    /// Sets the catch-all handler: it receives every event that has no
    /// handler of its own, with the event name (python-socketio's `'*'`).
    pub fn on_any<F, R>(&self, handler: F)
    where
        F: Fn(&Socket, &str, Args, Option<AckSender>) -> R + Send + Sync + 'static,
        R: IntoHandlerResult,
    {
        let handler: Arc<AnyFn> = Arc::new(move |socket, event, args, ack| {
            handler(socket, event, args, ack).into_handler_result()
        });
        write(&self.inner.handlers).any = Some(handler);
    }

    /// Sets the disconnect handler. The socket's rooms are still readable
    /// inside it; emits to the socket itself fail.
    pub fn on_disconnect<F>(&self, handler: F)
    where
        F: Fn(&Socket, DisconnectReason) + Send + Sync + 'static,
    {
        write(&self.inner.handlers).disconnect = Some(Arc::new(handler));
    }

    /// Sets the hook told of failing (or panicking) event handlers, with the
    /// event name. Without one, failures are logged with `tracing`.
    pub fn on_error<F>(&self, hook: F)
    where
        F: Fn(&Socket, &str, &HandlerError) + Send + Sync + 'static,
    {
        write(&self.inner.handlers).error = Some(Arc::new(hook));
    }

    /// A connected socket by id.
    pub fn get_socket(&self, id: &str) -> Option<Socket> {
        read(&self.inner.sockets).get(id).cloned()
    }

    /// Every connected socket.
    pub fn sockets(&self) -> Vec<Socket> {
        read(&self.inner.sockets).values().cloned().collect()
    }

    /// Number of connected sockets.
    pub fn socket_count(&self) -> usize {
        read(&self.inner.sockets).len()
    }

    /// The namespace's adapter.
    pub fn adapter(&self) -> &Arc<dyn Adapter> {
        &self.inner.adapter
    }

    /// A broadcast to the sockets in `room`.
    pub fn to(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.all().to(room)
    }

    /// A broadcast to the sockets not in `room`.
    pub fn except(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.all().except(room)
    }

    /// A broadcast to every socket of the namespace.
    pub fn all(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.inner.clone(), BroadcastTarget::default())
    }

    /// Emits to every socket of the namespace (see [`BroadcastOperator::emit`]).
    pub fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<BroadcastReport, EmitError> {
        self.all().emit(event, data)
    }

    /// Emits values, binaries included, to every socket of the namespace.
    pub fn emit_args(&self, event: &str, args: Args) -> Result<BroadcastReport, EmitError> {
        self.all().emit_args(event, args)
    }
}

/// A broadcast being aimed: rooms to reach, rooms and a socket to skip. The
/// packet is encoded once and its bytes shared by all recipients.
#[must_use = "a broadcast does nothing until emitted"]
pub struct BroadcastOperator {
    /// Where the broadcast goes.
    ns: Arc<NamespaceInner>,
    /// Who gets it.
    target: BroadcastTarget,
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Arc<NamespaceInner>, target: BroadcastTarget) -> Self {
        Self { ns, target }
    }

    /// Also reaches the sockets in `room` (a socket id is a room too).
    pub fn to(mut self, room: impl Into<Room>) -> Self {
        self.target.rooms.push(room.into());
        self
    }

    /// Skips the sockets in `room`.
    pub fn except(mut self, room: impl Into<Room>) -> Self {
        self.target.except.push(room.into());
        self
    }

    /// Who the broadcast designates.
    pub fn target(&self) -> &BroadcastTarget {
        &self.target
    }

    /// Emits `event` (arguments as in [`Socket::emit`]) to every designated
    /// socket. Sockets whose queue is full are listed in the report.
    pub fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<BroadcastReport, EmitError> {
        let packet = encode::event(self.ns.settings.parser, &self.ns.name, event, None, data)?;
        Ok(self.send(&packet))
    }

    /// Emits values, binaries included.
    pub fn emit_args(&self, event: &str, args: Args) -> Result<BroadcastReport, EmitError> {
        encode::check_event(event)?;
        let body = PacketBody::Event {
            name: event.to_owned(),
            args,
            ack: None,
        };
        let packet = encode::packet(self.ns.settings.parser, &Packet::new(&*self.ns.name, body));
        Ok(self.send(&packet))
    }

    fn send(&self, packet: &EncodedPacket) -> BroadcastReport {
        self.ns.adapter.broadcast(packet, &self.target)
    }

    /// The designated sockets.
    pub fn sockets(&self) -> Vec<Socket> {
        self.ns.adapter.sockets(&self.target)
    }

    /// Makes every designated socket join `room`.
    pub fn join(&self, room: impl Into<Room>) {
        let room = room.into();
        for socket in self.sockets() {
            socket.join(room.clone());
        }
    }

    /// Makes every designated socket leave `room`.
    pub fn leave(&self, room: &str) {
        for socket in self.sockets() {
            socket.leave(room);
        }
    }

    /// Disconnects every designated socket from the namespace.
    pub fn disconnect(&self) {
        for socket in self.sockets() {
            socket.disconnect();
        }
    }
}
