//! `locus admin users` output: the filter (`--online`, `--near`) and the
//! two renderings, an aligned text table for people and JSON for scripts.
//! Pure functions over [`UserSummary`] rows; must not open the database.

use std::time::{SystemTime, UNIX_EPOCH};

use glam::DVec2;
use serde::Serialize;

use crate::game::PlayerId;
use crate::store::UserSummary;

/// Which accounts to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserFilter {
    /// Only accounts a running server reports online.
    pub online_only: bool,
    /// Only accounts whose position is within this distance of the point.
    pub near: Option<(DVec2, f64)>,
}

/// One account as printed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserRow {
    /// Account (and player) id.
    pub id: PlayerId,
    /// Username as registered.
    pub username: String,
    /// Last stored x (the spawn point for an account never placed).
    pub x: f64,
    /// Last stored y (the spawn point for an account never placed).
    pub y: f64,
    /// False for an account that has never been placed (it starts at the
    /// spawn point).
    pub placed: bool,
    /// Last login or landed position save, RFC 3339 UTC; null if never.
    pub last_seen: Option<String>,
    /// Whether a running server reports the account online.
    pub online: bool,
    /// Since when, RFC 3339 UTC; null when offline.
    pub online_since: Option<String>,
    /// Unexpired tokens.
    pub active_sessions: u64,
}

fn rfc3339(t: SystemTime) -> String {
    // Times before 1970 cannot come from this server; show them as the epoch.
    let t = if t < UNIX_EPOCH { UNIX_EPOCH } else { t };
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The rows to print, in the store's order (by username). Positions are the
/// stored ones: an online player's lags its live one by at most the flush
/// interval.
pub fn rows(users: &[UserSummary], spawn: DVec2, filter: &UserFilter) -> Vec<UserRow> {
    users
        .iter()
        .filter_map(|user| {
            let pos = user.position.map_or(spawn, |p| DVec2::new(p.x, p.y));
            let online = user.online_since.is_some();
            if filter.online_only && !online {
                return None;
            }
            if let Some((centre, radius)) = filter.near {
                if pos.distance(centre) > radius {
                    return None;
                }
            }
            Some(UserRow {
                id: user.id,
                username: user.username.clone(),
                x: pos.x,
                y: pos.y,
                placed: user.position.is_some(),
                last_seen: user.last_seen.map(rfc3339),
                online,
                online_since: user.online_since.map(rfc3339),
                active_sessions: user.active_sessions,
            })
        })
        .collect()
}

/// The rows as a JSON array (one line).
pub fn to_json(rows: &[UserRow]) -> String {
    // Plain structs of numbers and strings: serialising cannot fail.
    serde_json::to_string(rows).unwrap_or_else(|_| "[]".to_owned())
}

/// The rows as an aligned text table with a header line.
pub fn to_table(rows: &[UserRow]) -> String {
    let header = [
        "ID",
        "USERNAME",
        "POSITION",
        "LAST SEEN",
        "ONLINE",
        "TOKENS",
    ];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|row| {
            let position = if row.placed {
                format!("{:.2},{:.2}", row.x, row.y)
            } else {
                format!("{:.2},{:.2} (spawn)", row.x, row.y)
            };
            let online = match &row.online_since {
                Some(since) => format!("yes since {since}"),
                None => "no".to_owned(),
            };
            [
                row.id.to_string(),
                row.username.clone(),
                position,
                row.last_seen.clone().unwrap_or_else(|| "never".to_owned()),
                online,
                row.active_sessions.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for line in &cells {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut push_line = |line: &[&str]| {
        let mut text = String::new();
        for (i, (cell, width)) in line.iter().zip(widths).enumerate() {
            if i + 1 == line.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    push_line(&header);
    for line in &cells {
        let refs: Vec<&str> = line.iter().map(String::as_str).collect();
        push_line(&refs);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::SavedPosition;
    use std::time::Duration;

    fn user(id: PlayerId, name: &str, pos: Option<(f64, f64)>, online: bool) -> UserSummary {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        UserSummary {
            id,
            username: name.to_owned(),
            created_at: t,
            last_seen: pos.map(|_| t),
            position: pos.map(|(x, y)| SavedPosition {
                id,
                x,
                y,
                reset_epoch: 0,
            }),
            active_sessions: 1,
            online_since: online.then_some(t),
        }
    }

    fn users() -> Vec<UserSummary> {
        vec![
            user(1, "alice", Some((100.0, 100.0)), true),
            user(2, "bob", Some((3000.0, 3000.0)), false),
            user(3, "carol", None, false),
        ]
    }

    #[test]
    fn unplaced_accounts_are_at_the_spawn_point() {
        let rows = rows(&users(), DVec2::splat(2048.0), &UserFilter::default());
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (rows[2].x, rows[2].y, rows[2].placed),
            (2048.0, 2048.0, false)
        );
        assert_eq!(rows[0].last_seen.as_deref(), Some("2023-11-14T22:13:20Z"));
    }

    #[test]
    fn filters_online_and_near() {
        let spawn = DVec2::splat(2048.0);
        let online = rows(
            &users(),
            spawn,
            &UserFilter {
                online_only: true,
                near: None,
            },
        );
        assert_eq!(online.iter().map(|r| r.id).collect::<Vec<_>>(), [1]);
        let near = UserFilter {
            online_only: false,
            near: Some((DVec2::splat(2000.0), 100.0)),
        };
        assert_eq!(
            rows(&users(), spawn, &near)
                .iter()
                .map(|r| r.id)
                .collect::<Vec<_>>(),
            [3]
        );
        let none = UserFilter {
            online_only: true,
            near: Some((DVec2::splat(3000.0), 1.0)),
        };
        assert!(rows(&users(), spawn, &none).is_empty());
    }

    #[test]
    fn json_has_the_documented_fields() {
        let rows = rows(&users(), DVec2::splat(2048.0), &UserFilter::default());
        let value: serde_json::Value = serde_json::from_str(&to_json(&rows)).unwrap();
        let alice = &value[0];
        for key in [
            "id",
            "username",
            "x",
            "y",
            "placed",
            "last_seen",
            "online",
            "online_since",
            "active_sessions",
        ] {
            assert!(alice.get(key).is_some(), "missing {key}");
        }
        assert_eq!(alice["online"], true);
        assert_eq!(value[2]["last_seen"], serde_json::Value::Null);
    }

    #[test]
    fn table_is_aligned_with_a_header() {
        let rows = rows(&users(), DVec2::splat(2048.0), &UserFilter::default());
        let table = to_table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("ID  USERNAME"), "{table}");
        let col = lines[0].find("POSITION").unwrap();
        assert_eq!(&lines[3][col..col + 16], "2048.00,2048.00 ");
        assert!(lines[1].contains("yes since"), "{table}");
    }
}
