//! The game session glue: the game's Socket.IO events turned into world
//! commands ([`game_events`]), the link to the world's tick thread and its
//! outbox of emits and saves ([`world_link`]), who plays which socket
//! ([`players`]), and the running server's side of `locus admin`
//! ([`resets`]).
//!
//! Knows no HTTP routes and no command-line flags: [`SessionConfig`] is its
//! settings, filled in by `crate::config`. Touches world state only through
//! `WorldCommand`s and the database only through `Store`.

use std::time::Duration;

use crate::game::WorldConfig;
use crate::socketio::Parser;

pub mod game_events;
pub mod players;
pub mod resets;
pub mod state;
pub mod world_link;

pub use state::SessionState;

/// The session glue's settings. Every field documents its default.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    /// The world's rules, told to each player in `welcome` (size, tick rate,
    /// speed, view radius). Defaults to [`WorldConfig::default`].
    pub world: WorldConfig,
    /// The Socket.IO packet format: snapshots are encoded for it on the tick
    /// thread. Defaults to [`Parser::Json`].
    pub parser: Parser,
    /// Sustained `position` events per second a socket may send before it
    /// is kicked. Default 60.
    pub position_rate: f64,
    /// Seconds of `position` events at `position_rate` a burst may hold.
    /// Default 2 (120 events at 60/s).
    pub position_burst_seconds: f64,
    /// Sustained `chat` messages per second a socket may send; extra ones
    /// are dropped. Default 2.
    pub chat_rate: f64,
    /// Chat messages a burst may hold. Default 5.
    pub chat_burst: f64,
    /// Malformed inputs (bad shapes, unknown events) a socket may send per
    /// second, sustained, before it is kicked. Default 5.
    pub garbage_rate: f64,
    /// Malformed inputs a burst may hold. Default 20.
    pub garbage_burst: f64,
    /// Commands queued for the tick thread before senders see
    /// back-pressure ("the world is overloaded"). Default 65 536.
    pub command_queue: usize,
    /// How often the database is polled for admin resets and events (the
    /// contract allows one second from a reset to the player's `teleport`).
    /// Default 250 ms.
    pub admin_poll_interval: Duration,
    /// Admin events read per poll; more wait for the next poll. Default 1024.
    pub admin_events_per_poll: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            world: WorldConfig::default(),
            parser: Parser::Json,
            position_rate: 60.0,
            position_burst_seconds: 2.0,
            chat_rate: 2.0,
            chat_burst: 5.0,
            garbage_rate: 5.0,
            garbage_burst: 20.0,
            command_queue: 65_536,
            admin_poll_interval: Duration::from_millis(250),
            admin_events_per_poll: 1024,
        }
    }
}

impl SessionConfig {
    /// Rejects settings the session cannot run with.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("position rate", self.position_rate),
            ("position burst seconds", self.position_burst_seconds),
            ("chat rate", self.chat_rate),
            ("chat burst", self.chat_burst),
            ("garbage rate", self.garbage_rate),
            ("garbage burst", self.garbage_burst),
        ];
        for (what, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!("{what} must be a positive number, not {value}"));
            }
        }
        if self.position_rate * self.position_burst_seconds < 1.0 {
            return Err("a position burst must hold at least one event".into());
        }
        if self.chat_burst < 1.0 || self.garbage_burst < 1.0 {
            return Err("chat and garbage bursts must hold at least one input".into());
        }
        if self.command_queue == 0 {
            return Err("the world command queue must hold at least one command".into());
        }
        if self.admin_poll_interval.is_zero() {
            return Err("the admin poll interval must be above zero".into());
        }
        if self.admin_events_per_poll == 0 {
            return Err("admin events per poll must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(SessionConfig::default().validate(), Ok(()));
    }

    #[test]
    fn nonsense_limits_are_rejected() {
        let bad = [
            SessionConfig {
                chat_rate: 0.0,
                ..SessionConfig::default()
            },
            SessionConfig {
                garbage_burst: f64::NAN,
                ..SessionConfig::default()
            },
            SessionConfig {
                position_rate: 0.1,
                position_burst_seconds: 1.0,
                ..SessionConfig::default()
            },
            SessionConfig {
                command_queue: 0,
                ..SessionConfig::default()
            },
            SessionConfig {
                admin_poll_interval: Duration::ZERO,
                ..SessionConfig::default()
            },
            SessionConfig {
                admin_events_per_poll: 0,
                ..SessionConfig::default()
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
    }
}
