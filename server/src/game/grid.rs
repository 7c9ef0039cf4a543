//! [`InterestGrid`]: a uniform grid of power-of-two cells over the world,
//! rebuilt from all player positions once per tick (a counting sort, O(n)),
//! answering "who is near this point" by scanning the few cell rows that
//! overlap the query square. Each row's cells are contiguous in memory, so a
//! query touches a handful of contiguous slices. Owns no player state and no
//! view rules.
//!
//! Stacks: players standing at exactly the same point (every new account
//! joins at the spawn point) are grouped. A crowded cell is sorted by
//! (position, id), and each entry knows how many entries from it on share
//! its position with ascending ids ([`GridEntry::run`]), so a view can take a
//! whole stack's nearest ids at once instead of looking at every member.
//! The same order (by x first) lets a query in a crowd read only the part of
//! a crowded cell within its reach ([`InterestGrid::crowd_rows_near`]).

use glam::DVec2;

use super::PlayerId;

/// Cells per axis are capped so a huge world with few players stays cheap.
const MAX_CELLS_PER_AXIS: usize = 1024;

/// A cell with more entries than this is sorted by (position, id) at each
/// rebuild so its stacks are contiguous; smaller cells are left in slot
/// order (their stacks, if any, still count where they happen to be
/// contiguous with ascending ids).
const SORT_CELLS_ABOVE: usize = 64;

/// One player as the grid stores it: enough for distance tests and the
/// tie-break without touching the player table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridEntry {
    /// Authoritative position at the last rebuild.
    pub pos: DVec2,
    /// Player id (the tie-break for equal distances).
    pub id: PlayerId,
    /// Index of the player in the world's player table.
    pub slot: u32,
    /// Set by [`InterestGrid::rebuild`]: how many entries, this one
    /// included, follow contiguously at exactly this position with ascending
    /// ids (1 when the next entry is elsewhere).
    pub run: u32,
}

impl GridEntry {
    /// An entry for [`InterestGrid::rebuild`].
    pub fn new(pos: DVec2, id: PlayerId, slot: u32) -> Self {
        Self {
            pos,
            id,
            slot,
            run: 1,
        }
    }
}

/// The grid. Cells are `cell_size` squares (a power of two), row-major.
#[derive(Debug, Clone)]
pub struct InterestGrid {
    /// Side of one cell in world units, a power of two.
    cell_size: f64,
    /// Number of cell columns (covers x = width too).
    cols: usize,
    /// Number of cell rows (covers y = height too).
    rows: usize,
    /// `starts[c]..starts[c + 1]` is cell `c`'s range in `entries`.
    starts: Vec<u32>,
    /// All entries, grouped by cell, cells in row-major order.
    entries: Vec<GridEntry>,
    /// Rebuild scratch: each entry with its cell index, before sorting.
    staging: Vec<(u32, GridEntry)>,
    /// Rebuild scratch: each cell's next free index in `entries`.
    cursor: Vec<u32>,
    /// Per player slot: its index in `entries` (`u32::MAX`: not in the grid).
    entry_of_slot: Vec<u32>,
    /// Per entry: the index of the first entry of its run (its stack).
    run_start: Vec<u32>,
    /// `stacked[c]` is the number of cells before `c` (row-major) holding
    /// a stack of two or more, so a row slice knows whether it has any.
    stacked: Vec<u32>,
    /// Whether any cell was sorted at the last rebuild (is crowded): only
    /// then do queries look for cells to trim.
    sorted_cells: bool,
    /// `changed[c]` is the number of cells before `c` (row-major) marked
    /// by [`InterestGrid::set_changed`], so a row knows whether it has any.
    changed: Vec<u32>,
}

impl InterestGrid {
    /// A grid over a `width` x `height` world whose cells are the smallest
    /// power of two at least `cell_hint` (grown if the world would need more
    /// than 1024 cells per axis).
    pub fn new(width: f64, height: f64, cell_hint: f64) -> Self {
        let mut cell_size = 1.0_f64;
        while cell_size < cell_hint {
            cell_size *= 2.0;
        }
        let cells_for = |len: f64, cell: f64| (len / cell).floor() as usize + 1;
        while cells_for(width, cell_size) > MAX_CELLS_PER_AXIS
            || cells_for(height, cell_size) > MAX_CELLS_PER_AXIS
        {
            cell_size *= 2.0;
        }
        let cols = cells_for(width, cell_size);
        let rows = cells_for(height, cell_size);
        Self {
            cell_size,
            cols,
            rows,
            starts: vec![0; cols * rows + 1],
            entries: Vec::new(),
            staging: Vec::new(),
            cursor: Vec::new(),
            entry_of_slot: Vec::new(),
            run_start: Vec::new(),
            stacked: vec![0; cols * rows + 1],
            sorted_cells: false,
            changed: vec![0; cols * rows + 1],
        }
    }

