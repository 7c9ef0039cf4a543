//! The embedded schema migrations (`migrations/NNNN_*.sql`, forward-only) and
//! how to apply them: one transaction per migration, version in
//! `PRAGMA user_version` (rusqlite_migration). Must not open files; `open`
//! decides whether a database may be migrated at all.

use std::path::Path;

use rusqlite::Connection;
use rusqlite_migration::{Migrations, M};

use super::StoreError;

/// The migration files, in order. Append only; never edit a shipped file.
const MIGRATION_SQL: &[&str] = &[
    include_str!("../../../migrations/0001_init.sql"),
    include_str!("../../../migrations/0002_admin_events.sql"),
];

/// The schema version this binary produces and understands: the number of
/// embedded migrations. A database with a higher `user_version` is refused.
pub const SCHEMA_VERSION: usize = MIGRATION_SQL.len();

/// `PRAGMA application_id` of a Locus database ("Locu"), set by 0001.
pub(crate) const APPLICATION_ID: i32 = 0x4C6F_6375;

fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATION_SQL.iter().map(|sql| M::up(sql)).collect())
}

/// Applies every pending migration, each in its own (IMMEDIATE) transaction,
/// so that a crash mid-way leaves the database at the last completed version.
///
/// If another process migrates the same file concurrently, our attempt fails
/// (e.g. "table already exists") after theirs committed; we then re-read the
/// version and carry on from there.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let migrations = migrations();
    loop {
        let current = user_version(conn)?;
        if current >= SCHEMA_VERSION as i64 {
            return Ok(());
        }
        let target = usize::try_from(current).unwrap_or(0) + 1;
        if let Err(err) = migrations.to_version(conn, target) {
            if user_version(conn)? >= target as i64 {
                continue;
            }
            return Err(StoreError::Migration {
                path: path.to_path_buf(),
                version: target,
                // Not the error's Display: it embeds the whole SQL file.
                detail: match err {
                    rusqlite_migration::Error::RusqliteError { err, .. } => err.to_string(),
                    other => format!("{other:?}").chars().take(500).collect(),
                },
            });
        }
        tracing::info!(db = %path.display(), version = target, "applied schema migration");
    }
}

/// `PRAGMA user_version`.
pub(crate) fn user_version(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(migrations().validate().is_ok());
    }

    #[test]
    fn migrate_from_empty_reaches_schema_version_and_sets_application_id() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION as i64);
        let app_id: i32 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .unwrap();
        assert_eq!(app_id, APPLICATION_ID);
        // Idempotent.
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION as i64);
    }
}
