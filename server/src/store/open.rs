//! Opening the database file safely: inspect an existing file before writing
//! anything to it, refuse what is not ours (not SQLite, truncated, another
//! application's, corrupt, or a newer schema) leaving it untouched, then set
//! up the connection and migrate. Must not run application queries.
//!
//! The server ([`open_for_server`]) first takes its `ServerLock` (see
//! `lock`): one server per file. The admin CLI takes none.
//!
//! Order of checks on an existing, non-empty file:
//! 1. [`check_header`]: a pure look at the first 100 bytes and the file size
//!    (magic string, page size, whole pages, in-header page count,
//!    `application_id`, `user_version`). No SQLite, no side files.
//! 2. A read-write connection *without* `SQLITE_OPEN_CREATE` that only reads:
//!    `user_version` and `application_id` again (a leftover `-wal` may hold a
//!    newer page 1), "is the schema empty" for a file without our
//!    application id, and `PRAGMA quick_check`. A read-write rather than a
//!    read-only connection because a read-only one leaves `-wal`/`-shm` files
//!    behind on a WAL database; this one removes the side files it created
//!    when it closes, and does not checkpoint on close if a `-wal` file
//!    existed before, so the main file keeps its bytes either way.
//! 3. Only then the real connection: WAL, `synchronous=NORMAL`,
//!    `foreign_keys=ON`, busy timeout, statement cache, migrations.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::config::DbConfig;
use rusqlite::{ffi, Connection, OpenFlags, TransactionBehavior};

use super::lock::ServerLock;
use super::migrations::{self, APPLICATION_ID, SCHEMA_VERSION};
use super::{StoreConfig, StoreError};

/// The 16 bytes every SQLite 3 database starts with.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Size of the SQLite database header.
const HEADER_LEN: usize = 100;

/// Whether a missing file may be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The server: create `./locus.db` on first start.
    CreateIfMissing,
    /// The admin CLI: a missing or empty file is an error, never silently
    /// replaced by an empty database.
    ExistingOnly,
}

/// What [`check_header`] learned from a plausible header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Page size in bytes.
    pub page_size: u32,
    /// `PRAGMA user_version` as stored in the main file.
    pub user_version: i64,
    /// `PRAGMA application_id` as stored in the main file.
    pub application_id: i32,
}

/// Why [`check_header`] refuses a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not a SQLite database, or truncated.
    NotADatabase(String),
    /// Another application's SQLite database.
    Foreign(String),
    /// A Locus schema newer than this binary's.
    TooNew(i64),
}

impl Refusal {
    fn into_error(self, path: &Path) -> StoreError {
        let path = path.to_path_buf();
        match self {
            Refusal::NotADatabase(reason) => StoreError::NotADatabase { path, reason },
            Refusal::Foreign(reason) => StoreError::ForeignDatabase { path, reason },
            Refusal::TooNew(found) => StoreError::SchemaTooNew {
                path,
                found,
                supported: SCHEMA_VERSION,
            },
        }
    }
}

fn be_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Checks the first bytes of a non-empty file (`header`, up to 100 bytes) and
/// its length. `wal_present`: a non-empty `-wal` file exists, in which case
/// the main file may legitimately lag behind its header's page count.
pub(crate) fn check_header(
    header: &[u8],
    file_len: u64,
    wal_present: bool,
) -> Result<Header, Refusal> {
    if header.len() < HEADER_LEN || file_len < HEADER_LEN as u64 {
        return Err(Refusal::NotADatabase(format!(
            "truncated: {file_len} bytes, shorter than the {HEADER_LEN}-byte SQLite header"
        )));
    }
    if &header[..16] != SQLITE_MAGIC {
        return Err(Refusal::NotADatabase(
            "the file does not start with the SQLite header".into(),
        ));
    }
    let raw_page_size = be_u16(header, 16);
    let page_size = if raw_page_size == 1 {
        65536
    } else {
        u32::from(raw_page_size)
    };
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(Refusal::NotADatabase(format!(
            "invalid page size {raw_page_size} in the header"
        )));
    }
    let (write_version, read_version) = (header[18], header[19]);
    if !(1..=2).contains(&write_version) || !(1..=2).contains(&read_version) {
        return Err(Refusal::NotADatabase(format!(
            "unknown file format version {write_version}/{read_version}"
        )));
    }
    if !file_len.is_multiple_of(u64::from(page_size)) {
        return Err(Refusal::NotADatabase(format!(
            "truncated: {file_len} bytes is not a whole number of {page_size}-byte pages"
        )));
    }
    // The in-header page count is valid only when "version-valid-for" equals
    // the change counter (SQLite file format, section 1.3.7).
    let page_count = be_u32(header, 28);
    if !wal_present && page_count != 0 && be_u32(header, 92) == be_u32(header, 24) {
        let expected = u64::from(page_count) * u64::from(page_size);
        if expected > file_len {
            return Err(Refusal::NotADatabase(format!(
                "truncated: the header promises {page_count} pages ({expected} bytes) but the file holds {file_len}"
            )));
        }
    }
    let user_version = i64::from(be_u32(header, 60) as i32);
    let application_id = be_u32(header, 68) as i32;
    check_identity(user_version, application_id, None)?;
    Ok(Header {
        page_size,
        user_version,
        application_id,
    })
}

