//! Persistence: the only module that imports `rusqlite`. Owns the SQLite file
//! (schema migrations, accounts, sessions, positions), the single thread that
//! holds the server's connection, and the synchronous [`AdminStore`] used by
//! the admin CLI from a separate process. Uses from `crate::game` only the
//! player id and the saved-position type (`PlayerId`, `SavedPosition`), and
//! converts ids to SQLite's in one place (`ids.rs`). Must not know about
//! sockets, HTTP, the world's rules or password hashing (it stores PHC
//! strings and token hashes it is given).
//!
//! # Threads
//!
//! [`Store`] is a cheap-clone handle. All SQL runs on one OS thread named
//! `locus-store`, which owns the connection and serves requests from a channel
//! in order; each async method sends a request and awaits a tokio oneshot
//! reply, so SQLite never blocks an async worker (veloren's
//! `persistence_updater` pattern).
//!
//! # Position saves (write-behind)
//!
//! [`Store::save_positions`] does not wait: it merges the batch into a mailbox
//! (latest save per account wins) and wakes the thread, which writes everything
//! queued in ONE transaction that rolls back on drop, so a batch is never half
//! written. If the write fails (disk full, read-only, busy...) the saves stay in
//! memory, merged with later ones, and are retried every
//! [`StoreConfig::retry_interval`] or on the next batch; [`Store::health`]
//! exposes the failure state and flush durations without a round trip.
//! [`Store::load_position`] sees saves that are still waiting. [`Store::flush`]
//! waits until everything queued is durable (graceful shutdown), and
//! [`Store::close`] / dropping the last handle flushes and joins the thread.
//!
//! # Admin resets against stale saves
//!
//! See `migrations/0001_init.sql`. In short: a reset bumps the global
//! `reset_clock.epoch` to E and writes the position with `reset_epoch = E` in
//! one transaction; the server sends back the epoch it loaded with every save,
//! and a save whose epoch is older than the row's is skipped. The server polls
//! [`Store::resets_since`] (about once a second) to teleport online players and
//! adopt the new epoch. [`Store::current_reset_epoch`] gives the starting point.
//!
//! # Opening
//!
//! [`Store::open`] first locks the file for this server (`lock`): a second
//! server on a file a running one holds is refused with
//! [`StoreError::InUse`] before anything is read or written; `AdminStore`
//! takes no such lock. It creates the file if missing; an existing file is inspected
//! before anything is written: a file that is not a SQLite database, a
//! foreign application's database, a corrupt one, or one whose schema is newer
//! than this binary is refused with a [`StoreError`] and left byte-for-byte
//! untouched. Then WAL, `synchronous=NORMAL` (a commit survives a process
//! crash; only an OS crash or power loss may lose the last save interval),
//! `foreign_keys=ON`, the busy timeout and the statement cache are set, and
//! the embedded migrations run, each in its own transaction.

mod admin;
mod error;
mod events;
mod handle;
mod ids;
mod lock;
mod migrations;
mod open;
mod postgres;
mod queries;
mod target;
mod thread;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

use crate::game::{PlayerId, SavedPosition};

pub use admin::{AdminStore, KICK_DELETED, KICK_REVOKED};
pub use error::StoreError;
pub use events::{AdminEvent, AdminEventKind, PRESENCE_HEARTBEAT, PRESENCE_STALE_AFTER};
pub use handle::Store;
pub use ids::InvalidId;
pub use migrations::SCHEMA_VERSION;
pub use postgres::{KICK_LOGGED_IN_ELSEWHERE, POSTGRES_SCHEMA_VERSION};
pub use target::{Database, PostgresUrl};

use thread::{Job, Owner};

/// Store result alias.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Limits and timeouts of the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// How long a statement waits for another connection (e.g. the admin CLI)
    /// to release the write lock before failing with [`StoreError::Busy`].
    /// Default: 5 s.
    pub busy_timeout: Duration,
    /// How long the store thread waits before retrying position saves whose
    /// write failed, unless a flush is requested sooner. Default: 1 s.
    pub retry_interval: Duration,
    /// Prepared statements cached per connection. Default: 32.
    pub statement_cache_capacity: usize,
    /// Run `PRAGMA quick_check` on an existing database before using it, and
    /// refuse it if damaged. Costs one pass over the file at start-up.
    /// Default: true.
    pub check_integrity_on_open: bool,
    /// Sessions (tokens) kept per account; creating one more deletes that
    /// account's oldest. Bounds the table under a login loop. Default: 16.
    pub max_sessions_per_account: u32,
    /// Told of every position write attempt (its duration and whether it
    /// committed), on the store thread; for metrics. Default: none.
    pub on_flush: Option<FlushObserver>,
}

