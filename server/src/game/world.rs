//! [`World`]: the authoritative state of every online player and the one
//! fixed step ([`World::tick`]) that moves them, rebuilds the interest grid,
//! emits teleports and per-player delta snapshots, and hands dirty positions
//! to persistence. One owner (the tick thread; with `view_threads` > 1 a
//! tick finds its views on more threads, which only read); no sockets, no
//! SQL, no clock: time is counted in ticks.
//!
//! # Movement rules
//!
//! * A `position` target is the latest desired position; each tick the
//!   player moves toward it by at most `speed * dt`, inside the world.
//! * Non-finite targets are rejected; a `seq` not above the last one seen is
//!   ignored.
//! * A target outside the world (beyond `bounds_tolerance`) is clamped and
//!   the client gets a `correction` teleport.
//! * A target farther from the authoritative position than one tick of
//!   movement plus `correction_slack` (at `speed`) is still only approached at
//!   `speed`, and the client gets a `correction` teleport.
//! * Stale moves after a teleport: a server teleport to point P at tick T
//!   arms a guard. While it is armed, a target farther from P than
//!   `speed * dt * (ticks since T + 1) + speed * teleport_slack` is dropped
//!   (it was sent before the client saw the teleport: the client snaps to P
//!   and moves from there at most at `speed`). The first target within that
//!   bound disarms the guard. A move sent before an admin reset therefore
//!   never pulls the player back, except by at most the slack when the old
//!   and new positions were that close anyway.
//!
//! # Slots
//!
//! Players live in a table of slots; views refer to slots. A departed
//! player's slot keeps its id for `max_unsent_ticks + 3` ticks, longer than
//! any baseline can name it, and an id that rejoins meanwhile gets the same
//! slot back. So within views a slot always stands for one player id.
//! Every `relayout_interval_ticks` the table is renumbered in grid order
//! (all slot references remapped) so that neighbours sit close in memory.
//!
//! # Sessions
//!
//! The world keys players by account id only. A `join` of an online id is
//! a rejoin (the new connection takes over); a later `leave` of that id
//! removes the player whichever connection asked, so the caller must only
//! send `leave` for the connection that is still current.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;

use glam::DVec2;

use super::config::{WorldConfig, WorldConfigError};
use super::grid::{GridEntry, InterestGrid};
use super::handoff::{HandedGuard, HandedOverPlayer, MirrorEntry, Rect};
use super::movement::{clamp_to_world, step_toward};
use super::snapshot::{
    from_cents, round_wire, to_cents, ChatMessage, EnterEntry, MoveTable, Name, SavedPosition,
    Snapshot, Teleport, TeleportReason, WireIndices,
};
use super::view::{Cents, PointRanking, TickPositions, ViewRule, ViewScratch, ViewState, FREE};
use super::view_batch::{commit_held, DeltaRef, Found, ViewBatch};
use super::{Delivery, Outbox, PlayerId};

/// Players standing at one point share one ranking of their neighbours
/// when at least this many stand there.
const SHARE_STACKS_OF: u32 = 4;

/// Fewest viewers for which a tick's views are found on more than one
/// thread: below it, starting the threads costs more than it saves.
const PARALLEL_VIEWS_FROM: usize = 512;

/// What [`World::set_target`] did with a `position` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetOutcome {
    /// The target is the player's new desired position.
    Accepted,
    /// The target was outside the world: clamped and accepted, and a
    /// `correction` teleport is queued.
    Clamped,
    /// The target is farther than speed and slack allow: accepted (it is only
    /// approached at `speed`), and a `correction` teleport is queued.
    TooFar,
    /// `seq` was not above the last one seen: ignored.
    Stale,
    /// A coordinate was NaN or infinite: rejected (count it as garbage).
    NonFinite,
    /// Sent before the client saw a server teleport: dropped.
    DroppedAfterTeleport,
    /// No such player online: ignored.
    UnknownPlayer,
}

/// A server teleport's stale-move guard.
#[derive(Debug, Clone, Copy)]
struct TeleportGuard {
    /// Where the player was teleported to.
    point: DVec2,
    /// The tick of the teleport.
    tick: u64,
}

/// One slot of the player table.
#[derive(Debug)]
struct Player {
    /// Account id.
    id: PlayerId,
    /// Display name, sent in `enter` and `chat` (shared with snapshots).
    name: Name,
    /// Online. A departed slot keeps id and position while reserved.
    present: bool,
    /// While departed: the tick from which the slot may be reused; 0 when
    /// online or already free (a slot may be queued several times when a
    /// player leaves, rejoins and leaves again; only the latest entry counts).
    free_at: u64,
    /// Authoritative position, always inside the world.
    pos: DVec2,
    /// Latest accepted desired position; `None` once reached or cleared.
    target: Option<DVec2>,
    /// Highest `seq` seen (for ordering), whether applied or dropped.
    last_seq: Option<u64>,
    /// Highest `seq` applied: the snapshot's `ack`.
    ack: u64,
    /// Armed by a server teleport; drops stale targets.
    guard: Option<TeleportGuard>,
    /// Teleport to emit at the next tick (an admin reset wins over a
    /// correction).
    pending_teleport: Option<TeleportReason>,
    /// Position changed since it was last handed to persistence.
    dirty: bool,
    /// The store's admin-reset epoch this position descends from; saved
    /// with it so that a later admin reset wins over a stale save.
    reset_epoch: i64,
    /// What this player sees and was sent.
    view: ViewState,
    /// `Some(source)`: a read-only copy of a player simulated by another
    /// node (see [`World::set_mirrors`]): in the grid and in views, never
    /// moved, viewing, persisted, teleported or counted.
    mirror_of: Option<u32>,
}

/// Why the tick removes a player.
#[derive(Debug, Clone, Copy)]
enum Removal {
    /// Outbox full for too long: kick with a reason.
    TooSlow,
    /// Outbox says the client is gone.
    Gone,
}

/// The reason given to a player kicked for reading too slowly.
pub const TOO_SLOW: &str = "too slow";

