//! Admin position resets reaching the running server: the admin CLI writes
//! the new position with a fresh reset epoch straight into the database
//! (whether the server runs or not); this task polls for epochs newer than
//! the last one seen and teleports the players who are online. Saves made
//! under an older epoch are skipped by the store, so a stale save never
//! overwrites a reset.

use std::sync::Arc;
use std::time::Duration;

use glam::DVec2;
use tokio_util::sync::CancellationToken;

use super::state::AppState;
use crate::game::tick_loop::WorldCommand;
use crate::game::TeleportReason;

/// How often the database is polled for resets (the contract allows one
/// second from the reset to the player's `teleport`).
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Polls for admin resets until `stop` is cancelled.
pub async fn watch(app: Arc<AppState>, stop: CancellationToken) {
    let mut last_epoch = loop {
        match app.store.current_reset_epoch().await {
            Ok(epoch) => break epoch,
            Err(error) => {
                tracing::warn!(%error, "cannot read the reset epoch; retrying");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let resets = match app.store.resets_since(last_epoch).await {
            Ok(resets) => resets,
            Err(error) => {
                tracing::warn!(%error, "cannot poll for admin resets");
                continue;
            }
        };
        for reset in resets {
            last_epoch = last_epoch.max(reset.reset_epoch);
            let command = WorldCommand::Teleport {
                id: reset.account_id.0 as u64,
                pos: DVec2::new(reset.x, reset.y),
                reason: TeleportReason::AdminReset,
                reset_epoch: reset.reset_epoch,
            };
            if let Err(error) = app.world.send(command) {
                tracing::warn!(%error, account = %reset.account_id, "admin reset not applied to the world");
            }
        }
    }
}
