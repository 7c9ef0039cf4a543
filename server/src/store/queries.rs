//! The SQL: one function per operation over a borrowed connection, shared by
//! the store thread and [`super::AdminStore`]. Every write that touches more
//! than one row runs in a transaction that rolls back on drop. Must not open
//! connections, spawn threads or decide retry policy.
//!
//! Raw SQLite errors come back as [`StoreError::Sqlite`]; the callers turn
//! busy / full / read-only into their named variants.

use std::time::SystemTime;

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::error::{is_unique_violation, sqlite_is_transient};
use super::ids::{row_id, SqlId};
use super::{
    from_millis, to_millis, Account, BatchOutcome, BotAccount, Reset, ResetOutcome, ResetTarget,
    StoreError, UserSummary,
};
use crate::game::{PlayerId, SavedPosition};

type Result<T> = std::result::Result<T, StoreError>;

const ACCOUNT_COLUMNS: &str = "a.id, a.username, a.password_phc, a.created_at";

fn account_from_row(row: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: row.get::<_, SqlId>(0)?.0,
        username: row.get(1)?,
        password_phc: row.get(2)?,
        created_at: from_millis(row.get(3)?),
    })
}

pub(crate) fn create_account(
    conn: &Connection,
    username: &str,
    password_phc: &str,
    now: SystemTime,
) -> Result<PlayerId> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO accounts (username, password_phc, created_at) VALUES (?1, ?2, ?3)",
    )?;
    match stmt.insert(params![username, password_phc, to_millis(now)]) {
        Ok(id) => row_id(id).map_err(StoreError::InvalidId),
        Err(err) if is_unique_violation(&err) => Err(StoreError::UsernameTaken),
        Err(err) => Err(err.into()),
    }
}

pub(crate) fn account_by_username(conn: &Connection, username: &str) -> Result<Option<Account>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.username = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([username], account_from_row)
        .optional()?)
}

fn account_id_by_username(conn: &Connection, username: &str) -> Result<PlayerId> {
    conn.prepare_cached("SELECT id FROM accounts WHERE username = ?1")?
        .query_row([username], |row| row.get(0))
        .optional()?
        .map(|SqlId(id)| id)
        .ok_or_else(|| StoreError::UnknownUser(username.to_owned()))
}

/// Inserts a session (inside the caller's transaction), stamps the account's
/// `last_seen` and keeps at most `max_per_account` sessions, the new one
/// included.
fn insert_session(
    conn: &Connection,
    account_id: PlayerId,
    token_hash: &[u8; 32],
    now: SystemTime,
    expires_at: SystemTime,
    max_per_account: u32,
) -> Result<()> {
    let now = to_millis(now);
    let inserted = conn
        .prepare_cached(
            "INSERT INTO sessions (token_hash, account_id, created_at, expires_at)
             SELECT ?1, id, ?3, ?4 FROM accounts WHERE id = ?2",
        )?
        .execute(params![
            &token_hash[..],
            SqlId(account_id),
            now,
            to_millis(expires_at)
        ])?;
    if inserted == 0 {
        return Err(StoreError::UnknownAccount(account_id));
    }
    conn.prepare_cached("UPDATE accounts SET last_seen = ?2 WHERE id = ?1")?
        .execute(params![SqlId(account_id), now])?;
    conn.prepare_cached(
        "DELETE FROM sessions WHERE account_id = ?1 AND token_hash NOT IN (
             SELECT token_hash FROM sessions WHERE account_id = ?1
             ORDER BY token_hash = ?2 DESC, created_at DESC LIMIT ?3)",
    )?
    .execute(params![
        SqlId(account_id),
        &token_hash[..],
        max_per_account.max(1)
    ])?;
    Ok(())
}

pub(crate) fn create_session(
    conn: &mut Connection,
    account_id: PlayerId,
    token_hash: &[u8; 32],
    now: SystemTime,
    expires_at: SystemTime,
    max_per_account: u32,
) -> Result<()> {
    let tx = conn.transaction()?;
    insert_session(
        &tx,
        account_id,
        token_hash,
        now,
        expires_at,
        max_per_account,
    )?;
    tx.commit()?;
    Ok(())
}