/// The authoritative world. See the module docs for the rules.
#[derive(Debug)]
pub struct World {
    /// The rules.
    config: WorldConfig,
    /// World size as a vector (clamping).
    size: DVec2,
    /// Max distance moved per tick: `speed * dt`.
    max_step: f64,
    /// `correction_slack` in units.
    correction_slack: f64,
    /// `teleport_slack` in units.
    teleport_slack: f64,
    /// Ticks between persistence flushes.
    flush_every: u64,
    /// Ticks a departed slot stays reserved.
    reserve_ticks: u64,
    /// Number of completed ticks.
    tick: u64,
    /// The player table.
    players: Vec<Player>,
    /// Id to slot, for online and reserved players.
    index: HashMap<PlayerId, u32>,
    /// Slots ready for reuse.
    free: Vec<u32>,
    /// Departed slots in order of `free_at`.
    departed: VecDeque<(u64, u32)>,
    /// Online players.
    online: usize,
    /// Dirty positions of slots freed before a flush saved them.
    orphaned: Vec<SavedPosition>,
    /// Positions at the last tick, for neighbour queries.
    grid: InterestGrid,
    /// Per slot: rounded position at the last tick (for players in the grid).
    wire_now: Vec<Cents>,
    /// Per slot: rounded position at the tick before (for players that were
    /// in that tick's grid): what in-sync clients hold.
    wire_before: Vec<Cents>,
    /// Per slot: the player in it at the last tick's grid rebuild and its
    /// position then (`None`: the slot was not in the grid).
    previous: Vec<Option<(PlayerId, DVec2)>>,
    /// This tick's points of change: where a player appeared, moved from or
    /// to, or vanished since the last tick (see [`World::mark_changes`]).
    changes: Vec<DVec2>,
    /// Per slot, this tick: whether its player appeared, moved or vanished.
    changed: Vec<bool>,
    /// This tick's positions of the players that appeared or moved (built
    /// only when `still_views`).
    changed_grid: InterestGrid,
    /// Whether this tick looks at the changes around players that stood
    /// still (the grid's change marks and `changed_grid` are this tick's):
    /// their views are then kept or computed from the changes alone.
    still_views: bool,
    /// Buffers for ranking stacks.
    scratch: ViewScratch,
    /// One per view thread: its buffers and the views it found this tick.
    view_workers: Vec<ViewWorker>,
    /// Finds again the view of a viewer whose snapshot was refused.
    hold_worker: ViewWorker,
    /// This tick's shared rankings of stacks, by the bits of the stack's
    /// point (see [`ViewScratch::rank_point`]).
    rankings: HashMap<(u64, u64), PointRanking>,
    /// Last tick's, to tell an unchanged stack.
    previous_rankings: HashMap<(u64, u64), PointRanking>,
    /// Emptied rankings kept for reuse.
    spare_rankings: Vec<PointRanking>,
    /// Per-tick move entries, each encoded once.
    moves: MoveTable,
    /// Reused snapshot buffers.
    buffers: SnapshotBuffers,
    /// Players to remove at the end of the tick.
    removals: Vec<(u32, Removal)>,
}

/// Reused vectors of the snapshot under construction.
#[derive(Debug, Default)]
struct SnapshotBuffers {
    enter: Vec<EnterEntry>,
    moves: Vec<u32>,
    leave: Vec<PlayerId>,
    wire: WireIndices,
}

/// One view thread's buffers.
#[derive(Debug, Default)]
struct ViewWorker {
    /// View computation buffers.
    scratch: ViewScratch,
    /// Debug builds check here that every view skipped as unchanged is.
    #[cfg(debug_assertions)]
    check: ViewScratch,
    /// The views this worker found this tick.
    batch: ViewBatch,
}

/// What finding this tick's views reads, all of it left unchanged until
/// every view is found (so views can be found on several threads).
struct ViewInputs<'w> {
    tick: u64,
    rule: ViewRule,
    players: &'w [Player],
    grid: &'w InterestGrid,
    changed_grid: &'w InterestGrid,
    changed: &'w [bool],
    positions: TickPositions<'w>,
    rankings: &'w HashMap<(u64, u64), PointRanking>,
    still_views: bool,
}

fn saved(p: &Player) -> SavedPosition {
    SavedPosition {
        id: p.id,
        x: round_wire(p.pos.x),
        y: round_wire(p.pos.y),
        reset_epoch: p.reset_epoch,
    }
}

impl World {
    /// A world with no players, or the reason the config cannot run one.
    pub fn new(config: WorldConfig) -> Result<Self, WorldConfigError> {
        config.validate()?;
        let dt = config.dt();
        let grid = InterestGrid::new(config.width, config.height, config.view_leave_radius / 3.0);
        Ok(Self {
            size: DVec2::new(config.width, config.height),
            max_step: config.speed * dt,
            correction_slack: config.speed * config.correction_slack.as_secs_f64(),
            teleport_slack: config.speed * config.teleport_slack.as_secs_f64(),
            flush_every: config.flush_every_ticks(),
            reserve_ticks: u64::from(config.max_unsent_ticks) + 3,
            tick: 0,
            players: Vec::new(),
            index: HashMap::new(),
            free: Vec::new(),
            departed: VecDeque::new(),
            online: 0,
            orphaned: Vec::new(),
            changed_grid: grid.clone(),
            grid,
            wire_now: Vec::new(),
            wire_before: Vec::new(),
            previous: Vec::new(),
            changes: Vec::new(),
            changed: Vec::new(),
            still_views: false,
            scratch: ViewScratch::default(),
            view_workers: Vec::new(),
            hold_worker: ViewWorker::default(),
            rankings: HashMap::new(),
            previous_rankings: HashMap::new(),
            spare_rankings: Vec::new(),
            moves: MoveTable::default(),
            buffers: SnapshotBuffers::default(),
            removals: Vec::new(),
            config,
        })
    }

    /// The rules this world runs.
    pub fn config(&self) -> &WorldConfig {
        &self.config
    }

    /// The spawn point: the world centre.
    pub fn spawn_point(&self) -> DVec2 {
        self.size / 2.0
    }

    /// Brings a player online and returns its position (send it in
    /// `welcome`, rounded with [`round_wire`]).
    ///
    /// `pos` is the stored position; a non-finite one becomes the spawn
    /// point, and it is clamped into the world (the clamped position is then
    /// persisted). The world's own position wins when it is newer than the
    /// store's: when the id is online (a rejoin: the new connection continues
    /// from the same position and gets a fresh view, ack and seq) or recently
    /// left with a position not yet persisted.
    pub fn join(&mut self, id: PlayerId, name: &str, pos: DVec2) -> DVec2 {
        self.join_at_epoch(id, name, pos, 0)
    }

