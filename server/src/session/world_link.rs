//! The link between the world's tick thread and the rest of the server:
//! [`WorldHandle`] sends commands to the thread, and [`SocketOutbox`] turns
//! what the world produces into Socket.IO emits and position saves.

use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::Serialize;
use tokio::sync::oneshot;

use super::players::{kick, Players};
use crate::game::tick_loop::{self, TickStats, WorldCommand};
use crate::game::{
    ChatMessage, Delivery, Outbox, PlayerId, SavedPosition, Snapshot, Teleport, World,
};
use crate::metrics::{EventKind, Metrics};
use crate::socketio::{EmitError, Parser};
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
}

impl WorldHandle {
    /// Starts the tick thread for `world`, delivering through `outbox`;
    /// `command_queue` commands may wait for it before senders see
    /// [`WorldUnavailable::Busy`].
    pub fn spawn(
        world: World,
        outbox: SocketOutbox,
        stats: Arc<TickStats>,
        command_queue: usize,
    ) -> std::io::Result<(Self, JoinHandle<World>)> {
        let (commands, receiver) = std::sync::mpsc::sync_channel(command_queue);
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("locus-world".into())
            .spawn(move || tick_loop::run(world, receiver, outbox, &thread_stats))?;
        Ok((Self { commands, stats }, thread))
    }

    /// Queues `command` without waiting.
    pub fn send(&self, command: WorldCommand) -> Result<(), WorldUnavailable> {
        self.commands.try_send(command).map_err(|e| match e {
            TrySendError::Full(_) => WorldUnavailable::Busy,
            TrySendError::Disconnected(_) => WorldUnavailable::Stopped,
        })
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
    /// through serde.
    parser: Parser,
    /// Reused buffer for encoding one snapshot.
    buffer: Vec<u8>,
}

impl SocketOutbox {
    /// An outbox delivering to `players` and saving to `store`.
    pub fn new(players: Arc<Players>, store: Store, metrics: Arc<Metrics>, parser: Parser) -> Self {
        Self {
            players,
            store,
            metrics,
            parser,
            buffer: Vec::with_capacity(4096),
        }
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

impl Outbox for SocketOutbox {
    fn snapshot(&mut self, to: PlayerId, snapshot: &Snapshot<'_>) -> Delivery {
        let Some(socket) = self.players.socket(to) else {
            // Joined but not yet bound (welcome in flight), or already
            // leaving: keep the baseline so nothing is lost either way.
            return Delivery::Full;
        };
        let sent = match self.parser {
            Parser::Json => {
                self.buffer.clear();
                snapshot.write_json(&mut self.buffer);
                match std::str::from_utf8(&self.buffer) {
                    Ok(json) => socket.emit_json("snapshot", json),
                    Err(error) => {
                        tracing::error!(%error, "snapshot encoder wrote invalid UTF-8");
                        return Delivery::Full;
                    }
                }
            }
            Parser::MsgPack => socket.emit("snapshot", snapshot),
        };
        match sent {
            Ok(()) => {
                self.metrics.event_out(EventKind::snapshot, 1);
                Delivery::Sent
            }
            Err(EmitError::Full) => Delivery::Full,
            Err(_) => Delivery::Gone,
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

    fn kick(&mut self, player: PlayerId, reason: &str) {
        if let Some(socket) = self.players.socket(player) {
            self.metrics.kicked(reason);
            self.metrics.event_out(EventKind::kicked, 1);
            kick(&socket, reason);
        }
    }
}
