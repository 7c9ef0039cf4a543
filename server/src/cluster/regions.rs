//! The world cut into N x N square regions: which region a position lies
//! in, each region's rectangle, its 8-connected neighbours, and its border
//! band (the part of the region within the leave radius of its edge, whose
//! players neighbouring regions must mirror). Pure math, no I/O.

use serde::{Deserialize, Serialize};

pub use crate::game::Rect;

/// A region's column and row, each in `0..n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RegionId {
    /// Column, from the left.
    pub rx: u32,
    /// Row, from the top.
    pub ry: u32,
}

impl RegionId {
    /// The region at column `rx`, row `ry`.
    pub fn new(rx: u32, ry: u32) -> Self {
        Self { rx, ry }
    }
}

/// Why a region layout cannot exist.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegionsError {
    /// N must be at least 1 and at most 64.
    #[error("--regions must be between 1 and 64, not {0}")]
    Count(u32),
    /// The world must have a positive finite size.
    #[error("the world size must be positive, not {0} x {1}")]
    World(f64, f64),
}

/// N x N regions over a `width` x `height` world.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Regions {
    n: u32,
    width: f64,
    height: f64,
}

impl Regions {
    /// The layout of `n` x `n` regions over the world.
    pub fn new(n: u32, width: f64, height: f64) -> Result<Self, RegionsError> {
        if !(1..=64).contains(&n) {
            return Err(RegionsError::Count(n));
        }
        if !(width.is_finite() && height.is_finite() && width > 0.0 && height > 0.0) {
            return Err(RegionsError::World(width, height));
        }
        Ok(Self { n, width, height })
    }

    /// Regions per side.
    pub fn per_side(&self) -> u32 {
        self.n
    }

    /// Every region, row by row.
    pub fn all(&self) -> impl Iterator<Item = RegionId> + '_ {
        (0..self.n).flat_map(move |ry| (0..self.n).map(move |rx| RegionId::new(rx, ry)))
    }

    /// Whether `region` is part of this layout (bad input from another node
    /// is checked with this before use).
    pub fn is_valid(&self, region: RegionId) -> bool {
        region.rx < self.n && region.ry < self.n
    }

    /// A region's index `ry * n + rx` (the mirror source of its players).
    pub fn index(&self, region: RegionId) -> u32 {
        region.ry * self.n + region.rx
    }

    /// The region a position lies in; positions outside the world (or not
    /// finite) are clamped to the nearest region.
    pub fn region_of(&self, x: f64, y: f64) -> RegionId {
        let cell = |v: f64, size: f64| -> u32 {
            if !v.is_finite() || v <= 0.0 {
                return 0;
            }
            let i = (v / size * f64::from(self.n)).floor();
            (i as u32).min(self.n - 1)
        };
        RegionId::new(cell(x, self.width), cell(y, self.height))
    }

    /// A region's rectangle. The last column and row reach the world edge.
    pub fn rect(&self, region: RegionId) -> Rect {
        let w = self.width / f64::from(self.n);
        let h = self.height / f64::from(self.n);
        let edge = |i: u32, size: f64, total: f64| {
            if i + 1 >= self.n {
                total
            } else {
                f64::from(i + 1) * size
            }
        };
        Rect {
            min_x: f64::from(region.rx) * w,
            min_y: f64::from(region.ry) * h,
            max_x: edge(region.rx, w, self.width),
            max_y: edge(region.ry, h, self.height),
        }
    }

    /// The 8-connected neighbours inside the world, sorted.
    pub fn neighbours(&self, region: RegionId) -> Vec<RegionId> {
        let mut out = Vec::with_capacity(8);
        for dy in -1i64..=1 {
            for dx in -1i64..=1 {
                if dx == 0 && dy == 0 {
                    continue;
                }
                let (x, y) = (i64::from(region.rx) + dx, i64::from(region.ry) + dy);
                if (0..i64::from(self.n)).contains(&x) && (0..i64::from(self.n)).contains(&y) {
                    out.push(RegionId::new(x as u32, y as u32));
                }
            }
        }
        out.sort();
        out
    }

    /// The border band of `region` for a leave radius: `(outer, inner)`, the
    /// region's rectangle and that rectangle shrunk by `leave_radius`. Local
    /// players in outer but not inner are those a neighbour must mirror.
    pub fn border_band(&self, region: RegionId, leave_radius: f64) -> (Rect, Rect) {
        let outer = self.rect(region);
        (outer, outer.shrunk(leave_radius.max(0.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_map_to_regions_and_back_into_their_rects() {
        let r = Regions::new(2, 4096.0, 4096.0).unwrap();
        assert_eq!(r.region_of(0.0, 0.0), RegionId::new(0, 0));
        assert_eq!(r.region_of(2047.9, 10.0), RegionId::new(0, 0));
        assert_eq!(r.region_of(2048.0, 10.0), RegionId::new(1, 0));
        assert_eq!(r.region_of(4096.0, 4096.0), RegionId::new(1, 1));
        assert_eq!(r.region_of(-5.0, f64::NAN), RegionId::new(0, 0));
        assert_eq!(r.region_of(1e9, 3000.0), RegionId::new(1, 1));
        let r3 = Regions::new(3, 1000.0, 1000.0).unwrap();
        for (x, y) in [(0.0, 0.0), (333.3, 666.7), (999.9, 999.9), (500.0, 1.0)] {
            let id = r3.region_of(x, y);
            assert!(r3.rect(id).contains(x, y), "({x},{y}) not in {id:?}");
        }
        assert_eq!(r3.rect(RegionId::new(2, 2)).max_x, 1000.0);
        assert_eq!(r3.all().count(), 9);
        assert_eq!(r3.index(RegionId::new(1, 2)), 7);
    }

    #[test]
    fn neighbours_are_eight_connected_and_clipped_at_the_edge() {
        let r = Regions::new(3, 300.0, 300.0).unwrap();
        assert_eq!(r.neighbours(RegionId::new(1, 1)).len(), 8);
        assert_eq!(
            r.neighbours(RegionId::new(0, 0)),
            vec![
                RegionId::new(0, 1),
                RegionId::new(1, 0),
                RegionId::new(1, 1)
            ]
        );
        assert!(Regions::new(1, 1.0, 1.0)
            .unwrap()
            .neighbours(RegionId::new(0, 0))
            .is_empty());
    }

    #[test]
    fn border_band_is_the_rect_minus_the_inner_rect() {
        let r = Regions::new(2, 4096.0, 4096.0).unwrap();
        let (outer, inner) = r.border_band(RegionId::new(0, 0), 700.0);
        assert_eq!(inner.min_x, 700.0);
        assert_eq!(inner.max_x, 2048.0 - 700.0);
        assert!(outer.contains(1500.0, 1000.0) && !inner.contains(1500.0, 1000.0));
        assert!(inner.contains(1000.0, 1000.0));
        let (_, tiny) = r.border_band(RegionId::new(0, 0), 5000.0);
        assert!(tiny.min_x <= tiny.max_x && tiny.min_y <= tiny.max_y);
    }

    #[test]
    fn nonsense_layouts_are_refused() {
        assert!(Regions::new(0, 10.0, 10.0).is_err());
        assert!(Regions::new(65, 10.0, 10.0).is_err());
        assert!(Regions::new(2, f64::NAN, 10.0).is_err());
        assert!(Regions::new(2, 10.0, 0.0).is_err());
        let r = Regions::new(2, 10.0, 10.0).unwrap();
        assert!(r.is_valid(RegionId::new(1, 1)) && !r.is_valid(RegionId::new(2, 0)));
    }
}