pub(crate) fn session_account(
    conn: &Connection,
    token_hash: &[u8; 32],
    now: SystemTime,
) -> Result<Option<Account>> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM sessions s JOIN accounts a ON a.id = s.account_id
         WHERE s.token_hash = ?1 AND s.expires_at > ?2"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![&token_hash[..], to_millis(now)], account_from_row)
        .optional()?)
}

pub(crate) fn delete_session(conn: &Connection, token_hash: &[u8; 32]) -> Result<Option<PlayerId>> {
    Ok(conn
        .prepare_cached("DELETE FROM sessions WHERE token_hash = ?1 RETURNING account_id")?
        .query_row([&token_hash[..]], |row| row.get(0))
        .optional()?
        .map(|SqlId(id)| id))
}

pub(crate) fn delete_account_sessions(conn: &Connection, account_id: PlayerId) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM sessions WHERE account_id = ?1")?
        .execute([SqlId(account_id)])?)
}

pub(crate) fn purge_expired_sessions(conn: &Connection, now: SystemTime) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
        .execute([to_millis(now)])?)
}

pub(crate) fn load_position(
    conn: &Connection,
    account_id: PlayerId,
) -> Result<Option<SavedPosition>> {
    Ok(conn
        .prepare_cached("SELECT x, y, reset_epoch FROM positions WHERE account_id = ?1")?
        .query_row([SqlId(account_id)], |row| {
            Ok(SavedPosition {
                id: account_id,
                x: row.get(0)?,
                y: row.get(1)?,
                reset_epoch: row.get(2)?,
            })
        })
        .optional()?)
}

/// Writes a batch of saves in one transaction. A save lands only if the
/// stored row's reset epoch is not newer than the save's (see
/// `migrations/0001_init.sql`). A save that cannot ever be stored is dropped
/// with a warning; a transient failure (full, read-only, busy, I/O) aborts
/// and rolls back the whole batch so the caller can retry it.
pub(crate) fn write_positions(
    conn: &mut Connection,
    saves: &[SavedPosition],
    now: SystemTime,
) -> Result<BatchOutcome> {
    let now = to_millis(now);
    let mut outcome = BatchOutcome::default();
    let tx = conn.transaction()?;
    {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO positions (account_id, x, y, reset_epoch, updated_at)
             SELECT ?1, ?2, ?3, ?4, ?5 FROM accounts WHERE id = ?1
             ON CONFLICT (account_id) DO UPDATE
                 SET x = excluded.x, y = excluded.y, updated_at = excluded.updated_at
                 WHERE positions.reset_epoch <= excluded.reset_epoch",
        )?;
        let mut touch = tx.prepare_cached("UPDATE accounts SET last_seen = ?2 WHERE id = ?1")?;
        for save in saves {
            if !save.x.is_finite() || !save.y.is_finite() {
                tracing::warn!(
                    account = save.id,
                    x = save.x,
                    y = save.y,
                    "dropping a position save with a non-finite coordinate"
                );
                outcome.dropped += 1;
                continue;
            }
            let result = upsert
                .execute(params![
                    SqlId(save.id),
                    save.x,
                    save.y,
                    save.reset_epoch,
                    now
                ])
                .and_then(|changed| {
                    if changed > 0 {
                        touch.execute(params![SqlId(save.id), now])?;
                    }
                    Ok(changed)
                });
            match result {
                Ok(0) => outcome.skipped += 1,
                Ok(_) => outcome.written += 1,
                Err(err) if sqlite_is_transient(&err) => return Err(err.into()),
                Err(err) => {
                    tracing::warn!(account = save.id, error = %err, "dropping a position save the database refuses");
                    outcome.dropped += 1;
                }
            }
        }
    }
    tx.commit()?;
    Ok(outcome)
}