/// Is a database with this `user_version` and `application_id` ours, and not
/// too new? `schema_objects`: number of tables etc., when known; a database
/// without our application id is only adopted if it is empty.
fn check_identity(
    user_version: i64,
    application_id: i32,
    schema_objects: Option<i64>,
) -> Result<(), Refusal> {
    if application_id != 0 && application_id != APPLICATION_ID {
        return Err(Refusal::Foreign(format!(
            "application_id {:#010x}, a Locus database has {APPLICATION_ID:#010x}",
            application_id as u32
        )));
    }
    if user_version < 0 {
        return Err(Refusal::Foreign(format!("user_version {user_version}")));
    }
    if application_id == 0 {
        if user_version != 0 {
            return Err(Refusal::Foreign(format!(
                "user_version {user_version} without the Locus application_id"
            )));
        }
        if let Some(objects) = schema_objects.filter(|&n| n > 0) {
            return Err(Refusal::Foreign(format!(
                "it holds {objects} schema objects (tables, indexes...) but not the Locus application_id"
            )));
        }
    }
    if user_version > SCHEMA_VERSION as i64 {
        return Err(Refusal::TooNew(user_version));
    }
    Ok(())
}

/// What is at the path before we open it.
enum FileState {
    /// Nothing: SQLite will create it (if allowed).
    Missing,
    /// A zero-byte file: SQLite treats it as a new, empty database.
    Empty,
    /// A plausible SQLite database.
    Database {
        /// A non-empty `-wal` file sits next to it (e.g. after a crash).
        wal_present: bool,
    },
}

fn io_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Looks at the file without SQLite.
fn inspect(path: &Path) -> Result<FileState, StoreError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(FileState::Missing),
        Err(err) => return Err(io_error(path, err)),
    };
    if !meta.is_file() {
        return Err(Refusal::NotADatabase("not a regular file".into()).into_error(path));
    }
    if meta.len() == 0 {
        return Ok(FileState::Empty);
    }
    let mut header = Vec::with_capacity(HEADER_LEN);
    File::open(path)
        .and_then(|file| file.take(HEADER_LEN as u64).read_to_end(&mut header))
        .map_err(|err| io_error(path, err))?;
    let wal_present = std::fs::metadata(side_file(path, "-wal")).is_ok_and(|m| m.len() > 0);
    check_header(&header, meta.len(), wal_present).map_err(|r| r.into_error(path))?;
    Ok(FileState::Database { wal_present })
}

/// Maps an error of the checking connection: SQLite's own "not a database" and
/// "corrupt" verdicts become refusals.
fn check_error(path: &Path, err: rusqlite::Error, config: &StoreConfig) -> StoreError {
    match err.sqlite_error_code() {
        Some(ffi::ErrorCode::NotADatabase) => StoreError::NotADatabase {
            path: path.to_path_buf(),
            reason: err.to_string(),
        },
        Some(ffi::ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: err.to_string(),
        },
        _ => StoreError::from_sqlite(err, config.busy_timeout),
    }
}

