//! The PostgreSQL backend: the same operations as the SQLite store behind
//! the same [`crate::store::Store`] API, for several servers sharing one
//! database. Owns the connection pool (tokio-postgres + deadpool), the
//! position writer task, this server's id, and the admin CLI's blocking
//! access. Must not know about sockets, HTTP, the world or password hashing.
//!
//! # Why tokio-postgres with deadpool
//!
//! Every query is async on the server's runtime (nothing blocks a worker,
//! no thread of our own); deadpool adds a bounded pool with wait and connect
//! timeouts and drops dead connections when they are next taken, which is
//! how a restarted PostgreSQL is reconnected to without help. sqlx would do
//! too, but brings a second SQL layer (macros, its own pool and migrator)
//! we would not use: our SQL is plain strings like the SQLite side's.
//!
//! # Several servers on one database
//!
//! * Rows: every write is a transaction; position saves are one upsert per
//!   flush whose `WHERE positions.reset_epoch <= EXCLUDED.reset_epoch` is
//!   evaluated on the locked, latest row, so two servers' flushes and an
//!   admin reset never corrupt each other (a deadlock between them is
//!   transient: the flush is retried).
//! * Each server has a random id: its presence rows and heartbeat are its
//!   own (`servers`, `presence.server_id`), and `locus admin users
//!   --online` sees every live server's players.
//! * Admin events: each server polls with its own cursor (`id > cursor`);
//!   ids commit in order (see `append_kicks`).
//! * The later login wins across servers as on one: when an account joins
//!   here while a live server has it online, a kick (`logged in elsewhere`)
//!   is queued for that server with this server as origin, and that server
//!   kicks its socket at its next poll (within half a second).

pub(crate) mod admin;
mod queries;
mod schema;
mod writer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};

pub use queries::KICK_LOGGED_IN_ELSEWHERE;
pub use schema::POSTGRES_SCHEMA_VERSION;

use super::events::AdminEvent;
use super::target::PostgresUrl;
use super::{
    overlay_waiting, queue_saves, Account, HealthCell, Mailbox, Reset, StoreConfig, StoreError,
    StoreHealth, WriteFault,
};
use crate::game::{PlayerId, SavedPosition};
use writer::{Pending, Writer, WriterJob};

type Result<T> = std::result::Result<T, StoreError>;

/// Connections the server's pool holds at most: logins, the admin poll and
/// the writer at once, without starving PostgreSQL's `max_connections`
/// when several servers share it.
const POOL_SIZE: usize = 8;

/// Handle to the PostgreSQL backend. Cheap to clone.
#[derive(Clone)]
pub(crate) struct PgStore {
    /// Shared by all clones.
    shared: Arc<PgShared>,
}

/// The parts all clones share.
struct PgShared {
    /// The connection pool.
    pool: Pool,
    /// The URL without its password, for messages.
    target: String,
    /// This server's id in `servers` and `presence` (random per start).
    server_id: String,
    /// Session cap.
    config: StoreConfig,
    /// Saves not yet picked up by the writer.
    mailbox: Arc<Mailbox>,
    /// Saves the writer holds (being written, or kept after a failure).
    pending: Arc<Pending>,
    /// Writer state for metrics.
    health: Arc<HealthCell>,
    /// Jobs for the writer task; it ends when every sender is gone.
    jobs: mpsc::UnboundedSender<WriterJob>,
    /// Fault injection for the writer.
    read_only: Arc<AtomicBool>,
    /// Set by `close`: later calls fail with `Closed` at once.
    closed: AtomicBool,
    /// Set once fault injection was used: connections taken from then on
    /// get the fault's `default_transaction_read_only` (one extra round
    /// trip per request, in tests and drills only).
    fault_used: AtomicBool,
}

