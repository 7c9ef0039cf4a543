//! Per-player views: which others a player sees this tick (radius, leave
//! hysteresis, nearest-`view_max` cap) and the delta between that and what was
//! last sent to it (`enter` / `move` / `leave`). Pure over the grid and the
//! viewer's [`ViewState`]; knows nothing of names, encoding or delivery.
//!
//! The rule, per viewer `v` at tick `t` (positions after this tick's movement):
//!
//! ```text
//! eligible = { o != v : |o - v| <= view_radius }
//!          ∪ { o in members(t-1) : |o - v| <= view_leave_radius }
//! members(t) = the view_max nearest of eligible, ties by smaller id
//! ```
//!
//! Membership advances every tick; the baseline (`sent`) only when a snapshot
//! was accepted by the outbox, so a missed delta merges into the next one.
//!
//! Everything is indexed by player slot; per-slot marks (stamped, so never
//! cleared) make each viewer's work O(candidates + view), with no sorting and
//! no hashing. Slots are never reused while any baseline may name them (see
//! `World`'s slot reservation), so a slot stands for one player id here.

use std::cmp::Ordering;

use glam::DVec2;

use super::grid::InterestGrid;
use super::snapshot::to_cents;
use super::PlayerId;

/// What one player last saw and was sent.
#[derive(Debug, Clone, Default)]
pub(crate) struct ViewState {
    /// Slots in view after the last tick (the hysteresis memory), whether or
    /// not that tick's snapshot was delivered.
    pub(crate) members: Vec<u32>,
    /// The baseline: players the client holds, with the rounded positions it
    /// was last sent. Deltas are computed against this.
    pub(crate) sent: Vec<SentEntry>,
    /// Own rounded position and ack last sent; `None` before the first
    /// snapshot (so a new player always gets one).
    pub(crate) sent_own: Option<(i32, i32, u64)>,
    /// Consecutive ticks the outbox answered `Full` (slow-reader bound).
    pub(crate) unsent_ticks: u32,
}

/// One player as a client last saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SentEntry {
    /// The player's slot.
    pub(crate) slot: u32,
    /// Its id (for `leave` without a table lookup).
    pub(crate) id: PlayerId,
    /// Rounded position sent, in hundredths.
    pub(crate) cx: i32,
    /// See `cx`.
    pub(crate) cy: i32,
}

/// A player in a viewer's view this tick.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    /// Squared distance to the viewer (the cap's order).
    pub(crate) d2: f64,
    /// The player's id (the cap's tie-break).
    pub(crate) id: PlayerId,
    /// The player's slot.
    pub(crate) slot: u32,
    /// Rounded position, in hundredths.
    pub(crate) cx: i32,
    /// See `cx`.
    pub(crate) cy: i32,
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
}

/// Per-slot mark for one viewer's computation.
#[derive(Debug, Clone, Copy, Default)]
struct Mark {
    /// Valid only when equal to the scratch's current stamp.
    stamp: u64,
    /// Index in the viewer's `sent`, or `NOT_SENT`.
    sent_idx: u32,
    /// Whether the slot is in the viewer's `members`.
    member: bool,
}

const NOT_SENT: u32 = u32::MAX;

/// Reusable buffers for computing views, one per world.
#[derive(Debug, Default)]
pub(crate) struct ViewScratch {
    /// Per-slot marks, valid when stamped with `stamp`.
    marks: Vec<Mark>,
    /// Bumped once per viewer.
    stamp: u64,
    /// The viewer's view this tick (after [`ViewScratch::compute`]).
    pub(crate) candidates: Vec<Candidate>,
    /// Per `sent` entry: still in view.
    matched: Vec<bool>,
    /// Indices into `candidates` that are new to the client.
    pub(crate) enter: Vec<u32>,
    /// Indices into `candidates` whose rounded position changed.
    pub(crate) moves: Vec<u32>,
    /// Indices into the viewer's `sent` that are no longer in view.
    pub(crate) leave: Vec<u32>,
}

