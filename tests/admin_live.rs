//! `locus admin` (the real binary) against a running server's database and
//! against a stopped one: resets reach online players as `teleport` and are
//! never overwritten by stale saves or moves, deletes and revocations kick,
//! bot tokens authenticate, backups of a live database are sound, and
//! `users` reports positions and presence.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use support::admin::{admin, admin_with_stdin, ok, refused, stdout};
use support::db::{read_db, scalar, stored};
use support::pg::{Backend, BackendDb};
use support::player::{Connected, Player};
use support::server::LocusServer;
use support::{eventually, eventually_async};

/// A server on a fresh database of `backend` that outlives
/// `LocusServer::stop`, or `None` when PostgreSQL is skipped.
async fn start(backend: Backend, test: &str) -> Option<(BackendDb, PathBuf, LocusServer)> {
    let db = BackendDb::new(backend, test)?;
    let path = db.path.clone();
    let server = start_on(&path).await;
    Some((db, path, server))
}

both_backends!(
    multi_thread: online_reset_teleports_and_stale_moves_and_saves_never_undo_it,
    offline_reset_then_connect_welcomes_at_the_new_position,
    reset_all_moves_a_thousand_accounts_and_teleports_the_online_ones,
    bot_tokens_authenticate_socketio_but_never_a_password_login,
    delete_user_kicks_the_online_player_and_the_token_dies,
    revoke_tokens_disconnects_like_logout,
    users_lists_positions_and_who_is_online,
    create_user_from_stdin_logs_in_and_duplicates_are_refused,
);

async fn start_on(db: &Path) -> LocusServer {
    let db = db.to_path_buf();
    LocusServer::start_with(move |c| {
        c.flush_interval = Duration::from_millis(100);
        c.db = db;
    })
    .await
}

/// Joins, reads `welcome`, walks to (x, y) and waits until it is there.
async fn walk_to(server: &LocusServer, token: &str, x: f64, y: f64) -> Player {
    let mut p = Player::join(server.addr(), token).await;
    p.wait_for("welcome", |_| true).await;
    let seq = p.move_to(x, y).await;
    p.wait_for("snapshot", |s| {
        s["ack"].as_u64() >= Some(seq) && s["x"] == x && s["y"] == y
    })
    .await;
    p
}

async fn users_json(db: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["users", "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str::<Vec<Value>>(&ok(&admin(db, &args).await))
        .expect("users --json is a JSON array")
}

fn user<'a>(users: &'a [Value], name: &str) -> &'a Value {
    users
        .iter()
        .find(|u| u["username"] == name)
        .unwrap_or_else(|| panic!("{name} listed in {users:?}"))
}

async fn online_reset_teleports_and_stale_moves_and_saves_never_undo_it(backend: Backend) {
    let Some((_dir, db, server)) = start(
        backend,
        "online_reset_teleports_and_stale_moves_and_saves_never_undo_it",
    )
    .await
    else {
        return;
    };
    let (_, token) = server.account("walker").await;
    let mut p = walk_to(&server, &token, 2100.0, 2048.0).await;
    eventually("the old place to be stored", || {
        stored(&db, "walker").is_some_and(|(x, y, _)| (x, y) == (2100.0, 2048.0))
    })
    .await;

    let reset = {
        let db = db.clone();
        tokio::spawn(async move { admin(&db, &["reset", "walker", "--to", "500,600"]).await })
    };
    // The client keeps asking for the old place until it sees the teleport.
    let deadline = tokio::time::Instant::now() + support::PATIENCE;
    let teleport = loop {
        p.move_to(2100.0, 2048.0).await;
        let wait = p.wait_for("teleport", |t| t["reason"] == "admin_reset");
        if let Ok(t) = tokio::time::timeout(Duration::from_millis(50), wait).await {
            break t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no admin_reset teleport"
        );
    };
    assert_eq!(
        (teleport["x"].as_f64(), teleport["y"].as_f64()),
        (Some(500.0), Some(600.0))
    );
    let out = ok(&reset.await.unwrap());
    assert!(
        out.contains("reset walker") && out.contains("(500.00, 600.00)"),
        "{out}"
    );

    let (x, y, epoch) = stored(&db, "walker").expect("stored");
    assert_eq!((x, y), (500.0, 600.0), "the stored row holds the reset");
    assert!(epoch > 0);

    // Moves already in flight toward the old place are dropped...
    for _ in 0..5 {
        p.move_to(2100.0, 2048.0).await;
    }
    // ...and the player continues from the reset point.
    let seq = p.move_to(510.0, 600.0).await;
    let snap = p
        .wait_for("snapshot", |s| {
            s["ack"].as_u64() >= Some(seq) && s["x"] == 510.0
        })
        .await;
    assert_eq!(snap["y"], 600.0);
    let teleported_at = p.events.iter().position(|(n, _)| n == "teleport").unwrap();
    for (name, v) in &p.events[teleported_at..] {
        if name == "snapshot" {
            assert!(
                v["x"].as_f64().is_none_or(|x| x <= 510.0),
                "a snapshot after the teleport went back east: {v}"
            );
        }
    }
    let stored_now = stored(&db, "walker").unwrap();
    assert!(
        (500.0..=510.0).contains(&stored_now.0) && stored_now.1 == 600.0,
        "no stale save landed: {stored_now:?}"
    );
    server.stop().await;
    let (x, y, _) = stored(&db, "walker").unwrap();
    assert_eq!((x, y), (510.0, 600.0), "final save from the reset point");
}

