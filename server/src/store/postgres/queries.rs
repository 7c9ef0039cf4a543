//! The PostgreSQL SQL: one async function per operation over a borrowed
//! client or transaction, shared by the server's [`super::PgStore`] and the
//! admin CLI's [`super::admin::PgAdmin`]. The same operations, rules and
//! return values as the SQLite `store::queries` and `store::events`; where
//! several servers share the database the differences are named (presence
//! per server, kicks from another server's login). Must not build pools,
//! spawn tasks or decide retry policy.

use std::collections::HashMap;
use std::time::SystemTime;

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;

use crate::game::{PlayerId, SavedPosition};
use crate::store::events::{AdminEvent, AdminEventKind, PRESENCE_STALE_AFTER};
use crate::store::ids::{row_id, InvalidId};
use crate::store::{
    from_millis, to_millis, Account, BatchOutcome, BotAccount, Reset, ResetOutcome, ResetTarget,
    StoreError, UserSummary,
};

type Result<T> = std::result::Result<T, StoreError>;

/// `kicked` reason for a socket whose account logged in on another server
/// (the same words as a second login on one server).
pub const KICK_LOGGED_IN_ELSEWHERE: &str = "logged in elsewhere";

/// Admin events older than this are pruned when a new one is appended.
const EVENT_RETENTION: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

const ACCOUNT_COLUMNS: &str = "a.id, a.username, a.password_phc, a.created_at";

fn account_from_row(row: &Row) -> Result<Account> {
    Ok(Account {
        id: player_id(row.try_get(0)?)?,
        username: row.try_get(1)?,
        password_phc: row.try_get(2)?,
        created_at: from_millis(row.try_get(3)?),
    })
}

/// The one place a [`PlayerId`] (u64) becomes PostgreSQL's BIGINT, checked.
fn sql_id(id: PlayerId) -> Result<i64> {
    i64::try_from(id).map_err(|_| StoreError::InvalidId(InvalidId::TooLarge(id)))
}

/// A BIGINT id read back as a [`PlayerId`]; a non-positive one means a
/// corrupt database.
fn player_id(raw: i64) -> Result<PlayerId> {
    row_id(raw).map_err(StoreError::InvalidId)
}

fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

pub(crate) async fn create_account(
    client: &impl GenericClient,
    username: &str,
    password_phc: &str,
    now: SystemTime,
) -> Result<PlayerId> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO accounts (username, password_phc, created_at) VALUES ($1, $2, $3)
             RETURNING id",
        )
        .await?;
    match client
        .query_one(&stmt, &[&username, &password_phc, &to_millis(now)])
        .await
    {
        Ok(row) => Ok(player_id(row.try_get(0)?)?),
        Err(err) if err.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            Err(StoreError::UsernameTaken)
        }
        Err(err) => Err(err.into()),
    }
}

pub(crate) async fn account_by_username(
    client: &impl GenericClient,
    username: &str,
) -> Result<Option<Account>> {
    let sql =
        format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE lower(a.username) = lower($1)");
    let stmt = client.prepare_cached(&sql).await?;
    match client.query_opt(&stmt, &[&username]).await? {
        Some(row) => Ok(Some(account_from_row(&row)?)),
        None => Ok(None),
    }
}

async fn account_id_by_username(client: &impl GenericClient, username: &str) -> Result<PlayerId> {
    let stmt = client
        .prepare_cached("SELECT id FROM accounts WHERE lower(username) = lower($1)")
        .await?;
    match client.query_opt(&stmt, &[&username]).await? {
        Some(row) => Ok(player_id(row.try_get(0)?)?),
        None => Err(StoreError::UnknownUser(username.to_owned())),
    }
}