/// Step 2 of the module docs: read-only questions through SQLite.
fn verify_existing(path: &Path, config: &StoreConfig, wal_present: bool) -> Result<(), StoreError> {
    let fail = |err| check_error(path, err, config);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(fail)?;
    if wal_present {
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(fail)?;
    }
    conn.busy_timeout(config.busy_timeout).map_err(fail)?;
    let user_version = migrations::user_version(&conn).map_err(fail)?;
    let application_id: i32 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(fail)?;
    let schema_objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
        .map_err(fail)?;
    check_identity(user_version, application_id, Some(schema_objects))
        .map_err(|r| r.into_error(path))?;
    if config.check_integrity_on_open {
        let mut stmt = conn.prepare("PRAGMA quick_check(5)").map_err(fail)?;
        let lines = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(fail)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(fail)?;
        if lines != ["ok"] {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: lines.join("; "),
            });
        }
    }
    Ok(())
}

/// Sets the connection up for the server or the admin CLI.
fn configure(conn: &Connection, path: &Path, config: &StoreConfig) -> Result<(), StoreError> {
    let sql = |err| StoreError::from_sqlite(err, config.busy_timeout);
    conn.busy_timeout(config.busy_timeout).map_err(sql)?;
    conn.set_prepared_statement_cache_capacity(config.statement_cache_capacity);
    if conn.is_readonly(rusqlite::MAIN_DB).map_err(sql)? {
        return Err(StoreError::ReadOnly(format!(
            "{} could only be opened read-only; check the permissions of the file and its directory",
            path.display()
        )));
    }
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(io_error(
            path,
            std::io::Error::other(format!(
                "could not switch to WAL mode (journal_mode is {mode}); is the file on a network filesystem?"
            )),
        ));
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sql)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(sql)?;
    Ok(())
}

/// Opens the database at `path` for the server: first takes the
/// [`ServerLock`] (refusing a file another server holds, before anything
/// is read or written), then opens it as the module docs describe. The
/// caller must drop the connection before the lock (see `lock`).
pub(crate) fn open_for_server(
    path: &Path,
    config: &StoreConfig,
) -> Result<(ServerLock, Connection), StoreError> {
    let lock = ServerLock::acquire(path)?;
    let conn = open(path, config, Mode::CreateIfMissing)?;
    Ok((lock, conn))
}