    /// Side of one cell in world units.
    pub fn cell_size(&self) -> f64 {
        self.cell_size
    }

    /// Number of entries in the grid.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every entry, grouped by cell (positions as of the last rebuild).
    pub fn entries(&self) -> &[GridEntry] {
        &self.entries
    }

    /// Whether the grid holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[inline]
    fn axis_cell(&self, v: f64, cells: usize) -> usize {
        // `cells` is at most 1024, so i32 is wide enough; the cast truncates
        // (floor for v >= 0) and saturates, NaN becomes 0.
        let c = (v / self.cell_size) as i32;
        c.clamp(0, cells as i32 - 1) as usize
    }

    /// Row-major index of the cell holding `p` (grid order).
    pub(crate) fn cell_index(&self, p: DVec2) -> u32 {
        let cx = self.axis_cell(p.x, self.cols);
        let cy = self.axis_cell(p.y, self.rows);
        (cy * self.cols + cx) as u32
    }

    /// Replaces the contents with `entries` (positions must lie in the world;
    /// points outside land in the border cells).
    pub fn rebuild(&mut self, entries: impl IntoIterator<Item = GridEntry>) {
        self.staging.clear();
        for e in entries {
            let cx = self.axis_cell(e.pos.x, self.cols);
            let cy = self.axis_cell(e.pos.y, self.rows);
            self.staging.push(((cy * self.cols + cx) as u32, e));
        }
        self.starts.iter_mut().for_each(|s| *s = 0);
        for (cell, _) in &self.staging {
            self.starts[*cell as usize + 1] += 1;
        }
        for i in 1..self.starts.len() {
            self.starts[i] += self.starts[i - 1];
        }
        // Place each entry at its cell's next free index.
        self.cursor.clear();
        self.cursor
            .extend_from_slice(&self.starts[..self.starts.len() - 1]);
        self.entries.clear();
        self.entries
            .resize(self.staging.len(), GridEntry::new(DVec2::ZERO, 0, 0));
        for (cell, e) in &self.staging {
            let at = &mut self.cursor[*cell as usize];
            self.entries[*at as usize] = *e;
            *at += 1;
        }
        self.sorted_cells = false;
        for c in 0..self.starts.len() - 1 {
            let (from, to) = (self.starts[c] as usize, self.starts[c + 1] as usize);
            if to - from > SORT_CELLS_ABOVE {
                self.sorted_cells = true;
                // Positions in the world are finite and >= 0, so their bit
                // patterns order like the numbers (`+ 0.0` makes a -0.0 a
                // 0.0). Queries rely on the order by x (see `CrowdRowsNear`).
                self.entries[from..to].sort_unstable_by_key(|e| {
                    ((e.pos.x + 0.0).to_bits(), (e.pos.y + 0.0).to_bits(), e.id)
                });
            }
        }
        let mut run = 0;
        for i in (0..self.entries.len()).rev() {
            let continues = self.entries.get(i + 1).is_some_and(|next| {
                let e = &self.entries[i];
                next.pos == e.pos && next.id > e.id
            });
            run = if continues { run + 1 } else { 1 };
            self.entries[i].run = run;
        }
        for c in 0..self.starts.len() - 1 {
            let cell = &self.entries[self.starts[c] as usize..self.starts[c + 1] as usize];
            let has = cell.iter().any(|e| e.run > 1);
            self.stacked[c + 1] = self.stacked[c] + u32::from(has);
        }
        self.run_start.clear();
        self.entry_of_slot.clear();
        for (i, e) in self.entries.iter().enumerate() {
            let start = match i.checked_sub(1) {
                Some(prev) if self.entries[prev].run == e.run + 1 => self.run_start[prev],
                _ => i as u32,
            };
            self.run_start.push(start);
            let slot = e.slot as usize;
            if slot >= self.entry_of_slot.len() {
                self.entry_of_slot.resize(slot + 1, u32::MAX);
            }
            self.entry_of_slot[slot] = i as u32;
        }
    }