async fn offline_reset_then_connect_welcomes_at_the_new_position(backend: Backend) {
    let test = "offline_reset_then_connect_welcomes_at_the_new_position";
    let Some((_dir, db, server)) = start(backend, test).await else {
        return;
    };
    let (_, token) = server.account("sleeper").await;
    walk_to(&server, &token, 2000.0, 2010.0).await.close().await;
    server.stop().await;
    assert_eq!(
        stored(&db, "sleeper").map(|(x, y, _)| (x, y)),
        Some((2000.0, 2010.0))
    );

    let out = ok(&admin(&db, &["reset", "sleeper", "--to", "100.25,200.5"]).await);
    assert!(
        out.contains("(2000.00, 2010.00)")
            && out.contains("(100.25, 200.50)")
            && out.contains("offline"),
        "{out}"
    );

    let server = start_on(&db).await;
    let mut p = Player::join(server.addr(), &token).await;
    let welcome = p.wait_for("welcome", |_| true).await;
    assert_eq!(
        (welcome["x"].as_f64(), welcome["y"].as_f64()),
        (Some(100.25), Some(200.5))
    );

    // Without --to: the spawn point of the world given by --world-size.
    p.close().await;
    server.stop().await;
    let out = ok(&admin(&db, &["reset", "sleeper", "--world-size", "1000"]).await);
    assert!(out.contains("(500.00, 500.00)"), "{out}");
    assert_eq!(
        stored(&db, "sleeper").map(|(x, y, _)| (x, y)),
        Some((500.0, 500.0))
    );
}

async fn reset_all_moves_a_thousand_accounts_and_teleports_the_online_ones(backend: Backend) {
    let Some((dir, db, server)) = start(
        backend,
        "reset_all_moves_a_thousand_accounts_and_teleports_the_online_ones",
    )
    .await
    else {
        return;
    };
    let file = dir.dir().join("tokens.txt");
    ok(&admin(
        &db,
        &[
            "bot-tokens",
            "--prefix",
            "crowd",
            "--count",
            "1000",
            "--out",
            file.to_str().unwrap(),
        ],
    )
    .await);
    let tokens: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let mut a = walk_to(&server, &tokens[0], 2100.0, 2100.0).await;
    let mut b = walk_to(&server, &tokens[999], 1900.0, 1900.0).await;

    let out = ok(&admin(&db, &["reset", "--all", "--to", "1000,1000"]).await);
    assert!(out.contains("reset 1000 accounts"), "{out}");
    for p in [&mut a, &mut b] {
        let t = p
            .wait_for("teleport", |t| t["reason"] == "admin_reset")
            .await;
        assert_eq!(
            (t["x"].as_f64(), t["y"].as_f64()),
            (Some(1000.0), Some(1000.0))
        );
    }
    let moved = scalar(
        &db,
        "SELECT count(*) FROM positions WHERE x = 1000 AND y = 1000",
    );
    let total = scalar(&db, "SELECT count(*) FROM accounts");
    assert_eq!((moved, total), (1000, 1000));
    server.stop().await;
    assert_eq!(
        stored(&db, "crowd1").map(|(x, y, _)| (x, y)),
        Some((1000.0, 1000.0))
    );
    assert_eq!(
        stored(&db, "crowd1000").map(|(x, y, _)| (x, y)),
        Some((1000.0, 1000.0))
    );
}