pub(crate) fn resets_since(conn: &Connection, epoch: i64) -> Result<Vec<Reset>> {
    let mut stmt = conn.prepare_cached(
        "SELECT account_id, x, y, reset_epoch FROM positions
         WHERE reset_epoch > ?1 ORDER BY reset_epoch, account_id",
    )?;
    let rows = stmt.query_map([epoch], |row| {
        Ok(Reset {
            account_id: row.get::<_, SqlId>(0)?.0,
            x: row.get(1)?,
            y: row.get(2)?,
            reset_epoch: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub(crate) fn current_reset_epoch(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT epoch FROM reset_clock WHERE id = 1")?
        .query_row([], |row| row.get(0))?)
}

/// Moves one or all accounts to (x, y) under a fresh reset epoch, in one
/// transaction: bump `reset_clock`, then write the rows with that epoch.
pub(crate) fn reset_positions(
    conn: &mut Connection,
    target: &ResetTarget,
    x: f64,
    y: f64,
    now: SystemTime,
) -> Result<ResetOutcome> {
    if !x.is_finite() || !y.is_finite() {
        return Err(StoreError::InvalidInput(format!(
            "reset position ({x}, {y}) is not finite"
        )));
    }
    let now = to_millis(now);
    let tx = conn.transaction()?;
    let account = match target {
        ResetTarget::User(name) => Some(account_id_by_username(&tx, name)?),
        ResetTarget::All => None,
    };
    let epoch: i64 = tx.query_row(
        "UPDATE reset_clock SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch",
        [],
        |row| row.get(0),
    )?;
    const SET: &str = "ON CONFLICT (account_id) DO UPDATE SET x = excluded.x, y = excluded.y,
         reset_epoch = excluded.reset_epoch, updated_at = excluded.updated_at";
    let accounts = match account {
        Some(id) => tx.execute(
            &format!(
                "INSERT INTO positions (account_id, x, y, reset_epoch, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) {SET}"
            ),
            params![SqlId(id), x, y, epoch, now],
        )?,
        None => tx.execute(
            &format!(
                "INSERT INTO positions (account_id, x, y, reset_epoch, updated_at)
                 SELECT id, ?1, ?2, ?3, ?4 FROM accounts WHERE true {SET}"
            ),
            params![x, y, epoch, now],
        )?,
    };
    tx.commit()?;
    Ok(ResetOutcome { epoch, accounts })
}

pub(crate) fn list_users(conn: &Connection, now: SystemTime) -> Result<Vec<UserSummary>> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.id, a.username, a.created_at, a.last_seen, p.x, p.y, p.reset_epoch,
                (SELECT count(*) FROM sessions s WHERE s.account_id = a.id AND s.expires_at > ?1)
         FROM accounts a LEFT JOIN positions p ON p.account_id = a.id
         ORDER BY a.username",
    )?;
    let rows = stmt.query_map([to_millis(now)], |row| {
        let x: Option<f64> = row.get(4)?;
        let y: Option<f64> = row.get(5)?;
        let epoch: Option<i64> = row.get(6)?;
        let id = row.get::<_, SqlId>(0)?.0;
        let position = match (x, y, epoch) {
            (Some(x), Some(y), Some(reset_epoch)) => Some(SavedPosition {
                id,
                x,
                y,
                reset_epoch,
            }),
            _ => None,
        };
        Ok(UserSummary {
            id,
            username: row.get(1)?,
            created_at: from_millis(row.get(2)?),
            last_seen: row.get::<_, Option<i64>>(3)?.map(from_millis),
            position,
            active_sessions: row.get::<_, i64>(7)?.try_into().unwrap_or(0),
            online_since: None,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Deletes an account; its sessions and position go with it (cascade).
pub(crate) fn delete_account(conn: &Connection, username: &str) -> Result<PlayerId> {
    conn.prepare_cached("DELETE FROM accounts WHERE username = ?1 RETURNING id")?
        .query_row([username], |row| row.get(0))
        .optional()?
        .map(|SqlId(id)| id)
        .ok_or_else(|| StoreError::UnknownUser(username.to_owned()))
}

/// Creates (or reuses) bot accounts and gives each a token, all in one
/// transaction: either every bot is ready or none changed.
pub(crate) fn create_bots(
    conn: &mut Connection,
    bots: &[BotAccount],
    now: SystemTime,
    max_sessions_per_account: u32,
) -> Result<Vec<PlayerId>> {
    let tx = conn.transaction()?;
    let mut ids = Vec::with_capacity(bots.len());
    for bot in bots {
        tx.prepare_cached(
            "INSERT INTO accounts (username, password_phc, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![bot.username, bot.password_phc, to_millis(now)])?;
        let id = account_id_by_username(&tx, &bot.username)?;
        insert_session(
            &tx,
            id,
            &bot.token_hash,
            now,
            bot.expires_at,
            max_sessions_per_account,
        )?;
        ids.push(id);
    }
    tx.commit()?;
    Ok(ids)
}