    /// Whether two or more entries stand at one point anywhere (a stack).
    pub(crate) fn has_stacks(&self) -> bool {
        self.stacked.last().is_some_and(|&cells| cells > 0)
    }

    /// One more than the largest slot in the grid.
    pub(crate) fn slots(&self) -> usize {
        self.entry_of_slot.len()
    }

    /// The stack the player in `slot` stands in: the index of its first
    /// entry, its point and its size (1 when alone); `None` if the slot is
    /// not in the grid.
    pub(crate) fn stack_of_slot(&self, slot: u32) -> Option<(u32, DVec2, u32)> {
        let &i = self.entry_of_slot.get(slot as usize)?;
        let start = *self.run_start.get(i as usize)?;
        let first = &self.entries[start as usize];
        Some((start, first.pos, first.run))
    }

    /// The entries of every cell overlapping the disc of `radius` around
    /// `center`, one contiguous slice per cell row (each row trimmed to the
    /// disc's extent in that row). Callers test the exact distance.
    #[inline]
    pub fn rows_near(&self, center: DVec2, radius: f64) -> RowsNear<'_> {
        RowsNear {
            grid: self,
            center,
            r2: radius * radius,
            row: self.axis_cell(center.y - radius, self.rows),
            last: self.axis_cell(center.y + radius, self.rows),
            stacks: false,
        }
    }

    /// Whether any cell was sorted (crowded) at the last rebuild: only then
    /// does [`InterestGrid::crowd_rows_near`] read less than
    /// [`InterestGrid::rows_near`].
    #[inline(always)]
    pub fn has_sorted_cells(&self) -> bool {
        self.sorted_cells
    }

    /// [`InterestGrid::rows_near`], except that a row holding a sorted
    /// (crowded) cell comes cell by cell, each sorted cell trimmed by binary
    /// search to its entries within the disc's x-extent in that row: a crowd
    /// costs a query what is near, not the whole cell.
    #[inline]
    pub fn crowd_rows_near(&self, center: DVec2, radius: f64) -> CrowdRowsNear<'_> {
        CrowdRowsNear {
            rows: self.rows_near(center, radius),
            cell: 0,
            cell_end: 0,
            x_range: (0.0, 0.0),
        }
    }

    /// Marks the cells holding `points` as changed (replacing earlier
    /// marks): the world marks where a player appeared, moved or vanished
    /// this tick, so [`InterestGrid::changed_near`] tells a viewer whose
    /// whole neighbourhood stood still.
    pub(crate) fn set_changed(&mut self, points: impl IntoIterator<Item = DVec2>) {
        self.changed.iter_mut().for_each(|c| *c = 0);
        for p in points {
            let cell = self.cell_index(p) as usize;
            self.changed[cell + 1] = 1;
        }
        for c in 1..self.changed.len() {
            self.changed[c] += self.changed[c - 1];
        }
    }

    /// Whether any cell overlapping the disc of `radius` around `center`
    /// was marked by the last [`InterestGrid::set_changed`].
    pub(crate) fn changed_near(&self, center: DVec2, radius: f64) -> bool {
        let mut rows = self.rows_near(center, radius);
        while let Some((c0, c1)) = rows.next_cells() {
            if self.changed[c1] != self.changed[c0] {
                return true;
            }
        }
        false
    }

    /// The grid entry of the player in `slot`, if it is in the grid.
    #[inline(always)]
    pub(crate) fn entry_of(&self, slot: u32) -> Option<&GridEntry> {
        let &i = self.entry_of_slot.get(slot as usize)?;
        self.entries.get(i as usize)
    }

    /// Calls `f` for every entry within `radius` (inclusive) of `center`.
    pub fn for_each_within(&self, center: DVec2, radius: f64, mut f: impl FnMut(&GridEntry)) {
        let r2 = radius * radius;
        for row in self.rows_near(center, radius) {
            for e in row {
                if e.pos.distance_squared(center) <= r2 {
                    f(e);
                }
            }
        }
    }
}

