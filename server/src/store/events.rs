//! The SQL of `migrations/0002_admin_events.sql`: the admin event queue the
//! CLI appends to and the server polls (kicks of deleted or revoked
//! accounts), and the presence table the server keeps and the CLI reads.
//! Functions over a borrowed connection, like `queries`; must not open
//! connections, spawn threads or decide when to poll.

use std::time::{Duration, SystemTime};

use rusqlite::{params, Connection, OptionalExtension};

use super::ids::SqlId;
use super::{from_millis, queries, to_millis, StoreError};
use crate::game::PlayerId;

type Result<T> = std::result::Result<T, StoreError>;

/// A server that has not refreshed its heartbeat for this long is taken as
/// gone: its presence rows read as offline. Three heartbeats.
pub const PRESENCE_STALE_AFTER: Duration = Duration::from_secs(15);

/// How often a running server refreshes its heartbeat even when nobody
/// joined or left.
pub const PRESENCE_HEARTBEAT: Duration = Duration::from_secs(5);

/// Admin events older than this are pruned when the CLI appends a new one;
/// a running server acts on an event within a second.
const EVENT_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Something the admin CLI asks a running server to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminEvent {
    /// Queue position; poll again with the largest one seen.
    pub id: i64,
    /// The account concerned (it may no longer exist).
    pub account_id: PlayerId,
    /// What to do.
    pub kind: AdminEventKind,
}

/// What an [`AdminEvent`] asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminEventKind {
    /// Disconnect the account's socket with `kicked {"reason"}`.
    Kick {
        /// The `kicked` reason, e.g. "account deleted".
        reason: String,
    },
}

/// Appends a kick event inside the caller's transaction and prunes events
/// past their retention.
pub(crate) fn append_kick(
    conn: &Connection,
    account_id: PlayerId,
    reason: &str,
    now: SystemTime,
) -> Result<()> {
    let now_ms = to_millis(now);
    conn.prepare_cached(
        "INSERT INTO admin_events (account_id, kind, reason, created_at) VALUES (?1, 'kick', ?2, ?3)",
    )?
    .execute(params![SqlId(account_id), reason, now_ms])?;
    let horizon = to_millis(now.checked_sub(EVENT_RETENTION).unwrap_or(now));
    conn.prepare_cached("DELETE FROM admin_events WHERE created_at < ?1")?
        .execute([horizon])?;
    Ok(())
}

/// Deletes the named account (sessions, position and presence go with it)
/// and queues a kick of its socket, in one transaction.
pub(crate) fn delete_account_and_kick(
    conn: &mut Connection,
    username: &str,
    reason: &str,
    now: SystemTime,
) -> Result<PlayerId> {
    let tx = conn.transaction()?;
    let id = queries::delete_account(&tx, username)?;
    append_kick(&tx, id, reason, now)?;
    tx.commit()?;
    Ok(id)
}

/// Deletes every session of the named account and queues a kick of its
/// socket, in one transaction; returns the account and how many sessions.
pub(crate) fn revoke_tokens_and_kick(
    conn: &mut Connection,
    username: &str,
    reason: &str,
    now: SystemTime,
) -> Result<(PlayerId, usize)> {
    let tx = conn.transaction()?;
    let id: PlayerId = tx
        .prepare_cached("SELECT id FROM accounts WHERE username = ?1")?
        .query_row([username], |row| row.get(0))
        .optional()?
        .map(|SqlId(id)| id)
        .ok_or_else(|| StoreError::UnknownUser(username.to_owned()))?;
    let revoked = queries::delete_account_sessions(&tx, id)?;
    append_kick(&tx, id, reason, now)?;
    tx.commit()?;
    Ok((id, revoked))
}

/// Events with an id greater than `after`, oldest first, at most `limit`.
pub(crate) fn admin_events_since(
    conn: &Connection,
    after: i64,
    limit: usize,
) -> Result<Vec<AdminEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, account_id, kind, reason FROM admin_events WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(
        params![after, i64::try_from(limit).unwrap_or(i64::MAX)],
        |row| {
            let kind: String = row.get(2)?;
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, SqlId>(1)?.0,
                kind,
                row.get::<_, String>(3)?,
            ))
        },
    )?;
    let mut events = Vec::new();
    for row in rows {
        let (id, account, kind, reason) = row?;
        // The CHECK constraint admits only 'kick'; anything else would come
        // from a newer binary, whose schema version we would have refused.
        if kind == "kick" {
            events.push(AdminEvent {
                id,
                account_id: account,
                kind: AdminEventKind::Kick { reason },
            });
        }
    }
    Ok(events)
}

/// The newest event id (0 if none): a starting server polls from here, since
/// nobody was online to act on older events.
pub(crate) fn last_admin_event_id(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT coalesce(max(id), 0) FROM admin_events")?
        .query_row([], |row| row.get(0))?)
}

