//! [`Shards`]: the OS threads the bots run on, each a current-thread tokio
//! runtime with its share of the bots (dealt round-robin). A bot stays on
//! its thread from connect to end, so its state stays in that core's
//! cache, its wake-ups never cross threads, and its shard's counters
//! ([`super::stats::ShardCounters`]) are written by that thread alone. On a
//! work-stealing runtime the same bots cost visibly more CPU: tasks moved
//! between the cores with their cold state, and every message bumped
//! counters shared by both cores. Uses [`super::bot`] only.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc;

use super::bot::{self, Swarm};

/// The running shards: hand them tokens, then [`Shards::finish`].
pub struct Shards {
    /// One per shard: tokens of bots to start there.
    starts: Vec<mpsc::UnboundedSender<String>>,
    /// The shards' threads.
    threads: Vec<JoinHandle<()>>,
    /// The shard the next bot goes to.
    next: usize,
}

impl Shards {
    /// Starts `count` shards (at least one) playing in `swarm`. After the
    /// swarm is stopped, each shard waits up to `grace` for its bots to
    /// close their connections, then drops the rest.
    pub fn start(swarm: &Arc<Swarm>, count: usize, grace: Duration) -> std::io::Result<Shards> {
        let mut shards = Shards {
            starts: Vec::new(),
            threads: Vec::new(),
            next: 0,
        };
        for shard in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (start, starts) = mpsc::unbounded_channel();
            let swarm = swarm.clone();
            let thread = std::thread::Builder::new()
                .name(format!("locus-bots-{shard}"))
                .spawn(move || runtime.block_on(serve(swarm, starts, shard, grace)))?;
            shards.starts.push(start);
            shards.threads.push(thread);
        }
        Ok(shards)
    }

    /// Starts one bot with `token` on the next shard.
    pub fn spawn(&mut self, token: String) {
        let shard = self.next % self.starts.len();
        self.next = self.next.wrapping_add(1);
        // A shard only stops reading after `finish` dropped the senders.
        let _ = self.starts[shard].send(token);
    }

    /// Waits until every shard's bots have ended (stop the swarm first) and
    /// its thread is gone.
    pub async fn finish(self) {
        drop(self.starts);
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                // A shard that panicked has nothing more to report.
                let _ = thread.join();
            }
        })
        .await;
    }
}

/// One shard's life: starts the bots it is handed until the swarm stops
/// handing them out, then lets them end.
async fn serve(
    swarm: Arc<Swarm>,
    mut starts: mpsc::UnboundedReceiver<String>,
    shard: usize,
    grace: Duration,
) {
    let mut bots = tokio::task::JoinSet::new();
    while let Some(token) = starts.recv().await {
        bots.spawn(bot::run(swarm.clone(), token, shard));
        // Reap bots that already ended (failed connects), keeping the set
        // as small as the bots alive.
        while bots.try_join_next().is_some() {}
    }
    let _ = tokio::time::timeout(grace, async { while bots.join_next().await.is_some() {} }).await;
    bots.shutdown().await;
}