/// The slices of grid entries a query reads, and whether the last one
/// held a stack ([`RowsNear`], [`CrowdRowsNear`]).
pub trait EntrySlices<'g>: Iterator<Item = &'g [GridEntry]> {
    /// Whether the slice last yielded holds a stack of two or more (see
    /// [`GridEntry::run`]); slices without one can be read entry by entry.
    fn last_had_stacks(&self) -> bool;
}

/// Iterator of [`InterestGrid::rows_near`].
#[derive(Debug, Clone)]
pub struct RowsNear<'g> {
    grid: &'g InterestGrid,
    center: DVec2,
    /// The radius, squared.
    r2: f64,
    /// Next row to yield.
    row: usize,
    /// Last row to yield.
    last: usize,
    /// Whether the last slice yielded has a stack of two or more.
    stacks: bool,
}

impl<'g> EntrySlices<'g> for RowsNear<'g> {
    #[inline(always)]
    fn last_had_stacks(&self) -> bool {
        self.stacks
    }
}

impl RowsNear<'_> {
    /// The next row's cells overlapping the disc, as a row-major range
    /// `(first, end)` (`end` exclusive), and the half-width of the disc's
    /// x-extent in it.
    #[inline(always)]
    fn next_row(&mut self) -> Option<(usize, usize, f64)> {
        if self.row > self.last {
            return None;
        }
        let g = self.grid;
        let cy = self.row;
        self.row += 1;
        // Distance from the centre to the row's nearest y.
        let top = cy as f64 * g.cell_size;
        let bottom = top + g.cell_size;
        let dy = (top - self.center.y).max(self.center.y - bottom).max(0.0);
        let half = (self.r2 - dy * dy).max(0.0).sqrt();
        let x0 = g.axis_cell(self.center.x - half, g.cols);
        let x1 = g.axis_cell(self.center.x + half, g.cols);
        Some((cy * g.cols + x0, cy * g.cols + x1 + 1, half))
    }

    /// The next row's cells overlapping the disc, as a row-major range
    /// `(first, end)` (`end` exclusive).
    #[inline(always)]
    fn next_cells(&mut self) -> Option<(usize, usize)> {
        self.next_row().map(|(c0, c1, _)| (c0, c1))
    }
}

impl<'g> Iterator for RowsNear<'g> {
    type Item = &'g [GridEntry];

    #[inline(always)]
    fn next(&mut self) -> Option<&'g [GridEntry]> {
        let (c0, c1) = self.next_cells()?;
        let g = self.grid;
        self.stacks = g.stacked[c1] != g.stacked[c0];
        Some(&g.entries[g.starts[c0] as usize..g.starts[c1] as usize])
    }
}

/// Iterator of [`InterestGrid::crowd_rows_near`].
#[derive(Debug, Clone)]
pub struct CrowdRowsNear<'g> {
    rows: RowsNear<'g>,
    /// A crowded row walked cell by cell: the next cell to yield, and the
    /// row's end (exclusive); equal when no row is being walked.
    cell: usize,
    cell_end: usize,
    /// The disc's x-extent in the row being walked, inclusive.
    x_range: (f64, f64),
}

impl<'g> EntrySlices<'g> for CrowdRowsNear<'g> {
    #[inline(always)]
    fn last_had_stacks(&self) -> bool {
        self.rows.stacks
    }
}

impl<'g> CrowdRowsNear<'g> {
    /// The next cell of the crowded row being walked, trimmed if sorted;
    /// `None` at the row's end. Empty cells are skipped.
    #[inline(always)]
    fn next_cell_of_row(&mut self) -> Option<&'g [GridEntry]> {
        let g: &'g InterestGrid = self.rows.grid;
        while self.cell < self.cell_end {
            let c = self.cell;
            self.cell += 1;
            let cell = &g.entries[g.starts[c] as usize..g.starts[c + 1] as usize];
            if cell.is_empty() {
                continue;
            }
            self.rows.stacks = g.stacked[c + 1] != g.stacked[c];
            if cell.len() <= SORT_CELLS_ABOVE {
                return Some(cell);
            }
            // Sorted by x first: the entries within the x-extent are one
            // run, and a stack (one position) is never cut.
            let (lo, hi) = self.x_range;
            let from = cell.partition_point(|e| e.pos.x < lo);
            let to = from + cell[from..].partition_point(|e| e.pos.x <= hi);
            if from < to {
                return Some(&cell[from..to]);
            }
        }
        None
    }
}

