//! [`Store`]: the one persistence API the server uses, whichever backend
//! runs. A cheap-clone handle that dispatches each call to the SQLite store
//! thread (`super::SqliteStore`) or the PostgreSQL pool
//! (`super::postgres::PgStore`); both keep the same rules (write-behind with
//! merge and retry, health without a round trip, reset epochs, presence,
//! admin events). Must not hold SQL of its own or decide anything per
//! backend beyond dispatching.

use std::path::Path;
use std::time::SystemTime;

use crate::game::{PlayerId, SavedPosition};

use super::postgres::PgStore;
use super::{
    Account, AdminEvent, Database, Reset, Result, SqliteStore, StoreConfig, StoreHealth, WriteFault,
};

/// Handle to the store. Cheap to clone. Call [`Store::close`] at the end
/// (it flushes queued saves); dropping the last SQLite handle flushes too but
/// blocks, and dropping the last PostgreSQL handle lets its writer flush in
/// the background while the runtime lives.
#[derive(Clone, Debug)]
pub struct Store {
    /// Which backend runs.
    backend: Backend,
}

/// The two backends.
#[derive(Clone, Debug)]
enum Backend {
    /// One embedded file, one server.
    Sqlite(SqliteStore),
    /// One database several servers may share.
    Postgres(PgStore),
}

/// Calls the same method on whichever backend runs.
macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match &$self.backend {
            Backend::Sqlite($store) => $call,
            Backend::Postgres($store) => $call,
        }
    };
}

impl Store {
    /// Opens (creating it if missing) the SQLite database at `path`; see
    /// [`Store::connect`] for both backends.
    pub async fn open(path: &Path, config: StoreConfig) -> Result<Store> {
        Ok(Store {
            backend: Backend::Sqlite(SqliteStore::open(path, config).await?),
        })
    }

    /// Opens the database `--db` names: a SQLite file (created if missing,
    /// refused untouched if not ours or too new) or a PostgreSQL database
    /// (connected to with one clear error for a wrong host, password or
    /// database; an empty database gets our schema; another application's or
    /// a newer one is refused untouched). PostgreSQL needs a tokio runtime:
    /// its writer is a task on it.
    pub async fn connect(db: &Database, config: StoreConfig) -> Result<Store> {
        let backend = match db {
            Database::Sqlite(path) => Backend::Sqlite(SqliteStore::open(path, config).await?),
            Database::Postgres(url) => Backend::Postgres(PgStore::connect(url, config).await?),
        };
        Ok(Store { backend })
    }

