//! The world's cluster-facing types: [`HandedOverPlayer`] (everything a node
//! hands over with a player so that the next owner continues from it, not from
//! a database read), [`MirrorEntry`] (a read-only copy of a player simulated
//! by another node, shown in local views), [`Rect`] (a part of the world, for
//! border bands and owned regions) and [`TickHook`] (what a cluster node runs
//! on the tick thread after every tick). Pure data and one trait: the world's
//! methods that use them live in `world`.

use serde::{Deserialize, Serialize};

use super::snapshot::TeleportReason;
use super::world::World;
use super::{Outbox, PlayerId};

/// A server teleport's stale-move guard as handed over: its point and how
/// many ticks ago it was armed (ticks are per node, ages are not).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HandedGuard {
    /// Where the player was teleported to.
    pub x: f64,
    /// Where the player was teleported to.
    pub y: f64,
    /// Ticks since the teleport.
    pub age_ticks: u64,
}

/// Everything a node hands over with a player; the new owner continues from
/// it exactly (positions are not rounded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandedOverPlayer {
    /// Account id.
    pub id: PlayerId,
    /// Display name.
    pub name: String,
    /// Authoritative position.
    pub x: f64,
    /// Authoritative position.
    pub y: f64,
    /// Current move target, if any.
    pub target: Option<(f64, f64)>,
    /// Highest `seq` seen.
    pub last_seq: Option<u64>,
    /// Highest `seq` applied (what snapshots ack).
    pub ack: u64,
    /// The store's reset epoch the position descends from.
    pub reset_epoch: i64,
    /// The stale-move guard of a recent server teleport.
    pub guard: Option<HandedGuard>,
    /// A teleport not yet sent to the client.
    pub pending_teleport: Option<TeleportReason>,
}

/// A read-only copy of a player simulated by another node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MirrorEntry {
    /// Account id.
    pub id: PlayerId,
    /// Display name.
    pub name: String,
    /// Position as the owning node's last tick left it.
    pub x: f64,
    /// Position as the owning node's last tick left it.
    pub y: f64,
}

/// An axis-aligned part of the world, `[min, max)` on both axes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rect {
    /// Lowest x inside.
    pub min_x: f64,
    /// Lowest y inside.
    pub min_y: f64,
    /// First x past the right edge.
    pub max_x: f64,
    /// First y past the bottom edge.
    pub max_y: f64,
}

impl Rect {
    /// Whether `(x, y)` is inside.
    pub fn contains(&self, x: f64, y: f64) -> bool {
        x >= self.min_x && x < self.max_x && y >= self.min_y && y < self.max_y
    }

    /// The rectangle grown by `by` on every side.
    pub fn grown(&self, by: f64) -> Rect {
        Rect {
            min_x: self.min_x - by,
            min_y: self.min_y - by,
            max_x: self.max_x + by,
            max_y: self.max_y + by,
        }
    }

    /// How far `(x, y)` is from the rectangle (0 inside).
    pub fn distance_to(&self, x: f64, y: f64) -> f64 {
        let dx = (self.min_x - x).max(x - self.max_x).max(0.0);
        let dy = (self.min_y - y).max(y - self.max_y).max(0.0);
        dx.hypot(dy)
    }

    /// The rectangle shrunk by `by` on every side (empty-safe: never
    /// inverted, a too-large `by` gives a zero-size rectangle at the centre).
    pub fn shrunk(&self, by: f64) -> Rect {
        let cx = (self.min_x + self.max_x) / 2.0;
        let cy = (self.min_y + self.max_y) / 2.0;
        Rect {
            min_x: (self.min_x + by).min(cx),
            min_y: (self.min_y + by).min(cy),
            max_x: (self.max_x - by).max(cx),
            max_y: (self.max_y - by).max(cy),
        }
    }
}

/// Run on the tick thread after every tick, given the world and its outbox:
/// a cluster node publishes its border players and hands off the players
/// that left its regions. Must not block.
pub trait TickHook {
    /// Called after [`World::tick`], before the outbox is told to deliver.
    fn after_tick(&mut self, world: &mut World, out: &mut dyn Outbox);
}

/// A single node: nothing to do.
impl TickHook for () {
    fn after_tick(&mut self, _world: &mut World, _out: &mut dyn Outbox) {}
}

/// A hook that may be absent (a server with or without `--cluster`).
impl<T: TickHook> TickHook for Option<T> {
    fn after_tick(&mut self, world: &mut World, out: &mut dyn Outbox) {
        if let Some(hook) = self {
            hook.after_tick(world, out);
        }
    }
}
