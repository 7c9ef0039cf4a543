//! Per-player views: which others a player sees this tick (radius, leave
//! hysteresis, nearest-`view_max` cap) and the delta between that and what was
//! last sent to it (`enter` / `move` / `leave`). Pure over the grid, the
//! tick's rounded positions and the viewer's [`ViewState`]; knows nothing of
//! names, encoding or delivery.
//!
//! The rule, per viewer `v` at tick `t` (positions after this tick's movement):
//!
//! ```text
//! eligible = { o != v : |o - v| <= view_radius }
//!          ∪ { o in members(t-1) : |o - v| <= view_leave_radius }
//! members(t) = the view_max nearest of eligible, ties by smaller id
//! ```
//!
//! Membership advances every tick; the baseline (what the client holds) only
//! when a snapshot was accepted by the outbox, so a missed delta merges into
//! the next one.
//!
//! Cost: everything is indexed by player slot. Per-slot marks (stamped, so
//! never cleared) make each viewer's work O(candidates + view), with no
//! sorting and no hashing. A viewer whose last snapshot was delivered (the
//! common case) is "in sync": its baseline positions are exactly last tick's
//! rounded positions, so it stores only the slots it holds, and a move is
//! "rounded position changed since last tick". Only a viewer behind (after a
//! `Full`) keeps explicit baseline positions and a separate membership list.
//! Slots are never reused while any baseline may name them (see `World`'s
//! slot reservation), so a slot stands for one player id here.

use glam::DVec2;

use super::grid::{EntrySlices, GridEntry, InterestGrid};
use super::PlayerId;

/// Rounded position in hundredths of a unit.
pub(crate) type Cents = (i32, i32);

/// A free entry of [`ViewState::sent`].
pub(crate) const FREE: u32 = u32::MAX;

/// What one player last saw and was sent.
#[derive(Debug, Clone)]
pub(crate) struct ViewState {
    /// Slots the client holds (the baseline's players), at their wire index:
    /// `sent[i]` is the player the client knows as index `i` (the binary
    /// snapshot's per-connection index), or [`FREE`]. An entered player
    /// takes the lowest free index and keeps it until it leaves.
    pub(crate) sent: Vec<u32>,
    /// Number of entries of `sent` that are not [`FREE`].
    pub(crate) held: usize,
    /// Whether the baseline positions are last tick's rounded positions of
    /// `sent` (and the membership equals `sent`). False after a `Full`.
    pub(crate) in_sync: bool,
    /// When not in sync: the rounded position the client holds for each of
    /// `sent` (meaningless at a free index).
    pub(crate) sent_pos: Vec<Cents>,
    /// When not in sync: the slots in view after the last tick (the
    /// hysteresis memory), whether or not that tick's snapshot was delivered.
    pub(crate) members: Vec<u32>,
    /// Own rounded position and ack last sent; `None` before the first
    /// snapshot (so a new player always gets one).
    pub(crate) sent_own: Option<(i32, i32, u64)>,
    /// Consecutive ticks the outbox answered `Full` (slow-reader bound).
    pub(crate) unsent_ticks: u32,
    /// When the cap applied last tick: the squared distance of the farthest
    /// player it kept (infinite otherwise). Lets a crowd's next scan skip
    /// players that cannot make the cut (see [`ViewScratch::compute`]).
    pub(crate) crowd_d2: f64,
    /// When this view was last committed from a stack's shared ranking
    /// ([`ViewScratch::compute_at_point`]): that tick and the point's bits.
    pub(crate) point_view: Option<(u64, (u64, u64))>,
    /// The tick at which this view was last computed and committed (the
    /// client holds it, or held it already); `None` before the first.
    pub(crate) committed_at: Option<u64>,
}

impl Default for ViewState {
    fn default() -> Self {
        Self {
            sent: Vec::new(),
            held: 0,
            in_sync: true,
            sent_pos: Vec::new(),
            members: Vec::new(),
            sent_own: None,
            unsent_ticks: 0,
            crowd_d2: f64::INFINITY,
            point_view: None,
            committed_at: None,
        }
    }
}

/// A player in a viewer's view this tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    /// Squared distance to the viewer (the cap's order).
    pub(crate) d2: f64,
    /// The player's id (the cap's tie-break).
    pub(crate) id: PlayerId,
    /// The player's slot.
    pub(crate) slot: u32,
}

/// The view rule's numbers, from the world config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ViewRule {
    /// Enter radius.
    pub(crate) radius: f64,
    /// Leave radius (>= radius).
    pub(crate) leave_radius: f64,
    /// Cap on the view size.
    pub(crate) max: usize,
    /// How much farther than last tick's cut a crowd's next cut may lie
    /// (two ticks of movement: viewer and other both move). Only a hint:
    /// correctness does not depend on it.
    pub(crate) crowd_slack: f64,
}

