//! [`StoreError`]: every way the store can fail, with messages written for the
//! operator who reads them in a log line or a CLI error. Also the one place
//! that classifies raw SQLite and PostgreSQL errors. Knows nothing about HTTP
//! status codes; `net` maps variants to responses.

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::ffi;

use super::ids::{invalid_id, InvalidId};
use crate::game::PlayerId;

/// The store layer's error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file exists but is not a SQLite database (garbage header,
    /// truncated, a directory...). Nothing was written to it.
    #[error("{path} is not a SQLite database ({reason}); refusing to open it, the file was left untouched")]
    NotADatabase {
        /// The file we were asked to open.
        path: PathBuf,
        /// What the check found, e.g. "truncated: 4000 bytes is not a whole number of 4096-byte pages".
        reason: String,
    },

    /// The file is a valid SQLite database, but another application's.
    #[error("{path} is a SQLite database of another application ({reason}); refusing to open it, the file was left untouched")]
    ForeignDatabase {
        /// The file we were asked to open.
        path: PathBuf,
        /// Why we think it is not ours.
        reason: String,
    },

    /// The database was written by a newer Locus whose schema this binary
    /// does not know. Nothing was written to it.
    #[error("{path} has schema version {found}, newer than the {supported} this binary supports; upgrade Locus (the file was left untouched)")]
    SchemaTooNew {
        /// The file we were asked to open.
        path: PathBuf,
        /// `PRAGMA user_version` found in the file.
        found: i64,
        /// The number of migrations embedded in this binary.
        supported: usize,
    },

    /// SQLite's integrity check found damage.
    #[error("{path} is corrupt ({detail}); restore a backup (the file was left untouched)")]
    Corrupt {
        /// The file we were asked to open.
        path: PathBuf,
        /// First lines of `PRAGMA quick_check` or the SQLite message.
        detail: String,
    },

    /// `open_existing` was pointed at a path with no database.
    #[error("no Locus database at {path} (the server creates one on first start; check --db)")]
    Missing {
        /// The path that does not exist or is an empty file.
        path: PathBuf,
    },

    /// Another running server holds the file (its `ServerLock`). Nothing
    /// was read or written.
    #[error("{path} is in use by another running locus server; stop it first or use another --db")]
    InUse {
        /// The file we were asked to open.
        path: PathBuf,
    },

    /// Applying an embedded migration failed; the failed migration was rolled
    /// back.
    #[error("migrating {path} to schema version {version} failed: {detail}")]
    Migration {
        /// The database being migrated.
        path: PathBuf,
        /// The version the failed migration would have produced.
        version: usize,
        /// What went wrong.
        detail: String,
    },

    /// `create_account` with a name that exists (case-insensitively).
    #[error("username is taken")]
    UsernameTaken,

    /// An admin operation named an account that does not exist.
    #[error("no account named {0:?}")]
    UnknownUser(String),

    /// An operation referred to an account id that does not exist (deleted
    /// while a request for it was in flight).
    #[error("account {0} does not exist")]
    UnknownAccount(PlayerId),

    /// A player id that cannot be a database row id: zero or negative when
    /// read (a corrupt database), or beyond `i64::MAX` when given.
    #[error("{0}")]
    InvalidId(InvalidId),

    /// A caller passed a value the store cannot hold (e.g. a non-finite
    /// coordinate).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// Another connection held the write lock for longer than busy_timeout.
    #[error("database is locked by another process or connection (gave up after {waited:?}); retry, or stop the other writer")]
    Busy {
        /// The busy timeout that expired.
        waited: Duration,
    },

    /// SQLITE_FULL: the disk or the database size limit is full.
    #[error("database or disk is full: {0}")]
    Full(String),

    /// SQLITE_READONLY: the file, its directory or the connection is read-only.
    #[error("database is read-only: {0}")]
    ReadOnly(String),

    /// Reading or inspecting the file failed before SQLite was involved.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file being inspected.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// Any other SQLite error (a bug, I/O error, out of memory...).
    #[error("database error: {0}")]
    Sqlite(#[source] rusqlite::Error),

    /// The store thread has stopped (after `close`, or it panicked).
    #[error("the store has been closed")]
    Closed,

    /// `--db` / `LOCUS_DB` looks like a PostgreSQL URL but does not parse.
    #[error("invalid PostgreSQL URL in --db: {0}")]
    BadUrl(String),

    /// PostgreSQL refused or could not be reached when the store opened:
    /// wrong host or port, server down, wrong user or password, missing
    /// database. Nothing was created.
    #[error("cannot connect to PostgreSQL at {target}: {detail}")]
    Connect {
        /// The URL without its password.
        target: String,
        /// What the driver or the server said.
        detail: String,
    },

    /// The PostgreSQL database has tables but is not a Locus database.
    #[error("PostgreSQL database {target} belongs to another application ({reason}); refusing to use it, nothing was changed")]
    ForeignPostgres {
        /// The URL without its password.
        target: String,
        /// Why we think it is not ours.
        reason: String,
    },

    /// The PostgreSQL database was migrated by a newer Locus.
    #[error("PostgreSQL database {target} has schema version {found}, newer than the {supported} this binary supports; upgrade Locus (nothing was changed)")]
    PostgresSchemaTooNew {
        /// The URL without its password.
        target: String,
        /// The version found in `locus_schema`.
        found: i64,
        /// The number of PostgreSQL migrations embedded in this binary.
        supported: usize,
    },

    /// No PostgreSQL connection could be had within the pool's timeouts
    /// (the server is down or restarting); retried like a busy database.
    #[error("PostgreSQL is unavailable: {0}")]
    Unavailable(String),

    /// Any other PostgreSQL error.
    #[error("PostgreSQL error: {}", pg_detail(.0))]
    Postgres(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for StoreError {
    /// Names the failures both backends share (read-only, full disk), like
    /// [`StoreError::from_sqlite`]; the rest stay [`StoreError::Postgres`].
    fn from(err: tokio_postgres::Error) -> StoreError {
        use tokio_postgres::error::SqlState;
        match err.code() {
            Some(code) if *code == SqlState::READ_ONLY_SQL_TRANSACTION => {
                StoreError::ReadOnly(pg_detail(&err))
            }
            Some(code) if *code == SqlState::DISK_FULL => StoreError::Full(pg_detail(&err)),
            _ => StoreError::Postgres(err),
        }
    }
}

/// The message of a PostgreSQL error with its causes (the driver's own
/// `Display` is often just "db error"). Never contains the password: neither
/// the driver nor the server echo it.
pub(crate) fn pg_detail(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// True for PostgreSQL failures that may go away by themselves: a lost or
/// refused connection, the server shutting down or starting, a deadlock or
/// serialisation failure, a full disk, a read-only transaction.
pub(crate) fn postgres_is_transient(err: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    let Some(code) = err.code() else {
        // No SQLSTATE: an I/O or protocol failure of the connection.
        return true;
    };
    let class = &code.code()[..2];
    matches!(class, "08" | "53" | "57" | "40" | "58")
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        || *code == SqlState::LOCK_NOT_AVAILABLE
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match invalid_id(&err) {
            Some(invalid) => StoreError::InvalidId(invalid),
            None => StoreError::Sqlite(err),
        }
    }
}

impl StoreError {
    /// Converts a SQLite error, naming the common failure modes (busy, full,
    /// read-only) so callers and health reports can tell them apart.
    pub(crate) fn from_sqlite(err: rusqlite::Error, busy_timeout: Duration) -> StoreError {
        let Some(code) = err.sqlite_error_code() else {
            return StoreError::from(err);
        };
        match code {
            ffi::ErrorCode::DatabaseBusy | ffi::ErrorCode::DatabaseLocked => StoreError::Busy {
                waited: busy_timeout,
            },
            ffi::ErrorCode::DiskFull => StoreError::Full(err.to_string()),
            ffi::ErrorCode::ReadOnly => StoreError::ReadOnly(err.to_string()),
            _ => StoreError::Sqlite(err),
        }
    }

    /// True for failures that may go away by themselves (space freed, lock
    /// released, permissions fixed): a position batch that failed this way is
    /// kept and retried rather than dropped.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Busy { .. }
            | StoreError::Full(_)
            | StoreError::ReadOnly(_)
            | StoreError::Io { .. } => true,
            StoreError::Sqlite(err) => sqlite_is_transient(err),
            StoreError::Unavailable(_) => true,
            StoreError::Postgres(err) => postgres_is_transient(err),
            _ => false,
        }
    }
}

/// True for SQLite errors that may go away by themselves; see
/// [`StoreError::is_transient`].
pub(crate) fn sqlite_is_transient(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(
            ffi::ErrorCode::DatabaseBusy
                | ffi::ErrorCode::DatabaseLocked
                | ffi::ErrorCode::DiskFull
                | ffi::ErrorCode::ReadOnly
                | ffi::ErrorCode::SystemIoFailure
                | ffi::ErrorCode::OutOfMemory
                | ffi::ErrorCode::CannotOpen
                | ffi::ErrorCode::FileLockingProtocolFailed
                | ffi::ErrorCode::PermissionDenied
        )
    )
}

/// True when `err` is a UNIQUE constraint violation.
pub(crate) fn is_unique_violation(err: &rusqlite::Error) -> bool {
    err.sqlite_error()
        .is_some_and(|e| e.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE)
}
