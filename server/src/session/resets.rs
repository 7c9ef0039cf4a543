//! The running server's side of `locus admin`, which is another process
//! writing the same database file whether the server runs or not. One task
//! polls the database every `admin_poll_interval` (250 ms by default) and:
//!
//! * teleports online players whose position an admin reset (epochs newer
//!   than the last one seen; saves made under an older epoch are skipped by
//!   the store, so a stale save never overwrites a reset);
//! * kicks the sockets of accounts an admin deleted or whose tokens an admin
//!   revoked (the `admin_events` queue of `migrations/0002_admin_events.sql`);
//! * publishes who is online (the `presence` table and its heartbeat) for
//!   `locus admin users --online`: the diff since the last write, plus a
//!   heartbeat every [`PRESENCE_HEARTBEAT`]; emptied at start-up and on a
//!   graceful stop.
//!
//! Must not touch world state other than through `WorldCommand`s, nor
//! sockets other than through `Players`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use glam::DVec2;
use tokio_util::sync::CancellationToken;

use super::state::SessionState;
use super::world_link::WorldUnavailable;
use crate::game::tick_loop::WorldCommand;
use crate::game::{PlayerId, TeleportReason};
use crate::store::{
    AdminEventKind, KICK_LOGGED_IN_ELSEWHERE as LOGGED_IN_ELSEWHERE, PRESENCE_HEARTBEAT,
};

/// How long to wait before asking an unanswering store again for the
/// starting point. Fixed: only start-up retries wait on it, and the loop
/// ends at once on shutdown.
const STARTING_POINT_RETRY: Duration = Duration::from_secs(1);

/// How long to wait, and how often, while the world's command queue is full
/// for a command it must not miss (about a second in all). Fixed: a world
/// that stays full for a second is overloaded, and the loss is logged.
const PATIENCE_STEP: Duration = Duration::from_millis(10);
/// See [`PATIENCE_STEP`].
const PATIENCE_STEPS: u32 = 100;

/// Polls for admin resets and events, and publishes presence, until `stop`
/// is cancelled; then clears the presence table.
pub async fn watch(app: Arc<SessionState>, stop: CancellationToken) {
    let Some((mut last_epoch, mut last_event)) = starting_point(&app, &stop).await else {
        return;
    };
    let mut presence = Presence::default();
    let mut ticker = tokio::time::interval(app.config.admin_poll_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        apply_resets(&app, &mut last_epoch).await;
        apply_events(&app, &mut last_event).await;
        publish_presence(&app, &mut presence).await;
    }
    if let Err(error) = app.store.clear_presence().await {
        tracing::warn!(%error, "cannot clear the presence table at shutdown");
    }
}

/// The newest reset epoch and admin event id at start-up: older ones
/// concern nobody online. Retries until the store answers or `stop`.
async fn starting_point(app: &SessionState, stop: &CancellationToken) -> Option<(i64, i64)> {
    loop {
        let read = async {
            let epoch = app.store.current_reset_epoch().await?;
            let event = app.store.last_admin_event_id().await?;
            Ok::<_, crate::store::StoreError>((epoch, event))
        };
        match read.await {
            Ok(start) => return Some(start),
            Err(error) => {
                tracing::warn!(%error, "cannot read the admin starting point; retrying");
                tokio::select! {
                    () = stop.cancelled() => return None,
                    () = tokio::time::sleep(STARTING_POINT_RETRY) => {}
                }
            }
        }
    }
}

/// Teleports online players reset since `last_epoch`, and advances it.
async fn apply_resets(app: &SessionState, last_epoch: &mut i64) {
    let resets = match app.store.resets_since(*last_epoch).await {
        Ok(resets) => resets,
        Err(error) => {
            tracing::warn!(%error, "cannot poll for admin resets");
            return;
        }
    };
    for reset in resets {
        *last_epoch = (*last_epoch).max(reset.reset_epoch);
        let id = reset.account_id;
        // A connect of this account holds the lock from loading its stored
        // position until its socket is bound, and a disconnect from
        // unbinding until it has left the world: under the lock, "bound" is
        // exactly "in the world". An offline account needs nothing (its next
        // connect loads the reset), so `reset --all` sends only as many
        // commands as there are players online.
        let _account = app.players.lock_account(id).await;
        if app.players.socket(id).is_none() {
            continue;
        }
        let teleport = || WorldCommand::Teleport {
            id,
            pos: DVec2::new(reset.x, reset.y),
            reason: TeleportReason::AdminReset,
            reset_epoch: reset.reset_epoch,
        };
        send_with_patience(app, teleport).await;
    }
}