/// Per-slot rounded positions of the current and the previous tick.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TickPositions<'a> {
    /// This tick's, for every slot in the grid.
    pub(crate) now: &'a [Cents],
    /// Last tick's, valid for every slot that was in last tick's grid.
    pub(crate) before: &'a [Cents],
}

/// Per-slot mark for one viewer's computation: 8 bytes, so the marks of a
/// large world stay in cache while viewers read them at random slots.
#[derive(Debug, Clone, Copy, Default)]
struct Mark {
    /// Valid only when equal to the scratch's current stamp.
    stamp: u32,
    /// The index in the viewer's `sent` (or `NOT_SENT`) in the low 31
    /// bits; `MEMBER` set when the slot is in the viewer's membership.
    bits: u32,
}

/// [`Mark::sent_idx`] of a slot the viewer was not sent.
const NOT_SENT: u32 = 0x7fff_ffff;
/// [`Mark`]'s flag: the slot is in the viewer's membership.
const MEMBER: u32 = 0x8000_0000;

impl Mark {
    fn new(stamp: u32, sent_idx: u32, member: bool) -> Self {
        debug_assert!(sent_idx <= NOT_SENT);
        Self {
            stamp,
            bits: sent_idx | if member { MEMBER } else { 0 },
        }
    }

    /// Index in the viewer's `sent`, or `NOT_SENT`.
    fn sent_idx(self) -> u32 {
        self.bits & NOT_SENT
    }

    /// Whether the slot is in the viewer's membership.
    fn member(self) -> bool {
        self.bits & MEMBER != 0
    }
}

/// Reusable buffers for computing views, one per world.
#[derive(Debug, Default)]
pub(crate) struct ViewScratch {
    /// Per-slot marks, valid when stamped with `stamp`.
    marks: Vec<Mark>,
    /// Bumped once per viewer ([`ViewScratch::next_stamp`]).
    stamp: u32,
    /// The viewer's view this tick (after [`ViewScratch::compute`]).
    pub(crate) candidates: Vec<Candidate>,
    /// Cap selection scratch: candidates' squared distances as bits.
    dists: Vec<u64>,
    /// Cap selection scratch: the ids of the candidates at the cut.
    tied: Vec<PlayerId>,
    /// The `crowd_d2` of this tick's view (see [`ViewState::crowd_d2`]).
    crowd_d2: f64,
    /// Per `sent` entry: still in view.
    matched: Vec<bool>,
    /// Indices into `candidates` that are new to the client.
    pub(crate) enter: Vec<u32>,
    /// Slots of the players in view whose rounded position changed (given
    /// to the snapshot as is).
    pub(crate) moves: Vec<u32>,
    /// Indices into the viewer's `sent` that are no longer in view, ascending.
    pub(crate) leave: Vec<u32>,
    /// Per `enter` entry: the wire index it takes (the lowest free ones
    /// after this delta's leaves, ascending).
    pub(crate) enter_index: Vec<u32>,
    /// Per `moves` entry: its wire index (its index in the viewer's `sent`).
    pub(crate) move_index: Vec<u32>,
}

impl Candidate {
    /// The cap's order as one integer: nearer first, ties by smaller id.
    /// Squared distances are finite and non-negative, so their bit patterns
    /// order like the numbers. Keys are unique (ids are).
    fn key(&self) -> u128 {
        (u128::from(self.d2.to_bits()) << 64) | u128::from(self.id)
    }

    /// The cap's order as a pair, as [`ViewScratch::kth_nearest`] gives
    /// its cut.
    fn rank(&self) -> (u64, PlayerId) {
        (self.d2.to_bits(), self.id)
    }
}

/// One viewer's neighbourhood query.
struct Area<'g> {
    grid: &'g InterestGrid,
    at: DVec2,
    /// The viewer's slot, left out of its own view (`NO_VIEWER`: none).
    viewer: u32,
    /// Enter radius, squared.
    r2: f64,
    /// Leave radius, squared.
    l2: f64,
    leave_radius: f64,
    /// A stack within the enter radius contributes at most this many (its
    /// smallest ids): the cap keeps no more of players at one distance.
    keep: usize,
}

/// [`Area::viewer`] when the query is for a point, not a player.
const NO_VIEWER: u32 = u32::MAX;

