//! Write failures during play: disk full and read-only. A failed position
//! batch is rolled back whole, the failure shows in `Store::health`, the saves
//! stay in memory (latest per account wins) and land once writes work again.
//! The read-only tests run on both backends; a full disk is simulated on
//! SQLite only (on PostgreSQL `server_postgres` stops the server instead).

mod support;

use support::pg::{Backend, BackendDb};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use locus::game::{PlayerId, SavedPosition};
use locus::store::{AdminStore, Store, StoreConfig, StoreError, StoreHealth, WriteFault};

fn save(id: PlayerId, x: f64, y: f64) -> SavedPosition {
    SavedPosition {
        id,
        x,
        y,
        reset_epoch: 0,
    }
}

fn config() -> StoreConfig {
    StoreConfig {
        retry_interval: Duration::from_millis(20),
        ..StoreConfig::default()
    }
}

/// Stored positions as another process sees them.
fn stored_positions(path: &Path) -> usize {
    let database = locus::store::Database::from_arg(path).unwrap();
    let admin = AdminStore::connect(&database, &StoreConfig::default()).unwrap();
    admin
        .list_users()
        .unwrap()
        .iter()
        .filter(|u| u.position.is_some())
        .count()
}

/// Waits for the store thread to report a state; the store retries on its own
/// timer, so this is an awaited event, with a generous deadline for CI.
async fn wait_for_health(store: &Store, done: impl Fn(&StoreHealth) -> bool) -> StoreHealth {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health = store.health();
        if done(&health) {
            return health;
        }
        assert!(
            Instant::now() < deadline,
            "store never reached the expected state: {health:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn store_with_accounts(n: usize) -> (BackendDb, PathBuf, Store, Vec<PlayerId>) {
    store_on(Backend::Sqlite, "sqlite only", n).await.unwrap()
}

/// A store on a fresh database of `backend` with `n` accounts, or `None`
/// when PostgreSQL is skipped.
async fn store_on(
    backend: Backend,
    test: &str,
    n: usize,
) -> Option<(BackendDb, PathBuf, Store, Vec<PlayerId>)> {
    let dir = BackendDb::new(backend, test)?;
    let path = dir.path.clone();
    let store = Store::connect(&dir.database(), config()).await.unwrap();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(store.create_account(&format!("p{i}"), "x").await.unwrap());
    }
    Some((dir, path, store, ids))
}

both_backends!(
    read_only_database_fails_saves_until_writable_again,
    failed_final_flush_is_reported_by_close,
);

#[tokio::test]
async fn disk_full_keeps_saves_in_memory_and_retries_until_they_land() {
    let (_dir, path, store, ids) = store_with_accounts(400).await;
    store
        .inject_write_fault(WriteFault::DiskFull)
        .await
        .unwrap();

    // First saves of 400 accounts need new pages: the batch cannot fit.
    store
        .save_positions(ids.iter().map(|&id| save(id, 1.0, 1.0)).collect())
        .unwrap();
    let err = store.flush().await.unwrap_err();
    assert!(matches!(err, StoreError::Full(_)), "{err:?}");
    assert!(err.is_transient());

    let health = store.health();
    assert!(!health.last_flush_ok);
    assert!(health.consecutive_failures >= 1);
    assert!(health.flushes_failed_total >= 1);
    assert!(
        health.last_error.as_deref().unwrap_or("").contains("full"),
        "{health:?}"
    );
    assert_eq!(health.pending_saves, 400);

    // Nothing was half-written.
    assert_eq!(stored_positions(&path), 0);

    // Later saves merge with the kept ones; the latest per account wins.
    store
        .save_positions(vec![save(ids[0], 50.0, 60.0)])
        .unwrap();
    let pos = store.load_position(ids[0]).await.unwrap().unwrap();
    assert_eq!((pos.x, pos.y), (50.0, 60.0));
    assert_eq!(store.health().pending_saves, 400);

    // Space comes back: the retry timer writes everything without a flush.
    store.inject_write_fault(WriteFault::None).await.unwrap();
    let health = wait_for_health(&store, |h| h.pending_saves == 0).await;
    assert!(health.last_flush_ok);
    assert_eq!(health.consecutive_failures, 0);
    assert_eq!(health.last_error, None);
    store.close().await.unwrap();

    assert_eq!(stored_positions(&path), 400);
    let store = Store::open(&path, config()).await.unwrap();
    let pos = store.load_position(ids[0]).await.unwrap().unwrap();
    assert_eq!((pos.x, pos.y), (50.0, 60.0));
    let pos = store.load_position(ids[399]).await.unwrap().unwrap();
    assert_eq!((pos.x, pos.y), (1.0, 1.0));
}

async fn read_only_database_fails_saves_until_writable_again(backend: Backend) {
    let test = "read_only_database_fails_saves_until_writable_again";
    let Some((_dir, path, store, ids)) = store_on(backend, test, 3).await else {
        return;
    };
    store
        .save_positions(ids.iter().map(|&id| save(id, 1.0, 1.0)).collect())
        .unwrap();
    store.flush().await.unwrap();

    store
        .inject_write_fault(WriteFault::ReadOnly)
        .await
        .unwrap();
    store
        .save_positions(ids.iter().map(|&id| save(id, 2.0, 2.0)).collect())
        .unwrap();
    let err = store.flush().await.unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly(_)), "{err:?}");
    let health = store.health();
    assert!(!health.last_flush_ok);
    assert_eq!(health.pending_saves, 3);

    // Reads still work, and see the saves waiting in memory.
    let pos = store.load_position(ids[2]).await.unwrap().unwrap();
    assert_eq!((pos.x, pos.y), (2.0, 2.0));
    // Other writes report the fault clearly too.
    let err = store.create_account("newcomer", "x").await.unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly(_)), "{err:?}");

    // Still failing on the timer's retries.
    wait_for_health(&store, |h| h.consecutive_failures >= 2).await;

    store.inject_write_fault(WriteFault::None).await.unwrap();
    store.flush().await.unwrap();
    let health = store.health();
    assert!(health.last_flush_ok);
    assert_eq!(health.pending_saves, 0);
    store.close().await.unwrap();

    let database = locus::store::Database::from_arg(&path).unwrap();
    let admin = AdminStore::connect(&database, &StoreConfig::default()).unwrap();
    for user in admin.list_users().unwrap() {
        let pos = user.position.unwrap();
        assert_eq!((pos.x, pos.y), (2.0, 2.0));
    }
}

async fn failed_final_flush_is_reported_by_close(backend: Backend) {
    let test = "failed_final_flush_is_reported_by_close";
    let Some((_dir, _path, store, ids)) = store_on(backend, test, 1).await else {
        return;
    };
    store
        .inject_write_fault(WriteFault::ReadOnly)
        .await
        .unwrap();
    store.save_positions(vec![save(ids[0], 1.0, 1.0)]).unwrap();
    let err = store.close().await.unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly(_)), "{err:?}");
}
