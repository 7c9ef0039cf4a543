//! The link between the world's tick thread and the rest of the server:
//! [`WorldHandle`] sends commands to the thread, and [`SocketOutbox`] turns
//! what the world produces into Socket.IO emits and position saves. Each
//! snapshot is encoded once, on the tick thread, in the form its socket
//! asked for at connect ([`SnapshotForm`]). The tick thread holds back the
//! wake-ups of the sockets it sends to ([`engineio::hold_wakes`]) and the
//! outbox hands them to the runtime after each tick or command
//! ([`Outbox::deliver`]), a task per 256 sockets that writes each idle
//! connection's queue itself, instead of waking a task per socket from
//! outside the runtime while the tick is still encoding. A `position`
//! target does not wake the tick thread ([`WorldCommand::wakes_the_world`]).

use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::oneshot;

use super::players::{kick, Bound, Players};
use super::SnapshotForm;
use crate::cluster::ChatLink;
use crate::engineio;
use crate::game::tick_loop::{self, TickStats, WorldCommand};
use crate::game::TickHook;
use crate::game::{
    ChatMessage, Delivery, Outbox, PlayerId, SavedPosition, Snapshot, Teleport, World,
};
use crate::metrics::{EventKind, Metrics};
use crate::socketio::{BinaryEventHeader, EmitError, Parser, Socket};
use crate::store::Store;

/// Why a command did not reach the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WorldUnavailable {
    /// The command queue is full (overload); the command was dropped.
    #[error("the world is overloaded")]
    Busy,
    /// The tick thread has stopped.
    #[error("the world has stopped")]
    Stopped,
}

/// A cheap-clone handle to the world's tick thread.
#[derive(Clone)]
pub struct WorldHandle {
    /// Commands to the tick thread.
    commands: SyncSender<WorldCommand>,
    /// What the tick thread publishes (tick number, players, durations).
    stats: Arc<TickStats>,
    /// The tick thread, unparked for a command that wakes the world.
    thread: std::thread::Thread,
}

impl WorldHandle {
    /// Starts the tick thread for `world`, delivering through `outbox` and
    /// running `hook` after every tick (`()` on a single node);
    /// `command_queue` commands may wait for it before senders see
    /// [`WorldUnavailable::Busy`].
    pub fn spawn(
        world: World,
        outbox: SocketOutbox,
        stats: Arc<TickStats>,
        command_queue: usize,
        hook: impl TickHook + Send + 'static,
    ) -> std::io::Result<(Self, JoinHandle<World>)> {
        let (commands, receiver) = std::sync::mpsc::sync_channel(command_queue);
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("locus-world".into())
            .spawn(move || {
                engineio::hold_wakes();
                tick_loop::run(world, receiver, outbox, &thread_stats, hook)
            })?;
        let handle = Self {
            commands,
            stats,
            thread: thread.thread().clone(),
        };
        Ok((handle, thread))
    }

    /// Queues `command` without waiting, and wakes the tick thread for it
    /// unless it can wait for the next tick (see
    /// [`WorldCommand::wakes_the_world`]).
    pub fn send(&self, command: WorldCommand) -> Result<(), WorldUnavailable> {
        let wake = command.wakes_the_world();
        self.commands.try_send(command).map_err(|e| match e {
            TrySendError::Full(_) => WorldUnavailable::Busy,
            TrySendError::Disconnected(_) => WorldUnavailable::Stopped,
        })?;
        if wake {
            self.thread.unpark();
        }
        Ok(())
    }

    /// Sends a command carrying a reply channel and awaits the reply.
    pub async fn request<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> WorldCommand,
    ) -> Result<T, WorldUnavailable> {
        let (reply, answer) = oneshot::channel();
        self.send(make(reply))?;
        answer.await.map_err(|_| WorldUnavailable::Stopped)
    }

    /// The number of the last tick run.
    pub fn tick(&self) -> u64 {
        self.stats.tick()
    }

    /// Players in the world.
    pub fn player_count(&self) -> u64 {
        self.stats.players_online()
    }

    /// The tick thread's statistics.
    pub fn stats(&self) -> &Arc<TickStats> {
        &self.stats
    }
}

/// Sockets one delivery task writes to after a tick: a few milliseconds of
/// writes, so that the runtime's workers share a large tick's delivery.
const DELIVERY_BATCH: usize = 256;

/// The tick thread's side of the server: emits to sockets and hands dirty
/// positions to the store. Never blocks.
pub struct SocketOutbox {
    /// Who plays which account.
    pub players: Arc<Players>,
    /// Where positions go.
    pub store: Store,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The packet format: JSON snapshots are written by the world's own
    /// encoder (move entries encoded once per tick and shared), msgpack ones
    /// through serde. Binary snapshots are the same bytes with either.
    parser: Parser,
    /// Reused buffer for encoding one snapshot.
    buffer: Vec<u8>,
    /// The header of a binary snapshot packet, encoded for the first
    /// socket and shared by every later one (all play on namespace `/`).
    snapshot_header: Option<BinaryEventHeader>,
    /// The runtime the sockets' writers run on, which [`Outbox::deliver`]
    /// wakes them from; `None` outside a runtime (they are woken from the
    /// tick thread then).
    runtime: Option<tokio::runtime::Handle>,
    /// On a cluster node: relays chat said near a border.
    cluster_chat: Option<ChatLink>,
}