impl Area<'_> {
    /// Collects into `candidates` every other player within the enter
    /// radius, or within the leave radius and a member (per `marks`), that
    /// is also within `within`; returns whether any eligible player may
    /// have been left out (beyond `within`, or beyond `keep` of a stack).
    /// `FILTER` false: `within` is infinite (no crowd last tick), and the
    /// check is compiled out of the hot loop. A filtered scan only visits the
    /// cells within `within`, so it counts as having left someone out
    /// whenever `within` is short of the leave radius.
    #[inline(always)]
    fn scan<const FILTER: bool>(
        &self,
        candidates: &mut Vec<Candidate>,
        marks: &[Mark],
        stamp: u32,
        within: f64,
    ) -> bool {
        let reach = if FILTER {
            within.min(self.leave_radius)
        } else {
            self.leave_radius
        };
        // A crowded grid trims its sorted cells to the query; a spread one
        // has none, and reads whole rows with no test for them.
        if self.grid.has_sorted_cells() {
            let rows = self.grid.crowd_rows_near(self.at, reach);
            self.scan_rows::<FILTER>(rows, reach, candidates, marks, stamp, within)
        } else {
            let rows = self.grid.rows_near(self.at, reach);
            self.scan_rows::<FILTER>(rows, reach, candidates, marks, stamp, within)
        }
    }

    /// [`Area::scan`] over the slices `rows` of the entries within `reach`.
    #[inline(always)]
    fn scan_rows<'g, const FILTER: bool>(
        &self,
        mut rows: impl EntrySlices<'g>,
        reach: f64,
        candidates: &mut Vec<Candidate>,
        marks: &[Mark],
        stamp: u32,
        within: f64,
    ) -> bool {
        candidates.clear();
        let within2 = within * within;
        let mut skipped = FILTER && reach < self.leave_radius;
        let member = |slot: u32| {
            let mark = marks[slot as usize];
            mark.stamp == stamp && mark.member()
        };
        while let Some(row) = rows.next() {
            if !rows.last_had_stacks() {
                // The common case: every entry on its own.
                for e in row {
                    let d2 = e.pos.distance_squared(self.at);
                    if d2 > self.l2 || e.slot == self.viewer {
                        continue;
                    }
                    if d2 <= self.r2 || member(e.slot) {
                        if FILTER && d2 > within2 {
                            skipped = true;
                            continue;
                        }
                        candidates.push(Candidate {
                            d2,
                            id: e.id,
                            slot: e.slot,
                        });
                    }
                }
                continue;
            }
            let mut i = 0;
            while i < row.len() {
                let e = &row[i];
                let d2 = e.pos.distance_squared(self.at);
                if e.run > 1 {
                    // A stack: one distance for all; rows hold whole cells,
                    // so the run is never cut (`min` only for safety).
                    let run = &row[i..(i + e.run as usize).min(row.len())];
                    i += run.len();
                    skipped |= self.stack(candidates, run, d2, within2, FILTER, member);
                    continue;
                }
                i += 1;
                if d2 > self.l2 || e.slot == self.viewer {
                    continue;
                }
                if d2 <= self.r2 || member(e.slot) {
                    if FILTER && d2 > within2 {
                        skipped = true;
                        continue;
                    }
                    candidates.push(Candidate {
                        d2,
                        id: e.id,
                        slot: e.slot,
                    });
                }
            }
        }
        skipped
    }

    /// The eligible players of one stack (all at squared distance `d2`,
    /// ascending ids); returns whether any was left out.
    #[inline(never)]
    fn stack(
        &self,
        candidates: &mut Vec<Candidate>,
        run: &[GridEntry],
        d2: f64,
        within2: f64,
        filter: bool,
        member: impl Fn(u32) -> bool,
    ) -> bool {
        if d2 > self.l2 {
            return false;
        }
        let eligible = |e: &&GridEntry| e.slot != self.viewer && (d2 <= self.r2 || member(e.slot));
        if filter && d2 > within2 {
            return run.iter().any(|e| eligible(&e));
        }
        for (kept, e) in run.iter().filter(eligible).enumerate() {
            if kept == self.keep {
                return true; // the rest cannot make the cut
            }
            candidates.push(Candidate {
                d2,
                id: e.id,
                slot: e.slot,
            });
        }
        false
    }
}

/// The nearest players to a stack's point, shared by every viewer standing
/// there (see [`ViewScratch::rank_point`]).
#[derive(Debug, Default)]
pub(crate) struct PointRanking {
    /// The `max + 1` nearest within the enter radius by (distance, id),
    /// nearest first; empty when fewer are within it.
    ranked: Vec<Candidate>,
    /// Set by the world: the ranking is shared and equals last tick's at the
    /// same point, and none of its players' rounded positions changed, so a
    /// view committed from last tick's is still exact and has no delta.
    pub(crate) unchanged: bool,
}

impl PointRanking {
    /// Whether the ranking decides the views of the players at its point.
    pub(crate) fn is_shared(&self) -> bool {
        !self.ranked.is_empty()
    }

