//! Accounts, sessions, positions and admin operations against real
//! databases, including an admin reset from a second connection racing a
//! stale save from the server. Tests named in `both_backends!` run once on a
//! SQLite file and once on PostgreSQL (`NAME::sqlite`, `NAME::postgres`);
//! the others are about SQLite's file (busy lock, `VACUUM INTO`, blocking
//! drop).

mod support;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use locus::game::{PlayerId, SavedPosition};
use locus::store::{AdminStore, BotAccount, ResetTarget, Store, StoreConfig, StoreError};

use support::pg::{Backend, BackendDb};

struct Fixture {
    /// The database (temporary file or PostgreSQL database).
    db: BackendDb,
    /// Where `db` is (the file, or the URL as a path).
    path: PathBuf,
    store: Store,
}

/// A fresh store on `backend`, or `None` when PostgreSQL is skipped.
async fn fixture_with(backend: Backend, test: &str, config: StoreConfig) -> Option<Fixture> {
    let db = BackendDb::new(backend, test)?;
    let store = Store::connect(&db.database(), config).await.unwrap();
    Some(Fixture {
        path: db.path.clone(),
        db,
        store,
    })
}

async fn fixture(backend: Backend, test: &str) -> Option<Fixture> {
    fixture_with(backend, test, StoreConfig::default()).await
}

fn admin(f: &Fixture) -> AdminStore {
    AdminStore::connect(&f.db.database(), &StoreConfig::default()).unwrap()
}

both_backends!(
    account_create_lookup_and_duplicate,
    sessions_create_lookup_expire_delete,
    expired_sessions_are_purged,
    session_for_unknown_account_is_refused,
    sessions_per_account_are_capped_keeping_the_newest,
    positions_save_flush_load_and_survive_reopen,
    load_sees_a_save_queued_just_before,
    unstorable_saves_are_dropped_without_poisoning_the_batch,
    admin_reset_wins_against_a_stale_save,
    stale_save_still_queued_in_memory_does_not_hide_a_reset,
    reset_all_places_every_account_including_never_placed,
    reset_of_unknown_user_or_non_finite_point_is_refused,
    admin_lists_creates_deletes_and_revokes,
    bots_and_their_tokens_are_created_in_one_transaction,
    calls_after_close_fail_with_closed,
);

fn save(id: PlayerId, x: f64, y: f64, reset_epoch: i64) -> SavedPosition {
    SavedPosition {
        id,
        x,
        y,
        reset_epoch,
    }
}

fn hash(n: u8) -> [u8; 32] {
    [n; 32]
}

