//! The `locus-store` thread: owns the server's SQLite connection, serves
//! [`Job`]s in order, and runs the write-behind position writer (pending saves,
//! one transaction per write, retry after failure, health counters). Must not
//! be called from async code except through the channel in [`super::Store`].

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Instant, SystemTime};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{merge_save, queries, HealthCell, Mailbox, StoreConfig, StoreError, WriteFault};
use crate::game::{PlayerId, SavedPosition};

/// Work for the store thread.
pub(crate) enum Job {
    /// Run a closure against the connection (every query); the closure sends
    /// its own reply.
    Run(Box<dyn FnOnce(&mut Owner) + Send>),
    /// The mailbox went from empty to non-empty: pick the saves up and write.
    SavesQueued,
    /// Write everything queued now, then reply with the outcome.
    Flush(oneshot::Sender<Result<(), StoreError>>),
    /// Final flush, reply, close the connection and end the thread.
    Close(oneshot::Sender<Result<(), StoreError>>),
}

/// State of the store thread.
pub(crate) struct Owner {
    /// The one read-write connection of the server.
    pub(crate) conn: Connection,
    /// Limits and timeouts.
    pub(crate) config: StoreConfig,
    /// Saves handed over by `Store::save_positions`.
    mailbox: Arc<Mailbox>,
    /// Saves picked up but not yet committed (kept after a failed write).
    pending: HashMap<PlayerId, SavedPosition>,
    /// When to retry after a failed write; `None` when nothing failed.
    retry_at: Option<Instant>,
    /// Counters shared with `Store::health`.
    health: Arc<HealthCell>,
}

impl Owner {
    pub(crate) fn new(
        conn: Connection,
        config: StoreConfig,
        mailbox: Arc<Mailbox>,
        health: Arc<HealthCell>,
    ) -> Owner {
        Owner {
            conn,
            config,
            mailbox,
            pending: HashMap::new(),
            retry_at: None,
            health,
        }
    }

    /// Names busy / full / read-only failures (see [`StoreError::from_sqlite`]).
    pub(crate) fn map<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        result.map_err(|err| match err {
            StoreError::Sqlite(err) => StoreError::from_sqlite(err, self.config.busy_timeout),
            other => other,
        })
    }

    /// Serves jobs until `Close` or until every `Store` handle is gone.
    pub(crate) fn run(mut self, jobs: mpsc::Receiver<Job>) {
        let close_reply = loop {
            let job = match self.retry_at {
                None => jobs.recv().ok(),
                Some(at) => match jobs.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(job) => Some(job),
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        let _ = self.write_pending();
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => None,
                },
            };
            match job {
                Some(Job::Run(f)) => {
                    // A panicking query must not take the store down with it:
                    // its transaction rolled back while unwinding, and its
                    // caller sees `Closed` from the dropped reply.
                    let ran =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut self)));
                    if ran.is_err() {
                        tracing::error!("a store request panicked; continuing");
                    }
                }
                Some(Job::SavesQueued) => {
                    self.absorb_mailbox();
                    // After a failure, wait for the retry time instead of
                    // hammering a full disk on every batch.
                    if self.retry_at.is_none_or(|at| Instant::now() >= at) {
                        let _ = self.write_pending();
                    }
                }
                Some(Job::Flush(reply)) => {
                    let _ = reply.send(self.write_pending());
                }
                Some(Job::Close(reply)) => break Some(reply),
                None => break None,
            }
        };
        let result = self.write_pending();
        if let Err(err) = &result {
            tracing::error!(error = %err, lost = self.pending.len(), "final position flush failed; these saves are lost");
        }
        // Close the connection (and let SQLite checkpoint) before replying, so
        // that a caller awaiting `close` may reopen the file at once.
        drop(self);
        if let Some(reply) = close_reply {
            let _ = reply.send(result);
        }
    }

    /// Moves the mailbox's saves into `pending`.
    fn absorb_mailbox(&mut self) {
        let taken = std::mem::take(&mut *self.mailbox.lock().unwrap_or_else(|e| e.into_inner()));
        for save in taken.into_values() {
            merge_save(&mut self.pending, save);
        }
        self.publish_pending();
    }

    fn publish_pending(&self) {
        let queued = self.mailbox.lock().unwrap_or_else(|e| e.into_inner()).len();
        self.health
            .pending_saves
            .store(self.pending.len() + queued, Ordering::Relaxed);
    }

    /// Writes every pending save (and what the mailbox holds) in one
    /// transaction. On failure the saves stay pending and a retry is
    /// scheduled; the health counters say what happened.
    fn write_pending(&mut self) -> Result<(), StoreError> {
        self.absorb_mailbox();
        if self.pending.is_empty() {
            self.retry_at = None;
            return Ok(());
        }
        let batch: Vec<SavedPosition> = self.pending.values().copied().collect();
        let started = Instant::now();
        let result = queries::write_positions(&mut self.conn, &batch, SystemTime::now());
        let result = self.map(result);
        let elapsed = started.elapsed();
        if let Some(observer) = &self.config.on_flush {
            (observer.0)(elapsed, result.is_ok());
        }
        let retry_in = self.config.retry_interval;
        self.health
            .record_flush(elapsed, &result, self.pending.len(), retry_in);
        match result {
            Ok(_) => {
                self.pending.clear();
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

    /// The stored position, overlaid with a save still waiting in memory.
    pub(crate) fn load_position(
        &mut self,
        account_id: PlayerId,
    ) -> Result<Option<SavedPosition>, StoreError> {
        let stored = self.map(queries::load_position(&self.conn, account_id))?;
        let waiting = self.pending.get(&account_id).copied().or_else(|| {
            self.mailbox
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&account_id)
                .copied()
        });
        Ok(match (stored, waiting) {
            (Some(row), Some(save)) if save.reset_epoch < row.reset_epoch => Some(row),
            (Some(_) | None, Some(save)) => Some(save),
            (row, None) => row,
        })
    }

    /// See `Store::inject_write_fault`.
    pub(crate) fn inject_write_fault(&mut self, fault: WriteFault) -> Result<(), StoreError> {
        // SQLite's ceiling for max_page_count; "no limit" in practice.
        const NO_PAGE_LIMIT: i64 = 0xFFFF_FFFE;
        let (max_pages, query_only) = match fault {
            WriteFault::None => (NO_PAGE_LIMIT, false),
            WriteFault::DiskFull => {
                let pages: i64 = self
                    .conn
                    .pragma_query_value(None, "page_count", |row| row.get(0))?;
                (pages, false)
            }
            WriteFault::ReadOnly => (NO_PAGE_LIMIT, true),
        };
        self.conn.pragma_update(None, "max_page_count", max_pages)?;
        self.conn.pragma_update(None, "query_only", query_only)?;
        Ok(())
    }
}
