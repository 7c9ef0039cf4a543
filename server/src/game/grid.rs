//! [`InterestGrid`]: a uniform grid of power-of-two cells over the world,
//! rebuilt from all player positions once per tick (a counting sort, O(n)),
//! answering "who is near this point" by scanning the few cell rows that
//! overlap the query square. Each row's cells are contiguous in memory, so a
//! query touches a handful of contiguous slices. Owns no player state and no
//! view rules.

use glam::DVec2;

use super::PlayerId;

/// Cells per axis are capped so a huge world with few players stays cheap.
const MAX_CELLS_PER_AXIS: usize = 1024;

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
        self.entries.resize(
            self.staging.len(),
            GridEntry {
                pos: DVec2::ZERO,
                id: 0,
                slot: 0,
            },
        );
        for (cell, e) in &self.staging {
            let at = &mut self.cursor[*cell as usize];
            self.entries[*at as usize] = *e;
            *at += 1;
        }
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
        }
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
}

impl<'g> Iterator for RowsNear<'g> {
    type Item = &'g [GridEntry];

    #[inline(always)]
    fn next(&mut self) -> Option<&'g [GridEntry]> {
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
        let from = g.starts[cy * g.cols + x0] as usize;
        let to = g.starts[cy * g.cols + x1 + 1] as usize;
        Some(&g.entries[from..to])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(x: f64, y: f64, id: u64) -> GridEntry {
        GridEntry {
            pos: DVec2::new(x, y),
            id,
            slot: id as u32,
        }
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
    fn rebuild_replaces_previous_contents() {
        let mut grid = InterestGrid::new(1000.0, 1000.0, 100.0);
        grid.rebuild([entry(10.0, 10.0, 1), entry(900.0, 900.0, 2)]);
        grid.rebuild([entry(500.0, 500.0, 3)]);
        let mut got = Vec::new();
        grid.for_each_within(DVec2::new(500.0, 500.0), 2000.0, |e| got.push(e.id));
        assert_eq!(got, vec![3]);
    }
}