    /// Whether both rank the same players (by slot and id) at the same
    /// distances.
    pub(crate) fn same_as(&self, other: &PointRanking) -> bool {
        self.ranked == other.ranked
    }

    /// The slots ranked.
    pub(crate) fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.ranked.iter().map(|c| c.slot)
    }
}

impl ViewScratch {
    /// Computes the view of the player in `viewer` at `at` into `candidates`
    /// and its delta against the viewer's baseline into `enter` / `moves` /
    /// `leave`. `slots` is the size of the world's player table.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn compute(
        &mut self,
        grid: &InterestGrid,
        slots: usize,
        viewer: u32,
        at: DVec2,
        state: &ViewState,
        positions: TickPositions<'_>,
        rule: ViewRule,
    ) {
        self.mark_baseline(slots, state);
        let stamp = self.stamp;
        let marks = &self.marks[..];

        // In a crowd the cap keeps the `max` nearest. If at least `max`
        // eligible players lie within a radius, nobody beyond it can make
        // the cut, so a crowd's scan first keeps only players within last
        // tick's cut plus two ticks of movement, and rescans in full only if
        // fewer than `max` are found there (players left or teleported).
        let r2 = rule.radius * rule.radius;
        let l2 = rule.leave_radius * rule.leave_radius;
        // Stages: last tick's cut plus a quarter of the slack (the cut of a
        // crowd rarely moves more), plus the whole slack, then everyone.
        let stages = if state.crowd_d2.is_finite() {
            let cut = state.crowd_d2.sqrt();
            [
                cut + rule.crowd_slack / 4.0,
                cut + rule.crowd_slack,
                f64::INFINITY,
            ]
        } else {
            [f64::INFINITY; 3]
        };
        let area = Area {
            grid,
            at,
            viewer,
            r2,
            l2,
            leave_radius: rule.leave_radius,
            keep: rule.max,
        };
        let mut skipped = false;
        for within in stages {
            skipped = if within.is_finite() {
                area.scan::<true>(&mut self.candidates, marks, stamp, within)
            } else {
                area.scan::<false>(&mut self.candidates, marks, stamp, within)
            };
            if !(skipped && self.candidates.len() < rule.max) {
                break;
            }
            // Too few near: widen.
        }
        self.crowd_d2 = f64::INFINITY;
        if self.candidates.len() > rule.max {
            // Find the `max`-th nearest (distance, then id), then keep the
            // candidates up to it.
            let limit = self.kth_nearest(rule.max);
            self.candidates.retain(|c| c.rank() <= limit);
            self.crowd_d2 = f64::from_bits(limit.0);
        } else if skipped {
            // Exactly `max` within the radius, more beyond: capped too.
            self.crowd_d2 = self.candidates.iter().map(|c| c.d2).fold(0.0, f64::max);
        }

        self.classify(state, positions);
    }

    /// [`ViewScratch::compute`] for a viewer that stood still since its view
    /// was committed last tick, in sync and under the cap (`crowd_d2`
    /// infinite): only players that appeared, moved or vanished this tick
    /// (`changed`, by slot; the present ones are in `changed_grid`) can
    /// change its view, so only they are looked at.
    ///
    /// A player that did not change is where it was, at the distance it
    /// was: held, it stays held and did not move; not held, it was beyond
    /// the enter radius last tick (the view was not capped, so everyone
    /// within it was taken), and still is. The result is exactly what
    /// [`ViewScratch::compute`] gives, in another order. Returns false, with
    /// nothing computed, when the cap would apply (the caller computes the
    /// view in full).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn compute_still(
        &mut self,
        grid: &InterestGrid,
        changed_grid: &InterestGrid,
        changed: &[bool],
        viewer: u32,
        at: DVec2,
        state: &ViewState,
        positions: TickPositions<'_>,
        rule: ViewRule,
    ) -> bool {
        debug_assert!(state.in_sync && state.crowd_d2 == f64::INFINITY);
        self.mark_baseline(changed.len(), state);
        let stamp = self.stamp;
        let marks = &self.marks[..];
        let r2 = rule.radius * rule.radius;
        let l2 = rule.leave_radius * rule.leave_radius;
        self.candidates.clear();
        self.enter.clear();
        self.moves.clear();
        self.move_index.clear();
        self.leave.clear();
        self.enter_index.clear();
        self.matched.clear();
        self.matched.resize(state.sent.len(), false);
        for (i, &slot) in state.sent.iter().enumerate() {
            if slot == FREE {
                continue;
            }
            let near = grid
                .entry_of(slot)
                .map(|e| (e, e.pos.distance_squared(at)))
                .filter(|&(_, d2)| d2 <= l2);
            let Some((e, d2)) = near else {
                continue; // vanished, or moved beyond the leave radius
            };
            self.matched[i] = true;
            self.candidates.push(Candidate { d2, id: e.id, slot });
            let s = slot as usize;
            if changed[s] && positions.before[s] != positions.now[s] {
                self.moves.push(slot);
                self.move_index.push(i as u32);
            }
        }
        for row in changed_grid.rows_near(at, rule.radius) {
            for e in row {
                let d2 = e.pos.distance_squared(at);
                if d2 > r2 || e.slot == viewer {
                    continue;
                }
                let mark = marks[e.slot as usize];
                if mark.stamp == stamp {
                    continue; // held
                }
                self.enter.push(self.candidates.len() as u32);
                self.candidates.push(Candidate {
                    d2,
                    id: e.id,
                    slot: e.slot,
                });
            }
        }
        if self.candidates.len() > rule.max {
            return false;
        }
        self.crowd_d2 = f64::INFINITY;
        self.leaves_and_enter_indices(state);
        true
    }

    /// The `max + 1` nearest to `at` within the enter radius, if that many
    /// are there: then for each player standing exactly at `at`, its view is
    /// these minus itself, cut to `max` (players held only by hysteresis lie
    /// beyond the enter radius, so they never make a full cut). Computed
    /// once per stack per tick instead of once per member.
    pub(crate) fn rank_point(
        &mut self,
        grid: &InterestGrid,
        at: DVec2,
        rule: ViewRule,
        into: &mut PointRanking,
    ) {
        into.ranked.clear();
        // No marks: no hysteresis for a point.
        if self.marks.len() < grid.slots() {
            self.marks.resize(grid.slots(), Mark::default());
        }
        self.next_stamp();
        let area = Area {
            grid,
            at,
            viewer: NO_VIEWER,
            r2: rule.radius * rule.radius,
            l2: rule.radius * rule.radius,
            leave_radius: rule.radius,
            keep: rule.max + 1,
        };
        area.scan::<false>(&mut self.candidates, &self.marks, self.stamp, f64::INFINITY);
        let want = rule.max + 1;
        if self.candidates.len() < want {
            return;
        }
        let limit = self.kth_nearest(want);
        into.ranked
            .extend(self.candidates.iter().filter(|c| c.rank() <= limit));
        into.ranked.sort_unstable_by_key(Candidate::key);
    }

    /// [`ViewScratch::compute`] for a viewer standing at the point of a
    /// shared `ranking` (see [`ViewScratch::rank_point`]).
    pub(crate) fn compute_at_point(
        &mut self,
        slots: usize,
        viewer: u32,
        ranking: &PointRanking,
        state: &ViewState,
        positions: TickPositions<'_>,
        rule: ViewRule,
    ) {
        self.mark_baseline(slots, state);
        self.candidates.clear();
        self.candidates.extend(
            ranking
                .ranked
                .iter()
                .filter(|c| c.slot != viewer)
                .take(rule.max),
        );
        self.crowd_d2 = self.candidates.last().map_or(f64::INFINITY, |c| c.d2);
        self.classify(state, positions);
    }

    /// The `k`-th nearest of `candidates` (`1 <= k <= len`) as (squared
    /// distance bits, id): a candidate is among the `k` nearest, ties by
    /// smaller id, exactly when its pair is not above it. Selects on the
    /// distances alone (8-byte keys, not the 16 of [`Candidate::key`]);
    /// ids decide only among the candidates at the cut's distance, usually
    /// one.
    fn kth_nearest(&mut self, k: usize) -> (u64, PlayerId) {
        self.dists.clear();
        self.dists
            .extend(self.candidates.iter().map(|c| c.d2.to_bits()));
        let (below, &mut cut, _) = self.dists.select_nth_unstable(k - 1);
        // Everyone nearer than the cut makes it; at the cut, the `room`
        // smallest ids fill the rest.
        let nearer = below.iter().filter(|&&d| d < cut).count();
        let room = k - nearer;
        self.tied.clear();
        self.tied.extend(
            self.candidates
                .iter()
                .filter(|c| c.d2.to_bits() == cut)
                .map(|c| c.id),
        );
        let (_, &mut id, _) = self.tied.select_nth_unstable(room - 1);
        (cut, id)
    }

    /// Starts a new viewer's marks: bumps the stamp, and on its wrap (once
    /// in four billion viewers) clears every mark so none is taken as
    /// current.
    fn next_stamp(&mut self) {
        if self.stamp == u32::MAX {
            self.marks.fill(Mark::default());
            self.stamp = 0;
        }
        self.stamp += 1;
    }

    /// Stamps the marks of the viewer's baseline and membership.
    #[inline(always)]
    fn mark_baseline(&mut self, slots: usize, state: &ViewState) {
        if self.marks.len() < slots {
            self.marks.resize(slots, Mark::default());
        }
        self.next_stamp();
        let stamp = self.stamp;
        let marks = &mut self.marks[..];
        for (i, &slot) in state.sent.iter().enumerate() {
            if slot == FREE {
                continue;
            }
            marks[slot as usize] = Mark::new(stamp, i as u32, state.in_sync);
        }
        if !state.in_sync {
            for &m in &state.members {
                let mark = &mut marks[m as usize];
                if mark.stamp == stamp {
                    mark.bits |= MEMBER;
                } else {
                    *mark = Mark::new(stamp, NOT_SENT, true);
                }
            }
        }
    }

    /// The delta of `candidates` against the viewer's baseline, using the
    /// marks of this stamp. Kept out of line: the scan above and this loop
    /// each get the registers to themselves.
    #[inline(never)]
    fn classify(&mut self, state: &ViewState, positions: TickPositions<'_>) {
        let stamp = self.stamp;
        let marks = &self.marks[..];
        self.enter.clear();
        self.moves.clear();
        self.move_index.clear();
        self.leave.clear();
        self.enter_index.clear();
        self.matched.clear();
        self.matched.resize(state.sent.len(), false);
        // Most candidates move: `moves` and `move_index` get room for all of
        // them, written by index (no capacity check per move) and cut to
        // what was written.
        let room = self.candidates.len();
        self.moves.resize(room, 0);
        self.move_index.resize(room, 0);
        let mut moved = 0;
        for (ci, c) in self.candidates.iter().enumerate() {
            let slot = c.slot as usize;
            let mark = marks[slot];
            if mark.stamp == stamp && mark.sent_idx() != NOT_SENT {
                let idx = mark.sent_idx() as usize;
                self.matched[idx] = true;
                let held = if state.in_sync {
                    positions.before[slot]
                } else {
                    state.sent_pos[idx]
                };
                if held != positions.now[slot] {
                    self.moves[moved] = c.slot;
                    self.move_index[moved] = mark.sent_idx();
                    moved += 1;
                }
            } else {
                self.enter.push(ci as u32);
            }
        }
        self.moves.truncate(moved);
        self.move_index.truncate(moved);
        self.leaves_and_enter_indices(state);
    }

    /// From `matched` (per `sent` entry: still in view) and `enter`: the
    /// leaves, and the indices the enters take, the lowest free ones once
    /// the leaves are applied, then new ones past the end. Nothing to do
    /// (the common case) when every held player is still in view and none
    /// entered.
    #[inline(always)]
    fn leaves_and_enter_indices(&mut self, state: &ViewState) {
        let wanted = self.enter.len();
        let held = self.candidates.len() - wanted;
        if wanted == 0 && held == state.held {
            return;
        }
        for (i, (&m, &slot)) in self.matched.iter().zip(&state.sent).enumerate() {
            let left = !m && slot != FREE;
            if left {
                self.leave.push(i as u32);
            }
            if (left || slot == FREE) && self.enter_index.len() < wanted {
                self.enter_index.push(i as u32);
            }
        }
        let mut next = state.sent.len() as u32;
        while self.enter_index.len() < wanted {
            self.enter_index.push(next);
            next += 1;
        }
    }

    /// Panics unless `other` computed the same view and delta, in any order
    /// (debug builds check [`ViewScratch::compute_still`] with it).
    #[cfg(debug_assertions)]
    pub(crate) fn assert_same_delta(&self, other: &ViewScratch) {
        fn sorted<T: Ord>(v: impl Iterator<Item = T>) -> Vec<T> {
            let mut v: Vec<T> = v.collect();
            v.sort_unstable();
            v
        }
        let view = |s: &ViewScratch| sorted(s.candidates.iter().map(|c| c.slot));
        let enters =
            |s: &ViewScratch| sorted(s.enter.iter().map(|&i| s.candidates[i as usize].slot));
        let moves =
            |s: &ViewScratch| sorted(s.moves.iter().copied().zip(s.move_index.iter().copied()));
        assert_eq!(view(self), view(other), "view");
        assert_eq!(enters(self), enters(other), "enters");
        assert_eq!(moves(self), moves(other), "moves");
        assert_eq!(
            sorted(self.leave.iter()),
            sorted(other.leave.iter()),
            "leaves"
        );
        let taken = |s: &ViewScratch| sorted(s.enter_index.iter().copied());
        assert_eq!(taken(self), taken(other), "enter indices");
        assert_eq!(self.crowd_d2, other.crowd_d2, "cut");
    }

    /// Whether the computed view differs from the baseline.
    pub(crate) fn has_delta(&self) -> bool {
        !(self.enter.is_empty() && self.moves.is_empty() && self.leave.is_empty())
    }

    /// The `crowd_d2` of this tick's view (see [`ViewState::crowd_d2`]).
    pub(crate) fn crowd_d2(&self) -> f64 {
        self.crowd_d2
    }

    /// Commits this tick's view as the baseline; see [`commit_view`]. (The
    /// world commits from a [`ViewBatch`](super::view_batch::ViewBatch).)
    #[cfg(test)]
    pub(crate) fn commit(&self, state: &mut ViewState) {
        let enters = self
            .enter
            .iter()
            .zip(&self.enter_index)
            .map(|(&ci, &index)| (self.candidates[ci as usize].slot, index));
        commit_view(
            state,
            &self.leave,
            enters,
            self.candidates.len(),
            self.crowd_d2,
        );
    }

    /// Keeps the baseline (the snapshot was not delivered) and advances only
    /// the membership. `before` is last tick's rounded positions, which an
    /// in-sync baseline refers to.
    pub(crate) fn hold(&self, state: &mut ViewState, before: &[Cents]) {
        if state.in_sync {
            state.sent_pos.clear();
            state.sent_pos.extend(state.sent.iter().map(|&s| {
                if s == FREE {
                    (0, 0)
                } else {
                    before[s as usize]
                }
            }));
            state.in_sync = false;
        }
        state.members.clear();
        state.members.extend(self.candidates.iter().map(|c| c.slot));
        state.crowd_d2 = self.crowd_d2;
    }
}

