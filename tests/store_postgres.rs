//! The PostgreSQL backend's own rules, against a real PostgreSQL: schema
//! creation and refusal of a foreign or newer database (left untouched), one
//! clear error for a wrong host, password or database (nothing created), two
//! servers' stores sharing one database (rows, resets, presence, admin
//! events, the later login kicking the earlier), and PostgreSQL stopped and
//! restarted under a running store. The behaviour both backends share is
//! tested once for both in `store_data.rs` and the other parameterised suites.

mod support;

use std::time::{Duration, SystemTime};

use locus::game::{PlayerId, SavedPosition};
use locus::store::{
    AdminEventKind, AdminStore, Database, ResetTarget, Store, StoreConfig, StoreError,
    KICK_LOGGED_IN_ELSEWHERE, POSTGRES_SCHEMA_VERSION,
};
use support::pg::{self as pg_support, OwnInstance, TestDb};

fn save(id: PlayerId, x: f64, epoch: i64) -> SavedPosition {
    SavedPosition {
        id,
        x,
        y: -x,
        reset_epoch: epoch,
    }
}

/// The accounts the CLI sees online, on any server.
fn online_ids(admin: &AdminStore) -> Vec<PlayerId> {
    admin
        .online_accounts()
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

async fn connect(db: &TestDb) -> Store {
    Store::connect(&db.database(), StoreConfig::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn an_empty_database_gets_the_schema_once() {
    let Some(admin_url) = pg_support::postgres_url("an_empty_database_gets_the_schema_once") else {
        return;
    };
    let db = TestDb::create(&admin_url);
    let database = db.database();
    let (a, b) = tokio::join!(
        Store::connect(&database, StoreConfig::default()),
        Store::connect(&database, StoreConfig::default())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.backend_name(), "postgres");
    assert_ne!(a.server_id(), b.server_id());
    a.close().await.unwrap();
    b.close().await.unwrap();
    let again = connect(&db).await;
    assert_eq!(again.current_reset_epoch().await.unwrap(), 0);
    again.close().await.unwrap();
    // Exactly one marker row at our version.
    db.execute(&format!(
        "DO $$ BEGIN IF (SELECT count(*) FROM locus_schema WHERE version = {POSTGRES_SCHEMA_VERSION}) <> 1 \
         THEN RAISE EXCEPTION 'bad marker'; END IF; END $$"
    ));
}

#[tokio::test]
async fn a_foreign_or_newer_database_is_refused_untouched() {
    let Some(admin_url) =
        pg_support::postgres_url("a_foreign_or_newer_database_is_refused_untouched")
    else {
        return;
    };
    let foreign = TestDb::create(&admin_url);
    foreign.execute("CREATE TABLE invoices (id int); INSERT INTO invoices VALUES (7)");
    let err = Store::connect(&foreign.database(), StoreConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ForeignPostgres { .. }), "{err}");
    assert!(err.to_string().contains("another application"), "{err}");
    let err = AdminStore::connect(&foreign.database(), &StoreConfig::default()).unwrap_err();
    assert!(matches!(err, StoreError::ForeignPostgres { .. }), "{err}");
    // Untouched: no table of ours appeared.
    foreign.execute(
        "DO $$ BEGIN IF to_regclass('accounts') IS NOT NULL OR to_regclass('locus_schema') IS NOT NULL \
         THEN RAISE EXCEPTION 'touched'; END IF; END $$",
    );

    let newer = TestDb::create(&admin_url);
    connect(&newer).await.close().await.unwrap();
    newer.execute("UPDATE locus_schema SET version = version + 1");
    let err = Store::connect(&newer.database(), StoreConfig::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::PostgresSchemaTooNew { found, .. } if found == POSTGRES_SCHEMA_VERSION as i64 + 1),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade Locus"), "{err}");
}

#[tokio::test]
async fn wrong_host_password_or_database_is_one_clear_error_and_creates_nothing() {
    let Some(admin_url) = pg_support::postgres_url(
        "wrong_host_password_or_database_is_one_clear_error_and_creates_nothing",
    ) else {
        return;
    };
    let config = StoreConfig {
        busy_timeout: Duration::from_secs(3),
        ..StoreConfig::default()
    };
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let wrong_password = admin_url.replacen("locus:locus@", "locus:wrong-pw@", 1);
    assert_ne!(
        wrong_password, admin_url,
        "the test URL has the locus:locus user"
    );
    let cases = [
        (
            format!("postgres://locus:secret-pw@127.0.0.1:{free_port}/x"),
            "refused",
        ),
        (wrong_password, "password authentication failed"),
        (
            pg_support::with_dbname(&admin_url, "locus_no_such_db"),
            "does not exist",
        ),
    ];
    for (url, needle) in cases {
        let db = Database::parse(&url).unwrap();
        let err = Store::connect(&db, config.clone()).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::Connect { .. }), "{text}");
        assert!(text.to_lowercase().contains(needle), "{url}: {text}");
        assert!(
            !text.contains("secret-pw") && !text.contains("wrong-pw"),
            "{text}"
        );
        assert!(!text.contains('\n'), "one line: {text}");
        let err = AdminStore::connect(&db, &config).unwrap_err();
        assert!(matches!(err, StoreError::Connect { .. }), "{err}");
    }
    assert!(!pg_support::database_exists(&admin_url, "locus_no_such_db"));
    let err = Database::parse("postgres://u@h:port/d").unwrap_err();
    assert!(matches!(err, StoreError::BadUrl(_)), "{err}");
}

