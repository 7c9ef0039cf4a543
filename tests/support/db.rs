//! Straight looks at a server's database, as another process would have
//! them: bot accounts made with `AdminStore` (works while the server runs),
//! read-only queries of stored positions (SQLite file or PostgreSQL URL
//! alike), and `PRAGMA integrity_check` (SQLite). Never writes a position:
//! the server owns those.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use locus::store::{AdminStore, BotAccount, StoreConfig};

/// A read-only connection to the database (the test reads, never writes).
pub fn read_db(db: &Path) -> rusqlite::Connection {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

/// The stored position and reset epoch of `name`, if placed.
pub fn stored(db: &Path, name: &str) -> Option<(f64, f64, i64)> {
    use rusqlite::OptionalExtension;
    if super::pg::is_postgres(db) {
        // Test names are plain ASCII words: no quoting needed beyond this.
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        let sql = format!(
            "SELECT p.x, p.y, p.reset_epoch FROM positions p JOIN accounts a ON a.id = p.account_id WHERE a.username = '{name}'"
        );
        let rows = super::pg::query(db.to_str().unwrap(), &sql);
        return rows.first().map(|r| (r.get(0), r.get(1), r.get(2)));
    }
    read_db(db)
        .query_row(
            "SELECT p.x, p.y, p.reset_epoch FROM positions p JOIN accounts a ON a.id = p.account_id WHERE a.username = ?1",
            [name],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()
        .unwrap()
}

/// The one integer `sql` answers (e.g. a `count(*)`), on either backend.
/// Read-only: for checks of what the server or the CLI wrote.
pub fn scalar(db: &Path, sql: &str) -> i64 {
    if super::pg::is_postgres(db) {
        return super::pg::query(db.to_str().unwrap(), sql)[0].get(0);
    }
    read_db(db).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// The stored position of `name`, if placed.
pub fn stored_position(db: &Path, name: &str) -> Option<(f64, f64)> {
    stored(db, name).map(|(x, y, _)| (x, y))
}

/// A bot account made straight in the database: (name, token).
#[derive(Debug, Clone)]
pub struct Bot {
    pub name: String,
    pub token: String,
}

/// Creates `count` bot accounts named `{prefix}{i}` with one fresh token each,
/// in the (existing) database at `db`; works while the server runs.
pub fn make_bots(db: &Path, prefix: &str, count: usize) -> Vec<Bot> {
    let database = locus::store::Database::from_arg(db).unwrap();
    let mut admin =
        AdminStore::connect(&database, &StoreConfig::default()).expect("database opens for admin");
    let mut bots = Vec::with_capacity(count);
    let mut rows = Vec::with_capacity(count);
    for i in 0..count {
        let issued = locus::auth::token::issue(SystemTime::now(), Duration::from_secs(24 * 3600));
        let name = format!("{prefix}{i}");
        rows.push(BotAccount {
            username: name.clone(),
            // Bots play with their token only.
            password_phc: locus::admin::BOT_PASSWORD_PHC.to_owned(),
            token_hash: issued.hash,
            expires_at: issued.expires_at,
        });
        bots.push(Bot {
            name,
            token: issued.token,
        });
    }
    admin.create_bots(&rows).expect("bots created");
    bots
}

/// Every stored position by username, read through a read-only connection
/// (what any other process would see committed).
pub fn stored_positions(db: &Path) -> HashMap<String, (f64, f64)> {
    if super::pg::is_postgres(db) {
        let sql =
            "SELECT a.username, p.x, p.y FROM positions p JOIN accounts a ON a.id = p.account_id";
        return super::pg::query(db.to_str().unwrap(), sql)
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect();
    }
    let conn = read_db(db);
    let mut stmt = conn
        .prepare(
            "SELECT a.username, p.x, p.y FROM positions p JOIN accounts a ON a.id = p.account_id",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                (row.get::<_, f64>(1)?, row.get::<_, f64>(2)?),
            ))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// `PRAGMA integrity_check` of a SQLite file (recovers a left-over WAL
/// first, as the next server start would); on PostgreSQL, `amcheck`'s
/// `bt_index_check` of every index of the Locus tables (rows and their
/// indexes agree). "ok", or what was found.
pub fn integrity_check(db: &Path) -> String {
    if super::pg::is_postgres(db) {
        let sql = "CREATE EXTENSION IF NOT EXISTS amcheck;
             DO $$ DECLARE i regclass; BEGIN
                 FOR i IN SELECT c.oid FROM pg_index x
                     JOIN pg_class c ON c.oid = x.indexrelid
                     JOIN pg_am a ON a.oid = c.relam
                     JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = current_schema() AND a.amname = 'btree'
                 LOOP PERFORM bt_index_check(i, true); END LOOP;
             END $$";
        return match super::pg::execute(db.to_str().unwrap(), sql) {
            Ok(()) => "ok".to_owned(),
            Err(err) => format!("{err:?}"),
        };
    }
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}