    /// Which backend runs: `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// This server's id among servers sharing a PostgreSQL database; `None`
    /// on SQLite (one server per file).
    pub fn server_id(&self) -> Option<&str> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(store) => Some(store.server_id()),
        }
    }

    /// Registers an account (validated name, hashed password); fails with
    /// `UsernameTaken` if the name exists in any ASCII case. The account has
    /// no position until its first save.
    pub async fn create_account(&self, username: &str, password_phc: &str) -> Result<PlayerId> {
        dispatch!(self, s => s.create_account(username, password_phc).await)
    }

    /// The account with this username (ASCII case ignored), if any.
    pub async fn account_by_username(&self, username: &str) -> Result<Option<Account>> {
        dispatch!(self, s => s.account_by_username(username).await)
    }

    /// Stores a session under the SHA-256 of its token, records the login as
    /// `last_seen`, and trims the account's oldest sessions beyond
    /// [`StoreConfig::max_sessions_per_account`].
    pub async fn create_session(
        &self,
        account_id: PlayerId,
        token_hash: [u8; 32],
        expires_at: SystemTime,
    ) -> Result<()> {
        dispatch!(self, s => s.create_session(account_id, token_hash, expires_at).await)
    }

    /// The account owning this unexpired session, if any.
    pub async fn session_account(
        &self,
        token_hash: [u8; 32],
        now: SystemTime,
    ) -> Result<Option<Account>> {
        dispatch!(self, s => s.session_account(token_hash, now).await)
    }

    /// Deletes the session (logout); returns its account, if it existed.
    pub async fn delete_session(&self, token_hash: [u8; 32]) -> Result<Option<PlayerId>> {
        dispatch!(self, s => s.delete_session(token_hash).await)
    }

    /// Deletes every session of an account; returns how many.
    pub async fn delete_account_sessions(&self, account_id: PlayerId) -> Result<usize> {
        dispatch!(self, s => s.delete_account_sessions(account_id).await)
    }

    /// Deletes sessions that expired before `now`; returns how many.
    pub async fn purge_expired_sessions(&self, now: SystemTime) -> Result<usize> {
        dispatch!(self, s => s.purge_expired_sessions(now).await)
    }

    /// The account's stored position, including saves still waiting in
    /// memory; `None` if never placed.
    pub async fn load_position(&self, account_id: PlayerId) -> Result<Option<SavedPosition>> {
        dispatch!(self, s => s.load_position(account_id).await)
    }

    /// Queues position saves and returns at once (write-behind): latest per
    /// account wins, written in one transaction, kept and retried after a
    /// failure. Only fails if the store is closed.
    pub fn save_positions(&self, batch: Vec<SavedPosition>) -> Result<()> {
        dispatch!(self, s => s.save_positions(batch))
    }

    /// Waits until every save queued before this call is committed.
    pub async fn flush(&self) -> Result<()> {
        dispatch!(self, s => s.flush().await)
    }

    /// Admin resets with an epoch greater than `epoch`, oldest first.
    pub async fn resets_since(&self, epoch: i64) -> Result<Vec<Reset>> {
        dispatch!(self, s => s.resets_since(epoch).await)
    }

    /// The newest admin reset epoch.
    pub async fn current_reset_epoch(&self) -> Result<i64> {
        dispatch!(self, s => s.current_reset_epoch().await)
    }

    /// Admin events with an id greater than `after`, oldest first, at most
    /// `limit`. On PostgreSQL this includes kicks other servers queue for a
    /// login there (`logged in elsewhere`), not this server's own.
    pub async fn admin_events_since(&self, after: i64, limit: usize) -> Result<Vec<AdminEvent>> {
        dispatch!(self, s => s.admin_events_since(after, limit).await)
    }

    /// The newest admin event id.
    pub async fn last_admin_event_id(&self) -> Result<i64> {
        dispatch!(self, s => s.last_admin_event_id().await)
    }

    /// Records who came online and who left on this server, and refreshes
    /// its heartbeat, in one transaction; `start` forgets this server's
    /// earlier rows.
    pub async fn sync_presence(
        &self,
        start: bool,
        joined: Vec<(PlayerId, SystemTime)>,
        left: Vec<PlayerId>,
    ) -> Result<()> {
        dispatch!(self, s => s.sync_presence(start, joined, left).await)
    }

    /// Forgets this server's presence rows and heartbeat (graceful stop).
    pub async fn clear_presence(&self) -> Result<()> {
        dispatch!(self, s => s.clear_presence().await)
    }

    /// The position writer's state, read without a round trip.
    pub fn health(&self) -> StoreHealth {
        dispatch!(self, s => s.health())
    }

    /// Fault injection for tests and drills: position writes fail as on a
    /// full disk or a read-only database until [`WriteFault::None`].
    /// PostgreSQL supports `ReadOnly` (its writes run READ ONLY) and refuses
    /// `DiskFull`.
    pub async fn inject_write_fault(&self, fault: WriteFault) -> Result<()> {
        dispatch!(self, s => s.inject_write_fault(fault).await)
    }

    /// Flushes queued saves and closes the store; other clones get
    /// `Closed` afterwards. Returns the final flush's error, if any.
    pub async fn close(self) -> Result<()> {
        match self.backend {
            Backend::Sqlite(store) => store.close().await,
            Backend::Postgres(store) => store.close().await,
        }
    }
}
