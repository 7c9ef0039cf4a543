//! The game's Socket.IO events on namespace `/`, per `docs/protocol.md`:
//! token authentication on connect (and the snapshot form the auth payload
//! asks for), in a cluster the `moved` refusal of a player whose region
//! lives on another node, a handed-over player continuing from its
//! handoff record, `welcome`, duplicate logins, `position`
//! and `chat` inputs with their validation and rate limits, and leaving the
//! world on disconnect. Inputs are checked here and forwarded to the tick
//! thread; nothing here touches world state directly.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use glam::DVec2;
use serde_json::Value;

use super::players::kick;
use super::snapshot_form::SnapshotForm;
use super::state::SessionState;
use crate::auth;
use crate::cluster::{relay, Route};
use crate::game::tick_loop::WorldCommand;
use crate::game::{HandedOverPlayer, PlayerId, Welcome};
use crate::metrics::EventKind;
use crate::protocol::socketio::Args;
use crate::socketio::{ConnectError, DisconnectReason, Socket, SocketIo};
use crate::token_bucket::TokenBucket;

/// Longest chat message, in characters. Fixed, not a setting: the wire
/// contract says `chat {"text"}` is 1-200 characters, and clients rely on it.
const CHAT_MAX_CHARS: usize = 200;

/// Rate limits of one socket's inputs.
#[derive(Debug)]
struct InputLimits {
    /// `position` events: running dry means a sustained flood (kick).
    positions: TokenBucket,
    /// Malformed inputs: running dry means a garbage stream (kick).
    garbage: TokenBucket,
    /// `chat` messages: extra ones are dropped.
    chat: TokenBucket,
}

/// Which of a socket's input limits an input counts against.
#[derive(Debug, Clone, Copy)]
enum Limit {
    Position,
    Garbage,
    Chat,
}

/// What the server keeps on each playing socket.
#[derive(Debug)]
pub struct PlayerSession {
    /// The account (and player) id.
    pub id: PlayerId,
    /// The account's name.
    pub name: String,
    /// Input rate limits; locked only inside one event handler.
    limits: Mutex<InputLimits>,
}

impl PlayerSession {
    /// Takes one token from `limit`'s bucket; false when it is empty.
    fn allow(&self, limit: Limit) -> bool {
        let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = match limit {
            Limit::Position => &mut limits.positions,
            Limit::Garbage => &mut limits.garbage,
            Limit::Chat => &mut limits.chat,
        };
        bucket.take(Instant::now())
    }
}

/// Kicks `socket` with `reason`, counted under `metric` in `/metrics`.
fn kick_counted(app: &SessionState, socket: &Socket, metric: &str, reason: &str) {
    app.metrics.kicked(metric);
    kick(socket, reason);
}

/// Registers the game's handlers on namespace `/`.
pub fn register(io: &SocketIo, app: Arc<SessionState>) {
    let ns = io.namespace("/");
    let state = app.clone();
    ns.on_connect(move |socket, auth| {
        let app = state.clone();
        async move { connect(&app, socket, auth).await }
    });
    let state = app.clone();
    ns.on("position", move |socket: &Socket, args: Args, _ack| {
        on_position(&state, socket, &args)
    });
    let state = app.clone();
    ns.on("chat", move |socket: &Socket, args: Args, _ack| {
        on_chat(&state, socket, &args)
    });
    let state = app.clone();
    ns.on_any(move |socket: &Socket, event: &str, _args: Args, _ack| {
        tracing::debug!(socket = socket.id(), event, "unknown event ignored");
        garbage(&state, socket, "unknown_event");
    });
    let state = app;
    ns.on_disconnect(move |socket: &Socket, reason| on_disconnect(&state, socket, reason));
}

fn unauthorized() -> ConnectError {
    ConnectError::new("unauthorized")
}