/// Commits a tick's view as the baseline: the client now holds it
/// (delivered), or already held it (no delta). Either way the baseline's
/// positions are this tick's, so the viewer is in sync. `leave` are indices
/// into `state.sent`, `enters` (slot, wire index) pairs, `held` the size of
/// the view.
pub(crate) fn commit_view(
    state: &mut ViewState,
    leave: &[u32],
    enters: impl Iterator<Item = (u32, u32)>,
    held: usize,
    crowd_d2: f64,
) {
    for &i in leave {
        state.sent[i as usize] = FREE;
    }
    for (slot, index) in enters {
        let index = index as usize;
        if index >= state.sent.len() {
            state.sent.resize(index + 1, FREE);
        }
        state.sent[index] = slot;
    }
    while state.sent.last() == Some(&FREE) {
        state.sent.pop();
    }
    state.held = held;
    state.in_sync = true;
    state.sent_pos.clear();
    state.members.clear();
    state.crowd_d2 = crowd_d2;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::snapshot::to_cents;

    const RULE: ViewRule = ViewRule {
        radius: 600.0,
        leave_radius: 700.0,
        max: 128,
        crowd_slack: 30.0,
    };

    /// A sequence of ticks seen by the viewer in slot 0.
    #[derive(Default)]
    struct Run {
        scratch: ViewScratch,
        state: ViewState,
        before: Vec<Cents>,
    }

    impl Run {
        /// One tick with `points` (slot = index); commits when `delivered`.
        fn tick(
            &mut self,
            points: &[(u64, f64, f64)],
            rule: ViewRule,
            delivered: bool,
        ) -> Vec<u64> {
            let mut g = InterestGrid::new(4096.0, 4096.0, 128.0);
            g.rebuild(
                points
                    .iter()
                    .enumerate()
                    .map(|(slot, &(id, x, y))| GridEntry::new(DVec2::new(x, y), id, slot as u32)),
            );
            let now: Vec<Cents> = points
                .iter()
                .map(|&(_, x, y)| (to_cents(x), to_cents(y)))
                .collect();
            let mut before = self.before.clone();
            before.resize(now.len(), (0, 0));
            let at = DVec2::new(points[0].1, points[0].2);
            let positions = TickPositions {
                now: &now,
                before: &before,
            };
            self.scratch
                .compute(&g, points.len(), 0, at, &self.state, positions, rule);
            if delivered || !self.scratch.has_delta() {
                self.scratch.commit(&mut self.state);
            } else {
                self.scratch.hold(&mut self.state, &before);
            }
            self.before = now;
            let mut ids: Vec<u64> = self.scratch.candidates.iter().map(|c| c.id).collect();
            ids.sort_unstable();
            ids
        }
    }

    #[test]
    fn a_wrapped_stamp_forgets_every_mark() {
        // P (slot 1) is marked as held at stamp 1, leaves, and comes back
        // in view just after the stamp wraps to 1 again: it must enter, as
        // for a viewer whose stamp never wrapped.
        let near = [(10, 100.0, 100.0), (11, 150.0, 100.0)];
        let far = [(10, 100.0, 100.0), (11, 3000.0, 100.0)];
        let mut wrapped = Run::default();
        let mut plain = Run::default();
        let mut step = |points: &[(u64, f64, f64)], stamp: Option<u32>| {
            if let Some(stamp) = stamp {
                wrapped.scratch.stamp = stamp;
            }
            let ids = wrapped.tick(points, RULE, true);
            assert_eq!(ids, plain.tick(points, RULE, true));
            let enters = |s: &ViewScratch| -> Vec<u32> {
                s.enter
                    .iter()
                    .map(|&i| s.candidates[i as usize].slot)
                    .collect()
            };
            assert_eq!(enters(&wrapped.scratch), enters(&plain.scratch));
            assert_eq!(wrapped.scratch.moves, plain.scratch.moves);
            assert_eq!(wrapped.scratch.leave, plain.scratch.leave);
            ids
        };
        assert_eq!(step(&near, None), vec![11]);
        assert!(step(&far, Some(0)).is_empty()); // P's mark: stamp 1
        assert!(step(&far, Some(u32::MAX - 1)).is_empty());
        assert_eq!(step(&near, None), vec![11]); // the stamp wrapped to 1
        assert_eq!(wrapped.scratch.stamp, 1);
        assert_eq!(wrapped.scratch.enter.len(), 1);
    }

    #[test]
    fn enters_within_radius_and_leaves_only_beyond_leave_radius() {
        let mut run = Run::default();
        let me = (1, 2000.0, 2000.0);
        // 650 away: in the band, not yet in view.
        assert!(run.tick(&[me, (2, 2650.0, 2000.0)], RULE, true).is_empty());
        // 600 away (inclusive): enters.
        assert_eq!(run.tick(&[me, (2, 2600.0, 2000.0)], RULE, true), vec![2]);
        assert_eq!(run.scratch.enter.len(), 1);
        // Oscillating between 600 and 700 never leaves.
        for x in [2690.0, 2610.0, 2700.0, 2650.0, 2601.0] {
            assert_eq!(run.tick(&[me, (2, x, 2000.0)], RULE, true), vec![2]);
            assert!(run.scratch.enter.is_empty() && run.scratch.leave.is_empty());
        }
        // Beyond 700: leaves.
        assert!(run.tick(&[me, (2, 2700.5, 2000.0)], RULE, true).is_empty());
        assert_eq!(run.scratch.leave.len(), 1);
    }

    #[test]
    fn view_cap_keeps_the_nearest_with_id_tie_break() {
        let rule = ViewRule { max: 3, ..RULE };
        let pts = [
            (1, 1000.0, 1000.0),
            (10, 1100.0, 1000.0),
            (11, 1000.0, 1050.0),
            (12, 1000.0, 950.0),
            (9, 1050.0, 1000.0), // ties with 11 and 12 at 50: 9 wins, then 11
            (13, 1001.0, 1000.0),
        ];
        assert_eq!(Run::default().tick(&pts, rule, true), vec![9, 11, 13]);
    }

    #[test]
    fn moves_only_when_the_rounded_position_changes() {
        let mut run = Run::default();
        let me = (1, 100.0, 100.0);
        run.tick(&[me, (2, 200.0, 200.0)], RULE, true);
        run.tick(&[me, (2, 200.004, 200.0)], RULE, true);
        assert!(!run.scratch.has_delta(), "sub-0.01 drift is invisible");
        run.tick(&[me, (2, 200.006, 200.0)], RULE, true);
        assert_eq!(run.scratch.moves.len(), 1);
    }

    #[test]
    fn an_undelivered_delta_merges_into_the_next() {
        let mut run = Run::default();
        let me = (1, 100.0, 100.0);
        run.tick(&[me, (2, 200.0, 200.0)], RULE, true);
        // 2 moves, 3 enters: not delivered.
        run.tick(&[me, (2, 250.0, 200.0), (3, 120.0, 100.0)], RULE, false);
        assert_eq!((run.scratch.enter.len(), run.scratch.moves.len()), (1, 1));
        assert!(!run.state.in_sync);
        // 2 stands still now, but the client still holds its old position.
        run.tick(&[me, (2, 250.0, 200.0), (3, 130.0, 100.0)], RULE, false);
        assert_eq!((run.scratch.enter.len(), run.scratch.moves.len()), (1, 1));
        // 2 goes back where the client last saw it: no move for it any more.
        run.tick(&[me, (2, 200.0, 200.0), (3, 130.0, 100.0)], RULE, true);
        assert_eq!((run.scratch.enter.len(), run.scratch.moves.len()), (1, 0));
        assert!(run.state.in_sync);
    }
}
