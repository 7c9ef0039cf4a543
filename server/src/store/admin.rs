//! [`AdminStore`]: synchronous access for `locus admin ...`, which runs as a
//! separate process against the same file, possibly while the server runs.
//! Only opens an existing database (a missing file is an error, never a new
//! empty database). Every write is one IMMEDIATE transaction that waits up to
//! the busy timeout for the server's writer and then fails with
//! [`StoreError::Busy`]. Must not be used from async code (it blocks).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rusqlite::Connection;

use crate::game::PlayerId;

use super::open::{self, Mode};
use super::{
    events, queries, Account, BotAccount, ResetOutcome, ResetTarget, StoreConfig, StoreError,
    UserSummary,
};

type Result<T> = std::result::Result<T, StoreError>;

/// `kicked` reason for a player whose account an admin deleted.
pub const KICK_DELETED: &str = "account deleted";
/// `kicked` reason for a player whose tokens an admin revoked.
pub const KICK_REVOKED: &str = "tokens revoked";

/// A blocking connection for admin commands.
pub struct AdminStore {
    /// The connection, set up like the server's (WAL, foreign keys, busy
    /// timeout).
    conn: Connection,
    /// Limits and timeouts (busy timeout for error messages, session cap).
    config: StoreConfig,
    /// The database file, for messages.
    path: PathBuf,
}

impl std::fmt::Debug for AdminStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl AdminStore {
    /// Opens an existing Locus database, with the same refusals as
    /// [`super::Store::open`] plus [`StoreError::Missing`] for a missing or
    /// empty file. Applies pending migrations (same binary as the server).
    pub fn open_existing(path: &Path, config: &StoreConfig) -> Result<AdminStore> {
        let conn = open::open(path, config, Mode::ExistingOnly)?;
        Ok(AdminStore {
            conn,
            config: config.clone(),
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn map<T>(&self, result: Result<T>) -> Result<T> {
        result.map_err(|err| match err {
            StoreError::Sqlite(err) => StoreError::from_sqlite(err, self.config.busy_timeout),
            other => other,
        })
    }

    /// Moves one account, or all, to (x, y) under a fresh reset epoch. A
    /// running server teleports online players within its poll interval and
    /// skips its own stale saves. Fails with [`StoreError::UnknownUser`] for
    /// an unknown name.
    pub fn reset_position(&mut self, target: &ResetTarget, x: f64, y: f64) -> Result<ResetOutcome> {
        let result = queries::reset_positions(&mut self.conn, target, x, y, SystemTime::now());
        self.map(result)
    }

    /// Every account with its stored position and whether a running server
    /// reports it online, ordered by username.
    pub fn list_users(&self) -> Result<Vec<UserSummary>> {
        let now = SystemTime::now();
        let mut users = self.map(queries::list_users(&self.conn, now))?;
        let online: std::collections::HashMap<PlayerId, SystemTime> = self
            .map(events::online_accounts(&self.conn, now))?
            .into_iter()
            .collect();
        for user in &mut users {
            user.online_since = online.get(&user.id).copied();
        }
        Ok(users)
    }

    /// The account of that name (ASCII case ignored), if any.
    pub fn account(&self, username: &str) -> Result<Option<Account>> {
        self.map(queries::account_by_username(&self.conn, username))
    }

    /// When each account a running server reports online came online; empty
    /// when no server runs (or its heartbeat is stale).
    pub fn online_accounts(&self) -> Result<Vec<(PlayerId, SystemTime)>> {
        self.map(events::online_accounts(&self.conn, SystemTime::now()))
    }

    /// Registers an account (the caller validates the name and hashes the
    /// password).
    pub fn create_user(&mut self, username: &str, password_phc: &str) -> Result<PlayerId> {
        let result = queries::create_account(&self.conn, username, password_phc, SystemTime::now());
        self.map(result)
    }

    /// Deletes an account with its sessions and position, and queues a
    /// kick (`kicked {"reason":"account deleted"}`) that a running server
    /// applies to the account's socket within its poll interval; its pending
    /// saves for the account are skipped.
    pub fn delete_user(&mut self, username: &str) -> Result<PlayerId> {
        let result = events::delete_account_and_kick(
            &mut self.conn,
            username,
            KICK_DELETED,
            SystemTime::now(),
        );
        self.map(result)
    }

    /// Revokes every token of an account and queues a kick
    /// (`kicked {"reason":"tokens revoked"}`) of its socket, like a logout;
    /// returns how many tokens.
    pub fn revoke_tokens(&mut self, username: &str) -> Result<usize> {
        let result = events::revoke_tokens_and_kick(
            &mut self.conn,
            username,
            KICK_REVOKED,
            SystemTime::now(),
        );
        self.map(result).map(|(_, revoked)| revoked)
    }

    /// Creates (or reuses, by name) bot accounts and stores one token each,
    /// all in one transaction.
    pub fn create_bots(&mut self, bots: &[BotAccount]) -> Result<Vec<PlayerId>> {
        let max = self.config.max_sessions_per_account;
        let result = queries::create_bots(&mut self.conn, bots, SystemTime::now(), max);
        self.map(result)
    }

    /// Writes a consistent copy of the live database to `dest` with
    /// `VACUUM INTO` (safe while the server writes; never copy the file and
    /// its `-wal` by hand). `dest` must not exist yet.
    pub fn backup_to(&self, dest: &Path) -> Result<()> {
        if dest.exists() {
            return Err(StoreError::InvalidInput(format!(
                "backup destination {} already exists",
                dest.display()
            )));
        }
        let dest = dest.to_str().ok_or_else(|| {
            StoreError::InvalidInput(format!(
                "backup destination {} is not valid UTF-8",
                dest.display()
            ))
        })?;
        let result = self
            .conn
            .execute("VACUUM INTO ?1", [dest])
            .map(drop)
            .map_err(StoreError::from);
        self.map(result)
    }

    /// The newest reset epoch.
    pub fn current_reset_epoch(&self) -> Result<i64> {
        self.map(queries::current_reset_epoch(&self.conn))
    }
}