async fn account_create_lookup_and_duplicate(backend: Backend) {
    let Some(f) = fixture(backend, "account_create_lookup_and_duplicate").await else {
        return;
    };
    let id = f
        .store
        .create_account("Alice_1", "$argon2id$a")
        .await
        .unwrap();
    let other = f.store.create_account("bob", "$argon2id$b").await.unwrap();
    assert_ne!(id, other);

    let found = f
        .store
        .account_by_username("alice_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, id);
    assert_eq!(found.username, "Alice_1");
    assert_eq!(found.password_phc, "$argon2id$a");
    assert!(f
        .store
        .account_by_username("nobody")
        .await
        .unwrap()
        .is_none());

    for taken in ["Alice_1", "ALICE_1", "alice_1"] {
        let err = f.store.create_account(taken, "x").await.unwrap_err();
        assert!(matches!(err, StoreError::UsernameTaken), "{taken}: {err:?}");
    }
}

async fn sessions_create_lookup_expire_delete(backend: Backend) {
    let Some(f) = fixture(backend, "sessions_create_lookup_expire_delete").await else {
        return;
    };
    let id = f.store.create_account("alice", "x").await.unwrap();
    let now = SystemTime::now();
    let expires = now + Duration::from_secs(3600);
    f.store.create_session(id, hash(1), expires).await.unwrap();

    let account = f
        .store
        .session_account(hash(1), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.id, id);
    assert!(f
        .store
        .session_account(hash(2), now)
        .await
        .unwrap()
        .is_none());
    // At and after expiry the session is not accepted.
    assert!(f
        .store
        .session_account(hash(1), expires)
        .await
        .unwrap()
        .is_none());
    assert!(f
        .store
        .session_account(hash(1), expires + Duration::from_secs(1))
        .await
        .unwrap()
        .is_none());

    assert_eq!(f.store.delete_session(hash(1)).await.unwrap(), Some(id));
    assert!(f
        .store
        .session_account(hash(1), now)
        .await
        .unwrap()
        .is_none());
    assert_eq!(f.store.delete_session(hash(1)).await.unwrap(), None);
}

async fn expired_sessions_are_purged(backend: Backend) {
    let Some(f) = fixture(backend, "expired_sessions_are_purged").await else {
        return;
    };
    let id = f.store.create_account("alice", "x").await.unwrap();
    let now = SystemTime::now();
    f.store
        .create_session(id, hash(1), now - Duration::from_secs(1))
        .await
        .unwrap();
    f.store
        .create_session(id, hash(2), now + Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(f.store.purge_expired_sessions(now).await.unwrap(), 1);
    assert!(f
        .store
        .session_account(hash(2), now)
        .await
        .unwrap()
        .is_some());
}

async fn session_for_unknown_account_is_refused(backend: Backend) {
    let Some(f) = fixture(backend, "session_for_unknown_account_is_refused").await else {
        return;
    };
    let err = f
        .store
        .create_session(999, hash(1), SystemTime::now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownAccount(999)), "{err:?}");
}

async fn sessions_per_account_are_capped_keeping_the_newest(backend: Backend) {
    let config = StoreConfig {
        max_sessions_per_account: 3,
        ..StoreConfig::default()
    };
    let test = "sessions_per_account_are_capped_keeping_the_newest";
    let Some(Fixture { store, db: _db, .. }) = fixture_with(backend, test, config).await else {
        return;
    };
    let id = store.create_account("alice", "x").await.unwrap();
    let now = SystemTime::now();
    let expires = now + Duration::from_secs(3600);
    for n in 1..=5 {
        store.create_session(id, hash(n), expires).await.unwrap();
    }
    // The newest is always kept; 3 in total survive.
    assert!(store.session_account(hash(5), now).await.unwrap().is_some());
    let mut alive = 0;
    for n in 1..=5 {
        if store.session_account(hash(n), now).await.unwrap().is_some() {
            alive += 1;
        }
    }
    assert_eq!(alive, 3);
    assert_eq!(store.delete_account_sessions(id).await.unwrap(), 3);
}

async fn positions_save_flush_load_and_survive_reopen(backend: Backend) {
    let test = "positions_save_flush_load_and_survive_reopen";
    let Some(Fixture { store, db, .. }) = fixture(backend, test).await else {
        return;
    };
    let id = store.create_account("alice", "x").await.unwrap();
    assert_eq!(store.load_position(id).await.unwrap(), None);

    store
        .save_positions(vec![save(id, 10.5, 20.25, 0)])
        .unwrap();
    store.save_positions(vec![save(id, 11.0, 21.0, 0)]).unwrap();
    store.flush().await.unwrap();
    let expected = SavedPosition {
        id,
        x: 11.0,
        y: 21.0,
        reset_epoch: 0,
    };
    assert_eq!(store.load_position(id).await.unwrap(), Some(expected));
    let health = store.health();
    assert!(health.last_flush_ok);
    assert_eq!(health.pending_saves, 0);
    assert!(health.flushes_ok_total >= 1);
    store.close().await.unwrap();

    let store = Store::connect(&db.database(), StoreConfig::default())
        .await
        .unwrap();
    assert_eq!(store.load_position(id).await.unwrap(), Some(expected));
}

async fn load_sees_a_save_queued_just_before(backend: Backend) {
    let Some(f) = fixture(backend, "load_sees_a_save_queued_just_before").await else {
        return;
    };
    let id = f.store.create_account("alice", "x").await.unwrap();
    f.store.save_positions(vec![save(id, 1.0, 2.0, 0)]).unwrap();
    let got = f.store.load_position(id).await.unwrap().unwrap();
    assert_eq!((got.x, got.y), (1.0, 2.0));
}

#[tokio::test]
async fn drop_flushes_queued_saves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locus.db");
    let store = Store::open(&path, StoreConfig::default()).await.unwrap();
    let id = store.create_account("alice", "x").await.unwrap();
    store.save_positions(vec![save(id, 3.0, 4.0, 0)]).unwrap();
    let clone = store.clone();
    drop(store);
    drop(clone);
    let admin = AdminStore::open_existing(&path, &StoreConfig::default()).unwrap();
    let users = admin.list_users().unwrap();
    let pos = users[0].position.unwrap();
    assert_eq!((pos.x, pos.y), (3.0, 4.0));
}

