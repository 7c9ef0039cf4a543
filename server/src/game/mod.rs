//! The authoritative game world: players, their movement rules, the interest
//! grid, per-player views and the delta snapshots built from them, and the
//! fixed-rate tick loop that drives it on its own OS thread.
//!
//! This module is pure: it knows no sockets, no SQL and no async I/O. The
//! world talks to the rest of the server only through the [`Outbox`] trait
//! (what it wants delivered) and through [`tick_loop::WorldCommand`]s (what the
//! rest of the server asks of it). Encoding to bytes happens in the outbox,
//! once per player per tick; [`Snapshot::write_json`] is the fast JSON path.
//!
//! Layout, one concern per file:
//! * [`config`]: [`WorldConfig`], the rules and their defaults.
//! * `grid`: [`InterestGrid`], the uniform power-of-two grid for neighbour queries.
//! * `movement`: clamping and stepping toward a target.
//! * `view`: per-viewer view state (hysteresis, cap) and the delta against
//!   what was last sent.
//! * [`snapshot`]: the serde wire types (`snapshot`, `teleport`, `chat`), the
//!   fast JSON path and the world's binary snapshot writer.
//! * [`binary`]: the binary snapshot format: reference encoder, decoder for
//!   untrusted bytes, and [`binary::BinaryView`], a client's applied state.
//! * `world`: [`World`], the state and its one-step [`World::tick`].
//! * [`handoff`]: the cluster-facing types (handed-over players, mirrors,
//!   rects) and the [`TickHook`] a cluster node runs after every tick.
//! * [`tick_loop`]: the fixed-rate runner, commands and tick statistics.
//! * `cluster_tests` (tests only): mirrors, handoff and the split-world check.

pub mod binary;
#[cfg(test)]
mod cluster_tests;
pub mod config;
mod grid;
pub mod handoff;
mod movement;
pub mod snapshot;
pub mod tick_loop;
mod view;
mod view_batch;
mod world;
#[cfg(test)]
mod world_tests;

pub use config::{WorldConfig, WorldConfigError};
pub use grid::{CrowdRowsNear, EntrySlices, GridEntry, InterestGrid, RowsNear};
pub use handoff::{HandedGuard, HandedOverPlayer, MirrorEntry, Rect, TickHook};
pub use snapshot::{
    round_wire, ChatMessage, EnterEntry, MoveEntry, MovesIter, Name, NoBinaryForm, SavedPosition,
    Snapshot, Teleport, TeleportReason, Welcome, WorldSize,
};

pub use tick_loop::{apply, run, Pacer, TickStats, TickTiming, WorldCommand};
pub use world::{TargetOutcome, World, TOO_SLOW};

/// A player's identity in the world: the account id from the store.
pub type PlayerId = u64;

/// What happened to a snapshot handed to [`Outbox::snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Queued for the client: the world commits it as the new baseline.
    Sent,
    /// The client's queue is full: the world keeps the old baseline, so the
    /// next snapshot carries this delta merged with the next one. Full for
    /// more than [`WorldConfig::max_unsent_ticks`] ticks in a row gets the
    /// player kicked and removed.
    Full,
    /// The client is gone: the world removes the player (its position is
    /// still persisted at the next flush).
    Gone,
}

/// Everything the world wants delivered. The world calls it from
/// [`World::tick`] and [`World::chat`]; the implementation encodes and
/// queues, and must not block (it runs on the tick thread).
pub trait Outbox {
    /// Deliver one player's snapshot (encode it once, e.g. with
    /// [`Snapshot::write_json`]). Return [`Delivery::Full`] when the player's
    /// queue is full: the world then keeps its baseline and merges the missed
    /// delta into the next snapshot, so no delta is ever lost.
    fn snapshot(&mut self, to: PlayerId, snapshot: &Snapshot<'_>) -> Delivery;
    /// Deliver a server teleport; it precedes that player's snapshot of the
    /// same tick.
    fn teleport(&mut self, to: PlayerId, teleport: &Teleport);
    /// Deliver one chat message to every listed player (the sender included).
    fn chat(&mut self, to: &[PlayerId], message: &ChatMessage);
    /// Persist these positions (dirty since the last flush), at most once per
    /// [`WorldConfig::flush_interval`].
    fn persist(&mut self, positions: &[SavedPosition]);
    /// Tell the player why it is disconnected and disconnect it; the world has
    /// already removed it.
    fn kick(&mut self, player: PlayerId, reason: &str);
    /// Let everything handed over since the last call go out: the tick loop
    /// calls it after every tick and every command, so an outbox may gather
    /// a burst's deliveries and hand them on together. Does nothing by
    /// default (each delivery then goes out as it is made).
    fn deliver(&mut self) {}
    /// A local player said `message` at `(x, y)` (after [`Outbox::chat`]
    /// delivered it locally): a cluster node relays it to the nodes that
    /// mirror that player. Does nothing by default (a single node).
    fn chat_sent(&mut self, _x: f64, _y: f64, _message: &ChatMessage) {}
    /// Tell the player to reconnect to `url` (the `migrate` event) and close
    /// its connection: the world has already handed it over to another node.
    /// By default a kick.
    fn migrate(&mut self, player: PlayerId, _url: &str) {
        self.kick(player, "moved to another node");
    }
}

impl<T: Outbox + ?Sized> Outbox for &mut T {
    fn snapshot(&mut self, to: PlayerId, snapshot: &Snapshot<'_>) -> Delivery {
        (**self).snapshot(to, snapshot)
    }
    fn teleport(&mut self, to: PlayerId, teleport: &Teleport) {
        (**self).teleport(to, teleport)
    }
    fn chat(&mut self, to: &[PlayerId], message: &ChatMessage) {
        (**self).chat(to, message)
    }
    fn persist(&mut self, positions: &[SavedPosition]) {
        (**self).persist(positions)
    }
    fn kick(&mut self, player: PlayerId, reason: &str) {
        (**self).kick(player, reason)
    }
    fn deliver(&mut self) {
        (**self).deliver()
    }
    fn chat_sent(&mut self, x: f64, y: f64, message: &ChatMessage) {
        (**self).chat_sent(x, y, message)
    }
    fn migrate(&mut self, player: PlayerId, url: &str) {
        (**self).migrate(player, url)
    }
}
