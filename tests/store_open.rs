//! Opening database files: creation and migration from nothing, reopening,
//! and refusing files that are not ours (garbage, truncated, foreign, corrupt,
//! newer schema) while leaving them byte-for-byte untouched.

use std::fs;
use std::path::{Path, PathBuf};

use locus::store::{AdminStore, Store, StoreConfig, StoreError, SCHEMA_VERSION};
use rusqlite::Connection;

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("locus.db")
}

/// A Locus database with one account, closed cleanly.
async fn make_locus_db(path: &Path) {
    let store = Store::open(path, StoreConfig::default()).await.unwrap();
    store
        .create_account("alice", "$argon2id$fake")
        .await
        .unwrap();
    store.close().await.unwrap();
}

/// Names of the files in the directory, sorted.
fn dir_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Opens `path` with both entry points and checks each refuses it with an
/// error accepted by `expect`, that the file keeps its bytes, and that no
/// side file appears.
async fn assert_refused_untouched(path: &Path, expect: impl Fn(&StoreError) -> bool) {
    let dir = path.parent().unwrap();
    let before = fs::read(path).unwrap();
    let listing = dir_listing(dir);

    let err = Store::open(path, StoreConfig::default()).await.unwrap_err();
    assert!(expect(&err), "unexpected error from Store::open: {err:?}");
    assert!(!err.to_string().is_empty());
    assert_eq!(
        fs::read(path).unwrap(),
        before,
        "Store::open modified the file"
    );
    assert_eq!(dir_listing(dir), listing, "Store::open left side files");

    let err = AdminStore::open_existing(path, &StoreConfig::default()).unwrap_err();
    assert!(expect(&err), "unexpected error from open_existing: {err:?}");
    assert_eq!(
        fs::read(path).unwrap(),
        before,
        "open_existing modified the file"
    );
    assert_eq!(dir_listing(dir), listing, "open_existing left side files");
}

#[tokio::test]
async fn creates_database_and_migrates_from_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    make_locus_db(&path).await;

    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION as i64);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    for table in ["accounts", "sessions", "positions", "reset_clock"] {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "table {table} missing");
    }
}

#[tokio::test]
async fn reopen_keeps_data_and_does_not_remigrate() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    make_locus_db(&path).await;

    let store = Store::open(&path, StoreConfig::default()).await.unwrap();
    let alice = store.account_by_username("alice").await.unwrap().unwrap();
    assert_eq!(alice.username, "alice");
    assert!(matches!(
        store.create_account("alice", "x").await,
        Err(StoreError::UsernameTaken)
    ));
    store.close().await.unwrap();
}

#[tokio::test]
async fn empty_file_is_initialised_by_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    fs::write(&path, b"").unwrap();
    let store = Store::open(&path, StoreConfig::default()).await.unwrap();
    store.create_account("bob", "x").await.unwrap();
    store.close().await.unwrap();
}

#[tokio::test]
async fn refuses_newer_schema_leaving_file_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    make_locus_db(&path).await;
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    assert_refused_untouched(&path, |e| {
        matches!(e, StoreError::SchemaTooNew { found: 99, supported, .. } if *supported == SCHEMA_VERSION)
    })
    .await;
}

#[tokio::test]
async fn refuses_newer_schema_found_only_in_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    make_locus_db(&path).await;
    {
        // A newer binary migrated, then the process died before any
        // checkpoint: the main file still says the old version.
        let conn = Connection::open(&path).unwrap();
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 42).unwrap();
    }
    let wal = dir.path().join("locus.db-wal");
    let wal_before = fs::read(&wal).unwrap();
    assert!(!wal_before.is_empty());

    let before = fs::read(&path).unwrap();
    let err = Store::open(&path, StoreConfig::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 42, .. }),
        "{err:?}"
    );
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(fs::read(&wal).unwrap(), wal_before);
}

#[tokio::test]
async fn refuses_garbage_header_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 31 % 251) as u8).collect();
    fs::write(&path, &garbage).unwrap();
    assert_refused_untouched(&path, |e| matches!(e, StoreError::NotADatabase { .. })).await;
}

#[tokio::test]
async fn refuses_text_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    fs::write(&path, "[server]\nlisten = \"127.0.0.1:3000\"\n".repeat(20)).unwrap();
    assert_refused_untouched(&path, |e| matches!(e, StoreError::NotADatabase { .. })).await;
}