async fn unstorable_saves_are_dropped_without_poisoning_the_batch(backend: Backend) {
    let Some(f) = fixture(
        backend,
        "unstorable_saves_are_dropped_without_poisoning_the_batch",
    )
    .await
    else {
        return;
    };
    let id = f.store.create_account("alice", "x").await.unwrap();
    let bob = f.store.create_account("bob", "x").await.unwrap();
    f.store
        .save_positions(vec![
            save(id, f64::NAN, 1.0, 0),
            save(bob, 5.0, 6.0, 0),
            save(12345, 1.0, 1.0, 0),
        ])
        .unwrap();
    f.store.flush().await.unwrap();
    assert_eq!(f.store.load_position(id).await.unwrap(), None);
    let got = f.store.load_position(bob).await.unwrap().unwrap();
    assert_eq!((got.x, got.y), (5.0, 6.0));
    assert!(f.store.health().last_flush_ok);
}

async fn admin_reset_wins_against_a_stale_save(backend: Backend) {
    let Some(f) = fixture(backend, "admin_reset_wins_against_a_stale_save").await else {
        return;
    };
    let id = f.store.create_account("alice", "x").await.unwrap();
    f.store
        .save_positions(vec![save(id, 100.0, 100.0, 0)])
        .unwrap();
    f.store.flush().await.unwrap();
    let start_epoch = f.store.current_reset_epoch().await.unwrap();
    let loaded = f.store.load_position(id).await.unwrap().unwrap();

    // The admin CLI, another connection, resets while the player moves.
    let mut admin = admin(&f);
    let outcome = admin
        .reset_position(&ResetTarget::User("ALICE".into()), 2048.0, 2048.0)
        .unwrap();
    assert_eq!(outcome.accounts, 1);
    assert!(outcome.epoch > loaded.reset_epoch);

    // The server's next save still carries the epoch it loaded: skipped.
    let skipped_before = f.store.health().stale_saves_skipped_total;
    f.store
        .save_positions(vec![save(id, 150.0, 150.0, loaded.reset_epoch)])
        .unwrap();
    f.store.flush().await.unwrap();
    let now = f.store.load_position(id).await.unwrap().unwrap();
    assert_eq!((now.x, now.y), (2048.0, 2048.0));
    assert_eq!(now.reset_epoch, outcome.epoch);
    assert_eq!(
        f.store.health().stale_saves_skipped_total,
        skipped_before + 1
    );

    // The server learns of the reset by polling...
    let resets = f.store.resets_since(start_epoch).await.unwrap();
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0].account_id, id);
    assert_eq!((resets[0].x, resets[0].y), (2048.0, 2048.0));
    assert_eq!(resets[0].reset_epoch, outcome.epoch);
    assert!(f
        .store
        .resets_since(outcome.epoch)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(f.store.current_reset_epoch().await.unwrap(), outcome.epoch);

    // ...and saves with the new epoch land again.
    f.store
        .save_positions(vec![save(id, 2050.0, 2049.0, outcome.epoch)])
        .unwrap();
    f.store.flush().await.unwrap();
    let now = f.store.load_position(id).await.unwrap().unwrap();
    assert_eq!((now.x, now.y), (2050.0, 2049.0));
}