impl PgStore {
    /// Connects (one clear error for a wrong host, password or database,
    /// nothing created), refuses a foreign or newer database untouched,
    /// migrates, and starts the writer task on the current runtime.
    pub(crate) async fn connect(url: &PostgresUrl, config: StoreConfig) -> Result<PgStore> {
        let pool = schema::pool(url, POOL_SIZE, config.busy_timeout)?;
        schema::prepare(&pool, url).await?;
        let (jobs, job_rx) = mpsc::unbounded_channel();
        let mailbox = Arc::new(Mailbox::default());
        let pending = Arc::new(Pending::default());
        let health = Arc::new(HealthCell::new());
        let read_only = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            pool: pool.clone(),
            config: config.clone(),
            mailbox: Arc::clone(&mailbox),
            pending: Arc::clone(&pending),
            health: Arc::clone(&health),
            read_only: Arc::clone(&read_only),
            retry_at: None,
        };
        tokio::spawn(writer.run(job_rx));
        let server_id = format!("{:016x}", rand::random::<u64>());
        tracing::info!(db = %url, server_id, "PostgreSQL store ready");
        Ok(PgStore {
            shared: Arc::new(PgShared {
                pool,
                target: url.to_string(),
                server_id,
                config,
                mailbox,
                pending,
                health,
                jobs,
                read_only,
                closed: AtomicBool::new(false),
                fault_used: AtomicBool::new(false),
            }),
        })
    }

    /// A pooled connection, or `Unavailable` / `Closed`.
    async fn client(&self) -> Result<deadpool_postgres::Client> {
        let client = self.shared.pool.get().await.map_err(schema::from_pool)?;
        if self.shared.fault_used.load(Ordering::Relaxed) {
            let sql = if self.shared.read_only.load(Ordering::Relaxed) {
                "SET default_transaction_read_only = on"
            } else {
                "RESET default_transaction_read_only"
            };
            client.batch_execute(sql).await?;
        }
        Ok(client)
    }

    /// This server's id among the servers sharing the database.
    pub(crate) fn server_id(&self) -> &str {
        &self.shared.server_id
    }

    pub(crate) async fn create_account(&self, username: &str, phc: &str) -> Result<PlayerId> {
        let client = self.client().await?;
        queries::create_account(&client, username, phc, SystemTime::now()).await
    }

    pub(crate) async fn account_by_username(&self, username: &str) -> Result<Option<Account>> {
        let client = self.client().await?;
        queries::account_by_username(&client, username).await
    }

    pub(crate) async fn create_session(
        &self,
        account_id: PlayerId,
        token_hash: [u8; 32],
        expires_at: SystemTime,
    ) -> Result<()> {
        let mut client = self.client().await?;
        let max = self.shared.config.max_sessions_per_account;
        queries::create_session(
            &mut client,
            account_id,
            &token_hash,
            SystemTime::now(),
            expires_at,
            max,
        )
        .await
    }

    pub(crate) async fn session_account(
        &self,
        token_hash: [u8; 32],
        now: SystemTime,
    ) -> Result<Option<Account>> {
        let client = self.client().await?;
        queries::session_account(&client, &token_hash, now).await
    }

    pub(crate) async fn delete_session(&self, token_hash: [u8; 32]) -> Result<Option<PlayerId>> {
        let client = self.client().await?;
        queries::delete_session(&client, &token_hash).await
    }

    pub(crate) async fn delete_account_sessions(&self, account_id: PlayerId) -> Result<usize> {
        let client = self.client().await?;
        queries::delete_account_sessions(&client, account_id).await
    }

    pub(crate) async fn purge_expired_sessions(&self, now: SystemTime) -> Result<usize> {
        let client = self.client().await?;
        queries::purge_expired_sessions(&client, now).await
    }

    /// The stored position, overlaid with a save still waiting in memory.
    pub(crate) async fn load_position(
        &self,
        account_id: PlayerId,
    ) -> Result<Option<SavedPosition>> {
        let client = self.client().await?;
        let stored = queries::load_position(&client, account_id).await?;
        let waiting = {
            let pending = self
                .shared
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let mailbox = self
                .shared
                .mailbox
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            // The mailbox is newer than `pending`; the merge rule decides.
            match (pending.get(&account_id), mailbox.get(&account_id)) {
                (Some(held), Some(queued)) if held.reset_epoch > queued.reset_epoch => Some(*held),
                (_, Some(queued)) => Some(*queued),
                (held, None) => held.copied(),
            }
        };
        Ok(overlay_waiting(stored, waiting))
    }

    /// Queues saves and returns at once (write-behind).
    pub(crate) fn save_positions(&self, batch: Vec<SavedPosition>) -> Result<()> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        if batch.is_empty() {
            return Ok(());
        }
        if queue_saves(&self.shared.mailbox, batch) {
            self.shared
                .jobs
                .send(WriterJob::SavesQueued)
                .map_err(|_| StoreError::Closed)?;
        }
        Ok(())
    }

    /// Waits until every save queued before this call is committed.
    pub(crate) async fn flush(&self) -> Result<()> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let (reply, rx) = oneshot::channel();
        self.shared
            .jobs
            .send(WriterJob::Flush(reply))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    pub(crate) async fn resets_since(&self, epoch: i64) -> Result<Vec<Reset>> {
        let client = self.client().await?;
        queries::resets_since(&client, epoch).await
    }

    pub(crate) async fn current_reset_epoch(&self) -> Result<i64> {
        let client = self.client().await?;
        queries::current_reset_epoch(&client).await
    }

    /// Admin events after `after`, leaving out the kicks this server queued
    /// for the others.
    pub(crate) async fn admin_events_since(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<AdminEvent>> {
        let client = self.client().await?;
        queries::admin_events_since(&client, after, limit, &self.shared.server_id).await
    }

    pub(crate) async fn last_admin_event_id(&self) -> Result<i64> {
        let client = self.client().await?;
        queries::last_admin_event_id(&client).await
    }

    pub(crate) async fn sync_presence(
        &self,
        start: bool,
        joined: Vec<(PlayerId, SystemTime)>,
        left: Vec<PlayerId>,
    ) -> Result<()> {
        let mut client = self.client().await?;
        queries::sync_presence(
            &mut client,
            &self.shared.server_id,
            start,
            &joined,
            &left,
            SystemTime::now(),
        )
        .await
    }

    pub(crate) async fn clear_presence(&self) -> Result<()> {
        let mut client = self.client().await?;
        queries::clear_presence(&mut client, &self.shared.server_id).await
    }

    pub(crate) fn health(&self) -> StoreHealth {
        self.shared.health.snapshot()
    }

    /// `ReadOnly` runs every write (position batches and the rest) READ
    /// ONLY, so they fail as on a read-only database until `None`. `DiskFull` cannot be simulated on
    /// PostgreSQL (stop the server instead) and is refused.
    pub(crate) async fn inject_write_fault(&self, fault: WriteFault) -> Result<()> {
        let read_only = match fault {
            WriteFault::None => false,
            WriteFault::ReadOnly => true,
            WriteFault::DiskFull => {
                return Err(StoreError::InvalidInput(format!(
                    "a full disk cannot be simulated on PostgreSQL ({}); stop the server instead",
                    self.shared.target
                )))
            }
        };
        self.shared.read_only.store(read_only, Ordering::Relaxed);
        self.shared.fault_used.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Flushes queued saves, stops the writer and closes the pool.
    pub(crate) async fn close(self) -> Result<()> {
        self.shared.closed.store(true, Ordering::Release);
        let (reply, rx) = oneshot::channel();
        let result = if self.shared.jobs.send(WriterJob::Close(reply)).is_ok() {
            rx.await.unwrap_or(Ok(()))
        } else {
            Ok(())
        };
        self.shared.pool.close();
        result
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("db", &self.shared.target)
            .field("server_id", &self.shared.server_id)
            .finish_non_exhaustive()
    }
}
