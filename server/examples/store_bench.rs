//! Store benchmark, on SQLite and on PostgreSQL: the write-behind flush of
//! 5,000 dirty positions (time per flush, on the store thread or the
//! PostgreSQL writer task: off the tick thread), and the login rate (lookup,
//! argon2id verification with the default parameters, session insert), which
//! argon2 bounds on both.
//!
//! Owns only the benchmark wiring; what it measures lives in `locus::store`
//! and `locus::auth`.
//!
//! ```text
//! store_bench [--postgres postgres://USER:PASSWORD@HOST:PORT/EMPTY_DB] [--flushes 30] [--logins 64]
//! ```
//! The PostgreSQL database should be empty (the bench fills it); without
//! `--postgres` only SQLite (a temporary file) is measured.

use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use clap::Parser;
use locus::auth::{token, PasswordConfig, PasswordHasher};
use locus::game::SavedPosition;
use locus::store::{AdminStore, BotAccount, Database, Store, StoreConfig};

/// Dirty positions per flush.
const DIRTY: usize = 5_000;

#[derive(Parser)]
struct Args {
    /// An empty PostgreSQL database to measure too.
    #[arg(long)]
    postgres: Option<String>,
    /// Flushes of 5,000 saves to time, per backend.
    #[arg(long, default_value_t = 30)]
    flushes: usize,
    /// Logins to time, per backend (two at a time, like two cores).
    #[arg(long, default_value_t = 64)]
    logins: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn bench(name: &str, db: &Database, args: &Args) -> anyhow::Result<()> {
    let store = Store::connect(db, StoreConfig::default())
        .await
        .with_context(|| format!("opening {db}"))?;
    let hasher = PasswordHasher::new(&PasswordConfig::default()).await?;
    let phc = hasher.hash("benchmark-password").await?;
    let bots: Vec<BotAccount> = (0..DIRTY)
        .map(|i| {
            let issued = token::issue(SystemTime::now(), Duration::from_secs(3600));
            BotAccount {
                username: format!("bench{i}"),
                password_phc: phc.clone(),
                token_hash: issued.hash,
                expires_at: issued.expires_at,
            }
        })
        .collect();
    let db_for_admin = db.clone();
    let ids = tokio::task::spawn_blocking(move || {
        let mut admin = AdminStore::connect(&db_for_admin, &StoreConfig::default())?;
        admin.create_bots(&bots)
    })
    .await??;

    // Flush: every account moved since the last flush.
    let mut took = Vec::with_capacity(args.flushes);
    for round in 0..=args.flushes {
        let batch: Vec<SavedPosition> = ids
            .iter()
            .map(|&id| SavedPosition {
                id,
                x: round as f64,
                y: (round * 2) as f64,
                reset_epoch: 0,
            })
            .collect();
        let started = Instant::now();
        store.save_positions(batch)?;
        store.flush().await?;
        if round > 0 {
            // Round 0 inserts the rows; the rest update them, as in play.
            took.push(started.elapsed());
        }
    }
    took.sort();
    println!(
        "{name:<10} flush of {DIRTY} dirty positions: median {:.1} ms, p95 {:.1} ms, max {:.1} ms ({} flushes)",
        percentile(&took, 0.5).as_secs_f64() * 1e3,
        percentile(&took, 0.95).as_secs_f64() * 1e3,
        took.last().unwrap().as_secs_f64() * 1e3,
        took.len()
    );

    // Logins: two at a time, each the server's path minus HTTP.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..2 {
        let store = store.clone();
        let hasher = hasher.clone();
        let count = args.logins / 2;
        tasks.push(tokio::spawn(async move {
            for i in 0..count {
                let name = format!("bench{}", (worker * count + i) % DIRTY);
                let account = store.account_by_username(&name).await?.context("account")?;
                anyhow::ensure!(
                    hasher
                        .verify("benchmark-password", Some(&account.password_phc))
                        .await?,
                    "password verifies"
                );
                let issued = token::issue(SystemTime::now(), Duration::from_secs(3600));
                store
                    .create_session(account.id, issued.hash, issued.expires_at)
                    .await?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    println!(
        "{name:<10} logins: {:.1}/s ({} in {:.2} s, argon2id m=19 MiB t=2 p=1)",
        (args.logins / 2 * 2) as f64 / elapsed.as_secs_f64(),
        args.logins / 2 * 2,
        elapsed.as_secs_f64()
    );
    store.close().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let sqlite = Database::Sqlite(dir.path().join("bench.db"));
    bench("sqlite", &sqlite, &args).await?;
    if let Some(url) = &args.postgres {
        bench("postgres", &Database::parse(url)?, &args).await?;
    }
    Ok(())
}
