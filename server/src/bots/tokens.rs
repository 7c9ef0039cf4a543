//! Bot accounts and their bearer tokens, written straight into a Locus
//! database with [`AdminStore::create_bots`] (no HTTP, no argon2 per bot),
//! and optional spreading of bots over the world. Shared by `locus bots
//! --db` and `locus admin bot-tokens`. Blocking: call from a blocking
//! thread. Must not touch sockets.

use std::path::Path;
use std::time::{Duration, SystemTime};

use rand::Rng as _;

use crate::auth::token;
use crate::store::{AdminStore, BotAccount, ResetTarget, StoreConfig, StoreError};

/// Stored in `password_phc` for bot accounts. It is not a PHC string, so
/// password verification can never succeed for it (the verifier refuses a
/// hash it cannot parse): bots log in by token only.
pub const BOT_PASSWORD_MARKER: &str = "!bot:no-password-login";

/// Accounts written per transaction, so a large batch does not hold the
/// database's write lock for long while a server runs.
const BATCH: usize = 1000;

/// The username of bot `index` under `prefix`.
pub fn bot_name(prefix: &str, index: usize) -> String {
    format!("{prefix}{index}")
}

/// Creates (or reuses) accounts `prefix0 .. prefix{count-1}` in the
/// existing database `db` and returns one fresh token per account, valid
/// for `ttl`, in index order.
pub fn create_bot_tokens(
    db: &Path,
    prefix: &str,
    count: usize,
    ttl: Duration,
) -> Result<Vec<String>, StoreError> {
    let mut store = AdminStore::open_existing(db, &StoreConfig::default())?;
    let now = SystemTime::now();
    let mut tokens = Vec::with_capacity(count);
    let mut start = 0;
    while start < count {
        let end = (start + BATCH).min(count);
        let mut batch = Vec::with_capacity(end - start);
        for index in start..end {
            let issued = token::issue(now, ttl);
            batch.push(BotAccount {
                username: bot_name(prefix, index),
                password_phc: BOT_PASSWORD_MARKER.to_owned(),
                token_hash: issued.hash,
                expires_at: issued.expires_at,
            });
            tokens.push(issued.token);
        }
        store.create_bots(&batch)?;
        start = end;
    }
    Ok(tokens)
}

/// Stores a uniformly random position inside `width` x `height` for each
/// of the accounts `prefix0 .. prefix{count-1}` (an admin reset each, so a
/// running server also teleports those online). Used before a benchmark so
/// the swarm starts at its steady density instead of all at the spawn
/// point.
pub fn spread_bots(
    db: &Path,
    prefix: &str,
    count: usize,
    width: f64,
    height: f64,
) -> Result<(), StoreError> {
    let mut store = AdminStore::open_existing(db, &StoreConfig::default())?;
    let mut rng = rand::rng();
    for index in 0..count {
        let x = (rng.random_range(0.0..width) * 100.0).round() / 100.0;
        let y = (rng.random_range(0.0..height) * 100.0).round() / 100.0;
        store.reset_position(&ResetTarget::User(bot_name(prefix, index)), x, y)?;
    }
    Ok(())
}