fn nearer(a: &Candidate, b: &Candidate) -> Ordering {
    a.d2.total_cmp(&b.d2).then(a.id.cmp(&b.id))
}

impl ViewScratch {
    /// Computes the view of the player in `viewer` at `at` into `candidates`
    /// and its delta against `state.sent` into `enter` / `moves` / `leave`.
    /// `slots` is the size of the world's player table.
    pub(crate) fn compute(
        &mut self,
        grid: &InterestGrid,
        slots: usize,
        viewer: u32,
        at: DVec2,
        state: &ViewState,
        rule: ViewRule,
    ) {
        if self.marks.len() < slots {
            self.marks.resize(slots, Mark::default());
        }
        self.stamp += 1;
        let stamp = self.stamp;
        for (i, e) in state.sent.iter().enumerate() {
            self.marks[e.slot as usize] = Mark {
                stamp,
                sent_idx: i as u32,
                member: false,
            };
        }
        for &m in &state.members {
            let mark = &mut self.marks[m as usize];
            if mark.stamp == stamp {
                mark.member = true;
            } else {
                *mark = Mark {
                    stamp,
                    sent_idx: NOT_SENT,
                    member: true,
                };
            }
        }

        self.candidates.clear();
        let r2 = rule.radius * rule.radius;
        let l2 = rule.leave_radius * rule.leave_radius;
        for row in grid.rows_near(at, rule.leave_radius) {
            for e in row {
                let d2 = e.pos.distance_squared(at);
                if d2 > l2 || e.slot == viewer {
                    continue;
                }
                let keep = d2 <= r2 || {
                    let mark = self.marks[e.slot as usize];
                    mark.stamp == stamp && mark.member
                };
                if keep {
                    self.candidates.push(Candidate {
                        d2,
                        id: e.id,
                        slot: e.slot,
                        cx: to_cents(e.pos.x),
                        cy: to_cents(e.pos.y),
                    });
                }
            }
        }
        if self.candidates.len() > rule.max {
            self.candidates.select_nth_unstable_by(rule.max - 1, nearer);
            self.candidates.truncate(rule.max);
        }

        self.enter.clear();
        self.moves.clear();
        self.leave.clear();
        self.matched.clear();
        self.matched.resize(state.sent.len(), false);
        for (ci, c) in self.candidates.iter().enumerate() {
            let mark = self.marks[c.slot as usize];
            if mark.stamp == stamp && mark.sent_idx != NOT_SENT {
                let idx = mark.sent_idx as usize;
                self.matched[idx] = true;
                let s = &state.sent[idx];
                if (s.cx, s.cy) != (c.cx, c.cy) {
                    self.moves.push(ci as u32);
                }
            } else {
                self.enter.push(ci as u32);
            }
        }
        for (i, &m) in self.matched.iter().enumerate() {
            if !m {
                self.leave.push(i as u32);
            }
        }
    }

    /// Whether the computed view differs from the baseline.
    pub(crate) fn has_delta(&self) -> bool {
        !(self.enter.is_empty() && self.moves.is_empty() && self.leave.is_empty())
    }

    /// Overwrites `members` with this tick's view.
    pub(crate) fn store_members(&self, members: &mut Vec<u32>) {
        members.clear();
        members.extend(self.candidates.iter().map(|c| c.slot));
    }