async fn stale_save_still_queued_in_memory_does_not_hide_a_reset(backend: Backend) {
    let Some(f) = fixture(
        backend,
        "stale_save_still_queued_in_memory_does_not_hide_a_reset",
    )
    .await
    else {
        return;
    };
    let id = f.store.create_account("alice", "x").await.unwrap();
    f.store.save_positions(vec![save(id, 1.0, 1.0, 0)]).unwrap();
    f.store.flush().await.unwrap();
    let mut admin = admin(&f);
    let outcome = admin
        .reset_position(&ResetTarget::User("alice".into()), 7.0, 8.0)
        .unwrap();
    // A stale save is queued (not yet written) when the player reconnects.
    f.store.save_positions(vec![save(id, 2.0, 2.0, 0)]).unwrap();
    let got = f.store.load_position(id).await.unwrap().unwrap();
    assert_eq!((got.x, got.y, got.reset_epoch), (7.0, 8.0, outcome.epoch));
}

async fn reset_all_places_every_account_including_never_placed(backend: Backend) {
    let Some(f) = fixture(
        backend,
        "reset_all_places_every_account_including_never_placed",
    )
    .await
    else {
        return;
    };
    let a = f.store.create_account("a", "x").await.unwrap();
    let b = f.store.create_account("b", "x").await.unwrap();
    f.store.save_positions(vec![save(a, 5.0, 5.0, 0)]).unwrap();
    f.store.flush().await.unwrap();

    let mut admin = admin(&f);
    let first = admin.reset_position(&ResetTarget::All, 1.0, 2.0).unwrap();
    assert_eq!(first.accounts, 2);
    let second = admin.reset_position(&ResetTarget::All, 3.0, 4.0).unwrap();
    assert!(second.epoch > first.epoch);

    for id in [a, b] {
        let got = f.store.load_position(id).await.unwrap().unwrap();
        assert_eq!((got.x, got.y, got.reset_epoch), (3.0, 4.0, second.epoch));
    }
    let resets = f.store.resets_since(first.epoch).await.unwrap();
    assert_eq!(resets.len(), 2);
}

async fn reset_of_unknown_user_or_non_finite_point_is_refused(backend: Backend) {
    let Some(f) = fixture(
        backend,
        "reset_of_unknown_user_or_non_finite_point_is_refused",
    )
    .await
    else {
        return;
    };
    let mut admin = admin(&f);
    let epoch = admin.current_reset_epoch().unwrap();
    let err = admin
        .reset_position(&ResetTarget::User("ghost".into()), 1.0, 1.0)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownUser(ref n) if n == "ghost"),
        "{err:?}"
    );
    let err = admin
        .reset_position(&ResetTarget::All, f64::INFINITY, 1.0)
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err:?}");
    // Neither bumped the clock.
    assert_eq!(admin.current_reset_epoch().unwrap(), epoch);
}

#[tokio::test]
async fn admin_reset_reports_busy_when_the_writer_holds_the_lock() {
    let f = fixture(Backend::Sqlite, "sqlite only").await.unwrap();
    f.store.create_account("alice", "x").await.unwrap();
    let config = StoreConfig {
        busy_timeout: Duration::from_millis(50),
        ..StoreConfig::default()
    };
    let mut admin = AdminStore::open_existing(&f.path, &config).unwrap();
    let blocker = rusqlite::Connection::open(&f.path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = admin
        .reset_position(&ResetTarget::All, 1.0, 1.0)
        .unwrap_err();
    assert!(matches!(err, StoreError::Busy { .. }), "{err:?}");
    assert!(err.is_transient());
    blocker.execute_batch("ROLLBACK").unwrap();
    admin.reset_position(&ResetTarget::All, 1.0, 1.0).unwrap();
}

async fn admin_lists_creates_deletes_and_revokes(backend: Backend) {
    let Some(f) = fixture(backend, "admin_lists_creates_deletes_and_revokes").await else {
        return;
    };
    let alice = f.store.create_account("alice", "x").await.unwrap();
    let now = SystemTime::now();
    f.store
        .create_session(alice, hash(1), now + Duration::from_secs(60))
        .await
        .unwrap();
    f.store
        .save_positions(vec![save(alice, 9.0, 9.5, 0)])
        .unwrap();
    f.store.flush().await.unwrap();

    let mut admin = admin(&f);
    let carol = admin.create_user("carol", "$argon2id$c").unwrap();
    assert!(matches!(
        admin.create_user("CAROL", "x"),
        Err(StoreError::UsernameTaken)
    ));
    let users = admin.list_users().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0].username, "alice");
    assert_eq!(users[0].active_sessions, 1);
    assert!(users[0].last_seen.is_some());
    let pos = users[0].position.unwrap();
    assert_eq!((pos.x, pos.y), (9.0, 9.5));
    assert_eq!(users[1].id, carol);
    assert_eq!(users[1].position, None);
    assert_eq!(users[1].last_seen, None);

    assert_eq!(admin.revoke_tokens("alice").unwrap(), 1);
    assert!(f
        .store
        .session_account(hash(1), now)
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        admin.revoke_tokens("ghost"),
        Err(StoreError::UnknownUser(_))
    ));

    f.store
        .create_session(alice, hash(2), now + Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(admin.delete_user("Alice").unwrap(), alice);
    assert!(f
        .store
        .session_account(hash(2), now)
        .await
        .unwrap()
        .is_none());
    assert_eq!(f.store.load_position(alice).await.unwrap(), None);
    assert!(matches!(
        admin.delete_user("alice"),
        Err(StoreError::UnknownUser(_))
    ));

    // A save for the deleted account is skipped, not an error.
    f.store
        .save_positions(vec![save(alice, 1.0, 1.0, 0)])
        .unwrap();
    f.store.flush().await.unwrap();
    assert_eq!(f.store.load_position(alice).await.unwrap(), None);
}