/// Opens the database at `path` as the module docs describe.
pub(crate) fn open(
    path: &Path,
    config: &StoreConfig,
    mode: Mode,
) -> Result<Connection, StoreError> {
    match inspect(path)? {
        FileState::Missing | FileState::Empty if mode == Mode::ExistingOnly => {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        FileState::Missing | FileState::Empty => {}
        FileState::Database { wal_present } => verify_existing(path, config, wal_present)?,
    }
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if mode == Mode::CreateIfMissing {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let mut conn =
        Connection::open_with_flags(path, flags).map_err(|err| match err.sqlite_error_code() {
            Some(ffi::ErrorCode::CannotOpen) => io_error(
                path,
                std::io::Error::other(format!("cannot open or create the database file: {err}")),
            ),
            _ => StoreError::from_sqlite(err, config.busy_timeout),
        })?;
    // Every write transaction takes the write lock up front: with WAL this
    // avoids SQLITE_BUSY_SNAPSHOT when a read would be upgraded to a write.
    conn.set_transaction_behavior(TransactionBehavior::Immediate);
    // Switching a new file to WAL or migrating it while another process does
    // the same can answer SQLITE_BUSY at once (SQLite does not wait where
    // waiting could deadlock): try again until the busy timeout runs out.
    let deadline = std::time::Instant::now() + config.busy_timeout;
    loop {
        match configure(&conn, path, config).and_then(|()| migrations::migrate(&mut conn, path)) {
            Err(StoreError::Busy { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => return result.map(|()| conn),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header of an empty, valid Locus-less database: 4096-byte pages,
    /// 1 page, consistent change counter.
    fn header() -> Vec<u8> {
        let mut h = vec![0u8; HEADER_LEN];
        h[..16].copy_from_slice(SQLITE_MAGIC);
        h[16..18].copy_from_slice(&4096u16.to_be_bytes());
        h[18] = 2;
        h[19] = 2;
        h[24..28].copy_from_slice(&7u32.to_be_bytes());
        h[28..32].copy_from_slice(&1u32.to_be_bytes());
        h[92..96].copy_from_slice(&7u32.to_be_bytes());
        h
    }

    fn with_identity(user_version: i32, app_id: i32) -> Vec<u8> {
        let mut h = header();
        h[60..64].copy_from_slice(&user_version.to_be_bytes());
        h[68..72].copy_from_slice(&app_id.to_be_bytes());
        h
    }

    #[test]
    fn accepts_plausible_header() {
        let got = check_header(&with_identity(1, APPLICATION_ID), 4096, false).unwrap();
        assert_eq!(got.page_size, 4096);
        assert_eq!(got.user_version, 1);
        assert_eq!(got.application_id, APPLICATION_ID);
        // An empty database without our id yet is fine (schema unknown here).
        check_header(&header(), 4096, false).unwrap();
    }

    #[test]
    fn rejects_file_shorter_than_header() {
        let got = check_header(&header()[..40], 40, false);
        assert!(matches!(got, Err(Refusal::NotADatabase(r)) if r.contains("truncated")));
    }

    #[test]
    fn rejects_garbage_magic() {
        let mut h = header();
        h[..16].copy_from_slice(b"PK\x03\x04zipfile!!!!!");
        assert!(matches!(
            check_header(&h, 4096, false),
            Err(Refusal::NotADatabase(_))
        ));
    }

    #[test]
    fn rejects_invalid_page_size() {
        let mut h = header();
        h[16..18].copy_from_slice(&1000u16.to_be_bytes());
        assert!(
            matches!(check_header(&h, 4096, false), Err(Refusal::NotADatabase(r)) if r.contains("page size"))
        );
    }

    #[test]
    fn page_size_one_means_65536() {
        let mut h = header();
        h[16..18].copy_from_slice(&1u16.to_be_bytes());
        assert_eq!(check_header(&h, 65536, false).unwrap().page_size, 65536);
    }

    #[test]
    fn rejects_unknown_format_version() {
        let mut h = header();
        h[19] = 3;
        assert!(matches!(
            check_header(&h, 4096, false),
            Err(Refusal::NotADatabase(_))
        ));
    }

    #[test]
    fn rejects_partial_page() {
        let got = check_header(&header(), 4000, false);
        assert!(matches!(got, Err(Refusal::NotADatabase(r)) if r.contains("whole number")));
    }

    #[test]
    fn rejects_fewer_pages_than_header_promises() {
        let mut h = header();
        h[28..32].copy_from_slice(&3u32.to_be_bytes());
        let got = check_header(&h, 2 * 4096, false);
        assert!(matches!(got, Err(Refusal::NotADatabase(r)) if r.contains("promises 3 pages")));
    }

    #[test]
    fn page_count_is_not_trusted_while_a_wal_exists() {
        let mut h = header();
        h[28..32].copy_from_slice(&3u32.to_be_bytes());
        check_header(&h, 2 * 4096, true).unwrap();
    }

    #[test]
    fn page_count_ignored_when_change_counter_mismatches() {
        let mut h = header();
        h[28..32].copy_from_slice(&3u32.to_be_bytes());
        h[92..96].copy_from_slice(&6u32.to_be_bytes());
        check_header(&h, 2 * 4096, false).unwrap();
    }

    #[test]
    fn rejects_newer_schema() {
        let got = check_header(
            &with_identity(SCHEMA_VERSION as i32 + 1, APPLICATION_ID),
            4096,
            false,
        );
        assert_eq!(got, Err(Refusal::TooNew(SCHEMA_VERSION as i64 + 1)));
    }

    #[test]
    fn rejects_foreign_application_id() {
        let got = check_header(&with_identity(0, 0x0F05_5112), 4096, false);
        assert!(matches!(got, Err(Refusal::Foreign(_))));
    }

    #[test]
    fn rejects_user_version_without_application_id() {
        let got = check_header(&with_identity(1, 0), 4096, false);
        assert!(matches!(got, Err(Refusal::Foreign(_))));
    }

    #[test]
    fn rejects_negative_user_version() {
        let got = check_header(&with_identity(-1, APPLICATION_ID), 4096, false);
        assert!(matches!(got, Err(Refusal::Foreign(_))));
    }

    #[test]
    fn rejects_populated_schema_without_application_id() {
        assert!(matches!(
            check_identity(0, 0, Some(3)),
            Err(Refusal::Foreign(_))
        ));
        assert_eq!(check_identity(0, 0, Some(0)), Ok(()));
    }
}