/// Sends a command the world must not miss, waiting while its queue is full
/// (about a second at most; then the loss is logged).
async fn send_with_patience(app: &SessionState, command: impl Fn() -> WorldCommand) {
    for _ in 0..PATIENCE_STEPS {
        match app.world.send(command()) {
            Ok(()) => return,
            Err(WorldUnavailable::Busy) => tokio::time::sleep(PATIENCE_STEP).await,
            Err(error) => {
                tracing::warn!(%error, "admin reset not applied to the world");
                return;
            }
        }
    }
    tracing::warn!("admin reset not applied to the world: its queue stayed full");
}

/// Acts on admin events queued since `last_event`, and advances it.
async fn apply_events(app: &SessionState, last_event: &mut i64) {
    let events = match app
        .store
        .admin_events_since(*last_event, app.config.admin_events_per_poll)
        .await
    {
        Ok(events) => events,
        Err(error) => {
            tracing::warn!(%error, "cannot poll for admin events");
            return;
        }
    };
    for event in events {
        *last_event = (*last_event).max(event.id);
        let id = event.account_id;
        match event.kind {
            AdminEventKind::Kick { reason } => {
                // Waits for a connect of this account in progress, so a
                // socket bound just after the change is kicked too.
                let _account = app.players.lock_account(id).await;
                if reason == LOGGED_IN_ELSEWHERE && app.players.recently_migrated(id) {
                    // The new node's login of a player this node just
                    // handed over (who may have walked back since).
                    tracing::debug!(player = id, "a handoff's own login echo ignored");
                } else if app.players.socket(id).is_some() {
                    tracing::info!(player = id, %reason, "kicking a player on admin request");
                    app.metrics.kicked("admin");
                    app.players.kick_account(id, &reason);
                }
            }
        }
    }
}

/// What the presence table holds, as far as this server wrote it.
#[derive(Debug, Default)]
struct Presence {
    /// Accounts written as online, with since when.
    written: HashMap<PlayerId, SystemTime>,
    /// When the table and heartbeat were last written; `None` before the
    /// first write (which also forgets a previous run's rows).
    last_write: Option<Instant>,
}

/// The change from `written` to `online`: (joined, left), each sorted.
fn presence_diff(
    written: &HashMap<PlayerId, SystemTime>,
    online: &[PlayerId],
) -> (Vec<PlayerId>, Vec<PlayerId>) {
    let mut joined: Vec<PlayerId> = online
        .iter()
        .copied()
        .filter(|id| !written.contains_key(id))
        .collect();
    let current: std::collections::HashSet<PlayerId> = online.iter().copied().collect();
    let mut left: Vec<PlayerId> = written
        .keys()
        .copied()
        .filter(|id| !current.contains(id))
        .collect();
    joined.sort_unstable();
    left.sort_unstable();
    (joined, left)
}

/// Writes who joined and left since the last write, and the heartbeat when
/// it is due.
async fn publish_presence(app: &SessionState, presence: &mut Presence) {
    let online: HashMap<PlayerId, SystemTime> = app
        .players
        .read()
        .iter()
        .map(|(id, bound)| (*id, bound.since))
        .collect();
    let ids: Vec<PlayerId> = online.keys().copied().collect();
    let (joined, left) = presence_diff(&presence.written, &ids);
    let start = presence.last_write.is_none();
    let heartbeat_due = presence
        .last_write
        .is_none_or(|at| at.elapsed() >= PRESENCE_HEARTBEAT);
    if joined.is_empty() && left.is_empty() && !heartbeat_due {
        return;
    }
    // Each login at the time its socket was bound: across servers the
    // later login wins by that time, not by which server publishes first.
    let now = SystemTime::now();
    let since = |id: &PlayerId| online.get(id).copied().unwrap_or(now);
    let joined_rows = joined.iter().map(|id| (*id, since(id))).collect();
    let left_rows = left.clone();
    match app.store.sync_presence(start, joined_rows, left_rows).await {
        Ok(()) => {
            for id in left {
                presence.written.remove(&id);
            }
            presence
                .written
                .extend(joined.iter().map(|id| (*id, since(id))));
            presence.last_write = Some(Instant::now());
        }
        Err(error) => tracing::warn!(%error, "cannot publish who is online"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_diff_reports_joins_and_leaves() {
        let now = SystemTime::now();
        let written: HashMap<PlayerId, SystemTime> = [(1, now), (2, now)].into_iter().collect();
        assert_eq!(presence_diff(&written, &[3, 2]), (vec![3], vec![1]));
        assert_eq!(presence_diff(&written, &[1, 2]), (vec![], vec![]));
        assert_eq!(
            presence_diff(&HashMap::new(), &[5, 4]),
            (vec![4, 5], vec![])
        );
        assert_eq!(presence_diff(&written, &[]), (vec![], vec![1, 2]));
    }
}
