//! `locus admin` (the real binary) refusing bad input: unknown users, bad
//! coordinates, a missing or empty database file, a locked database, corrupt
//! files, an unconfirmed delete. Each refusal is one line on stderr and a
//! non-zero exit, and leaves every file in the directory byte-for-byte as it
//! was.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use locus::store::{AdminStore, ResetTarget, Store, StoreConfig};
use support::admin::{admin, admin_with_stdin, ok, refused, stderr};

/// A stopped server's database with accounts alice (placed), bob and real1.
async fn database() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("locus.db");
    Store::open(&db, StoreConfig::default())
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    let mut admin = AdminStore::open_existing(&db, &StoreConfig::default()).unwrap();
    admin
        .create_user("alice", "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA")
        .unwrap();
    admin
        .create_user("bob", "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA")
        .unwrap();
    admin
        .create_user("real1", "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA")
        .unwrap();
    admin
        .reset_position(&ResetTarget::User("alice".into()), 10.0, 20.0)
        .unwrap();
    drop(admin);
    (dir, db)
}

/// Every file in `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// Runs the command, expects a one-line refusal mentioning `needle`, and
/// checks that no file in the database's directory changed.
async fn refuses(db: &Path, args: &[&str], needle: &str) {
    let dir = db.parent().unwrap();
    let before = files(dir);
    let out = admin(db, args).await;
    refused(&out, needle);
    assert!(
        files(dir) == before,
        "{args:?} changed the files in {}",
        dir.display()
    );
}

#[tokio::test]
async fn unknown_users_are_refused() {
    let (_dir, db) = database().await;
    for args in [
        &["reset", "ghost"][..],
        &["reset", "ghost", "--to", "1,1"],
        &["delete-user", "ghost", "--yes"],
        &["revoke-tokens", "ghost"],
    ] {
        refuses(&db, args, "no account named \"ghost\"").await;
    }
}

#[tokio::test]
async fn bad_coordinates_are_refused() {
    let (_dir, db) = database().await;
    for (to, needle) in [
        ("5000,1", "outside the world"),
        ("1,4096.5", "outside the world"),
        ("-3,4", "outside the world"),
        ("NaN,1", "finite"),
        ("inf,inf", "finite"),
        ("abc", "expected X,Y"),
        ("1,2,3", "expected X,Y"),
        ("1,two", "not a number"),
        ("", "expected X,Y"),
    ] {
        refuses(&db, &["reset", "alice", "--to", to], needle).await;
        refuses(&db, &["reset", "--all", "--to", to], needle).await;
    }
    for (args, needle) in [
        // The world size decides the bounds.
        (
            &["reset", "alice", "--to", "600,600", "--world-size", "500"][..],
            "outside the world",
        ),
        (
            &["users", "--near", "1,1", "--radius", "-5"],
            "invalid radius",
        ),
        (
            &["users", "--near", "1,1", "--radius", "NaN"],
            "invalid radius",
        ),
        (
            &["users", "--near", "nowhere", "--radius", "5"],
            "expected X,Y",
        ),
    ] {
        refuses(&db, args, needle).await;
    }
}

#[tokio::test]
async fn other_bad_arguments_are_refused() {
    let (dir, db) = database().await;
    let out = admin_with_stdin(
        &db,
        &["create-user", "bad name!", "--password-stdin"],
        Some("password1\n"),
    )
    .await;
    refused(&out, "username may only contain");
    for (args, needle) in [
        (
            &["create-user", "alice", "--password-stdin"][..],
            "exists already",
        ),
        (
            &["bot-tokens", "--prefix", "no spaces", "--count", "2"],
            "not a valid username",
        ),
        // A bot name that is a real account's.
        (
            &["bot-tokens", "--prefix", "real", "--count", "3"],
            "not bots",
        ),
    ] {
        refuses(&db, args, needle).await;
    }
    let taken = dir.path().join("taken.db");
    std::fs::write(&taken, b"keep me").unwrap();
    refuses(&db, &["backup", taken.to_str().unwrap()], "exists already").await;
}

#[tokio::test]
async fn a_missing_or_empty_database_is_never_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.db");
    for args in [
        &["reset", "alice"][..],
        &["users"],
        &["reset", "--all"],
        &["bot-tokens", "--count", "1"],
        &["delete-user", "alice", "--yes"],
    ] {
        refuses(&missing, args, "no Locus database").await;
        assert!(!missing.exists());
    }
    assert!(files(dir.path()).is_empty(), "no side files either");
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    refuses(&empty, &["users"], "no Locus database").await;
    let nowhere = dir.path().join("no-such-dir").join("locus.db");
    let out = admin(&nowhere, &["users"]).await;
    refused(&out, "no Locus database");
    assert!(!nowhere.parent().unwrap().exists());
}

#[tokio::test]
async fn a_locked_database_waits_then_says_so() {
    let (_dir, db) = database().await;
    let before = std::fs::read(&db).unwrap();
    // No file of the database may be opened by this process while the lock
    // is held: closing any descriptor of a file drops this process's POSIX
    // locks on it, the holder's included.
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    for args in [
        &["reset", "alice"][..],
        &["revoke-tokens", "alice"],
        &["delete-user", "bob", "--yes"],
    ] {
        let mut args = args.to_vec();
        args.extend(["--busy-timeout", "300ms"]);
        let out = admin(&db, &args).await;
        refused(&out, "locked");
    }
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    assert_eq!(std::fs::read(&db).unwrap(), before);
    // Once released, the same command goes through.
    let out = ok(&admin(&db, &["reset", "alice", "--to", "1,2"]).await);
    assert!(out.contains("(1.00, 2.00)"), "{out}");
}

#[tokio::test]
async fn corrupt_files_are_refused_untouched() {
    let (dir, db) = database().await;
    let healthy = std::fs::read(&db).unwrap();

    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0xAB; 8192]).unwrap();
    refuses(&garbage, &["reset", "alice"], "not a SQLite database").await;

    let truncated = dir.path().join("truncated.db");
    std::fs::write(&truncated, &healthy[..4096 + 100]).unwrap();
    refuses(&truncated, &["users"], "not a SQLite database").await;

    // A page in the middle overwritten: only SQLite's own check sees it.
    let damaged = dir.path().join("damaged.db");
    let mut bytes = healthy.clone();
    let page = 4096;
    assert!(bytes.len() >= 3 * page, "database of at least 3 pages");
    for (i, b) in bytes[page..2 * page].iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    std::fs::write(&damaged, &bytes).unwrap();
    refuses(&damaged, &["reset", "--all"], "untouched").await;
    refuses(
        &damaged,
        &["backup", dir.path().join("copy.db").to_str().unwrap()],
        "untouched",
    )
    .await;
    assert!(!dir.path().join("copy.db").exists());
}

#[tokio::test]
async fn delete_user_without_confirmation_changes_nothing() {
    let (dir, db) = database().await;
    for answer in [Some("n\n"), Some(""), Some("maybe\n")] {
        let before = files(dir.path());
        let out = admin_with_stdin(&db, &["delete-user", "alice"], answer).await;
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains("[y/N]"), "asks: {err}");
        assert!(
            err.trim_end()
                .lines()
                .last()
                .unwrap()
                .contains("not confirmed"),
            "{err}"
        );
        assert!(files(dir.path()) == before);
    }
    let out = admin_with_stdin(&db, &["delete-user", "alice"], Some("y\n")).await;
    assert!(ok(&out).contains("deleted account alice"));
    refuses(&db, &["reset", "alice"], "no account named").await;
}