    /// [`World::join`] with the store's reset epoch of `pos`, carried into
    /// every [`SavedPosition`] of the player (the world's own position, when
    /// it wins, keeps its own epoch).
    pub fn join_at_epoch(
        &mut self,
        id: PlayerId,
        name: &str,
        pos: DVec2,
        reset_epoch: i64,
    ) -> DVec2 {
        let given = if pos.is_finite() {
            clamp_to_world(pos, self.size)
        } else {
            self.spawn_point()
        };
        let clamped = given != pos;
        let name = Name::new(name);
        let fresh = |pos: DVec2, dirty: bool, reset_epoch: i64| Player {
            id,
            name: name.clone(),
            present: true,
            free_at: 0,
            pos,
            target: None,
            last_seq: None,
            ack: 0,
            guard: None,
            pending_teleport: None,
            dirty,
            reset_epoch,
            view: ViewState::default(),
            mirror_of: None,
        };
        if let Some(&slot) = self.index.get(&id) {
            let p = &mut self.players[slot as usize];
            let mirror = p.present && p.mirror_of.is_some();
            let (pos, dirty, epoch) = if p.present || p.dirty {
                // A mirror is promoted in place; this node persists it now.
                let epoch = if mirror { reset_epoch } else { p.reset_epoch };
                (p.pos, p.dirty || mirror, epoch)
            } else {
                (given, clamped, reset_epoch)
            };
            if !p.present || mirror {
                self.online += 1;
            }
            *p = fresh(pos, dirty, epoch);
            return pos;
        }
        self.occupy_new_slot(fresh(given, clamped, reset_epoch));
        self.online += 1;
        given
    }