impl SocketOutbox {
    /// An outbox delivering to `players` and saving to `store`; call it
    /// inside the runtime the sockets run on.
    pub fn new(players: Arc<Players>, store: Store, metrics: Arc<Metrics>, parser: Parser) -> Self {
        Self {
            players,
            store,
            metrics,
            parser,
            buffer: Vec::with_capacity(4096),
            snapshot_header: None,
            runtime: tokio::runtime::Handle::try_current().ok(),
            cluster_chat: None,
        }
    }

    /// On a cluster node: chat said near a border also goes to `link`.
    pub fn with_cluster_chat(mut self, link: ChatLink) -> Self {
        self.cluster_chat = Some(link);
        self
    }

    fn emit<T: Serialize + ?Sized>(
        &self,
        to: PlayerId,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        match self.players.socket(to) {
            Some(socket) => socket.emit(event, data),
            None => Err(EmitError::Closed),
        }
    }
}

impl SocketOutbox {
    /// Encodes `snapshot` as one JSON argument for the socket's parser.
    fn emit_json_snapshot(
        &mut self,
        socket: &Socket,
        snapshot: &Snapshot<'_>,
    ) -> Option<Result<(), EmitError>> {
        match self.parser {
            Parser::Json => {
                self.buffer.clear();
                snapshot.write_json(&mut self.buffer);
                match std::str::from_utf8(&self.buffer) {
                    Ok(json) => Some(socket.emit_json("snapshot", json)),
                    Err(error) => {
                        tracing::error!(%error, "snapshot encoder wrote invalid UTF-8");
                        None
                    }
                }
            }
            Parser::MsgPack => Some(socket.emit("snapshot", snapshot)),
        }
    }

    /// Encodes `snapshot` in the binary form as one binary argument: one
    /// attachment after a `451-["snapshot",{"_placeholder":true,"num":0}]`
    /// header with the default parser, one `bin` with msgpack.
    fn emit_binary_snapshot(
        &mut self,
        socket: &Socket,
        snapshot: &Snapshot<'_>,
    ) -> Option<Result<(), EmitError>> {
        self.buffer.clear();
        if let Err(error) = snapshot.write_binary(&mut self.buffer) {
            // Every snapshot the world delivers has its indices; switching
            // this client to JSON mid-stream would desync its indices.
            tracing::error!(%error, "world snapshot without a binary form");
            return None;
        }
        let data = Bytes::copy_from_slice(&self.buffer);
        let header = match &self.snapshot_header {
            Some(header) => header,
            None => match socket.binary_event_header("snapshot") {
                Ok(header) => self.snapshot_header.insert(header),
                Err(error) => return Some(Err(error)),
            },
        };
        Some(socket.emit_binary(header, data))
    }
}

impl Outbox for SocketOutbox {
    fn snapshot(&mut self, to: PlayerId, snapshot: &Snapshot<'_>) -> Delivery {
        let Some(Bound { socket, form, .. }) = self.players.bound(to) else {
            // Joined but not yet bound (welcome in flight, or a takeover in
            // progress), or already leaving: keep the baseline so nothing is
            // lost either way.
            return Delivery::Full;
        };
        let sent = match form {
            SnapshotForm::Json => self.emit_json_snapshot(&socket, snapshot),
            SnapshotForm::Binary => self.emit_binary_snapshot(&socket, snapshot),
        };
        match sent {
            Some(Ok(())) => {
                self.metrics.event_out(EventKind::snapshot, 1);
                Delivery::Sent
            }
            Some(Err(EmitError::Full)) | None => Delivery::Full,
            Some(Err(_)) => Delivery::Gone,
        }
    }

    fn teleport(&mut self, to: PlayerId, teleport: &Teleport) {
        if self.emit(to, "teleport", teleport).is_ok() {
            self.metrics.event_out(EventKind::teleport, 1);
        }
    }

    fn chat(&mut self, to: &[PlayerId], message: &ChatMessage) {
        let sent = to
            .iter()
            .filter(|id| self.emit(**id, "chat", message).is_ok())
            .count();
        self.metrics.event_out(EventKind::chat, sent as u64);
    }

    fn persist(&mut self, positions: &[SavedPosition]) {
        if let Err(error) = self.store.save_positions(positions.to_vec()) {
            tracing::warn!(%error, "position batch not queued for saving");
        }
    }

    fn chat_sent(&mut self, x: f64, y: f64, message: &ChatMessage) {
        if let Some(link) = &self.cluster_chat {
            link.said(x, y, message);
        }
    }

    fn migrate(&mut self, player: PlayerId, url: &str) {
        self.players.migrate_account(player, url);
    }

    fn kick(&mut self, player: PlayerId, reason: &str) {
        if let Some(socket) = self.players.socket(player) {
            self.metrics.kicked(reason);
            self.metrics.event_out(EventKind::kicked, 1);
            kick(&socket, reason);
        }
    }

    fn deliver(&mut self) {
        let held = engineio::take_held_wakes();
        if held.is_empty() {
            return;
        }
        let Some(runtime) = &self.runtime else {
            return held.wake_all();
        };
        // A few tasks on the runtime write for every idle connection (and
        // wake the others from inside the runtime), so every worker can
        // take a share; outside the cooperative budget, which would refuse
        // a task's socket writes after its first hundred or so.
        for batch in held.into_batches(DELIVERY_BATCH) {
            drop(runtime.spawn(tokio::task::coop::unconstrained(
                async move { batch.wake_all() },
            )));
        }
    }
}