/// A callback told of each position write: `(duration, committed)`. Must be
/// quick and must not block: it runs on the store thread.
#[derive(Clone)]
pub struct FlushObserver(pub Arc<dyn Fn(Duration, bool) + Send + Sync>);

impl std::fmt::Debug for FlushObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlushObserver")
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            busy_timeout: Duration::from_secs(5),
            retry_interval: Duration::from_secs(1),
            statement_cache_capacity: 32,
            check_integrity_on_open: true,
            max_sessions_per_account: 16,
            on_flush: None,
        }
    }
}

/// A registered account.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// Row id, the player's id (the one identifier of an account's player
    /// in every layer).
    pub id: PlayerId,
    /// The name as registered (lookups ignore ASCII case).
    pub username: String,
    /// argon2id PHC string, for login verification. Never logged: `Debug`
    /// redacts it.
    pub password_phc: String,
    /// When the account was registered.
    pub created_at: SystemTime,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("password_phc", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// An admin reset found by [`Store::resets_since`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reset {
    /// Whose position was reset.
    pub account_id: PlayerId,
    /// The new x.
    pub x: f64,
    /// The new y.
    pub y: f64,
    /// The epoch of the reset; poll again with the largest one seen.
    pub reset_epoch: i64,
}

/// Which accounts an admin reset applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetTarget {
    /// One account, by username (ASCII case ignored).
    User(String),
    /// Every account, including those never placed.
    All,
}

/// What an admin reset did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetOutcome {
    /// The epoch the reset was written under.
    pub epoch: i64,
    /// How many accounts it moved.
    pub accounts: usize,
}

/// One line of `locus admin list`.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSummary {
    /// Account id.
    pub id: PlayerId,
    /// Username as registered.
    pub username: String,
    /// Registration time.
    pub created_at: SystemTime,
    /// Last login or landed position save; `None` if never.
    pub last_seen: Option<SystemTime>,
    /// Stored position; `None` if never placed (spawn point).
    pub position: Option<SavedPosition>,
    /// Unexpired sessions (tokens).
    pub active_sessions: u64,
    /// When the account came online, if a running server reports it online
    /// (see `migrations/0002_admin_events.sql`); `None` when offline or no
    /// server runs.
    pub online_since: Option<SystemTime>,
}

/// A bot account for the load generator, created with its token in one
/// transaction by [`AdminStore::create_bots`].
#[derive(Debug, Clone)]
pub struct BotAccount {
    /// Username; an existing account of that name is reused (its password is
    /// left as it was) and just gets the new token.
    pub username: String,
    /// argon2id PHC string for a new account.
    pub password_phc: String,
    /// SHA-256 of the bot's bearer token.
    pub token_hash: [u8; 32],
    /// When the token expires.
    pub expires_at: SystemTime,
}

/// A point-in-time copy of the position writer's state, for `/metrics` and
/// `/api/health`. Read from atomics: no round trip to the store thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreHealth {
    /// Whether the most recent position write committed (true before any).
    pub last_flush_ok: bool,
    /// Failed writes since the last successful one.
    pub consecutive_failures: u64,
    /// The error of the most recent failed write, until one succeeds.
    pub last_error: Option<String>,
    /// Saves waiting in memory (queued or kept after a failure).
    pub pending_saves: usize,
    /// Position writes that committed.
    pub flushes_ok_total: u64,
    /// Position writes that failed and were kept for retry.
    pub flushes_failed_total: u64,
    /// Saves skipped because an admin reset made them stale.
    pub stale_saves_skipped_total: u64,
    /// Duration of the most recent write attempt.
    pub last_flush_duration: Duration,
    /// Sum of all write attempt durations (with the two totals above: a
    /// Prometheus summary).
    pub flush_duration_total: Duration,
}

/// What one position batch did, on either backend.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchOutcome {
    /// Rows inserted or updated.
    pub written: u64,
    /// Saves skipped: an admin reset made them stale, or the account is gone.
    pub skipped: u64,
    /// Saves dropped as unstorable (non-finite coordinates, a constraint).
    pub dropped: u64,
}