/// Inserts a session inside the caller's transaction, stamps `last_seen`
/// and keeps at most `max_per_account` sessions, the new one included.
async fn insert_session(
    tx: &Transaction<'_>,
    account_id: PlayerId,
    token_hash: &[u8; 32],
    now: SystemTime,
    expires_at: SystemTime,
    max_per_account: u32,
) -> Result<()> {
    let now = to_millis(now);
    let token: &[u8] = token_hash;
    let insert = tx
        .prepare_cached(
            "INSERT INTO sessions (token_hash, account_id, created_at, expires_at)
             SELECT $1::bytea, id, $3::bigint, $4::bigint FROM accounts WHERE id = $2",
        )
        .await?;
    let inserted = tx
        .execute(
            &insert,
            &[&token, &sql_id(account_id)?, &now, &to_millis(expires_at)],
        )
        .await?;
    if inserted == 0 {
        return Err(StoreError::UnknownAccount(account_id));
    }
    let touch = tx
        .prepare_cached("UPDATE accounts SET last_seen = $2 WHERE id = $1")
        .await?;
    tx.execute(&touch, &[&sql_id(account_id)?, &now]).await?;
    let trim = tx
        .prepare_cached(
            "DELETE FROM sessions WHERE account_id = $1 AND token_hash NOT IN (
                 SELECT token_hash FROM sessions WHERE account_id = $1
                 ORDER BY token_hash = $2 DESC, created_at DESC LIMIT $3)",
        )
        .await?;
    let keep = i64::from(max_per_account.max(1));
    tx.execute(&trim, &[&sql_id(account_id)?, &token, &keep])
        .await?;
    Ok(())
}

pub(crate) async fn create_session(
    client: &mut deadpool_postgres::Client,
    account_id: PlayerId,
    token_hash: &[u8; 32],
    now: SystemTime,
    expires_at: SystemTime,
    max_per_account: u32,
) -> Result<()> {
    let tx = client.transaction().await?;
    insert_session(
        &tx,
        account_id,
        token_hash,
        now,
        expires_at,
        max_per_account,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn session_account(
    client: &impl GenericClient,
    token_hash: &[u8; 32],
    now: SystemTime,
) -> Result<Option<Account>> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM sessions s JOIN accounts a ON a.id = s.account_id
         WHERE s.token_hash = $1 AND s.expires_at > $2"
    );
    let stmt = client.prepare_cached(&sql).await?;
    let token: &[u8] = token_hash;
    match client.query_opt(&stmt, &[&token, &to_millis(now)]).await? {
        Some(row) => Ok(Some(account_from_row(&row)?)),
        None => Ok(None),
    }
}

pub(crate) async fn delete_session(
    client: &impl GenericClient,
    token_hash: &[u8; 32],
) -> Result<Option<PlayerId>> {
    let stmt = client
        .prepare_cached("DELETE FROM sessions WHERE token_hash = $1 RETURNING account_id")
        .await?;
    let token: &[u8] = token_hash;
    match client.query_opt(&stmt, &[&token]).await? {
        Some(row) => Ok(Some(player_id(row.try_get(0)?)?)),
        None => Ok(None),
    }
}

pub(crate) async fn delete_account_sessions(
    client: &impl GenericClient,
    account_id: PlayerId,
) -> Result<usize> {
    let stmt = client
        .prepare_cached("DELETE FROM sessions WHERE account_id = $1")
        .await?;
    Ok(count(client.execute(&stmt, &[&sql_id(account_id)?]).await?))
}

pub(crate) async fn purge_expired_sessions(
    client: &impl GenericClient,
    now: SystemTime,
) -> Result<usize> {
    let stmt = client
        .prepare_cached("DELETE FROM sessions WHERE expires_at <= $1")
        .await?;
    Ok(count(client.execute(&stmt, &[&to_millis(now)]).await?))
}

pub(crate) async fn load_position(
    client: &impl GenericClient,
    account_id: PlayerId,
) -> Result<Option<SavedPosition>> {
    let stmt = client
        .prepare_cached("SELECT x, y, reset_epoch FROM positions WHERE account_id = $1")
        .await?;
    match client.query_opt(&stmt, &[&sql_id(account_id)?]).await? {
        Some(row) => Ok(Some(SavedPosition {
            id: account_id,
            x: row.try_get(0)?,
            y: row.try_get(1)?,
            reset_epoch: row.try_get(2)?,
        })),
        None => Ok(None),
    }
}

