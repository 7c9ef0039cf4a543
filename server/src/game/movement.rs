//! Movement rules as pure functions: keeping a point inside the world and
//! stepping toward a target by at most one tick of speed. No player state,
//! no views: the world applies these.

use glam::DVec2;

/// `p` moved to the nearest point of the world rectangle `[0,size.x] x [0,size.y]`.
/// `p` must be finite.
pub(crate) fn clamp_to_world(p: DVec2, size: DVec2) -> DVec2 {
    p.clamp(DVec2::ZERO, size)
}

/// One tick of movement from `pos` toward `target`, at most `max_step` long.
/// Returns the new position and whether it reached the target.
pub(crate) fn step_toward(pos: DVec2, target: DVec2, max_step: f64) -> (DVec2, bool) {
    let delta = target - pos;
    let dist = delta.length();
    if dist <= max_step {
        (target, true)
    } else {
        (pos + delta * (max_step / dist), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_reaches_a_near_target() {
        let (p, arrived) = step_toward(DVec2::new(10.0, 10.0), DVec2::new(13.0, 14.0), 15.0);
        assert_eq!(p, DVec2::new(13.0, 14.0));
        assert!(arrived);
    }

    #[test]
    fn step_is_capped_for_a_far_target() {
        let (p, arrived) = step_toward(DVec2::ZERO, DVec2::new(3000.0, 4000.0), 15.0);
        assert!(!arrived);
        assert!((p.length() - 15.0).abs() < 1e-9);
        assert!((p.x - 9.0).abs() < 1e-9 && (p.y - 12.0).abs() < 1e-9);
    }

    #[test]
    fn clamp_keeps_points_inside() {
        let size = DVec2::new(4096.0, 4096.0);
        assert_eq!(
            clamp_to_world(DVec2::new(-5.0, 5000.0), size),
            DVec2::new(0.0, 4096.0)
        );
        assert_eq!(
            clamp_to_world(DVec2::new(12.5, 7.0), size),
            DVec2::new(12.5, 7.0)
        );
    }
}