#[tokio::test]
async fn one_flush_writes_thousands_of_saves_and_respects_resets() {
    let Some(admin_url) =
        pg_support::postgres_url("one_flush_writes_thousands_of_saves_and_respects_resets")
    else {
        return;
    };
    let db = TestDb::create(&admin_url);
    let store = connect(&db).await;
    let mut admin = AdminStore::connect(&db.database(), &StoreConfig::default()).unwrap();
    let bots: Vec<locus::store::BotAccount> = (0..2000)
        .map(|i| locus::store::BotAccount {
            username: format!("bot{i}"),
            password_phc: "!bot".into(),
            token_hash: [0; 32].map(|_| rand::random()),
            expires_at: SystemTime::now() + Duration::from_secs(60),
        })
        .collect();
    let ids = admin.create_bots(&bots).unwrap();
    let batch: Vec<SavedPosition> = ids.iter().map(|&id| save(id, 10.0, 0)).collect();
    store.save_positions(batch).unwrap();
    store.flush().await.unwrap();
    let health = store.health();
    assert!(health.last_flush_ok);
    assert_eq!(health.pending_saves, 0);
    assert_eq!(
        store.load_position(ids[1999]).await.unwrap().unwrap().x,
        10.0
    );

    // A reset from the CLI, then a stale save computed before it: the
    // reset wins; a save under the new epoch lands.
    let reset = admin
        .reset_position(&ResetTarget::User("bot7".into()), 1.0, 2.0)
        .unwrap();
    store.save_positions(vec![save(ids[7], 99.0, 0)]).unwrap();
    store.flush().await.unwrap();
    let stored = store.load_position(ids[7]).await.unwrap().unwrap();
    assert_eq!(
        (stored.x, stored.y, stored.reset_epoch),
        (1.0, 2.0, reset.epoch)
    );
    assert!(store.health().stale_saves_skipped_total >= 1);
    let resets = store.resets_since(0).await.unwrap();
    assert_eq!(resets.len(), 1);
    store
        .save_positions(vec![save(ids[7], 5.0, reset.epoch)])
        .unwrap();
    store.flush().await.unwrap();
    assert_eq!(store.load_position(ids[7]).await.unwrap().unwrap().x, 5.0);

    // A deleted account's pending save is skipped, not an error.
    admin.delete_user("bot8").unwrap();
    store.save_positions(vec![save(ids[8], 1.0, 0)]).unwrap();
    store.flush().await.unwrap();
    assert!(store.health().last_flush_ok);
    store.close().await.unwrap();
}

