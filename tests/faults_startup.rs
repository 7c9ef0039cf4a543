//! A real `locus serve` refuses a database it must not touch: corrupt,
//! truncated, a foreign file, another application's SQLite database, or a
//! schema newer than the binary. It exits non-zero at once with one clear
//! `locus: ...` line on stderr (no panic), and the file keeps every byte.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use locus::store::{Store, StoreConfig};
use rusqlite::Connection;

/// A healthy Locus database with a few accounts and positions, closed.
async fn locus_db(path: &Path) {
    let store = Store::open(path, StoreConfig::default()).await.unwrap();
    for i in 0..40 {
        store
            .create_account(&format!("player{i}"), "$argon2id$fake")
            .await
            .unwrap();
    }
    store.close().await.unwrap();
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs `locus serve` on `db` and checks the refusal: non-zero exit within
/// a generous time, one `locus:` error line naming the file and containing
/// `expect`, no panic, the file byte-identical and no side file left.
async fn assert_refused(db: &Path, expect: &str) {
    let before = fs::read(db).unwrap();
    let listing = names_in(db.parent().unwrap());
    support::process::assert_serve_refused(db, expect).await;
    assert_eq!(fs::read(db).unwrap(), before, "the file changed");
    assert_eq!(
        names_in(db.parent().unwrap()),
        listing,
        "side files appeared"
    );
}

fn fresh() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("world.db");
    (dir, db)
}

#[tokio::test]
async fn refuses_a_corrupt_database() {
    let (_dir, db) = fresh();
    locus_db(&db).await;
    let mut bytes = fs::read(&db).unwrap();
    let page = 4096;
    assert!(bytes.len() >= 4 * page, "a multi-page database");
    // Scribble over the accounts table's b-tree pages, header intact.
    for (i, b) in bytes[2 * page..4 * page].iter_mut().enumerate() {
        *b = (i * 13 % 251) as u8;
    }
    fs::write(&db, &bytes).unwrap();
    assert_refused(&db, "is corrupt").await;
}

#[tokio::test]
async fn refuses_a_truncated_database() {
    let (_dir, db) = fresh();
    locus_db(&db).await;
    let bytes = fs::read(&db).unwrap();
    fs::write(&db, &bytes[..bytes.len() / 2 + 100]).unwrap();
    assert_refused(&db, "untouched").await;
}

#[tokio::test]
async fn refuses_a_foreign_file() {
    let (_dir, db) = fresh();
    fs::write(
        &db,
        "GIF89a this is a picture, not a database\n".repeat(300),
    )
    .unwrap();
    assert_refused(&db, "is not a SQLite database").await;
}

#[tokio::test]
async fn refuses_another_applications_database() {
    let (_dir, db) = fresh();
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices VALUES (1, 9.5);").unwrap();
    drop(conn);
    assert_refused(&db, "another application").await;
}

#[tokio::test]
async fn refuses_a_newer_schema() {
    let (_dir, db) = fresh();
    locus_db(&db).await;
    let conn = Connection::open(&db).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    assert_refused(&db, "newer than").await;
}