/// Writes a batch of saves as ONE statement in one transaction: the saves go
/// in as four arrays, `unnest` turns them into rows, deleted accounts fall
/// out of the join, and the upsert lands a save only if the stored row's
/// reset epoch is not newer. Rows are taken in account order so that two
/// servers' flushes and an admin `reset --all` lock rows in the same order.
/// `read_only` runs the transaction READ ONLY (fault injection), so it fails
/// as a read-only database would.
pub(crate) async fn write_positions(
    client: &mut deadpool_postgres::Client,
    saves: &[SavedPosition],
    now: SystemTime,
    read_only: bool,
) -> Result<BatchOutcome> {
    let mut outcome = BatchOutcome::default();
    let mut sorted: Vec<&SavedPosition> = saves
        .iter()
        .filter(|save| {
            let finite = save.x.is_finite() && save.y.is_finite();
            if !finite {
                tracing::warn!(account = %save.id, x = save.x, y = save.y, "dropping a position save with a non-finite coordinate");
                outcome.dropped += 1;
            }
            finite
        })
        .collect();
    sorted.sort_unstable_by_key(|save| save.id);
    let ids: Vec<i64> = sorted.iter().map(|s| sql_id(s.id)).collect::<Result<_>>()?;
    let xs: Vec<f64> = sorted.iter().map(|s| s.x).collect();
    let ys: Vec<f64> = sorted.iter().map(|s| s.y).collect();
    let epochs: Vec<i64> = sorted.iter().map(|s| s.reset_epoch).collect();
    let tx = client
        .build_transaction()
        .read_only(read_only)
        .start()
        .await?;
    let stmt = tx
        .prepare_cached(
            "WITH saved AS (
                 INSERT INTO positions (account_id, x, y, reset_epoch, updated_at)
                 SELECT s.account_id, s.x, s.y, s.reset_epoch, $5::bigint
                 FROM unnest($1::bigint[], $2::float8[], $3::float8[], $4::bigint[])
                      AS s (account_id, x, y, reset_epoch)
                 JOIN accounts a ON a.id = s.account_id
                 ORDER BY s.account_id
                 ON CONFLICT (account_id) DO UPDATE
                     SET x = EXCLUDED.x, y = EXCLUDED.y, updated_at = EXCLUDED.updated_at
                     WHERE positions.reset_epoch <= EXCLUDED.reset_epoch
                 RETURNING account_id
             ), touched AS (
                 UPDATE accounts SET last_seen = $5 WHERE id IN (SELECT account_id FROM saved)
             )
             SELECT count(*) FROM saved",
        )
        .await?;
    let row = tx
        .query_one(&stmt, &[&ids, &xs, &ys, &epochs, &to_millis(now)])
        .await?;
    tx.commit().await?;
    let written: i64 = row.try_get(0)?;
    outcome.written = u64::try_from(written).unwrap_or(0);
    outcome.skipped = (ids.len() as u64).saturating_sub(outcome.written);
    Ok(outcome)
}

pub(crate) async fn resets_since(client: &impl GenericClient, epoch: i64) -> Result<Vec<Reset>> {
    let stmt = client
        .prepare_cached(
            "SELECT account_id, x, y, reset_epoch FROM positions
             WHERE reset_epoch > $1 ORDER BY reset_epoch, account_id",
        )
        .await?;
    client
        .query(&stmt, &[&epoch])
        .await?
        .iter()
        .map(|row| {
            Ok(Reset {
                account_id: player_id(row.try_get(0)?)?,
                x: row.try_get(1)?,
                y: row.try_get(2)?,
                reset_epoch: row.try_get(3)?,
            })
        })
        .collect()
}

pub(crate) async fn current_reset_epoch(client: &impl GenericClient) -> Result<i64> {
    let stmt = client
        .prepare_cached("SELECT epoch FROM reset_clock WHERE id = 1")
        .await?;
    Ok(client.query_one(&stmt, &[]).await?.try_get(0)?)
}

/// Moves one or all accounts to (x, y) under a fresh reset epoch, in one
/// transaction; the `reset_clock` row lock serialises resets, so they commit
/// in epoch order.
pub(crate) async fn reset_positions(
    client: &mut deadpool_postgres::Client,
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
    let tx = client.transaction().await?;
    let account = match target {
        ResetTarget::User(name) => Some(account_id_by_username(&tx, name).await?),
        ResetTarget::All => None,
    };
    let epoch: i64 = tx
        .query_one(
            "UPDATE reset_clock SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch",
            &[],
        )
        .await?
        .try_get(0)?;
    const SET: &str = "ON CONFLICT (account_id) DO UPDATE SET x = EXCLUDED.x, y = EXCLUDED.y,
         reset_epoch = EXCLUDED.reset_epoch, updated_at = EXCLUDED.updated_at";
    let accounts = match account {
        Some(id) => {
            tx.execute(
                &format!(
                    "INSERT INTO positions (account_id, x, y, reset_epoch, updated_at)
                     VALUES ($1, $2, $3, $4, $5) {SET}"
                ),
                &[&sql_id(id)?, &x, &y, &epoch, &now],
            )
            .await?
        }
        None => {
            tx.execute(
                &format!(
                    "INSERT INTO positions (account_id, x, y, reset_epoch, updated_at)
                     SELECT id, $1::float8, $2::float8, $3::bigint, $4::bigint FROM accounts ORDER BY id {SET}"
                ),
                &[&x, &y, &epoch, &now],
            )
            .await?
        }
    };
    tx.commit().await?;
    Ok(ResetOutcome {
        epoch,
        accounts: count(accounts),
    })
}