#[tokio::test]
async fn two_servers_share_rows_resets_presence_and_events() {
    let Some(admin_url) =
        pg_support::postgres_url("two_servers_share_rows_resets_presence_and_events")
    else {
        return;
    };
    let db = TestDb::create(&admin_url);
    let (a, b) = (connect(&db).await, connect(&db).await);
    let alice = a.create_account("alice", "$argon2id$a").await.unwrap();
    let bob = b.create_account("bob", "$argon2id$b").await.unwrap();
    assert!(matches!(
        b.create_account("ALICE", "$argon2id$x").await,
        Err(StoreError::UsernameTaken)
    ));
    let a_events = a.last_admin_event_id().await.unwrap();
    let b_events = b.last_admin_event_id().await.unwrap();

    // Both write at the same time, many times: every row ends as its last
    // save, none is lost or mixed up.
    let writers = [(a.clone(), alice), (b.clone(), bob)].map(|(store, id)| {
        tokio::spawn(async move {
            for i in 1..=50 {
                store
                    .save_positions(vec![save(id, f64::from(i), 0)])
                    .unwrap();
                if i % 10 == 0 {
                    store.flush().await.unwrap();
                }
            }
            store.flush().await.unwrap();
        })
    });
    for writer in writers {
        writer.await.unwrap();
    }
    for (store, id) in [(&b, alice), (&a, bob)] {
        let stored = store.load_position(id).await.unwrap().unwrap();
        assert_eq!((stored.x, stored.y), (50.0, -50.0));
    }

    // Presence from both servers, seen by the CLI.
    let now = SystemTime::now();
    a.sync_presence(true, vec![(alice, now)], vec![])
        .await
        .unwrap();
    b.sync_presence(true, vec![(bob, now)], vec![])
        .await
        .unwrap();
    let admin = AdminStore::connect(&db.database(), &StoreConfig::default()).unwrap();
    let mut online = online_ids(&admin);
    online.sort();
    assert_eq!(online, vec![alice, bob]);

    // Alice logs in on B while online on A: A is told to kick her; B is not
    // told about its own login.
    b.sync_presence(false, vec![(alice, SystemTime::now())], vec![])
        .await
        .unwrap();
    let for_a = a.admin_events_since(a_events, 100).await.unwrap();
    assert_eq!(for_a.len(), 1, "{for_a:?}");
    assert_eq!(for_a[0].account_id, alice);
    assert_eq!(
        for_a[0].kind,
        AdminEventKind::Kick {
            reason: KICK_LOGGED_IN_ELSEWHERE.into()
        }
    );
    assert!(b
        .admin_events_since(b_events, 100)
        .await
        .unwrap()
        .is_empty());
    // A's later "alice left" does not remove B's row.
    a.sync_presence(false, vec![], vec![alice]).await.unwrap();
    let online = online_ids(&admin);
    assert!(online.contains(&alice), "{online:?}");

    // A sync carrying a login older than the row (it waited for the lock
    // while its player moved on, say to another cluster node) neither
    // kicks the newer one nor takes its row: the older login is the one
    // kicked, on A.
    let earlier = now - std::time::Duration::from_secs(1);
    a.sync_presence(false, vec![(bob, earlier)], vec![])
        .await
        .unwrap();
    assert!(b
        .admin_events_since(b_events, 100)
        .await
        .unwrap()
        .is_empty());
    let stale = a.admin_events_since(for_a[0].id, 100).await.unwrap();
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert_eq!(stale[0].account_id, bob);
    a.sync_presence(false, vec![], vec![bob]).await.unwrap();
    let online = online_ids(&admin);
    assert!(online.contains(&bob), "B's newer row is gone: {online:?}");

    // A revoke from the CLI reaches both servers, each with its own cursor.
    let mut admin = admin;
    admin.revoke_tokens("bob").unwrap();
    for (store, after) in [(&a, stale[0].id), (&b, b_events)] {
        let events = store.admin_events_since(after, 100).await.unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].account_id, bob);
    }

    // A reset from the CLI is seen by both, and beats either's stale save.
    let reset = admin.reset_position(&ResetTarget::All, 0.0, 0.0).unwrap();
    for store in [&a, &b] {
        let resets = store.resets_since(0).await.unwrap();
        assert_eq!(resets.len(), 2);
        assert!(resets.iter().all(|r| r.reset_epoch == reset.epoch));
    }
    a.save_positions(vec![save(alice, 7.0, 0)]).unwrap();
    a.flush().await.unwrap();
    assert_eq!(b.load_position(alice).await.unwrap().unwrap().x, 0.0);

    // A graceful stop of A leaves B's presence alone.
    a.clear_presence().await.unwrap();
    let online = online_ids(&admin);
    assert!(online.contains(&alice));
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test]
async fn postgres_stopped_then_restarted_the_saves_are_retried_and_land() {
    let test = "postgres_stopped_then_restarted_the_saves_are_retried_and_land";
    let Some(_) = pg_support::postgres_url(test) else {
        return;
    };
    let Some(instance) = OwnInstance::start(test) else {
        return;
    };
    let db = TestDb::create(&instance.url);
    let config = StoreConfig {
        retry_interval: Duration::from_millis(200),
        busy_timeout: Duration::from_secs(2),
        ..StoreConfig::default()
    };
    let store = Store::connect(&db.database(), config).await.unwrap();
    let id = store.create_account("alice", "$argon2id$a").await.unwrap();
    store.save_positions(vec![save(id, 1.0, 0)]).unwrap();
    store.flush().await.unwrap();

    instance.stop();
    store.save_positions(vec![save(id, 2.0, 0)]).unwrap();
    let err = store.flush().await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    let health = store.health();
    assert!(!health.last_flush_ok);
    assert_eq!(health.pending_saves, 1);
    assert!(health.last_error.is_some());
    // Later saves merge with the kept one while it is down.
    store.save_positions(vec![save(id, 3.0, 0)]).unwrap();
    assert_eq!(
        store.load_position(id).await.ok(),
        None,
        "reads fail while down"
    );

    instance.start_again();
    // The writer retries on its own; a flush waits for the write.
    let mut landed = false;
    for _ in 0..100 {
        if store.flush().await.is_ok() {
            landed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        landed,
        "the saves landed after the restart: {:?}",
        store.health()
    );
    assert!(store.health().last_flush_ok);
    assert_eq!(store.health().pending_saves, 0);
    // The pool reconnected by itself: ordinary queries work again.
    let stored = store.load_position(id).await.unwrap().unwrap();
    assert_eq!(stored.x, 3.0);
    store.close().await.unwrap();
    drop(db);
}