/// Authenticates the token, brings the player into the world at its stored
/// position (or takes over the world entity of an older connection of the
/// same account), and sends `welcome`.
async fn connect(app: &Arc<SessionState>, socket: Socket, auth: Value) -> Result<(), ConnectError> {
    let token = auth
        .get("token")
        .and_then(Value::as_str)
        .ok_or_else(unauthorized)?;
    let token_hash = auth::token::hash_presented(token).ok_or_else(unauthorized)?;
    let account = match app
        .store
        .session_account(token_hash, SystemTime::now())
        .await
    {
        Ok(Some(account)) => account,
        Ok(None) => return Err(unauthorized()),
        Err(error) => {
            tracing::error!(%error, "token lookup failed");
            return Err(ConnectError::new("server unavailable, try again"));
        }
    };
    let id = account.id;
    let form = SnapshotForm::from_auth(&auth);
    let _account_lock = app.players.lock_account(id).await;

    let previous = app.players.bound(id);
    // In a cluster, a player handed over by another node continues from
    // its record, not from a database read.
    let handed = match previous {
        None => take_handed_over(app, id).await,
        Some(_) => None,
    };
    let stored = if previous.is_some() || handed.is_some() {
        None
    } else {
        app.store.load_position(account.id).await.map_err(|error| {
            tracing::error!(%error, "position lookup failed");
            ConnectError::new("server unavailable, try again")
        })?
    };
    // Never placed: a non-finite position makes the world use its spawn
    // point. An online (or just departed) player keeps its world position.
    let (pos, epoch) = match (&handed, stored) {
        (Some(h), _) => (DVec2::new(h.x, h.y), h.reset_epoch),
        (None, Some(p)) => (DVec2::new(p.x, p.y), p.reset_epoch),
        (None, None) => (DVec2::NAN, 0),
    };
    if previous.is_none() && handed.is_none() {
        refuse_if_elsewhere(app, pos)?;
    }
    // A takeover: the old socket stops getting snapshots before the world
    // resets the player's view for the new one, so no snapshot built on the
    // new (empty) baseline goes to the old client and is lost (the outbox
    // keeps the baseline while nobody is bound).
    if let Some(old) = &previous {
        app.players.unbind_if(id, old.socket.id());
    }
    let name = account.username.clone();
    let was_handed_over = handed.is_some();
    let joined = match handed {
        Some(player) => {
            app.world
                .request(|reply| WorldCommand::JoinHandedOver { player, reply })
                .await
        }
        None => {
            app.world
                .request(|reply| WorldCommand::Join {
                    id,
                    name: name.clone(),
                    pos,
                    reset_epoch: epoch,
                    reply,
                })
                .await
        }
    };
    let start = match joined {
        Ok(start) => start,
        Err(error) => {
            if was_handed_over {
                tracing::warn!(%error, player = id, "a handed-over player could not join; its next connection starts from the saved position");
            }
            if let Some(old) = previous {
                // Nothing changed in the world: the old socket plays on.
                app.players.bind(id, old.socket, old.form);
            }
            return Err(ConnectError::new(error.to_string()));
        }
    };
    if let Some(old) = previous {
        kick_counted(
            app,
            &old.socket,
            "logged in elsewhere",
            "logged in elsewhere",
        );
    }

    let now = Instant::now();
    let config = &app.config;
    let limits = InputLimits {
        positions: TokenBucket::new(
            config.position_rate,
            config.position_rate * config.position_burst_seconds,
            now,
        ),
        garbage: TokenBucket::new(config.garbage_rate, config.garbage_burst, now),
        chat: TokenBucket::new(config.chat_rate, config.chat_burst, now),
    };
    socket.set_data(PlayerSession {
        id,
        name: name.clone(),
        limits: Mutex::new(limits),
    });
    let welcome = Welcome::new(id, name.clone(), start, &config.world);
    if let Err(error) = socket.emit("welcome", &welcome) {
        // The client went away while it was being looked up.
        if was_handed_over {
            tracing::info!(%error, player = id, "a handed-over player left before its welcome");
        }
        leave_world(app, id).await;
        return Err(ConnectError::new(error.to_string()));
    }
    app.metrics.event_out(EventKind::welcome, 1);
    app.players.bind(id, socket, form);
    Ok(())
}

/// In a cluster, takes the handoff record another node left for account
/// `id` (its region is held here); `None` without one, or when Redis
/// cannot be asked (the saved position is used then).
async fn take_handed_over(app: &SessionState, id: PlayerId) -> Option<HandedOverPlayer> {
    let node = app.cluster.as_ref()?;
    let world = (app.config.world.width, app.config.world.height);
    match relay::take_handoff(node, id, world).await {
        Ok(player) => player,
        Err(error) => {
            tracing::warn!(%error, player = id, "cannot read handoff records; using the saved position");
            None
        }
    }
}

/// In a cluster, refuses a player whose region this node does not hold:
/// `moved` with the owner's URL, or a retryable error while nobody holds
/// it. `pos` is the stored position (non-finite: the spawn point).
fn refuse_if_elsewhere(app: &SessionState, pos: DVec2) -> Result<(), ConnectError> {
    let Some(node) = &app.cluster else {
        return Ok(());
    };
    let stored = pos.is_finite().then_some((pos.x, pos.y));
    match node.route_stored(stored) {
        Route::Here => Ok(()),
        Route::Moved(url) => {
            Err(ConnectError::new("moved").with_data(serde_json::json!({ "url": url })))
        }
        Route::Unowned => Err(ConnectError::new(
            "this region has no owner right now, try again",
        )),
    }
}

