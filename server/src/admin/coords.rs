//! Parsing the admin CLI's coordinates (`--to X,Y`, `--near X,Y`,
//! `--radius R`) and checking them against the world. Pure functions over
//! strings; the error strings are the one-line messages the CLI prints. Must
//! not open the database.

use glam::DVec2;

/// Parses `X,Y` (decimal numbers, optional spaces around each) into a point
/// inside the square world `[0, world_size]²`.
pub fn parse_point(text: &str, world_size: f64) -> Result<DVec2, String> {
    let mut parts = text.split(',');
    let (Some(x), Some(y), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "invalid coordinates {text:?}: expected X,Y, e.g. 2048,2048"
        ));
    };
    let number = |part: &str, axis: &str| -> Result<f64, String> {
        let value: f64 = part
            .trim()
            .parse()
            .map_err(|_| format!("invalid coordinates {text:?}: {axis} is not a number"))?;
        if value.is_finite() {
            Ok(value)
        } else {
            Err(format!(
                "invalid coordinates {text:?}: {axis} is not a finite number"
            ))
        }
    };
    let point = DVec2::new(number(x, "X")?, number(y, "Y")?);
    let inside = |v: f64| (0.0..=world_size).contains(&v);
    if !inside(point.x) || !inside(point.y) {
        return Err(format!(
            "invalid coordinates {text:?}: outside the world (0 to {world_size} on each axis; see --world-size)"
        ));
    }
    Ok(point)
}

/// Parses a search radius: a finite number greater than zero.
pub fn parse_radius(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "invalid radius {text:?}: expected a number greater than 0"
        )),
    }
}

/// The spawn point of new accounts and resets: the world centre.
pub fn spawn_point(world_size: f64) -> DVec2 {
    DVec2::splat(world_size / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_points_inside_the_world_and_its_edges() {
        assert_eq!(
            parse_point("10.5, 20", 4096.0).unwrap(),
            DVec2::new(10.5, 20.0)
        );
        assert_eq!(
            parse_point("0,4096", 4096.0).unwrap(),
            DVec2::new(0.0, 4096.0)
        );
        assert_eq!(spawn_point(4096.0), DVec2::new(2048.0, 2048.0));
    }

    #[test]
    fn rejects_points_outside_the_world() {
        for bad in ["-1,5", "5,4096.01", "5000,10", "1e9,1"] {
            let err = parse_point(bad, 4096.0).unwrap_err();
            assert!(err.contains("outside the world"), "{bad}: {err}");
        }
    }

    #[test]
    fn rejects_non_finite_coordinates() {
        for bad in ["NaN,1", "1,nan", "inf,0", "0,-infinity"] {
            let err = parse_point(bad, 4096.0).unwrap_err();
            assert!(err.contains("finite"), "{bad}: {err}");
        }
    }

    #[test]
    fn rejects_garbage_coordinates() {
        for bad in ["", "abc", "1", "1,2,3", "1;2", "x,1", "1,", ",1", "0x10,1"] {
            assert!(parse_point(bad, 4096.0).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_non_positive_or_garbage_radius() {
        assert_eq!(parse_radius("100").unwrap(), 100.0);
        for bad in ["0", "-5", "NaN", "inf", "far", ""] {
            assert!(parse_radius(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_are_one_line() {
        let err = parse_point("a\nb,1", 4096.0).unwrap_err();
        assert!(!err.contains('\n'), "{err}");
    }
}