#[tokio::test]
async fn refuses_file_truncated_mid_page_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    make_locus_db(&path).await;
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 1000]).unwrap();
    assert_refused_untouched(&path, |e| matches!(e, StoreError::NotADatabase { .. })).await;
}

#[tokio::test]
async fn refuses_file_missing_whole_pages_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    make_locus_db(&path).await;
    let bytes = fs::read(&path).unwrap();
    assert!(bytes.len() >= 3 * 4096, "expected a multi-page database");
    fs::write(&path, &bytes[..2 * 4096]).unwrap();
    assert_refused_untouched(&path, |e| {
        matches!(
            e,
            StoreError::NotADatabase { .. } | StoreError::Corrupt { .. }
        )
    })
    .await;
}

#[tokio::test]
async fn refuses_file_shorter_than_a_header_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    fs::write(&path, b"SQLite format 3\0\x10\x00").unwrap();
    assert_refused_untouched(&path, |e| matches!(e, StoreError::NotADatabase { .. })).await;
}

#[tokio::test]
async fn refuses_foreign_sqlite_database_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE bookmarks (url TEXT); INSERT INTO bookmarks VALUES ('x');",
        )
        .unwrap();
    }
    assert_refused_untouched(&path, |e| matches!(e, StoreError::ForeignDatabase { .. })).await;
}

#[tokio::test]
async fn refuses_foreign_wal_database_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');")
            .unwrap();
    }
    assert_eq!(dir_listing(dir.path()), ["locus.db"]);
    assert_refused_untouched(&path, |e| matches!(e, StoreError::ForeignDatabase { .. })).await;
}

#[tokio::test]
async fn refuses_database_with_another_application_id_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "application_id", 0x1234_5678)
            .unwrap();
    }
    assert_refused_untouched(&path, |e| matches!(e, StoreError::ForeignDatabase { .. })).await;
}

#[tokio::test]
async fn refuses_corrupt_page_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    make_locus_db(&path).await;
    let mut bytes = fs::read(&path).unwrap();
    let page = 4096;
    assert!(bytes.len() >= 3 * page);
    // Scribble over the second page (a b-tree page of the schema).
    for (i, b) in bytes[page..2 * page].iter_mut().enumerate() {
        *b = (i * 7 % 256) as u8;
    }
    fs::write(&path, &bytes).unwrap();
    assert_refused_untouched(&path, |e| {
        matches!(
            e,
            StoreError::Corrupt { .. } | StoreError::NotADatabase { .. }
        )
    })
    .await;
}

#[tokio::test]
async fn refuses_directory() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(dir.path(), StoreConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err:?}");
}

#[test]
fn open_existing_refuses_missing_file_without_creating_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let err = AdminStore::open_existing(&path, &StoreConfig::default()).unwrap_err();
    assert!(matches!(err, StoreError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("locus.db"));
    assert!(!path.exists());
    assert!(dir_listing(dir.path()).is_empty());
}

#[test]
fn open_existing_refuses_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    fs::write(&path, b"").unwrap();
    let err = AdminStore::open_existing(&path, &StoreConfig::default()).unwrap_err();
    assert!(matches!(err, StoreError::Missing { .. }), "{err:?}");
    assert_eq!(fs::read(&path).unwrap(), b"");
}

#[tokio::test]
async fn open_fails_cleanly_when_the_directory_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/locus.db");
    let err = Store::open(&path, StoreConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_opens_one_wins_the_other_is_refused() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = db_path(&dir);
        let (a, b) = tokio::join!(
            Store::open(&path, StoreConfig::default()),
            Store::open(&path, StoreConfig::default())
        );
        let (winner, refused) = match (a, b) {
            (Ok(store), Err(err)) | (Err(err), Ok(store)) => (store, err),
            (a, b) => panic!("exactly one open must win: {a:?} / {b:?}"),
        };
        assert!(matches!(refused, StoreError::InUse { .. }), "{refused:?}");
        winner.create_account("alice", "x").await.unwrap();
        // The admin CLI still opens the file the server holds.
        let admin = AdminStore::open_existing(&path, &StoreConfig::default()).unwrap();
        assert_eq!(admin.list_users().unwrap().len(), 1);
        drop(admin);
        winner.close().await.unwrap();
        // Released once closed.
        Store::open(&path, StoreConfig::default())
            .await
            .unwrap()
            .close()
            .await
            .unwrap();
    }
}