    /// Puts `player`, whose id has no slot, in a free slot (or a new one)
    /// and indexes it.
    fn occupy_new_slot(&mut self, player: Player) {
        let id = player.id;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.players[slot as usize] = player;
                slot
            }
            None => {
                self.players.push(player);
                (self.players.len() - 1) as u32
            }
        };
        self.index.insert(id, slot);
    }

    /// Takes a player offline and returns its final position, which the
    /// caller persists (it is no longer dirty here). Others get it in `leave`
    /// at the next tick. `None` if it was not online.
    pub fn leave(&mut self, id: PlayerId) -> Option<DVec2> {
        let slot = self.online_slot(id)?;
        let pos = self.players[slot as usize].pos;
        self.depart(slot);
        self.players[slot as usize].dirty = false;
        Some(pos)
    }

    /// [`World::leave`], giving the final position as it is persisted
    /// (rounded, with its reset epoch).
    pub fn leave_saved(&mut self, id: PlayerId) -> Option<SavedPosition> {
        let slot = self.online_slot(id)?;
        let last = saved(&self.players[slot as usize]);
        self.leave(id);
        Some(last)
    }

    /// The slot of a present local (not mirrored) player.
    fn online_slot(&self, id: PlayerId) -> Option<u32> {
        let slot = *self.index.get(&id)?;
        let p = &self.players[slot as usize];
        (p.present && p.mirror_of.is_none()).then_some(slot)
    }

    /// The slot of a present mirror.
    fn mirror_slot(&self, id: PlayerId) -> Option<u32> {
        let slot = *self.index.get(&id)?;
        let p = &self.players[slot as usize];
        (p.present && p.mirror_of.is_some()).then_some(slot)
    }

    /// Marks a slot departed and reserves it; keeps id, position and dirty.
    fn depart(&mut self, slot: u32) {
        let free_at = self.tick + self.reserve_ticks;
        let p = &mut self.players[slot as usize];
        p.present = false;
        p.free_at = free_at;
        p.target = None;
        p.guard = None;
        p.pending_teleport = None;
        p.view = ViewState::default();
        if p.mirror_of.take().is_none() {
            self.online -= 1;
        }
        self.departed.push_back((free_at, slot));
    }

    /// Renumbers the player table in grid order (online and reserved slots;
    /// free slots are dropped), remapping every slot reference: the index,
    /// the departure queue, every view's baseline and membership, and the
    /// per-slot rounded positions. Views then read neighbours that sit close
    /// together in memory. Runs at the start of a tick, before the grid is
    /// rebuilt and the move table begun, so nothing else holds slots.
    fn relayout(&mut self) {
        let mut order: Vec<(u32, u32)> = self
            .players
            .iter()
            .enumerate()
            .filter(|(_, p)| p.present || p.free_at != 0)
            .map(|(slot, p)| (self.grid.cell_index(p.pos), slot as u32))
            .collect();
        order.sort_unstable();
        const GONE: u32 = u32::MAX;
        let mut new_of_old = vec![GONE; self.players.len()];
        for (new, &(_, old)) in order.iter().enumerate() {
            new_of_old[old as usize] = new as u32;
        }
        let remap = |slot: &mut u32| {
            // Views only name online or reserved slots (see the module docs).
            debug_assert_ne!(new_of_old[*slot as usize], GONE);
            *slot = new_of_old[*slot as usize];
        };
        let mut live: Vec<(u32, Player)> = std::mem::take(&mut self.players)
            .into_iter()
            .enumerate()
            .filter_map(|(old, p)| {
                let new = new_of_old[old];
                (new != GONE).then_some((new, p))
            })
            .collect();
        live.sort_unstable_by_key(|(new, _)| *new);
        self.players = live.into_iter().map(|(_, p)| p).collect();
        for p in &mut self.players {
            p.view
                .sent
                .iter_mut()
                .filter(|s| **s != FREE)
                .for_each(remap);
            p.view.members.iter_mut().for_each(remap);
        }
        self.index.values_mut().for_each(remap);
        self.free.clear();
        self.departed = std::mem::take(&mut self.departed)
            .into_iter()
            .filter(|&(_, slot)| new_of_old[slot as usize] != GONE)
            .map(|(at, slot)| (at, new_of_old[slot as usize]))
            .collect();
        let mut previous = vec![None; self.players.len()];
        for (old, &new) in new_of_old.iter().enumerate() {
            if new != GONE {
                if let Some(&p) = self.previous.get(old) {
                    previous[new as usize] = p;
                }
            }
        }
        self.previous = previous;
        for wire in [&mut self.wire_now, &mut self.wire_before] {
            let mut moved = vec![(0, 0); self.players.len()];
            for (old, &new) in new_of_old.iter().enumerate() {
                if new != GONE {
                    if let Some(&w) = wire.get(old) {
                        moved[new as usize] = w;
                    }
                }
            }
            *wire = moved;
        }
    }

    /// Frees reserved slots whose time has come.
    fn release_departed(&mut self) {
        while let Some(&(free_at, slot)) = self.departed.front() {
            if free_at > self.tick {
                break;
            }
            self.departed.pop_front();
            let p = &mut self.players[slot as usize];
            if p.present || p.free_at != free_at {
                continue; // rejoined (and maybe departed again) since
            }
            if p.dirty {
                self.orphaned.push(saved(p));
                p.dirty = false;
            }
            self.index.remove(&p.id);
            p.name = Name::new("");
            p.free_at = 0;
            self.free.push(slot);
        }
    }

    /// Records a `position` input: the player's latest desired position.
    /// See the module docs for the rules.
    pub fn set_target(&mut self, id: PlayerId, x: f64, y: f64, seq: u64) -> TargetOutcome {
        let Some(slot) = self.online_slot(id) else {
            return TargetOutcome::UnknownPlayer;
        };
        if !x.is_finite() || !y.is_finite() {
            return TargetOutcome::NonFinite;
        }
        let p = &mut self.players[slot as usize];
        if p.last_seq.is_some_and(|last| seq <= last) {
            return TargetOutcome::Stale;
        }
        p.last_seq = Some(seq);
        let wanted = DVec2::new(x, y);
        let target = clamp_to_world(wanted, self.size);
        if let Some(guard) = p.guard {
            let ticks = self.tick.saturating_sub(guard.tick) + 1;
            let reach = self.max_step * ticks as f64 + self.teleport_slack;
            if target.distance(guard.point) > reach {
                return TargetOutcome::DroppedAfterTeleport;
            }
            p.guard = None;
        }
        p.ack = seq;
        p.target = Some(target);
        let outcome = if wanted.distance(target) > self.config.bounds_tolerance {
            TargetOutcome::Clamped
        } else if target.distance(p.pos) > self.max_step + self.correction_slack {
            TargetOutcome::TooFar
        } else {
            return TargetOutcome::Accepted;
        };
        p.pending_teleport.get_or_insert(TeleportReason::Correction);
        outcome
    }

    /// Moves a player itself (admin reset): position set (clamped), target
    /// cleared, a `teleport` queued for the next tick, and stale targets
    /// dropped until the client catches up. Returns false if the player is
    /// not online; a recently departed player's unsaved position is then
    /// replaced too, so no later save of the old position overwrites the
    /// reset.
    pub fn teleport(&mut self, id: PlayerId, pos: DVec2, reason: TeleportReason) -> bool {
        let Some(&slot) = self.index.get(&id) else {
            return false;
        };
        let pos = if pos.is_finite() {
            clamp_to_world(pos, self.size)
        } else {
            self.spawn_point()
        };
        let tick = self.tick;
        let p = &mut self.players[slot as usize];
        if p.mirror_of.is_some() {
            return false; // its own node teleports it
        }
        p.pos = pos;
        if !p.present {
            // The caller wrote the store; the world has nothing newer.
            p.dirty = false;
            return false;
        }
        p.dirty = true;
        p.target = None;
        p.guard = Some(TeleportGuard { point: pos, tick });
        if reason == TeleportReason::AdminReset || p.pending_teleport.is_none() {
            p.pending_teleport = Some(reason);
        }
        true
    }

    /// An admin reset written to the store under `reset_epoch`: teleports the
    /// player (see [`World::teleport`]) and saves it under that epoch from now
    /// on. Returns whether the player was online.
    pub fn admin_reset(&mut self, id: PlayerId, pos: DVec2, reset_epoch: i64) -> bool {
        if let Some(&slot) = self.index.get(&id) {
            let p = &mut self.players[slot as usize];
            if p.mirror_of.is_some() {
                return false; // its own node resets it
            }
            p.reset_epoch = p.reset_epoch.max(reset_epoch);
        }
        self.teleport(id, pos, TeleportReason::AdminReset)
    }

    /// Relays `text` from `from` to every online player within view radius
    /// of the sender, the sender included; returns the number of recipients
    /// (0 if the sender is not online). Recipients are found in the grid of
    /// the last tick (what clients were last shown); the text is validated by
    /// the caller.
    pub fn chat(&mut self, from: PlayerId, text: &str, out: &mut impl Outbox) -> usize {
        let Some(slot) = self.online_slot(from) else {
            return 0;
        };
        let sender = &self.players[slot as usize];
        let mut to = vec![from];
        let players = &self.players;
        self.grid
            .for_each_within(sender.pos, self.config.view_radius, |e| {
                let p = &players[e.slot as usize];
                if e.slot != slot && p.present && p.mirror_of.is_none() {
                    to.push(e.id);
                }
            });
        let message = ChatMessage {
            id: from,
            name: sender.name.to_string(),
            text: text.to_owned(),
        };
        out.chat(&to, &message);
        out.chat_sent(sender.pos.x, sender.pos.y, &message);
        to.len()
    }

    // ---- Cluster: mirrors and handoff (see `handoff`). ----

    /// Replaces every mirror from `source` (opaque; the cluster uses the
    /// region index) with `entries`. Mirrors are in the interest grid and in
    /// views exactly like players (the deltas one node would send); they are
    /// never simulated, persisted, sent snapshots, teleports or chat, and do
    /// not count in [`World::player_count`]. An entry whose id is a local
    /// player is ignored (local wins), as is one with a non-finite position;
    /// positions are clamped into the world. Mirrors of `source` missing
    /// from `entries` are removed (their viewers get `leave`); a mirror of
    /// another source named here moves to `source`.
    pub fn set_mirrors(&mut self, source: u32, entries: &[MirrorEntry]) {
        let mut kept = std::collections::HashSet::with_capacity(entries.len());
        for e in entries {
            let pos = DVec2::new(e.x, e.y);
            if !pos.is_finite() || self.online_slot(e.id).is_some() {
                continue;
            }
            kept.insert(e.id);
            self.put_mirror(source, e.id, &e.name, clamp_to_world(pos, self.size));
        }
        let gone: Vec<u32> = self
            .players
            .iter()
            .enumerate()
            .filter(|(_, p)| p.present && p.mirror_of == Some(source) && !kept.contains(&p.id))
            .map(|(slot, _)| slot as u32)
            .collect();
        for slot in gone {
            self.depart(slot);
        }
    }

    /// Makes `id` a mirror of `source` at `pos`: in its present mirror
    /// slot, in its reserved slot (as a rejoin would), or in a new one.
    fn put_mirror(&mut self, source: u32, id: PlayerId, name: &str, pos: DVec2) {
        if let Some(&slot) = self.index.get(&id) {
            let p = &mut self.players[slot as usize];
            if p.present {
                p.mirror_of = Some(source);
                p.pos = pos;
                if &*p.name != name {
                    p.name = Name::new(name);
                }
                return;
            }
            if p.dirty {
                // A position this node still owes the store.
                self.orphaned.push(saved(p));
            }
        }
        let mirror = Player {
            id,
            name: Name::new(name),
            present: true,
            free_at: 0,
            pos,
            target: None,
            last_seq: None,
            ack: 0,
            guard: None,
            pending_teleport: None,
            dirty: false,
            reset_epoch: 0,
            view: ViewState::default(),
            mirror_of: Some(source),
        };
        match self.index.get(&id) {
            Some(&slot) => self.players[slot as usize] = mirror,
            None => self.occupy_new_slot(mirror),
        }
    }

    /// Removes every mirror of `source` (its node is gone).
    pub fn clear_mirrors(&mut self, source: u32) {
        self.set_mirrors(source, &[]);
    }

    /// Turns a local player into a mirror of `source` in place (same slot:
    /// its viewers see no leave and enter) and returns its whole state for
    /// the next owner. Its last position is handed to persistence through
    /// the return value only (the caller persists it). `None` if `id` is not
    /// a local player.
    pub fn hand_off(&mut self, id: PlayerId, source: u32) -> Option<HandedOverPlayer> {
        let slot = self.online_slot(id)?;
        let tick = self.tick;
        let p = &mut self.players[slot as usize];
        let handed = HandedOverPlayer {
            id,
            name: p.name.to_string(),
            x: p.pos.x,
            y: p.pos.y,
            target: p.target.map(|t| (t.x, t.y)),
            last_seq: p.last_seq,
            ack: p.ack,
            reset_epoch: p.reset_epoch,
            guard: p.guard.map(|g| HandedGuard {
                x: g.point.x,
                y: g.point.y,
                age_ticks: tick.saturating_sub(g.tick),
            }),
            pending_teleport: p.pending_teleport,
        };
        p.mirror_of = Some(source);
        p.target = None;
        p.last_seq = None;
        p.ack = 0;
        p.guard = None;
        p.pending_teleport = None;
        p.dirty = false;
        p.view = ViewState::default();
        self.online -= 1;
        Some(handed)
    }

    /// Brings a handed-over player online, continuing from its state; a
    /// mirror of it is promoted in place (its viewers see no leave and
    /// enter). It gets a fresh view (its first snapshot is full) and is
    /// persisted by this node from now on. Returns the position it starts at
    /// (for `welcome`).
    pub fn join_handed_over(&mut self, player: HandedOverPlayer) -> DVec2 {
        let given = DVec2::new(player.x, player.y);
        let pos = if given.is_finite() {
            clamp_to_world(given, self.size)
        } else {
            self.spawn_point()
        };
        self.join_at_epoch(player.id, &player.name, pos, player.reset_epoch);
        let slot = self.online_slot(player.id).expect("just joined");
        let tick = self.tick;
        let size = self.size;
        let p = &mut self.players[slot as usize];
        p.pos = pos;
        p.target = player
            .target
            .map(|(x, y)| DVec2::new(x, y))
            .filter(|t| t.is_finite())
            .map(|t| clamp_to_world(t, size));
        p.last_seq = player.last_seq;
        p.ack = player.ack;
        p.reset_epoch = player.reset_epoch;
        p.guard = player.guard.map(|g| TeleportGuard {
            point: DVec2::new(g.x, g.y),
            tick: tick.saturating_sub(g.age_ticks),
        });
        p.pending_teleport = player.pending_teleport;
        p.dirty = true;
        pos
    }

    /// Local players inside `outer` but not inside `inner` (a border band),
    /// as mirror entries sorted by id: what neighbours must mirror.
    pub fn local_players_in_band(&self, outer: Rect, inner: Rect) -> Vec<MirrorEntry> {
        let mut band: Vec<MirrorEntry> = self
            .players
            .iter()
            .filter(|p| p.present && p.mirror_of.is_none())
            .filter(|p| outer.contains(p.pos.x, p.pos.y) && !inner.contains(p.pos.x, p.pos.y))
            .map(|p| MirrorEntry {
                id: p.id,
                name: p.name.to_string(),
                x: p.pos.x,
                y: p.pos.y,
            })
            .collect();
        band.sort_unstable_by_key(|e| e.id);
        band
    }

    /// Local players whose position is inside none of `owned` (they must be
    /// handed off), sorted by id.
    pub fn local_players_outside(&self, owned: &[Rect]) -> Vec<PlayerId> {
        let mut outside: Vec<PlayerId> = self
            .players
            .iter()
            .filter(|p| p.present && p.mirror_of.is_none())
            .filter(|p| !owned.iter().any(|r| r.contains(p.pos.x, p.pos.y)))
            .map(|p| p.id)
            .collect();
        outside.sort_unstable();
        outside
    }

    /// Delivers chat from a mirrored player to the local players that have
    /// it within view radius (the rule [`World::chat`] uses); returns how
    /// many got it (0 if `from` is not a mirror).
    pub fn chat_from_mirror(&mut self, from: PlayerId, text: &str, out: &mut impl Outbox) -> usize {
        let Some(slot) = self.mirror_slot(from) else {
            return 0;
        };
        let sender = &self.players[slot as usize];
        let mut to = Vec::new();
        let players = &self.players;
        self.grid
            .for_each_within(sender.pos, self.config.view_radius, |e| {
                let p = &players[e.slot as usize];
                if e.slot != slot && p.present && p.mirror_of.is_none() {
                    to.push(e.id);
                }
            });
        if to.is_empty() {
            return 0;
        }
        let message = ChatMessage {
            id: from,
            name: sender.name.to_string(),
            text: text.to_owned(),
        };
        out.chat(&to, &message);
        to.len()
    }

    /// A player's authoritative position, if online.
    pub fn position(&self, id: PlayerId) -> Option<DVec2> {
        self.online_slot(id).map(|s| self.players[s as usize].pos)
    }

    /// The interest grid: every player that took part in the last tick, at
    /// the position its views were computed from (including players removed
    /// at the end of that tick).
    pub fn grid(&self) -> &InterestGrid {
        &self.grid
    }

    /// Number of online players.
    pub fn player_count(&self) -> usize {
        self.online
    }

    /// Number of completed ticks.
    pub fn tick_number(&self) -> u64 {
        self.tick
    }

    /// Ids of all online players.
    pub fn player_ids(&self) -> Vec<PlayerId> {
        self.players
            .iter()
            .filter(|p| p.present && p.mirror_of.is_none())
            .map(|p| p.id)
            .collect()
    }

    /// Drains every position not yet handed to persistence (online players
    /// and recently departed ones), e.g. at shutdown.
    pub fn dirty_positions(&mut self) -> Vec<SavedPosition> {
        let mut out = std::mem::take(&mut self.orphaned);
        for p in &mut self.players {
            if p.dirty {
                p.dirty = false;
                out.push(saved(p));
            }
        }
        out
    }

    /// Every online player's position plus anything else unsaved: what to
    /// persist at shutdown.
    pub fn all_positions(&mut self) -> Vec<SavedPosition> {
        let mut out = self.dirty_positions();
        let dirty: std::collections::HashSet<PlayerId> = out.iter().map(|s| s.id).collect();
        out.extend(
            self.players
                .iter()
                .filter(|p| p.present && p.mirror_of.is_none() && !dirty.contains(&p.id))
                .map(saved),
        );
        out
    }

    /// One fixed step: release reserved slots, move every player toward its
    /// target, rebuild the grid, emit teleports, compute views and deliver
    /// delta snapshots, remove kicked and gone players, and every
    /// `flush_interval` hand dirty positions to [`Outbox::persist`].
    pub fn tick(&mut self, out: &mut impl Outbox) {
        self.tick += 1;
        self.release_departed();
        let every = self.config.relayout_interval_ticks;
        if every > 0 && self.tick % every == 1 % every {
            self.relayout();
        }
        self.apply_movement();
        std::mem::swap(&mut self.wire_now, &mut self.wire_before);
        self.wire_now.resize(self.players.len(), (0, 0));
        self.wire_before.resize(self.players.len(), (0, 0));
        for (slot, p) in self.players.iter().enumerate() {
            if p.present {
                self.wire_now[slot] = (to_cents(p.pos.x), to_cents(p.pos.y));
            }
        }
        let players = &self.players;
        self.grid.rebuild(
            players
                .iter()
                .enumerate()
                .filter(|(_, p)| p.present)
                .map(|(slot, p)| GridEntry::new(p.pos, p.id, slot as u32)),
        );
        self.mark_changes();
        self.emit_teleports(out);
        self.send_snapshots(out);
        self.apply_removals(out);
        if self.tick.is_multiple_of(self.flush_every) {
            let positions = self.dirty_positions();
            if !positions.is_empty() {
                out.persist(&positions);
            }
        }
    }

    fn apply_movement(&mut self) {
        for p in &mut self.players {
            let Some(target) = p.target else { continue };
            if !p.present || p.mirror_of.is_some() {
                continue;
            }
            let (pos, arrived) = step_toward(p.pos, target, self.max_step);
            let pos = clamp_to_world(pos, self.size);
            if pos != p.pos {
                p.pos = pos;
                p.dirty = true;
            }
            if arrived {
                p.target = None;
            }
        }
    }

    /// Finds the players that appeared, moved or vanished since the last
    /// tick and records this tick's positions as the next tick's previous
    /// ones. Unless most players changed, marks in the grid every cell where
    /// a change happened (a viewer standing still with no mark within its
    /// leave radius has the view it had) and puts the changed players in
    /// `changed_grid` (the only ones that can change the view of a viewer
    /// standing still); see `send_snapshots`.
    fn mark_changes(&mut self) {
        self.previous.resize(self.players.len(), None);
        self.changed.clear();
        self.changed.resize(self.players.len(), false);
        self.changes.clear();
        for ((p, previous), changed) in self
            .players
            .iter()
            .zip(&mut self.previous)
            .zip(&mut self.changed)
        {
            let now = p.present.then_some((p.id, p.pos));
            if now != *previous {
                self.changes.extend(previous.map(|(_, at)| at));
                self.changes.extend(now.map(|(_, at)| at));
                *previous = now;
                *changed = true;
            }
        }
        // When most players changed, few viewers stand still and views are
        // computed in full: marking the changes would cost more than it saves.
        let movers = self.changes.len() / 2;
        self.still_views = movers <= self.online / 2;
        if !self.still_views {
            return;
        }
        self.grid.set_changed(self.changes.iter().copied());
        let players = &self.players;
        let changed = &self.changed;
        self.changed_grid.rebuild(
            players
                .iter()
                .enumerate()
                .filter(|&(slot, p)| p.present && changed[slot])
                .map(|(slot, p)| GridEntry::new(p.pos, p.id, slot as u32)),
        );
    }

    fn emit_teleports(&mut self, out: &mut impl Outbox) {
        let tick = self.tick;
        for p in &mut self.players {
            let Some(reason) = p.pending_teleport.take() else {
                continue;
            };
            p.guard = Some(TeleportGuard { point: p.pos, tick });
            out.teleport(
                p.id,
                &Teleport {
                    x: round_wire(p.pos.x),
                    y: round_wire(p.pos.y),
                    reason,
                },
            );
        }
    }

    /// Computes every viewer's view and delivers its delta. Views are found
    /// first, for all viewers (on `view_threads` threads when there are
    /// many), reading only this tick's shared state; then, one viewer at a
    /// time in slot order, each delta is handed to the outbox and the view
    /// committed or held by its answer. Which threads found which views
    /// changes nothing: a view depends on its viewer and the tick alone.
    fn send_snapshots(&mut self, out: &mut impl Outbox) {
        let rule = self.view_rule();
        let slots = self.players.len();
        self.moves.begin(self.tick, slots);
        // Encode every player whose rounded position changed: in-sync
        // viewers' moves are exactly those.
        for (s, p) in self.players.iter().enumerate() {
            if p.present && self.wire_now[s] != self.wire_before[s] {
                self.moves
                    .ensure(s as u32, p.id, self.wire_now[s], self.wire_before[s]);
            }
        }
        self.rank_stacks(rule);
        self.find_views(rule);
        let workers = std::mem::take(&mut self.view_workers);
        for worker in &workers {
            for &(slot, found) in &worker.batch.found {
                self.settle_view(slot as usize, found, &worker.batch, out);
            }
        }
        self.view_workers = workers;
        self.spare_rankings
            .extend(self.previous_rankings.drain().map(|(_, r)| r));
        std::mem::swap(&mut self.rankings, &mut self.previous_rankings);
    }

    fn view_rule(&self) -> ViewRule {
        ViewRule {
            radius: self.config.view_radius,
            leave_radius: self.config.view_leave_radius,
            max: self.config.view_max,
            crowd_slack: 2.0 * self.max_step,
        }
    }

    /// What finding a view reads this tick.
    fn view_inputs(&self, rule: ViewRule) -> ViewInputs<'_> {
        ViewInputs {
            tick: self.tick,
            rule,
            players: &self.players,
            grid: &self.grid,
            changed_grid: &self.changed_grid,
            changed: &self.changed,
            positions: TickPositions {
                now: &self.wire_now,
                before: &self.wire_before,
            },
            rankings: &self.rankings,
            still_views: self.still_views,
        }
    }

    /// Ranks, once per tick, the nearest players to each point where a
    /// stack stands (shared by every viewer standing there; see
    /// [`ViewScratch::rank_point`]): each run of the grid of at least
    /// [`SHARE_STACKS_OF`] is visited once, at its first entry.
    fn rank_stacks(&mut self, rule: ViewRule) {
        if !self.grid.has_stacks() {
            return;
        }
        let entries = self.grid.entries();
        let mut i = 0;
        while let Some(first) = entries.get(i) {
            i += first.run.max(1) as usize;
            if first.run < SHARE_STACKS_OF {
                continue;
            }
            let at = first.pos;
            let key = (at.x.to_bits(), at.y.to_bits());
            let mut r = self.spare_rankings.pop().unwrap_or_default();
            self.scratch.rank_point(&self.grid, at, rule, &mut r);
            r.unchanged = r.is_shared()
                && self
                    .previous_rankings
                    .get(&key)
                    .is_some_and(|p| p.same_as(&r))
                && r.slots()
                    .all(|s| self.wire_now[s as usize] == self.wire_before[s as usize]);
            if let Some(replaced) = self.rankings.insert(key, r) {
                self.spare_rankings.push(replaced);
            }
        }
    }

    /// Finds every viewer's view into the workers' batches, on
    /// `view_threads` threads when many players are online.
    fn find_views(&mut self, rule: ViewRule) {
        let slots = self.players.len();
        let threads = if self.online >= PARALLEL_VIEWS_FROM {
            self.config.view_threads.clamp(1, slots.max(1))
        } else {
            1
        };
        if self.view_workers.len() < threads {
            self.view_workers.resize_with(threads, ViewWorker::default);
        }
        let mut workers = std::mem::take(&mut self.view_workers);
        self.view_inputs(rule)
            .find_in_parallel(threads, &mut workers);
        self.view_workers = workers;
    }

    /// Delivers and commits what [`ViewInputs::find`] found for the viewer
    /// in `slot`.
    fn settle_view(&mut self, slot: usize, found: Found, batch: &ViewBatch, out: &mut impl Outbox) {
        let tick = self.tick;
        match found {
            Found::UnchangedStack(point) => {
                let view = &mut self.players[slot].view;
                view.point_view = Some((tick, point));
                view.unsent_ticks = 0;
            }
            Found::Kept => {
                let view = &mut self.players[slot].view;
                view.committed_at = Some(tick);
                view.unsent_ticks = 0;
            }
            Found::Computed {
                delta: None,
                held,
                crowd_d2,
                point,
            } => {
                let view = &mut self.players[slot].view;
                commit_held(view, held, crowd_d2);
                view.unsent_ticks = 0;
                view.point_view = point.map(|p| (tick, p));
                view.committed_at = Some(tick);
            }
            Found::Computed {
                delta: Some(delta),
                held,
                crowd_d2,
                point,
            } => {
                let delta = batch.delta(&delta);
                let (x, y) = self.wire_now[slot];
                let own = (x, y, self.players[slot].ack);
                let delivery = self.deliver(slot, own, delta, out);
                let view = &mut self.players[slot].view;
                match delivery {
                    Delivery::Sent => {
                        delta.commit(view, held, crowd_d2);
                        view.sent_own = Some(own);
                        view.unsent_ticks = 0;
                        view.point_view = point.map(|p| (tick, p));
                        view.committed_at = Some(tick);
                    }
                    Delivery::Full => {
                        self.hold_refused(slot);
                        let view = &mut self.players[slot].view;
                        view.unsent_ticks = view.unsent_ticks.saturating_add(1);
                        if view.unsent_ticks > self.config.max_unsent_ticks {
                            self.removals.push((slot as u32, Removal::TooSlow));
                        }
                    }
                    Delivery::Gone => self.removals.push((slot as u32, Removal::Gone)),
                }
            }
        }
    }

    /// Keeps the baseline of the viewer in `slot`, whose snapshot was
    /// refused, advancing only its membership: its view is found again (as
    /// it was by [`World::find_views`]: the viewer's state and the tick's
    /// are unchanged) for the members a batch does not keep.
    fn hold_refused(&mut self, slot: usize) {
        let mut worker = std::mem::take(&mut self.hold_worker);
        self.view_inputs(self.view_rule())
            .find(slot..slot + 1, &mut worker);
        let view = &mut self.players[slot].view;
        view.point_view = None;
        worker.scratch.hold(view, &self.wire_before);
        self.hold_worker = worker;
    }

    /// Builds the snapshot for `slot` from its delta and hands it to the
    /// outbox.
    fn deliver(
        &mut self,
        slot: usize,
        own: (i32, i32, u64),
        delta: DeltaRef<'_>,
        out: &mut impl Outbox,
    ) -> Delivery {
        let b = &mut self.buffers;
        let (mut enter, mut leave) = (std::mem::take(&mut b.enter), std::mem::take(&mut b.leave));
        let mut indices = std::mem::take(&mut b.wire);
        let mut move_slots = std::mem::take(&mut b.moves);
        move_slots.extend_from_slice(delta.moves);
        let players = &self.players;
        let wire = &self.wire_now;
        let viewer = &players[slot];
        for &s in delta.enter {
            let (x, y) = wire[s as usize];
            let p = &players[s as usize];
            indices.enter_at.push((x, y));
            enter.push(EnterEntry {
                id: p.id,
                name: p.name.clone(),
                x: from_cents(x),
                y: from_cents(y),
            });
        }
        if !viewer.view.in_sync {
            // Moves against an older baseline may name players that did not
            // move this tick; in-sync moves were all encoded up front.
            for &s in delta.moves {
                let before = self.wire_before[s as usize];
                self.moves
                    .ensure(s, players[s as usize].id, wire[s as usize], before);
            }
            indices.move_base.extend(
                delta
                    .move_index
                    .iter()
                    .map(|&i| viewer.view.sent_pos[i as usize]),
            );
        }
        indices.enter.extend_from_slice(delta.enter_index);
        indices.moves.extend_from_slice(delta.move_index);
        indices.leave.extend_from_slice(delta.leave);
        leave.extend(
            delta
                .leave
                .iter()
                .map(|&i| players[viewer.view.sent[i as usize] as usize].id),
        );
        let snapshot = Snapshot::from_table(
            self.tick,
            own.2,
            from_cents(own.0),
            from_cents(own.1),
            enter,
            &self.moves,
            move_slots,
            leave,
            Some(indices),
        );
        let delivery = out.snapshot(viewer.id, &snapshot);
        let (mut enter, mut moves, mut leave, wire) = snapshot.into_buffers();
        enter.clear();
        moves.clear();
        leave.clear();
        let mut wire = wire.unwrap_or_default();
        wire.enter.clear();
        wire.enter_at.clear();
        wire.moves.clear();
        wire.move_base.clear();
        wire.leave.clear();
        self.buffers = SnapshotBuffers {
            enter,
            moves,
            leave,
            wire,
        };
        delivery
    }

    fn apply_removals(&mut self, out: &mut impl Outbox) {
        let removals = std::mem::take(&mut self.removals);
        for &(slot, why) in &removals {
            let id = self.players[slot as usize].id;
            if let Removal::TooSlow = why {
                out.kick(id, TOO_SLOW);
            }
            tracing::debug!(player = id, reason = ?why, "removed by the world");
            self.depart(slot);
        }
        self.removals = removals;
        self.removals.clear();
    }
}

