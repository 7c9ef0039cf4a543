//! One tick's views, found before any of them is delivered: a [`ViewBatch`]
//! holds, for a run of viewers, what each view became (kept as it was,
//! committed without a snapshot, or a delta to send), copied out of the
//! [`ViewScratch`] that computed it. Views can so be computed in parallel
//! over runs of viewers, while snapshots are still delivered and views
//! committed one viewer at a time, in slot order. A batch keeps what a
//! delivered delta needs; the view's members, needed only when a snapshot
//! is refused, are read from a scratch that computes the view again. Knows
//! nothing of players, encoding or delivery.

use super::view::{commit_view, ViewScratch, ViewState};

/// A range of one of a batch's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn of(self, list: &[u32]) -> &[u32] {
        &list[self.start as usize..self.end as usize]
    }
}

/// Where one viewer's delta lies in its batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FoundDelta {
    /// The entering slots, and (same range) the wire indices they take.
    enter: Span,
    /// The slots whose rounded position changed, and their wire indices.
    moves: Span,
    /// Indices into the viewer's `sent` that left the view.
    leave: Span,
}

/// What one viewer's view became this tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Found {
    /// Standing in an unchanged stack at this point: the view and its
    /// client are as they were.
    UnchangedStack((u64, u64)),
    /// Nothing within its leave radius changed: the view is as it was.
    Kept,
    /// Computed: the client already holds it (nothing to send) or gets
    /// `delta`. `point` is the stack point it was taken from, if shared.
    Computed {
        /// The delta to send, or `None` when the client holds the view.
        delta: Option<FoundDelta>,
        /// The size of the view.
        held: u32,
        /// Its `crowd_d2` (see [`ViewState::crowd_d2`]).
        crowd_d2: f64,
        /// The shared stack point it was taken from.
        point: Option<(u64, u64)>,
    },
}

/// The views found for a run of viewers, in slot order.
#[derive(Debug, Default)]
pub(crate) struct ViewBatch {
    /// Per viewer (by slot), what its view became.
    pub(crate) found: Vec<(u32, Found)>,
    enter: Vec<u32>,
    enter_index: Vec<u32>,
    moves: Vec<u32>,
    move_index: Vec<u32>,
    leave: Vec<u32>,
}

/// One viewer's delta, borrowed from its batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeltaRef<'b> {
    /// The entering slots.
    pub(crate) enter: &'b [u32],
    /// Per entering slot: the wire index it takes.
    pub(crate) enter_index: &'b [u32],
    /// The slots whose rounded position changed.
    pub(crate) moves: &'b [u32],
    /// Per moved slot: its wire index.
    pub(crate) move_index: &'b [u32],
    /// Indices into the viewer's `sent` that left the view, ascending.
    pub(crate) leave: &'b [u32],
}

impl ViewBatch {
    /// Empties the batch for a new tick (keeping its memory).
    pub(crate) fn clear(&mut self) {
        self.found.clear();
        for list in [
            &mut self.enter,
            &mut self.enter_index,
            &mut self.moves,
            &mut self.move_index,
            &mut self.leave,
        ] {
            list.clear();
        }
    }

    /// Records `found` for the viewer in `slot`.
    pub(crate) fn push(&mut self, slot: u32, found: Found) {
        self.found.push((slot, found));
    }

    /// Copies the delta `scratch` computed into the batch.
    pub(crate) fn keep_delta(&mut self, scratch: &ViewScratch) -> FoundDelta {
        fn put(list: &mut Vec<u32>, items: impl Iterator<Item = u32>) -> Span {
            let start = list.len() as u32;
            list.extend(items);
            Span {
                start,
                end: list.len() as u32,
            }
        }
        let candidates = &scratch.candidates;
        let enter = put(
            &mut self.enter,
            scratch.enter.iter().map(|&ci| candidates[ci as usize].slot),
        );
        self.enter_index.extend_from_slice(&scratch.enter_index);
        let moves = put(&mut self.moves, scratch.moves.iter().copied());
        self.move_index.extend_from_slice(&scratch.move_index);
        FoundDelta {
            enter,
            moves,
            leave: put(&mut self.leave, scratch.leave.iter().copied()),
        }
    }

    /// The delta recorded as `delta`.
    pub(crate) fn delta(&self, delta: &FoundDelta) -> DeltaRef<'_> {
        DeltaRef {
            enter: delta.enter.of(&self.enter),
            enter_index: delta.enter.of(&self.enter_index),
            moves: delta.moves.of(&self.moves),
            move_index: delta.moves.of(&self.move_index),
            leave: delta.leave.of(&self.leave),
        }
    }
}

impl DeltaRef<'_> {
    /// Commits the view, of `held` players and `crowd_d2`: its snapshot was
    /// delivered.
    pub(crate) fn commit(&self, state: &mut ViewState, held: u32, crowd_d2: f64) {
        let enters = self
            .enter
            .iter()
            .copied()
            .zip(self.enter_index.iter().copied());
        commit_view(state, self.leave, enters, held as usize, crowd_d2);
    }
}

/// Commits a view the client already holds (nothing was sent).
pub(crate) fn commit_held(state: &mut ViewState, held: u32, crowd_d2: f64) {
    commit_view(state, &[], std::iter::empty(), held as usize, crowd_d2);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::view::Candidate;

    #[test]
    fn a_kept_delta_reads_back_as_computed_and_commits_like_its_scratch() {
        let mut scratch = ViewScratch::default();
        scratch.candidates = vec![
            Candidate {
                d2: 1.0,
                id: 10,
                slot: 3,
            },
            Candidate {
                d2: 2.0,
                id: 11,
                slot: 7,
            },
        ];
        scratch.enter = vec![1];
        scratch.enter_index = vec![2];
        scratch.moves = vec![3];
        scratch.move_index = vec![0];
        scratch.leave = vec![1];
        let mut batch = ViewBatch::default();
        // A first viewer's delta before it, so spans do not start at 0.
        let first = batch.keep_delta(&scratch);
        let second = batch.keep_delta(&scratch);
        let d = batch.delta(&second);
        assert_eq!((d.enter, d.enter_index), (&[7][..], &[2][..]));
        assert_eq!((d.moves, d.move_index), (&[3][..], &[0][..]));
        assert_eq!(d.leave, &[1]);
        assert_ne!(first.enter, second.enter);

        let baseline = ViewState {
            sent: vec![3, 5],
            held: 2,
            ..ViewState::default()
        };
        let (mut from_scratch, mut from_batch) = (baseline.clone(), baseline.clone());
        scratch.commit(&mut from_scratch);
        d.commit(&mut from_batch, 2, scratch.crowd_d2());
        assert_eq!(from_batch.sent, vec![3, crate::game::view::FREE, 7]);
        assert_eq!(from_scratch.sent, from_batch.sent);
        assert_eq!(from_scratch.held, from_batch.held);

        batch.clear();
        assert!(batch.found.is_empty() && batch.enter.is_empty());
    }
}
