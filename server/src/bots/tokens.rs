//! Bot accounts and their bearer tokens, written straight into a Locus
//! database with [`AdminStore::create_bots`] (no HTTP, no argon2 per bot),
//! and optional spreading of bots over the world. Shared by `locus bots
//! --db` and `locus admin bot-tokens`. Blocking: call from a blocking
//! thread. Must not touch sockets.

use std::path::Path;
use std::time::Duration;

use rand::Rng as _;

use crate::bot_accounts::{create_bot_accounts, BotAccountError};
use crate::store::{AdminStore, Database, ResetTarget, StoreConfig, StoreError};

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
) -> Result<Vec<String>, BotAccountError> {
    let mut store = AdminStore::connect(&Database::from_arg(db)?, &StoreConfig::default())?;
    let mut tokens = Vec::with_capacity(count);
    let mut start = 0;
    while start < count {
        let end = (start + BATCH).min(count);
        let names: Vec<String> = (start..end).map(|i| bot_name(prefix, i)).collect();
        let (_, issued) = create_bot_accounts(&mut store, &names, ttl)?;
        tokens.extend(issued.into_iter().map(|t| t.token));
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
    let mut store = AdminStore::connect(&Database::from_arg(db)?, &StoreConfig::default())?;
    let mut rng = rand::rng();
    for index in 0..count {
        let x = (rng.random_range(0.0..width) * 100.0).round() / 100.0;
        let y = (rng.random_range(0.0..height) * 100.0).round() / 100.0;
        store.reset_position(&ResetTarget::User(bot_name(prefix, index)), x, y)?;
    }
    Ok(())
}