pub(crate) async fn list_users(
    client: &impl GenericClient,
    now: SystemTime,
) -> Result<Vec<UserSummary>> {
    let stmt = client
        .prepare_cached(
            "SELECT a.id, a.username, a.created_at, a.last_seen, p.x, p.y, p.reset_epoch,
                    (SELECT count(*) FROM sessions s
                     WHERE s.account_id = a.id AND s.expires_at > $1)
             FROM accounts a LEFT JOIN positions p ON p.account_id = a.id
             ORDER BY lower(a.username)",
        )
        .await?;
    client
        .query(&stmt, &[&to_millis(now)])
        .await?
        .iter()
        .map(|row| {
            let x: Option<f64> = row.try_get(4)?;
            let y: Option<f64> = row.try_get(5)?;
            let epoch: Option<i64> = row.try_get(6)?;
            let id = player_id(row.try_get(0)?)?;
            let position = match (x, y, epoch) {
                (Some(x), Some(y), Some(reset_epoch)) => Some(SavedPosition {
                    id,
                    x,
                    y,
                    reset_epoch,
                }),
                _ => None,
            };
            let sessions: i64 = row.try_get(7)?;
            Ok(UserSummary {
                id,
                username: row.try_get(1)?,
                created_at: from_millis(row.try_get(2)?),
                last_seen: row.try_get::<_, Option<i64>>(3)?.map(from_millis),
                position,
                active_sessions: u64::try_from(sessions).unwrap_or(0),
                online_since: None,
            })
        })
        .collect()
}

/// Creates (or reuses) bot accounts and gives each a token, all in one
/// transaction.
pub(crate) async fn create_bots(
    client: &mut deadpool_postgres::Client,
    bots: &[BotAccount],
    now: SystemTime,
    max_sessions_per_account: u32,
) -> Result<Vec<PlayerId>> {
    let tx = client.transaction().await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO accounts (username, password_phc, created_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .await?;
    let mut ids = Vec::with_capacity(bots.len());
    for bot in bots {
        tx.execute(
            &insert,
            &[&bot.username, &bot.password_phc, &to_millis(now)],
        )
        .await?;
        let id = account_id_by_username(&tx, &bot.username).await?;
        insert_session(
            &tx,
            id,
            &bot.token_hash,
            now,
            bot.expires_at,
            max_sessions_per_account,
        )
        .await?;
        ids.push(id);
    }
    tx.commit().await?;
    Ok(ids)
}

/// Appends a kick (inside the caller's transaction) and prunes events past
/// their retention. The EXCLUSIVE table lock, held until commit, makes ids
/// commit in increasing order (readers are not blocked), so a server's
/// `id > cursor` poll never skips an event that committed late.
async fn append_kicks(
    tx: &Transaction<'_>,
    accounts: &[i64],
    reason: &str,
    origin_server: Option<&str>,
    now: SystemTime,
) -> Result<()> {
    tx.batch_execute("LOCK TABLE admin_events IN EXCLUSIVE MODE")
        .await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO admin_events (account_id, kind, reason, origin_server, created_at)
             SELECT id, 'kick', $2::text, $3::text, $4::bigint FROM unnest($1::bigint[]) AS k (id) ORDER BY id",
        )
        .await?;
    tx.execute(
        &insert,
        &[&accounts, &reason, &origin_server, &to_millis(now)],
    )
    .await?;
    let horizon = to_millis(now.checked_sub(EVENT_RETENTION).unwrap_or(now));
    let prune = tx
        .prepare_cached("DELETE FROM admin_events WHERE created_at < $1")
        .await?;
    tx.execute(&prune, &[&horizon]).await?;
    Ok(())
}