/// Shared counters behind [`StoreHealth`], written by the store thread.
#[derive(Debug)]
struct HealthCell {
    /// See [`StoreHealth::last_flush_ok`].
    last_flush_ok: AtomicBool,
    /// See [`StoreHealth::consecutive_failures`].
    consecutive_failures: AtomicU64,
    /// See [`StoreHealth::pending_saves`].
    pending_saves: AtomicUsize,
    /// See [`StoreHealth::flushes_ok_total`].
    flushes_ok: AtomicU64,
    /// See [`StoreHealth::flushes_failed_total`].
    flushes_failed: AtomicU64,
    /// See [`StoreHealth::stale_saves_skipped_total`].
    stale_skipped: AtomicU64,
    /// See [`StoreHealth::last_flush_duration`], in microseconds.
    last_flush_micros: AtomicU64,
    /// See [`StoreHealth::flush_duration_total`], in microseconds.
    flush_micros_total: AtomicU64,
    /// See [`StoreHealth::last_error`]. Short critical sections only.
    last_error: Mutex<Option<String>>,
}

impl HealthCell {
    fn new() -> HealthCell {
        HealthCell {
            last_flush_ok: AtomicBool::new(true),
            consecutive_failures: AtomicU64::new(0),
            pending_saves: AtomicUsize::new(0),
            flushes_ok: AtomicU64::new(0),
            flushes_failed: AtomicU64::new(0),
            stale_skipped: AtomicU64::new(0),
            last_flush_micros: AtomicU64::new(0),
            flush_micros_total: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    /// Records one position-write attempt that took `elapsed` (its duration,
    /// then the batch's outcome or the error) and logs it. `pending` is how
    /// many saves a failed attempt keeps for the retry in `retry_in`.
    fn record_flush(
        &self,
        elapsed: Duration,
        result: &Result<BatchOutcome>,
        pending: usize,
        retry_in: Duration,
    ) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.last_flush_micros.store(micros, Ordering::Relaxed);
        self.flush_micros_total.fetch_add(micros, Ordering::Relaxed);
        match result {
            Ok(outcome) => {
                self.flushes_ok.fetch_add(1, Ordering::Relaxed);
                self.stale_skipped
                    .fetch_add(outcome.skipped, Ordering::Relaxed);
                self.consecutive_failures.store(0, Ordering::Relaxed);
                *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
                self.last_flush_ok.store(true, Ordering::Relaxed);
                tracing::debug!(
                    written = outcome.written,
                    skipped = outcome.skipped,
                    dropped = outcome.dropped,
                    elapsed_us = micros,
                    "position batch committed"
                );
            }
            Err(err) => {
                self.flushes_failed.fetch_add(1, Ordering::Relaxed);
                let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
                *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(err.to_string());
                self.last_flush_ok.store(false, Ordering::Relaxed);
                tracing::warn!(
                    error = %err,
                    pending,
                    consecutive_failures = failures,
                    ?retry_in,
                    "position batch rolled back; keeping the saves in memory for retry"
                );
            }
        }
    }

    fn snapshot(&self) -> StoreHealth {
        let last_error = self
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        StoreHealth {
            last_flush_ok: self.last_flush_ok.load(Ordering::Relaxed),
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
            last_error,
            pending_saves: self.pending_saves.load(Ordering::Relaxed),
            flushes_ok_total: self.flushes_ok.load(Ordering::Relaxed),
            flushes_failed_total: self.flushes_failed.load(Ordering::Relaxed),
            stale_saves_skipped_total: self.stale_skipped.load(Ordering::Relaxed),
            last_flush_duration: Duration::from_micros(
                self.last_flush_micros.load(Ordering::Relaxed),
            ),
            flush_duration_total: Duration::from_micros(
                self.flush_micros_total.load(Ordering::Relaxed),
            ),
        }
    }
}

/// Saves handed over by [`Store::save_positions`] that the store thread has
/// not picked up yet; latest per account wins. Bounded by the number of
/// accounts.
type Mailbox = Mutex<HashMap<PlayerId, SavedPosition>>;

/// Merges `batch` into the mailbox; true if it was empty before (the writer
/// then needs one wake-up: one per empty -> non-empty transition, however
/// fast batches arrive).
fn queue_saves(mailbox: &Mailbox, batch: Vec<SavedPosition>) -> bool {
    let mut mailbox = mailbox.lock().unwrap_or_else(|e| e.into_inner());
    let was_empty = mailbox.is_empty();
    for save in batch {
        merge_save(&mut mailbox, save);
    }
    was_empty
}

/// Merges `save` into `map`: a later save replaces an earlier one unless it
/// carries an older reset epoch (a save from before a reset the server has
/// since learned about).
fn merge_save(map: &mut HashMap<PlayerId, SavedPosition>, save: SavedPosition) {
    match map.get(&save.id) {
        Some(existing) if existing.reset_epoch > save.reset_epoch => {}
        _ => {
            map.insert(save.id, save);
        }
    }
}

/// The stored position as a reader should see it: `stored`, unless a save
/// still waiting in memory replaces it (one made under an older reset epoch
/// does not).
fn overlay_waiting(
    stored: Option<SavedPosition>,
    waiting: Option<SavedPosition>,
) -> Option<SavedPosition> {
    match (stored, waiting) {
        (Some(row), Some(save)) if save.reset_epoch < row.reset_epoch => Some(row),
        (_, Some(save)) => Some(save),
        (row, None) => row,
    }
}

/// The SQLite backend behind [`Store`]: a handle to the store thread. Cheap
/// to clone; the thread stops when [`SqliteStore::close`] is called or the
/// last handle is dropped (both flush). Dropping the last handle blocks until
/// that final flush is done and the thread has exited, so async code should
/// `close().await` instead.
#[derive(Clone)]
pub(crate) struct SqliteStore {
    /// Shared by all clones; its `Drop` stops and joins the thread.
    shared: Arc<Shared>,
}

/// The parts of [`Store`] all clones share.
struct Shared {
    /// Requests to the store thread, served in order.
    jobs: mpsc::Sender<Job>,
    /// Saves not yet picked up by the thread.
    mailbox: Arc<Mailbox>,
    /// Writer state for metrics.
    health: Arc<HealthCell>,
    /// The store thread, joined on drop.
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let (reply, _ignored) = oneshot::channel();
        let _ = self.jobs.send(Job::Close(reply));
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            if handle.join().is_err() {
                tracing::error!("the store thread panicked");
            }
        }
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("health", &self.health())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `path`, refuses a file
    /// that is not ours or too new (leaving it untouched), runs pending
    /// migrations and starts the `locus-store` thread.
    pub async fn open(path: &Path, config: StoreConfig) -> Result<SqliteStore> {
        let (jobs, job_rx) = mpsc::channel();
        let mailbox = Arc::new(Mailbox::default());
        let health = Arc::new(HealthCell::new());
        let (ready_tx, ready_rx) = oneshot::channel();
        let owned_path = path.to_path_buf();
        let thread_mailbox = Arc::clone(&mailbox);
        let thread_health = Arc::clone(&health);
        let handle = std::thread::Builder::new()
            .name("locus-store".into())
            .spawn(move || {
                let (lock, conn) = match open::open_for_server(&owned_path, &config) {
                    Ok(opened) => opened,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                Owner::new(conn, config, thread_mailbox, thread_health).run(job_rx);
                // Only now that the connection is closed (see `lock`).
                drop(lock);
            })
            .map_err(|source| StoreError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        let opened = ready_rx.await;
        let store = SqliteStore {
            shared: Arc::new(Shared {
                jobs,
                mailbox,
                health,
                thread: Mutex::new(Some(handle)),
            }),
        };
        match opened {
            Ok(Ok(())) => Ok(store),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Runs `f` on the store thread and awaits its result.
    async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Owner) -> Result<T> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = Job::Run(Box::new(move |owner: &mut Owner| {
            let _ = reply.send(f(owner));
        }));
        self.shared.jobs.send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Registers an account (the caller has validated the name with
    /// `auth::validate` and hashed the password). Fails with
    /// [`StoreError::UsernameTaken`] if the
    /// name exists in any ASCII case. The account has no position row yet:
    /// [`Store::load_position`] returns `None` until its first save, and the
    /// game places it at the spawn point.
    pub async fn create_account(&self, username: &str, password_phc: &str) -> Result<PlayerId> {
        let username = username.to_owned();
        let password_phc = password_phc.to_owned();
        self.call(move |owner| {
            let result =
                queries::create_account(&owner.conn, &username, &password_phc, SystemTime::now());
            owner.map(result)
        })
        .await
    }

    /// The account with this username (ASCII case ignored), if any.
    pub async fn account_by_username(&self, username: &str) -> Result<Option<Account>> {
        let username = username.to_owned();
        self.call(move |owner| {
            let result = queries::account_by_username(&owner.conn, &username);
            owner.map(result)
        })
        .await
    }

    /// Stores a session for `account_id` under the SHA-256 of its token,
    /// records the login as the account's `last_seen`, and deletes the
    /// account's oldest sessions beyond
    /// [`StoreConfig::max_sessions_per_account`].
    pub async fn create_session(
        &self,
        account_id: PlayerId,
        token_hash: [u8; 32],
        expires_at: SystemTime,
    ) -> Result<()> {
        self.call(move |owner| {
            let max = owner.config.max_sessions_per_account;
            let result = queries::create_session(
                &mut owner.conn,
                account_id,
                &token_hash,
                SystemTime::now(),
                expires_at,
                max,
            );
            owner.map(result)
        })
        .await
    }

    /// The account owning the session with this token hash, if the session
    /// exists and has not expired at `now`.
    pub async fn session_account(
        &self,
        token_hash: [u8; 32],
        now: SystemTime,
    ) -> Result<Option<Account>> {
        self.call(move |owner| {
            let result = queries::session_account(&owner.conn, &token_hash, now);
            owner.map(result)
        })
        .await
    }

    /// Deletes the session (logout). Returns its account, or `None` if there
    /// was no such session.
    pub async fn delete_session(&self, token_hash: [u8; 32]) -> Result<Option<PlayerId>> {
        self.call(move |owner| {
            let result = queries::delete_session(&owner.conn, &token_hash);
            owner.map(result)
        })
        .await
    }

    /// Deletes every session of an account; returns how many.
    pub async fn delete_account_sessions(&self, account_id: PlayerId) -> Result<usize> {
        self.call(move |owner| {
            let result = queries::delete_account_sessions(&owner.conn, account_id);
            owner.map(result)
        })
        .await
    }

    /// Deletes sessions that expired before `now`; returns how many. Call it
    /// now and then (e.g. hourly); expired sessions are never accepted anyway.
    pub async fn purge_expired_sessions(&self, now: SystemTime) -> Result<usize> {
        self.call(move |owner| {
            let result = queries::purge_expired_sessions(&owner.conn, now);
            owner.map(result)
        })
        .await
    }

    /// The account's stored position, including saves still waiting in
    /// memory; `None` if never placed.
    pub async fn load_position(&self, account_id: PlayerId) -> Result<Option<SavedPosition>> {
        self.call(move |owner| owner.load_position(account_id))
            .await
    }

    /// Queues position saves and returns at once (write-behind). The store
    /// thread writes them in one transaction; see the module docs for the
    /// failure and retry behaviour. Only fails if the store is closed.
    pub fn save_positions(&self, batch: Vec<SavedPosition>) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        if queue_saves(&self.shared.mailbox, batch) {
            self.shared
                .jobs
                .send(Job::SavesQueued)
                .map_err(|_| StoreError::Closed)?;
        }
        Ok(())
    }

    /// Waits until every save queued before this call is committed. Returns
    /// the write error if they could not be (they stay queued for retry).
    pub async fn flush(&self) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.shared
            .jobs
            .send(Job::Flush(reply))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Admin resets with an epoch greater than `epoch`, oldest first.
    pub async fn resets_since(&self, epoch: i64) -> Result<Vec<Reset>> {
        self.call(move |owner| {
            let result = queries::resets_since(&owner.conn, epoch);
            owner.map(result)
        })
        .await
    }

    /// The newest admin reset epoch; start polling [`Store::resets_since`]
    /// from here.
    pub async fn current_reset_epoch(&self) -> Result<i64> {
        self.call(move |owner| {
            let result = queries::current_reset_epoch(&owner.conn);
            owner.map(result)
        })
        .await
    }

    /// Admin events (kicks asked for by the admin CLI) with an id greater
    /// than `after`, oldest first, at most `limit`.
    pub async fn admin_events_since(&self, after: i64, limit: usize) -> Result<Vec<AdminEvent>> {
        self.call(move |owner| {
            let result = events::admin_events_since(&owner.conn, after, limit);
            owner.map(result)
        })
        .await
    }

    /// The newest admin event id; start polling
    /// [`Store::admin_events_since`] from here.
    pub async fn last_admin_event_id(&self) -> Result<i64> {
        self.call(move |owner| {
            let result = events::last_admin_event_id(&owner.conn);
            owner.map(result)
        })
        .await
    }

    /// Records who came online (`joined`, with since when) and who left,
    /// and refreshes the server heartbeat, in one transaction. `start`
    /// forgets every earlier presence row first (server start-up).
    pub async fn sync_presence(
        &self,
        start: bool,
        joined: Vec<(PlayerId, SystemTime)>,
        left: Vec<PlayerId>,
    ) -> Result<()> {
        self.call(move |owner| {
            let result =
                events::sync_presence(&mut owner.conn, start, &joined, &left, SystemTime::now());
            owner.map(result)
        })
        .await
    }

    /// Forgets every presence row and the heartbeat (graceful stop).
    pub async fn clear_presence(&self) -> Result<()> {
        self.call(move |owner| {
            let result = events::clear_presence(&mut owner.conn);
            owner.map(result)
        })
        .await
    }

    /// The position writer's state, read without a round trip.
    pub fn health(&self) -> StoreHealth {
        self.shared.health.snapshot()
    }

    /// Fault injection for tests and drills: makes this connection's writes
    /// fail as they would on a full disk or a read-only file, until called
    /// with [`WriteFault::None`]. `DiskFull` caps the file at its current size
    /// (`PRAGMA max_page_count`), so only writes that need a new page fail
    /// (e.g. first saves of many accounts); `ReadOnly` sets
    /// `PRAGMA query_only`, so every write fails with SQLITE_READONLY.
    pub async fn inject_write_fault(&self, fault: WriteFault) -> Result<()> {
        self.call(move |owner| {
            let result = owner.inject_write_fault(fault);
            owner.map(result)
        })
        .await
    }

    /// Flushes queued saves, stops the store thread and closes the database.
    /// Other clones of this handle get [`StoreError::Closed`] afterwards.
    /// Returns the final flush's error, if it failed (those saves are lost).
    pub async fn close(self) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        if self.shared.jobs.send(Job::Close(reply)).is_err() {
            return Ok(());
        }
        let result = rx.await.unwrap_or(Ok(()));
        // The thread has exited; dropping the last handle joins it at once.
        drop(self);
        result
    }
}

/// Faults [`Store::inject_write_fault`] can simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFault {
    /// Normal writes.
    None,
    /// SQLITE_FULL on writes that need a new page.
    DiskFull,
    /// SQLITE_READONLY on every write.
    ReadOnly,
}

/// Unix milliseconds of `t` (negative before 1970, saturating).
fn to_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// The time `ms` Unix milliseconds denote.
fn from_millis(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn save(id: PlayerId, x: f64, epoch: i64) -> SavedPosition {
        SavedPosition {
            id,
            x,
            y: 0.0,
            reset_epoch: epoch,
        }
    }

    #[test]
    fn later_save_replaces_earlier() {
        let mut map = HashMap::new();
        merge_save(&mut map, save(1, 1.0, 0));
        merge_save(&mut map, save(1, 2.0, 0));
        assert_eq!(map[&1].x, 2.0);
    }

    #[test]
    fn save_with_older_epoch_does_not_replace_newer() {
        let mut map = HashMap::new();
        merge_save(&mut map, save(1, 1.0, 3));
        merge_save(&mut map, save(1, 2.0, 2));
        assert_eq!(map[&1].x, 1.0);
        merge_save(&mut map, save(1, 5.0, 4));
        assert_eq!(map[&1].x, 5.0);
    }

    #[test]
    fn millis_roundtrip() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(from_millis(to_millis(t)), t);
        let before = UNIX_EPOCH - Duration::from_millis(5);
        assert_eq!(to_millis(before), -5);
        assert_eq!(from_millis(-5), before);
    }

    #[test]
    fn account_debug_redacts_password() {
        let account = Account {
            id: 1,
            username: "alice".into(),
            password_phc: "$argon2id$secret".into(),
            created_at: UNIX_EPOCH,
        };
        let shown = format!("{account:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}