impl ViewInputs<'_> {
    /// Finds every viewer's view into the first `threads` workers' batches:
    /// the table is cut into contiguous runs of slots, one per thread, the
    /// first run found on this thread.
    fn find_in_parallel(&self, threads: usize, workers: &mut [ViewWorker]) {
        let slots = self.players.len();
        let (first, rest) = workers.split_first_mut().expect("at least one view worker");
        for idle in rest.iter_mut().skip(threads - 1) {
            idle.batch.clear();
        }
        let run = slots.div_ceil(threads);
        let runs = |k: usize| (k * run).min(slots)..((k + 1) * run).min(slots);
        if threads == 1 {
            return self.find(runs(0), first);
        }
        std::thread::scope(|scope| {
            for (k, worker) in rest.iter_mut().take(threads - 1).enumerate() {
                scope.spawn(move || self.find(runs(k + 1), worker));
            }
            self.find(runs(0), first);
        });
    }

    /// Finds the views of the viewers in `viewers` (slots) into `worker`'s
    /// batch.
    fn find(&self, viewers: Range<usize>, worker: &mut ViewWorker) {
        worker.batch.clear();
        for slot in viewers {
            self.find_one(slot, worker);
        }
    }

    fn find_one(&self, slot: usize, worker: &mut ViewWorker) {
        let viewer = &self.players[slot];
        if !viewer.present || viewer.mirror_of.is_some() {
            return; // mirrors have no view
        }
        let rule = self.rule;
        let positions = self.positions;
        let (x, y) = positions.now[slot];
        let own = (x, y, viewer.ack);
        let point = self
            .grid
            .stack_of_slot(slot as u32)
            .filter(|&(_, _, size)| size >= SHARE_STACKS_OF)
            .map(|(_, at, _)| (at.x.to_bits(), at.y.to_bits()));
        // Every stack a viewer stands in was ranked (`rank_stacks`).
        let ranking = point.and_then(|key| self.rankings.get(&key));
        let shared = ranking.is_some_and(|r| r.is_shared());
        let view = &viewer.view;
        if let Some(point) = point {
            if ranking.is_some_and(|r| r.unchanged)
                && view.in_sync
                && view.point_view == Some((self.tick - 1, point))
                && view.sent_own == Some(own)
            {
                // Standing in an unchanged stack: the view and its client
                // are as they were, nothing to compute or send.
                worker.batch.push(slot as u32, Found::UnchangedStack(point));
                return;
            }
        }
        let scratch = &mut worker.scratch;
        // Shortcuts for a viewer that stood still since its view was
        // committed last tick, in sync (see `World::mark_changes`).
        let stood_still = self.still_views
            && !self.changed[slot]
            && view.in_sync
            && view.committed_at == Some(self.tick - 1);
        // Nobody within the leave radius appeared, moved or vanished: every
        // distance its view was chosen by is as it was, so the view is too
        // (members(t) = members(t-1)), and the client holds it.
        let kept = stood_still
            && point.is_none()
            && view.sent_own == Some(own)
            && !self.grid.changed_near(viewer.pos, rule.leave_radius);
        // Otherwise, under the cap, only the players that changed can change
        // the view.
        let still = stood_still
            && !kept
            && !shared
            && view.crowd_d2 == f64::INFINITY
            && scratch.compute_still(
                self.grid,
                self.changed_grid,
                self.changed,
                slot as u32,
                viewer.pos,
                view,
                positions,
                rule,
            );
        let compute_in_full = |s: &mut ViewScratch| {
            let slots = self.players.len();
            s.compute(
                self.grid,
                slots,
                slot as u32,
                viewer.pos,
                view,
                positions,
                rule,
            );
        };
        #[cfg(debug_assertions)]
        if kept || still {
            let check = &mut worker.check;
            compute_in_full(check);
            if kept {
                assert!(!check.has_delta(), "a view kept as unchanged changed");
            } else {
                scratch.assert_same_delta(check);
            }
        }
        if kept {
            worker.batch.push(slot as u32, Found::Kept);
            return;
        }
        match ranking {
            _ if still => {}
            Some(r) if r.is_shared() => {
                scratch.compute_at_point(self.players.len(), slot as u32, r, view, positions, rule)
            }
            _ => compute_in_full(scratch),
        }
        let delta = (scratch.has_delta() || view.sent_own != Some(own))
            .then(|| worker.batch.keep_delta(scratch));
        let found = Found::Computed {
            delta,
            held: scratch.candidates.len() as u32,
            crowd_d2: scratch.crowd_d2(),
            point: point.filter(|_| shared),
        };
        worker.batch.push(slot as u32, found);
    }
}