/// Deletes the named account (sessions, position and presence go with it)
/// and queues a kick of its socket, in one transaction.
pub(crate) async fn delete_account_and_kick(
    client: &mut deadpool_postgres::Client,
    username: &str,
    reason: &str,
    now: SystemTime,
) -> Result<PlayerId> {
    let tx = client.transaction().await?;
    let stmt = tx
        .prepare_cached("DELETE FROM accounts WHERE lower(username) = lower($1) RETURNING id")
        .await?;
    let id = match tx.query_opt(&stmt, &[&username]).await? {
        Some(row) => player_id(row.try_get(0)?)?,
        None => return Err(StoreError::UnknownUser(username.to_owned())),
    };
    append_kicks(&tx, &[sql_id(id)?], reason, None, now).await?;
    tx.commit().await?;
    Ok(id)
}

/// Deletes every session of the named account and queues a kick of its
/// socket, in one transaction; returns the account and how many sessions.
pub(crate) async fn revoke_tokens_and_kick(
    client: &mut deadpool_postgres::Client,
    username: &str,
    reason: &str,
    now: SystemTime,
) -> Result<(PlayerId, usize)> {
    let tx = client.transaction().await?;
    let id = account_id_by_username(&tx, username).await?;
    let revoked = delete_account_sessions(&tx, id).await?;
    append_kicks(&tx, &[sql_id(id)?], reason, None, now).await?;
    tx.commit().await?;
    Ok((id, revoked))
}

/// Events with an id greater than `after`, oldest first, at most `limit`,
/// leaving out those `own_server` queued itself.
pub(crate) async fn admin_events_since(
    client: &impl GenericClient,
    after: i64,
    limit: usize,
    own_server: &str,
) -> Result<Vec<AdminEvent>> {
    let stmt = client
        .prepare_cached(
            "SELECT id, account_id, kind, reason FROM admin_events
             WHERE id > $1 AND origin_server IS DISTINCT FROM $3::text ORDER BY id LIMIT $2",
        )
        .await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut events = Vec::new();
    for row in client.query(&stmt, &[&after, &limit, &own_server]).await? {
        let kind: String = row.try_get(2)?;
        // The CHECK constraint admits only 'kick'.
        if kind == "kick" {
            events.push(AdminEvent {
                id: row.try_get(0)?,
                account_id: player_id(row.try_get(1)?)?,
                kind: AdminEventKind::Kick {
                    reason: row.try_get(3)?,
                },
            });
        }
    }
    Ok(events)
}

/// The newest event id (0 if none).
pub(crate) async fn last_admin_event_id(client: &impl GenericClient) -> Result<i64> {
    let stmt = client
        .prepare_cached("SELECT coalesce(max(id), 0)::bigint FROM admin_events")
        .await?;
    Ok(client.query_one(&stmt, &[]).await?.try_get(0)?)
}

