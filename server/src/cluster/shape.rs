//! The cluster shape every node must share (regions per side, world size),
//! stored once in Redis as `locus:cluster` (`SET NX`); a node whose own
//! shape differs is refused at start with one clear line.

use serde::{Deserialize, Serialize};

/// The Redis key holding the shape.
pub const SHAPE_KEY: &str = "locus:cluster";

/// What every node of one cluster must agree on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClusterShape {
    /// Regions per side.
    pub regions: u32,
    /// World width.
    pub world_w: f64,
    /// World height.
    pub world_h: f64,
}

impl ClusterShape {
    /// The JSON stored under [`SHAPE_KEY`].
    pub fn to_json(&self) -> String {
        serde_json::json!({"regions": self.regions, "world_w": self.world_w, "world_h": self.world_h})
            .to_string()
    }

    /// Checks `stored` (the value found under [`SHAPE_KEY`]) against this
    /// node's shape: `Err` with the line to print when it does not decode
    /// or differs.
    pub fn check_against(&self, stored: &str) -> Result<(), String> {
        let theirs: ClusterShape = serde_json::from_str(stored).map_err(|e| {
            format!("the cluster's shape in Redis ({SHAPE_KEY}) does not decode: {e}")
        })?;
        if theirs == *self {
            Ok(())
        } else {
            Err(format!(
                "this node does not fit the cluster: it has --regions {} and a {} x {} world, \
                 the cluster has --regions {} and a {} x {} world",
                self.regions,
                self.world_w,
                self.world_h,
                theirs.regions,
                theirs.world_w,
                theirs.world_h
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_shape_fits_and_another_is_refused_with_both_shapes_named() {
        let mine = ClusterShape {
            regions: 2,
            world_w: 4096.0,
            world_h: 4096.0,
        };
        assert_eq!(mine.check_against(&mine.to_json()), Ok(()));
        let other = ClusterShape { regions: 3, ..mine };
        let error = mine.check_against(&other.to_json()).unwrap_err();
        assert!(
            error.contains("--regions 2") && error.contains("--regions 3"),
            "{error}"
        );
        assert!(mine
            .check_against("not json")
            .unwrap_err()
            .contains("does not decode"));
    }
}