    /// Overwrites `sent` with this tick's view (after a delivered snapshot).
    pub(crate) fn store_sent(&self, sent: &mut Vec<SentEntry>) {
        sent.clear();
        sent.extend(self.candidates.iter().map(|c| SentEntry {
            slot: c.slot,
            id: c.id,
            cx: c.cx,
            cy: c.cy,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::grid::GridEntry;

    const RULE: ViewRule = ViewRule {
        radius: 600.0,
        leave_radius: 700.0,
        max: 128,
    };

    fn grid_of(points: &[(u64, f64, f64)]) -> InterestGrid {
        let mut g = InterestGrid::new(4096.0, 4096.0, 256.0);
        g.rebuild(points.iter().enumerate().map(|(slot, &(id, x, y))| GridEntry {
            pos: DVec2::new(x, y),
            id,
            slot: slot as u32,
        }));
        g
    }

    /// Runs one view step for slot 0 and commits as if delivered.
    fn step(scratch: &mut ViewScratch, points: &[(u64, f64, f64)], state: &mut ViewState, rule: ViewRule) -> Vec<u64> {
        let g = grid_of(points);
        let at = DVec2::new(points[0].1, points[0].2);
        scratch.compute(&g, points.len(), 0, at, state, rule);
        scratch.store_members(&mut state.members);
        scratch.store_sent(&mut state.sent);
        let mut ids: Vec<u64> = scratch.candidates.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn enters_within_radius_and_leaves_only_beyond_leave_radius() {
        let mut s = ViewScratch::default();
        let mut st = ViewState::default();
        let me = (1, 2000.0, 2000.0);
        // 650 away: in the band, not yet in view.
        assert!(step(&mut s, &[me, (2, 2650.0, 2000.0)], &mut st, RULE).is_empty());
        // 600 away (inclusive): enters.
        assert_eq!(step(&mut s, &[me, (2, 2600.0, 2000.0)], &mut st, RULE), vec![2]);
        assert_eq!(s.enter.len(), 1);
        // Oscillating between 600 and 700 never leaves.
        for x in [2690.0, 2610.0, 2700.0, 2650.0, 2601.0] {
            assert_eq!(step(&mut s, &[me, (2, x, 2000.0)], &mut st, RULE), vec![2]);
            assert!(s.enter.is_empty() && s.leave.is_empty());
        }
        // Beyond 700: leaves.
        assert!(step(&mut s, &[me, (2, 2700.5, 2000.0)], &mut st, RULE).is_empty());
        assert_eq!(s.leave.len(), 1);
    }

    #[test]
    fn view_cap_keeps_the_nearest_with_id_tie_break() {
        let rule = ViewRule { max: 3, ..RULE };
        let mut s = ViewScratch::default();
        let mut st = ViewState::default();
        let pts = [
            (1, 1000.0, 1000.0),
            (10, 1100.0, 1000.0),
            (11, 1000.0, 1050.0),
            (12, 1000.0, 950.0),
            (9, 1050.0, 1000.0), // ties with 11 and 12 at 50: 9 wins, then 11
            (13, 1001.0, 1000.0),
        ];
        assert_eq!(step(&mut s, &pts, &mut st, rule), vec![9, 11, 13]);
    }

    #[test]
    fn moves_only_when_the_rounded_position_changes() {
        let mut s = ViewScratch::default();
        let mut st = ViewState::default();
        let me = (1, 100.0, 100.0);
        step(&mut s, &[me, (2, 200.0, 200.0)], &mut st, RULE);
        step(&mut s, &[me, (2, 200.004, 200.0)], &mut st, RULE);
        assert!(!s.has_delta(), "sub-0.01 drift is invisible");
        step(&mut s, &[me, (2, 200.006, 200.0)], &mut st, RULE);
        assert_eq!(s.moves.len(), 1);
    }

    #[test]
    fn an_undelivered_delta_merges_into_the_next() {
        let mut s = ViewScratch::default();
        let mut st = ViewState::default();
        let me = (1, 100.0, 100.0);
        let g = grid_of(&[me, (2, 200.0, 200.0)]);
        s.compute(&g, 2, 0, DVec2::new(100.0, 100.0), &st, RULE);
        assert_eq!(s.enter.len(), 1);
        // Not delivered: members advance, the baseline does not.
        s.store_members(&mut st.members);
        let g = grid_of(&[me, (2, 250.0, 200.0), (3, 120.0, 100.0)]);
        s.compute(&g, 3, 0, DVec2::new(100.0, 100.0), &st, RULE);
        // Both are still entries (the client never heard of 2), no move.
        assert_eq!(s.enter.len(), 2);
        assert!(s.moves.is_empty() && s.leave.is_empty());
    }
}