async fn bot_tokens_authenticate_socketio_but_never_a_password_login(backend: Backend) {
    let Some((dir, db, server)) = start(
        backend,
        "bot_tokens_authenticate_socketio_but_never_a_password_login",
    )
    .await
    else {
        return;
    };
    let file = dir.dir().join("bots.txt");
    let out = ok(&admin(
        &db,
        &[
            "bot-tokens",
            "--count",
            "10000",
            "--out",
            file.to_str().unwrap(),
        ],
    )
    .await);
    assert!(out.contains("10000 bots"), "{out}");
    let tokens: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(tokens.len(), 10_000);
    assert_eq!(
        tokens
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        10_000
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o077,
            0,
            "tokens file private"
        );
    }
    for (token, name) in [(&tokens[0], "bot1"), (&tokens[9_999], "bot10000")] {
        let mut p = Player::join(server.addr(), token).await;
        let welcome = p.wait_for("welcome", |_| true).await;
        assert_eq!(welcome["name"], name);
        p.close().await;
    }
    for password in ["password1", "!locus-bot:no-password", ""] {
        let res = server
            .http
            .post(server.url("/api/login"))
            .json(&json!({"username": "bot1", "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "bot login with {password:?}");
    }

    // To stdout; running again reuses the accounts with fresh tokens.
    let out = admin(&db, &["bot-tokens", "--count", "2"]).await;
    let again: Vec<String> = ok(&out).lines().map(str::to_owned).collect();
    assert_eq!(again.len(), 2);
    let mut p = Player::join(server.addr(), &again[1]).await;
    assert_eq!(p.wait_for("welcome", |_| true).await["name"], "bot2");

    // Names of real accounts are refused: no token for a human's account.
    server.register("load7", "password1").await;
    let out = admin(
        &db,
        &[
            "bot-tokens",
            "--prefix",
            "load",
            "--first",
            "6",
            "--count",
            "3",
        ],
    )
    .await;
    refused(&out, "load7");
    assert!(stored(&db, "load6").is_none());
    let exists = scalar(
        &db,
        "SELECT count(*) FROM accounts WHERE username IN ('load6', 'load8')",
    );
    assert_eq!(exists, 0, "nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_players_move_is_a_sound_database() {
    let (dir, db, server) = start(Backend::Sqlite, "sqlite only").await.unwrap();
    let (_, token) = server.account("mover").await;
    let mut p = walk_to(&server, &token, 2050.0, 2050.0).await;
    eventually("the position to be stored", || {
        stored(&db, "mover").is_some()
    })
    .await;
    let stop = tokio_util::sync::CancellationToken::new();
    let moving = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut east = true;
            while !stop.is_cancelled() {
                let x = if east { 2060.0 } else { 2040.0 };
                east = !east;
                p.move_to(x, 2050.0).await;
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            p
        })
    };
    let mut copies = Vec::new();
    for n in 0..3 {
        let copy = dir.dir().join(format!("copy{n}.db"));
        let out = ok(&admin(&db, &["backup", copy.to_str().unwrap()]).await);
        assert!(out.contains("backed up"), "{out}");
        copies.push(copy);
    }
    stop.cancel();
    let p = moving.await.unwrap();
    assert!(!p.closed, "the player kept playing");
    for copy in &copies {
        let conn = read_db(copy);
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let y: f64 = conn
            .query_row("SELECT y FROM positions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(y, 2050.0);
        // The copy is a Locus database the CLI (and so the server) opens.
        let users = users_json(copy, &[]).await;
        assert_eq!(user(&users, "mover")["placed"], true);
    }
    // An existing destination is never overwritten.
    let before = std::fs::read(&copies[0]).unwrap();
    refused(
        &admin(&db, &["backup", copies[0].to_str().unwrap()]).await,
        "exists",
    );
    assert_eq!(std::fs::read(&copies[0]).unwrap(), before);
    server.stop().await;
}

async fn delete_user_kicks_the_online_player_and_the_token_dies(backend: Backend) {
    let Some((_dir, db, server)) = start(
        backend,
        "delete_user_kicks_the_online_player_and_the_token_dies",
    )
    .await
    else {
        return;
    };
    let (_, token) = server.account("victim").await;
    let mut p = walk_to(&server, &token, 2000.0, 2000.0).await;
    let out = ok(&admin(&db, &["delete-user", "victim", "--yes"]).await);
    assert!(out.contains("deleted account victim"), "{out}");
    let kicked = p.wait_for("kicked", |_| true).await;
    assert_eq!(kicked["reason"], "account deleted");
    p.wait_closed().await;
    match Player::connect_with(server.addr(), json!({ "token": token })).await {
        Connected::Refused(v) => assert_eq!(v["message"], "unauthorized"),
        Connected::Ok(_) => panic!("a deleted account's token still connects"),
    }
    server.stop().await;
    assert!(
        stored(&db, "victim").is_none(),
        "the final save of a deleted account is skipped"
    );
    assert!(users_json(&db, &[])
        .await
        .iter()
        .all(|u| u["username"] != "victim"));
}

async fn revoke_tokens_disconnects_like_logout(backend: Backend) {
    let Some((_dir, db, server)) = start(backend, "revoke_tokens_disconnects_like_logout").await
    else {
        return;
    };
    let (_, token) = server.account("revoked").await;
    let mut p = walk_to(&server, &token, 2000.0, 2000.0).await;
    let out = ok(&admin(&db, &["revoke-tokens", "revoked"]).await);
    assert!(out.contains("revoked 1 tokens of revoked"), "{out}");
    let kicked = p.wait_for("kicked", |_| true).await;
    assert_eq!(kicked["reason"], "tokens revoked");
    p.wait_closed().await;
    match Player::connect_with(server.addr(), json!({ "token": token })).await {
        Connected::Refused(v) => assert_eq!(v["message"], "unauthorized"),
        Connected::Ok(_) => panic!("a revoked token still connects"),
    }
    // The account itself stays: a fresh login plays on from the same place.
    let token = server.login("revoked", "password1").await;
    let mut p = Player::join(server.addr(), &token).await;
    let welcome = p.wait_for("welcome", |_| true).await;
    assert_eq!(
        (welcome["x"].as_f64(), welcome["y"].as_f64()),
        (Some(2000.0), Some(2000.0))
    );
    server.stop().await;
}

async fn users_lists_positions_and_who_is_online(backend: Backend) {
    let Some((_dir, db, server)) = start(backend, "users_lists_positions_and_who_is_online").await
    else {
        return;
    };
    let (alice_id, token) = server.account("alice").await;
    server.register("bob", "password1").await;
    let _alice = walk_to(&server, &token, 1000.0, 1000.0).await;
    eventually("alice's position to be stored", || {
        stored(&db, "alice").is_some_and(|(x, _, _)| x == 1000.0)
    })
    .await;
    eventually_async("alice to be listed online", || async {
        users_json(&db, &["--online"])
            .await
            .iter()
            .any(|u| u["username"] == "alice")
    })
    .await;

    let users = users_json(&db, &[]).await;
    let alice = user(&users, "alice");
    assert_eq!(alice["id"], alice_id);
    assert_eq!(
        (alice["x"].as_f64(), alice["y"].as_f64()),
        (Some(1000.0), Some(1000.0))
    );
    assert_eq!(alice["online"], true);
    assert!(alice["online_since"].is_string() && alice["last_seen"].is_string());
    let bob = user(&users, "bob");
    assert_eq!(bob["online"], false);
    assert_eq!(bob["placed"], false);
    assert_eq!(
        (bob["x"].as_f64(), bob["y"].as_f64()),
        (Some(2048.0), Some(2048.0))
    );

    let online = users_json(&db, &["--online"]).await;
    assert_eq!(online.len(), 1);
    let near = users_json(&db, &["--near", "1005,1000", "--radius", "10"]).await;
    assert_eq!(
        near.iter()
            .map(|u| u["username"].clone())
            .collect::<Vec<_>>(),
        [json!("alice")]
    );
    let near_spawn = users_json(&db, &["--near", "2048,2048", "--radius", "1"]).await;
    assert_eq!(
        near_spawn
            .iter()
            .map(|u| u["username"].clone())
            .collect::<Vec<_>>(),
        [json!("bob")]
    );

    let table = stdout(&admin(&db, &["users"]).await);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("ONLINE"),
        "{table}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("alice") && l.contains("1000.00,1000.00") && l.contains("yes")),
        "{table}"
    );

    server.stop().await;
    // A graceful stop clears presence: nobody is online any more.
    assert!(users_json(&db, &["--online"]).await.is_empty());
}

async fn create_user_from_stdin_logs_in_and_duplicates_are_refused(backend: Backend) {
    let Some((_dir, db, server)) = start(
        backend,
        "create_user_from_stdin_logs_in_and_duplicates_are_refused",
    )
    .await
    else {
        return;
    };
    let out = admin_with_stdin(
        &db,
        &["create-user", "carol", "--password-stdin"],
        Some("s3cret-pass\n"),
    )
    .await;
    assert!(ok(&out).contains("created account carol"));
    let token = server.login("carol", "s3cret-pass").await;
    let mut p = Player::join(server.addr(), &token).await;
    assert_eq!(p.wait_for("welcome", |_| true).await["name"], "carol");

    let out = admin_with_stdin(
        &db,
        &["create-user", "CAROL", "--password-stdin"],
        Some("another-pass\n"),
    )
    .await;
    refused(&out, "exists");
    let out = admin_with_stdin(
        &db,
        &["create-user", "dave", "--password-stdin"],
        Some("short\n"),
    )
    .await;
    refused(&out, "at least 8");
    assert!(users_json(&db, &[])
        .await
        .iter()
        .all(|u| u["username"] != "dave"));
    server.stop().await;
}
