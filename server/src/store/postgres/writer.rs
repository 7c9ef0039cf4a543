//! The PostgreSQL position writer: one tokio task that owns the pending
//! saves, writes everything queued as one batched statement in one
//! transaction, keeps the saves after a failure (PostgreSQL stopped,
//! restarting, read-only) and retries them every
//! [`StoreConfig::retry_interval`](crate::store::StoreConfig), publishing
//! the same [`HealthCell`] counters as the SQLite store thread. The outside
//! shape of `store/thread.rs` (one owner fed by a channel, one transaction per
//! batch, health without a round trip) on an async driver, so it never
//! blocks a worker. Must not run other queries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};

use super::queries;
use super::schema::from_pool;
use crate::store::{
    merge_save, HealthCell, Mailbox, PlayerId, SavedPosition, StoreConfig, StoreError,
};

/// Saves picked up from the mailbox but not yet committed; shared so that
/// `load_position` sees them. Only the writer changes it.
pub(crate) type Pending = Mutex<HashMap<PlayerId, SavedPosition>>;

/// Work for the writer.
pub(crate) enum WriterJob {
    /// The mailbox went from empty to non-empty.
    SavesQueued,
    /// Write everything queued now, then reply.
    Flush(oneshot::Sender<Result<(), StoreError>>),
    /// Final flush, reply, end the task.
    Close(oneshot::Sender<Result<(), StoreError>>),
}

/// State of the writer task.
pub(crate) struct Writer {
    /// Where to get a connection for each write.
    pub(crate) pool: Pool,
    /// Retry interval and the flush observer.
    pub(crate) config: StoreConfig,
    /// Saves handed over by `save_positions`.
    pub(crate) mailbox: Arc<Mailbox>,
    /// Saves being written or kept after a failure.
    pub(crate) pending: Arc<Pending>,
    /// Counters shared with `Store::health`.
    pub(crate) health: Arc<HealthCell>,
    /// Fault injection: run writes READ ONLY.
    pub(crate) read_only: Arc<AtomicBool>,
    /// When to retry after a failed write; `None` when nothing failed.
    pub(crate) retry_at: Option<Instant>,
}

impl Writer {
    /// Serves jobs until `Close` or until every handle is gone, then writes
    /// what is left.
    pub(crate) async fn run(mut self, mut jobs: mpsc::UnboundedReceiver<WriterJob>) {
        let close_reply = loop {
            let job = match self.retry_at {
                None => jobs.recv().await,
                Some(at) => tokio::select! {
                    job = jobs.recv() => job,
                    () = tokio::time::sleep_until(at.into()) => {
                        let _ = self.write_pending().await;
                        continue;
                    }
                },
            };
            match job {
                Some(WriterJob::SavesQueued) => {
                    self.absorb_mailbox();
                    if self.retry_at.is_none_or(|at| Instant::now() >= at) {
                        let _ = self.write_pending().await;
                    }
                }
                Some(WriterJob::Flush(reply)) => {
                    let _ = reply.send(self.write_pending().await);
                }
                Some(WriterJob::Close(reply)) => break Some(reply),
                None => break None,
            }
        };
        let result = self.write_pending().await;
        if let Err(err) = &result {
            let lost = self.pending.lock().unwrap_or_else(|e| e.into_inner()).len();
            tracing::error!(error = %err, lost, "final position flush failed; these saves are lost");
        }
        if let Some(reply) = close_reply {
            let _ = reply.send(result);
        }
    }

    /// Moves the mailbox's saves into `pending` (lock order: pending, then
    /// mailbox, as in `load_position`).
    fn absorb_mailbox(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let taken = std::mem::take(&mut *self.mailbox.lock().unwrap_or_else(|e| e.into_inner()));
        for save in taken.into_values() {
            merge_save(&mut pending, save);
        }
        self.health
            .pending_saves
            .store(pending.len(), Ordering::Relaxed);
    }

    fn publish_pending(&self) {
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let queued = self.mailbox.lock().unwrap_or_else(|e| e.into_inner()).len();
        self.health
            .pending_saves
            .store(pending.len() + queued, Ordering::Relaxed);
    }

    /// Writes every pending save in one transaction. On failure the saves
    /// stay pending and a retry is scheduled.
    async fn write_pending(&mut self) -> Result<(), StoreError> {
        self.absorb_mailbox();
        let batch: Vec<SavedPosition> = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .copied()
            .collect();
        if batch.is_empty() {
            self.retry_at = None;
            return Ok(());
        }
        let started = Instant::now();
        let read_only = self.read_only.load(Ordering::Relaxed);
        let result = match self.pool.get().await {
            Ok(mut client) => {
                queries::write_positions(&mut client, &batch, SystemTime::now(), read_only).await
            }
            Err(err) => Err(from_pool(err)),
        };
        let elapsed = started.elapsed();
        if let Some(observer) = &self.config.on_flush {
            (observer.0)(elapsed, result.is_ok());
        }
        let retry_in = self.config.retry_interval;
        self.health
            .record_flush(elapsed, &result, batch.len(), retry_in);
        match result {
            Ok(_) => {
                // Only the writer changes `pending`, so it still holds
                // exactly the batch.
                self.pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clear();
                self.retry_at = None;
                self.publish_pending();
                Ok(())
            }
            Err(err) => {
                self.retry_at = Some(Instant::now() + retry_in);
                self.publish_pending();
                Err(err)
            }
        }
    }
}