impl<'g> Iterator for CrowdRowsNear<'g> {
    type Item = &'g [GridEntry];

    fn next(&mut self) -> Option<&'g [GridEntry]> {
        loop {
            if let Some(cell) = self.next_cell_of_row() {
                return Some(cell);
            }
            let (c0, c1, half) = self.rows.next_row()?;
            let g = self.rows.grid;
            let (from, to) = (g.starts[c0] as usize, g.starts[c1] as usize);
            if to - from <= SORT_CELLS_ABOVE {
                // No sorted cell in it: the whole row at once.
                self.rows.stacks = g.stacked[c1] != g.stacked[c0];
                return Some(&g.entries[from..to]);
            }
            self.cell = c0;
            self.cell_end = c1;
            let x = self.rows.center.x;
            self.x_range = (x - half, x + half);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(x: f64, y: f64, id: u64) -> GridEntry {
        GridEntry::new(DVec2::new(x, y), id, id as u32)
    }

    #[test]
    fn stacks_are_contiguous_runs_with_ascending_ids() {
        let mut grid = InterestGrid::new(1000.0, 1000.0, 100.0);
        // 200 at one point (a sorted cell), interleaved with 100 elsewhere
        // in that cell, plus a two-stack in a small cell with ids descending.
        let mut pts = Vec::new();
        for i in 0..300u64 {
            let id = 1000 - i;
            pts.push(if i % 3 == 2 {
                entry(550.0 + i as f64 * 0.1, 550.0, id)
            } else {
                entry(550.0, 550.0, id)
            });
        }
        pts.push(entry(10.0, 10.0, 2));
        pts.push(entry(10.0, 10.0, 1));
        grid.rebuild(pts);
        let e = grid.entries();
        let start = e.iter().position(|e| e.pos == DVec2::splat(550.0)).unwrap();
        assert_eq!(e[start].run, 200);
        let ids: Vec<u64> = e[start..start + 200].iter().map(|e| e.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(e[start + 199].run, 1);
        // Descending ids in an unsorted cell are two runs of one.
        for x in e.iter().filter(|e| e.pos == DVec2::splat(10.0)) {
            assert_eq!(x.run, 1);
            assert_eq!(grid.stack_of_slot(x.slot).unwrap().2, 1);
        }
        let last = e[start + 199];
        assert_eq!(
            grid.stack_of_slot(last.slot),
            Some((start as u32, DVec2::splat(550.0), 200))
        );
    }

    #[test]
    fn cell_size_is_a_power_of_two_at_least_the_hint() {
        assert_eq!(InterestGrid::new(4096.0, 4096.0, 175.0).cell_size(), 256.0);
        assert_eq!(InterestGrid::new(4096.0, 4096.0, 256.0).cell_size(), 256.0);
        // 4096 / 4 + 1 cells would exceed the per-axis cap.
        assert_eq!(InterestGrid::new(4096.0, 4096.0, 0.0).cell_size(), 8.0);
        // A huge world grows the cells instead of allocating millions.
        assert!(InterestGrid::new(1e7, 1e7, 1.0).cell_size() >= 1e7 / 1024.0);
    }

    #[test]
    fn finds_exactly_the_points_within_radius() {
        let mut grid = InterestGrid::new(4096.0, 4096.0, 256.0);
        let pts: Vec<GridEntry> = (0..2000u64)
            .map(|i| {
                let x = ((i * 7919) % 4097) as f64;
                let y = ((i * 104_729) % 4097) as f64;
                entry(x, y, i)
            })
            .collect();
        grid.rebuild(pts.iter().copied());
        assert_eq!(grid.len(), pts.len());
        for center in [
            DVec2::new(0.0, 0.0),
            DVec2::new(2048.0, 2048.0),
            DVec2::new(4096.0, 4096.0),
            DVec2::new(100.0, 4000.0),
        ] {
            let mut got = Vec::new();
            grid.for_each_within(center, 700.0, |e| got.push(e.id));
            got.sort_unstable();
            let mut want: Vec<u64> = pts
                .iter()
                .filter(|e| e.pos.distance_squared(center) <= 700.0 * 700.0)
                .map(|e| e.id)
                .collect();
            want.sort_unstable();
            assert_eq!(got, want, "center {center}");
        }
    }

    #[test]
    fn crowded_cells_are_trimmed_to_the_disc_without_losing_or_cutting_anyone() {
        // Crowds in sorted cells (over `SORT_CELLS_ABOVE`), across cell
        // borders, with stacks and a -0.0, beside sparse cells.
        let mut grid = InterestGrid::new(4096.0, 4096.0, 256.0);
        let mut pts = Vec::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for id in 0..3000u64 {
            let pos = match id % 10 {
                0..=5 => DVec2::new(
                    2048.0 + 100.0 * next() - 50.0,
                    2048.0 + 100.0 * next() - 50.0,
                ),
                6 => DVec2::new(2000.0, 2100.0), // a stack
                7 => DVec2::new(if id % 20 == 7 { -0.0 } else { 0.0 }, 300.0 * next()),
                _ => DVec2::new(4096.0 * next(), 4096.0 * next()),
            };
            pts.push(entry(pos.x, pos.y, id));
        }
        grid.rebuild(pts.iter().copied());
        for _ in 0..300 {
            let center = if next() < 0.7 {
                DVec2::new(1950.0 + 200.0 * next(), 1950.0 + 200.0 * next())
            } else {
                DVec2::new(300.0 * next(), 300.0 * next())
            };
            let radius = 700.0 * next() * next();
            let mut got = Vec::new();
            let mut rows = grid.crowd_rows_near(center, radius);
            while let Some(slice) = rows.next() {
                let has_stack = slice.iter().any(|e| e.run > 1);
                assert!(!has_stack || rows.last_had_stacks(), "a stack unflagged");
                let mut i = 0;
                while i < slice.len() {
                    let run = slice[i].run as usize;
                    assert!(i + run <= slice.len(), "a stack cut at {center} r {radius}");
                    i += 1;
                }
                got.extend(
                    slice
                        .iter()
                        .filter(|e| e.pos.distance_squared(center) <= radius * radius)
                        .map(|e| e.id),
                );
            }
            got.sort_unstable();
            let mut want: Vec<u64> = pts
                .iter()
                .filter(|e| e.pos.distance_squared(center) <= radius * radius)
                .map(|e| e.id)
                .collect();
            want.sort_unstable();
            assert_eq!(got, want, "center {center} radius {radius}");
        }
        // Trimmed: near the crowd's centre, a small disc reads a few of the
        // 1,800 players around it, not its cells' hundreds.
        assert!(grid.has_sorted_cells());
        let at = DVec2::splat(2040.0);
        let trimmed: usize = grid.crowd_rows_near(at, 5.0).map(<[_]>::len).sum();
        let whole: usize = grid.rows_near(at, 5.0).map(<[_]>::len).sum();
        assert!(trimmed < 100 && whole > 300, "read {trimmed} of {whole}");
    }

    #[test]
    fn changed_near_sees_marks_in_the_cells_the_disc_meets() {
        let mut grid = InterestGrid::new(4096.0, 4096.0, 256.0);
        grid.rebuild([entry(100.0, 100.0, 1)]);
        grid.set_changed([DVec2::new(1000.0, 1000.0)]);
        assert!(grid.changed_near(DVec2::new(1000.0, 1000.0), 10.0));
        // The disc reaches the marked cell [768, 1024) only from within 600.
        assert!(grid.changed_near(DVec2::new(1600.0, 900.0), 600.0));
        assert!(!grid.changed_near(DVec2::new(1700.0, 900.0), 600.0));
        assert!(!grid.changed_near(DVec2::new(100.0, 100.0), 600.0));
        // Marks are replaced, not added to.
        grid.set_changed([DVec2::new(100.0, 100.0)]);
        assert!(!grid.changed_near(DVec2::new(1000.0, 1000.0), 10.0));
        assert!(grid.changed_near(DVec2::new(100.0, 100.0), 0.0));
    }

    #[test]
    fn rebuild_replaces_previous_contents() {
        let mut grid = InterestGrid::new(1000.0, 1000.0, 100.0);
        grid.rebuild([entry(10.0, 10.0, 1), entry(900.0, 900.0, 2)]);
        grid.rebuild([entry(500.0, 500.0, 3)]);
        let mut got = Vec::new();
        grid.for_each_within(DVec2::new(500.0, 500.0), 2000.0, |e| got.push(e.id));
        assert_eq!(got, vec![3]);
    }
}