/// Applies this server's presence diff and refreshes its heartbeat, in one
/// transaction. `start` forgets this server's earlier rows. An account that
/// joins here while another live server has it online gets a kick queued
/// for the earlier of the two logins: the later login wins, as on one
/// server, where "later" is the time each socket was bound (published
/// within a 250 ms poll of it connecting), whichever server publishes
/// first.
pub(crate) async fn sync_presence(
    client: &mut deadpool_postgres::Client,
    server_id: &str,
    start: bool,
    joined: &[(PlayerId, SystemTime)],
    left: &[PlayerId],
    now: SystemTime,
) -> Result<()> {
    let now_ms = to_millis(now);
    let fresh_after = to_millis(now.checked_sub(PRESENCE_STALE_AFTER).unwrap_or(now));
    let tx = client.transaction().await?;
    if start {
        tx.execute("DELETE FROM presence WHERE server_id = $1", &[&server_id])
            .await?;
        // Servers gone for a day leave their heartbeat row behind: forget it.
        let long_gone = to_millis(now.checked_sub(EVENT_RETENTION).unwrap_or(now));
        tx.execute("DELETE FROM servers WHERE heartbeat_at < $1", &[&long_gone])
            .await?;
    }
    if !left.is_empty() {
        let ids: Vec<i64> = left.iter().map(|&id| sql_id(id)).collect::<Result<_>>()?;
        let stmt = tx
            .prepare_cached("DELETE FROM presence WHERE server_id = $1 AND account_id = ANY($2)")
            .await?;
        tx.execute(&stmt, &[&server_id, &ids]).await?;
    }
    if !joined.is_empty() {
        // Presence syncs that add rows take turns (the mode conflicts with
        // itself, not with readers), so of two servers publishing the same
        // account the second always sees the first's committed row. The
        // later login (by `online_since`, the time its socket was bound)
        // wins whichever server publishes first: a row older than ours on
        // a live server gets a kick and is replaced; a newer one stays (a
        // sync that waited for the lock may carry a login that has already
        // moved on, e.g. a player handed to another cluster node).
        tx.batch_execute("LOCK TABLE presence IN SHARE ROW EXCLUSIVE MODE")
            .await?;
        let ids: Vec<i64> = joined
            .iter()
            .map(|&(id, _)| sql_id(id))
            .collect::<Result<_>>()?;
        let since: Vec<i64> = joined.iter().map(|(_, at)| to_millis(*at)).collect();
        // Live rows elsewhere for the accounts joining here, with their
        // login times: an older one is kicked (queued by this server, so
        // the others act on it); a newer one means our login is the stale
        // one, so its kick is queued as if by that row's server (which
        // skips it) and reaches this server.
        let elsewhere = tx
            .prepare_cached(
                "SELECT p.account_id, p.server_id, p.online_since < j.since FROM presence p
                 JOIN servers s ON s.server_id = p.server_id
                 JOIN unnest($1::bigint[], $4::bigint[]) AS j (id, since) ON j.id = p.account_id
                 WHERE p.server_id <> $2 AND s.heartbeat_at >= $3 AND p.online_since <> j.since",
            )
            .await?;
        let mut kicked = Vec::new();
        let mut superseded: HashMap<String, Vec<i64>> = HashMap::new();
        for row in tx
            .query(&elsewhere, &[&ids, &server_id, &fresh_after, &since])
            .await?
        {
            let account: i64 = row.try_get(0)?;
            if row.try_get::<_, bool>(2)? {
                kicked.push(account);
            } else {
                superseded.entry(row.try_get(1)?).or_default().push(account);
            }
        }
        if !kicked.is_empty() {
            append_kicks(&tx, &kicked, KICK_LOGGED_IN_ELSEWHERE, Some(server_id), now).await?;
        }
        for (holder, accounts) in &superseded {
            append_kicks(&tx, accounts, KICK_LOGGED_IN_ELSEWHERE, Some(holder), now).await?;
        }
        let add = tx
            .prepare_cached(
                "INSERT INTO presence (account_id, server_id, online_since)
                 SELECT j.id, $1::text, j.since
                 FROM unnest($2::bigint[], $3::bigint[]) AS j (id, since)
                 JOIN accounts a ON a.id = j.id
                 ORDER BY j.id
                 ON CONFLICT (account_id) DO UPDATE
                     SET server_id = EXCLUDED.server_id, online_since = EXCLUDED.online_since
                     WHERE presence.online_since <= EXCLUDED.online_since
                        OR NOT EXISTS (SELECT 1 FROM servers s
                                       WHERE s.server_id = presence.server_id
                                         AND s.heartbeat_at >= $4)",
            )
            .await?;
        tx.execute(&add, &[&server_id, &ids, &since, &fresh_after])
            .await?;
    }
    let beat = tx
        .prepare_cached(
            "INSERT INTO servers (server_id, started_at, heartbeat_at) VALUES ($1, $2, $2)
             ON CONFLICT (server_id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at",
        )
        .await?;
    tx.execute(&beat, &[&server_id, &now_ms]).await?;
    tx.commit().await?;
    Ok(())
}

/// Forgets this server's presence rows and heartbeat (graceful stop).
pub(crate) async fn clear_presence(
    client: &mut deadpool_postgres::Client,
    server_id: &str,
) -> Result<()> {
    let tx = client.transaction().await?;
    tx.execute("DELETE FROM presence WHERE server_id = $1", &[&server_id])
        .await?;
    tx.execute("DELETE FROM servers WHERE server_id = $1", &[&server_id])
        .await?;
    tx.commit().await?;
    Ok(())
}

/// When each online account came online, on any server whose heartbeat is
/// fresh at `now`.
pub(crate) async fn online_accounts(
    client: &impl GenericClient,
    now: SystemTime,
) -> Result<Vec<(PlayerId, SystemTime)>> {
    let fresh_after = to_millis(now.checked_sub(PRESENCE_STALE_AFTER).unwrap_or(now));
    let stmt = client
        .prepare_cached(
            "SELECT p.account_id, p.online_since FROM presence p
             JOIN servers s ON s.server_id = p.server_id WHERE s.heartbeat_at >= $1",
        )
        .await?;
    client
        .query(&stmt, &[&fresh_after])
        .await?
        .iter()
        .map(|row| Ok((player_id(row.try_get(0)?)?, from_millis(row.try_get(1)?))))
        .collect()
}