/// Counts a malformed input; kicks a socket that keeps sending them.
fn garbage(app: &SessionState, socket: &Socket, reason: &str) {
    app.metrics.input_dropped(reason);
    let Some(session) = socket.data::<PlayerSession>() else {
        return;
    };
    if !session.allow(Limit::Garbage) {
        kick_counted(app, socket, "malformed input", "too much malformed input");
    }
}

/// `position {"x","y","seq"}`: finite numbers and a non-negative integer seq.
fn parse_position(args: &Args) -> Option<(f64, f64, u64)> {
    let body = args.get(0)?.as_object()?;
    let x = body.get("x")?.as_f64()?;
    let y = body.get("y")?.as_f64()?;
    let seq = body.get("seq")?.as_u64()?;
    (x.is_finite() && y.is_finite()).then_some((x, y, seq))
}

fn on_position(app: &SessionState, socket: &Socket, args: &Args) {
    app.metrics.event_in(EventKind::position);
    let Some(session) = socket.data::<PlayerSession>() else {
        return;
    };
    if !session.allow(Limit::Position) {
        return kick_counted(app, socket, "flooding", "too many position events");
    }
    let Some((x, y, seq)) = parse_position(args) else {
        return garbage(app, socket, "malformed_position");
    };
    if app
        .world
        .send(WorldCommand::Target {
            id: session.id,
            x,
            y,
            seq,
        })
        .is_err()
    {
        app.metrics.input_dropped("overload");
    }
}

/// `chat {"text"}`: 1-200 characters, not only white space.
fn parse_chat(args: &Args) -> Option<String> {
    let text = args.get(0)?.as_object()?.get("text")?.as_str()?;
    let chars = text.chars().count();
    ((1..=CHAT_MAX_CHARS).contains(&chars) && !text.trim().is_empty()).then(|| text.to_owned())
}

fn on_chat(app: &SessionState, socket: &Socket, args: &Args) {
    app.metrics.event_in(EventKind::chat);
    let Some(session) = socket.data::<PlayerSession>() else {
        return;
    };
    let Some(text) = parse_chat(args) else {
        return garbage(app, socket, "malformed_chat");
    };
    if !session.allow(Limit::Chat) {
        app.metrics.input_dropped("chat_rate");
        return;
    }
    if app
        .world
        .send(WorldCommand::Chat {
            id: session.id,
            text,
        })
        .is_err()
    {
        app.metrics.input_dropped("overload");
    }
}

/// Takes player `id` out of the world; the world hands its final position
/// to the store itself, before it runs any later command (so a shutdown's
/// final save never misses it). The caller holds the account's lock.
async fn leave_world(app: &SessionState, id: PlayerId) {
    if let Err(error) = app
        .world
        .request(|reply| WorldCommand::Leave { id, reply })
        .await
    {
        tracing::debug!(%error, "world gone while a player left");
    }
}

/// Takes the player out of the world (which saves its final position), unless a
/// newer connection of the same account took over.
fn on_disconnect(app: &Arc<SessionState>, socket: &Socket, reason: DisconnectReason) {
    let Some(session) = socket.data::<PlayerSession>() else {
        return;
    };
    tracing::debug!(player = session.id, %reason, "player disconnected");
    let app = app.clone();
    let socket_id = socket.id().to_owned();
    tokio::spawn(async move {
        let _account_lock = app.players.lock_account(session.id).await;
        if !app.players.unbind_if(session.id, &socket_id) {
            return; // a newer connection plays this account now
        }
        leave_world(&app, session.id).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Args {
        Args::from_parts(vec![v], Vec::new())
    }

    #[test]
    fn position_shape_is_strict() {
        assert_eq!(
            parse_position(&args(json!({"x": 1.5, "y": 2, "seq": 3}))),
            Some((1.5, 2.0, 3))
        );
        for bad in [
            json!({"x": "1", "y": 2, "seq": 3}),
            json!({"x": 1, "y": 2}),
            json!({"x": 1, "y": 2, "seq": -1}),
            json!({"x": 1, "y": 2, "seq": 1.5}),
            json!([1, 2, 3]),
            json!(null),
        ] {
            assert_eq!(parse_position(&args(bad.clone())), None, "{bad}");
        }
        assert_eq!(parse_position(&Args::new()), None);
    }

    #[test]
    fn chat_text_is_bounded() {
        assert_eq!(
            parse_chat(&args(json!({"text": "hi"}))).as_deref(),
            Some("hi")
        );
        assert_eq!(
            parse_chat(&args(json!({"text": "é".repeat(200)}))).map(|t| t.chars().count()),
            Some(200)
        );
        for bad in [
            json!({"text": ""}),
            json!({"text": "   "}),
            json!({"text": "x".repeat(201)}),
            json!({"text": 5}),
            json!("hi"),
        ] {
            assert_eq!(parse_chat(&args(bad.clone())), None, "{bad}");
        }
    }
}