/// Applies a presence diff and refreshes the heartbeat, in one transaction.
/// `start`: forget every earlier row first (server start-up). Joined
/// accounts that no longer exist are skipped.
pub(crate) fn sync_presence(
    conn: &mut Connection,
    start: bool,
    joined: &[(PlayerId, SystemTime)],
    left: &[PlayerId],
    now: SystemTime,
) -> Result<()> {
    let now = to_millis(now);
    let tx = conn.transaction()?;
    if start {
        tx.execute("DELETE FROM presence", [])?;
    }
    {
        let mut remove = tx.prepare_cached("DELETE FROM presence WHERE account_id = ?1")?;
        for id in left {
            remove.execute([SqlId(*id)])?;
        }
        let mut add = tx.prepare_cached(
            "INSERT INTO presence (account_id, online_since)
             SELECT id, ?2 FROM accounts WHERE id = ?1
             ON CONFLICT (account_id) DO UPDATE SET online_since = excluded.online_since",
        )?;
        for (id, since) in joined {
            add.execute(params![SqlId(*id), to_millis(*since)])?;
        }
    }
    tx.prepare_cached(
        "INSERT INTO server_heartbeat (id, started_at, at) VALUES (1, ?1, ?1)
         ON CONFLICT (id) DO UPDATE SET at = excluded.at,
             started_at = CASE WHEN ?2 THEN excluded.started_at ELSE started_at END",
    )?
    .execute(params![now, start])?;
    tx.commit()?;
    Ok(())
}

/// Forgets every presence row and the heartbeat (graceful stop).
pub(crate) fn clear_presence(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM presence", [])?;
    tx.execute("DELETE FROM server_heartbeat", [])?;
    tx.commit()?;
    Ok(())
}

/// When each online account came online, per the presence table, if a
/// server's heartbeat is fresh at `now`; empty otherwise.
pub(crate) fn online_accounts(
    conn: &Connection,
    now: SystemTime,
) -> Result<Vec<(PlayerId, SystemTime)>> {
    let fresh_after = to_millis(now.checked_sub(PRESENCE_STALE_AFTER).unwrap_or(now));
    let mut stmt = conn.prepare_cached(
        "SELECT p.account_id, p.online_since FROM presence p
         WHERE EXISTS (SELECT 1 FROM server_heartbeat h WHERE h.id = 1 AND h.at >= ?1)",
    )?;
    let rows = stmt.query_map([fresh_after], |row| {
        Ok((row.get::<_, SqlId>(0)?.0, from_millis(row.get(1)?)))
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrations;
    use std::path::Path;

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        migrations::migrate(&mut conn, Path::new(":memory:")).unwrap();
        for name in ["alice", "bob"] {
            queries::create_account(&conn, name, "$argon2id$x", SystemTime::now()).unwrap();
        }
        conn
    }

    #[test]
    fn delete_and_revoke_queue_kicks_in_order() {
        let mut conn = db();
        let now = SystemTime::now();
        assert_eq!(last_admin_event_id(&conn).unwrap(), 0);
        let (bob, _) = revoke_tokens_and_kick(&mut conn, "bob", "tokens revoked", now).unwrap();
        let alice = delete_account_and_kick(&mut conn, "ALICE", "account deleted", now).unwrap();
        let events = admin_events_since(&conn, 0, 10).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].account_id, bob);
        assert_eq!(events[1].account_id, alice);
        assert_eq!(
            events[1].kind,
            AdminEventKind::Kick {
                reason: "account deleted".into()
            }
        );
        assert_eq!(
            admin_events_since(&conn, events[0].id, 10).unwrap().len(),
            1
        );
        assert_eq!(last_admin_event_id(&conn).unwrap(), events[1].id);
    }

    #[test]
    fn rejects_unknown_user_without_queueing() {
        let mut conn = db();
        let now = SystemTime::now();
        assert!(matches!(
            delete_account_and_kick(&mut conn, "ghost", "x", now),
            Err(StoreError::UnknownUser(_))
        ));
        assert!(matches!(
            revoke_tokens_and_kick(&mut conn, "ghost", "x", now),
            Err(StoreError::UnknownUser(_))
        ));
        assert!(admin_events_since(&conn, 0, 10).unwrap().is_empty());
    }

    #[test]
    fn old_events_are_pruned_but_ids_never_reused() {
        let mut conn = db();
        let long_ago = SystemTime::now() - 2 * EVENT_RETENTION;
        revoke_tokens_and_kick(&mut conn, "bob", "r", long_ago).unwrap();
        let first = last_admin_event_id(&conn).unwrap();
        revoke_tokens_and_kick(&mut conn, "bob", "r", SystemTime::now()).unwrap();
        let events = admin_events_since(&conn, 0, 10).unwrap();
        assert_eq!(events.len(), 1, "the old event is pruned");
        assert!(events[0].id > first);
    }

    #[test]
    fn presence_counts_only_while_the_heartbeat_is_fresh() {
        let mut conn = db();
        let now = SystemTime::now();
        let (alice, bob): (PlayerId, PlayerId) = (1, 2);
        sync_presence(
            &mut conn,
            true,
            &[(alice, now), (bob, now), (99, now)],
            &[],
            now,
        )
        .unwrap();
        assert_eq!(
            online_accounts(&conn, now).unwrap().len(),
            2,
            "unknown ids skipped"
        );
        sync_presence(&mut conn, false, &[], &[bob], now).unwrap();
        assert_eq!(
            online_accounts(&conn, now).unwrap(),
            vec![(alice, from_millis(to_millis(now)))]
        );
        let later = now + PRESENCE_STALE_AFTER + Duration::from_secs(1);
        assert!(
            online_accounts(&conn, later).unwrap().is_empty(),
            "stale heartbeat"
        );
        sync_presence(&mut conn, true, &[], &[], later).unwrap();
        assert!(
            online_accounts(&conn, later).unwrap().is_empty(),
            "start-up forgets"
        );
        sync_presence(&mut conn, false, &[(bob, later)], &[], later).unwrap();
        clear_presence(&mut conn).unwrap();
        assert!(
            online_accounts(&conn, later).unwrap().is_empty(),
            "graceful stop"
        );
    }
}