async fn bots_and_their_tokens_are_created_in_one_transaction(backend: Backend) {
    let Some(f) = fixture(
        backend,
        "bots_and_their_tokens_are_created_in_one_transaction",
    )
    .await
    else {
        return;
    };
    let existing = f.store.create_account("bot-1", "old").await.unwrap();
    let now = SystemTime::now();
    let expires = now + Duration::from_secs(600);
    let bots: Vec<BotAccount> = (0..50u8)
        .map(|n| BotAccount {
            username: format!("bot-{n}"),
            password_phc: "$argon2id$bot".into(),
            token_hash: hash(n),
            expires_at: expires,
        })
        .collect();
    let mut admin = admin(&f);
    let ids = admin.create_bots(&bots).unwrap();
    assert_eq!(ids.len(), 50);
    assert_eq!(ids[1], existing, "an existing bot account is reused");
    for (n, id) in ids.iter().enumerate() {
        let account = f
            .store
            .session_account(hash(n as u8), now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(account.id, *id);
    }
    let bot1 = f.store.account_by_username("bot-1").await.unwrap().unwrap();
    assert_eq!(bot1.password_phc, "old");

    // A duplicate token fails the whole batch: no new account appears.
    let clash = vec![
        BotAccount {
            username: "fresh".into(),
            password_phc: "x".into(),
            token_hash: hash(200),
            expires_at: expires,
        },
        BotAccount {
            username: "fresh-2".into(),
            password_phc: "x".into(),
            token_hash: hash(0),
            expires_at: expires,
        },
    ];
    admin.create_bots(&clash).unwrap_err();
    assert!(f
        .store
        .account_by_username("fresh")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn backup_is_a_consistent_openable_copy() {
    let f = fixture(Backend::Sqlite, "sqlite only").await.unwrap();
    let id = f.store.create_account("alice", "x").await.unwrap();
    f.store.save_positions(vec![save(id, 4.0, 2.0, 0)]).unwrap();
    f.store.flush().await.unwrap();
    let admin = admin(&f);
    let dest = f.path.with_file_name("backup.db");
    admin.backup_to(&dest).unwrap();
    assert!(matches!(
        admin.backup_to(&dest),
        Err(StoreError::InvalidInput(_))
    ));
    let copy = AdminStore::open_existing(&dest, &StoreConfig::default()).unwrap();
    let users = copy.list_users().unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].position.map(|p| (p.x, p.y)), Some((4.0, 2.0)));
}

async fn calls_after_close_fail_with_closed(backend: Backend) {
    let Some(f) = fixture(backend, "calls_after_close_fail_with_closed").await else {
        return;
    };
    let other = f.store.clone();
    f.store.close().await.unwrap();
    assert!(matches!(
        other.account_by_username("a").await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(other.flush().await, Err(StoreError::Closed)));
    assert!(matches!(
        other.save_positions(vec![save(1, 1.0, 1.0, 0)]),
        Err(StoreError::Closed)
    ));
}
