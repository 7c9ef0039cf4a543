//! The world's tunables: size, tick rate, speed, interest radii and the
//! slow-reader and anti-cheat bounds, each with the default from the wire
//! contract (`docs/protocol.md`). Owns validation of those numbers; must not
//! know where they come from (flags, environment: that is `crate::config`).

use std::time::Duration;

/// Everything the world needs to know about its rules. `Default` is the
/// contract's table; [`WorldConfig::validate`] rejects nonsense before a
/// [`World`](super::World) is built from it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorldConfig {
    /// World width in units; x runs from 0 (left) to `width`. Default 4096.
    pub width: f64,
    /// World height in units; y runs from 0 (top) to `height`. Default 4096.
    pub height: f64,
    /// Ticks per second; every tick moves players and sends snapshots.
    /// Default 20 (one tick every 50 ms).
    pub tick_hz: u32,
    /// Maximum player speed in units per second; a tick moves a player by at
    /// most `speed / tick_hz`. Default 300.
    pub speed: f64,
    /// A player sees (gets `enter` for) others within this distance.
    /// Default 600.
    pub view_radius: f64,
    /// A player already in view leaves it only beyond this distance
    /// (hysteresis, so players at the edge do not flap). Must be at least
    /// `view_radius`. Default `view_radius + 100` = 700; see
    /// [`WorldConfig::with_view_radius`].
    pub view_leave_radius: f64,
    /// At most this many others are in one player's view: the nearest ones
    /// (ties by id). Bounds snapshot size and tick work in crowds.
    /// Default 128; at most 65,536 (the binary snapshot's index range).
    pub view_max: usize,
    /// How often dirty positions are handed to [`Outbox::persist`](super::Outbox::persist).
    /// Rounded to whole ticks (at least one). Default 1 s.
    pub flush_interval: Duration,
    /// A player whose outbox reports `Full` for more than this many
    /// consecutive ticks is kicked ("too slow") and removed. Default 100
    /// ticks (5 s at 20 Hz).
    pub max_unsent_ticks: u32,
    /// How far a `position` target may be from the authoritative position
    /// (beyond one tick of movement) before the client gets a `correction`
    /// teleport, expressed as time at `speed`. Covers latency and jitter of
    /// honest clients that predict ahead. Default 500 ms (150 units at 300/s).
    pub correction_slack: Duration,
    /// After a server teleport, targets farther from the teleport point than
    /// `speed * (time since the teleport + this slack)` are dropped as stale
    /// (sent before the client saw the teleport). Default 100 ms (30 units).
    pub teleport_slack: Duration,
    /// Targets at most this far outside the world are clamped silently;
    /// farther out they are clamped and the client gets a `correction`.
    /// Default 1 unit.
    pub bounds_tolerance: f64,
    /// Every this many ticks the world renumbers its player table in grid
    /// order, so that players near each other sit near each other in memory
    /// (views read their neighbours' data every tick). Invisible on the wire;
    /// 0 disables it. Default 100 ticks (5 s at 20 Hz).
    pub relayout_interval_ticks: u64,
    /// Commands applied between two ticks when the tick loop has no time
    /// left before the next deadline (an overloaded world): enough to keep
    /// every queue moving (joins, leaves, shutdown), few enough to keep the
    /// tick rate. At least 1. Default 4096.
    pub max_commands_per_late_tick: usize,
    /// Threads that compute a tick's views when many players are online
    /// (the tick thread and `view_threads - 1` more, started per tick);
    /// snapshots are still delivered from the tick thread, in slot order,
    /// so the result is the same whatever the number. 1 to 64. Default 1.
    pub view_threads: usize,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            width: 4096.0,
            height: 4096.0,
            tick_hz: 20,
            speed: 300.0,
            view_radius: 600.0,
            view_leave_radius: 700.0,
            view_max: 128,
            flush_interval: Duration::from_secs(1),
            max_unsent_ticks: 100,
            correction_slack: Duration::from_millis(500),
            teleport_slack: Duration::from_millis(100),
            bounds_tolerance: 1.0,
            relayout_interval_ticks: 100,
            max_commands_per_late_tick: 4096,
            view_threads: 1,
        }
    }
}

/// Why a [`WorldConfig`] cannot run a world.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorldConfigError {
    /// Width or height is not a finite number in `1..=1e7`.
    #[error("world size must be finite and between 1 and 10000000 units, got {width} x {height}")]
    Size {
        /// The rejected width.
        width: f64,
        /// The rejected height.
        height: f64,
    },
    /// The tick rate is outside `1..=1000`.
    #[error("tick rate must be between 1 and 1000 Hz, got {0}")]
    TickRate(u32),
    /// The speed is negative or not finite.
    #[error("speed must be a finite number >= 0, got {0}")]
    Speed(f64),
    /// The view radius is not positive and finite, or the leave radius is
    /// below it.
    #[error("view radius must be > 0 and the leave radius >= it, got {view} / {leave}")]
    ViewRadius {
        /// The rejected view radius.
        view: f64,
        /// The rejected leave radius.
        leave: f64,
    },
    /// `view_max` is zero or above the binary snapshot's index range.
    #[error("view_max must be 1 to 65536")]
    ViewMax,
    /// `max_commands_per_late_tick` is zero (a late tick would starve every
    /// command).
    #[error("max_commands_per_late_tick must be at least 1")]
    LateTickCommands,
    /// `view_threads` is outside `1..=64`.
    #[error("view_threads must be 1 to 64, got {0}")]
    ViewThreads(usize),
    /// A slack or tolerance is negative or not finite.
    #[error("{0} must be a finite number >= 0")]
    Slack(&'static str),
}

impl WorldConfig {
    /// Sets the view radius and the leave radius to `radius + 100`, the
    /// contract's hysteresis band (what `--view-radius` should call).
    pub fn with_view_radius(mut self, radius: f64) -> Self {
        self.view_radius = radius;
        self.view_leave_radius = radius + 100.0;
        self
    }

    /// Checks every field; a [`World`](super::World) is only built from a
    /// config that passes.
    pub fn validate(&self) -> Result<(), WorldConfigError> {
        let size_ok = |v: f64| v.is_finite() && (1.0..=1e7).contains(&v);
        if !size_ok(self.width) || !size_ok(self.height) {
            return Err(WorldConfigError::Size {
                width: self.width,
                height: self.height,
            });
        }
        if !(1..=1000).contains(&self.tick_hz) {
            return Err(WorldConfigError::TickRate(self.tick_hz));
        }
        if !self.speed.is_finite() || self.speed < 0.0 {
            return Err(WorldConfigError::Speed(self.speed));
        }
        let radius_ok = self.view_radius.is_finite()
            && self.view_radius > 0.0
            && self.view_leave_radius.is_finite()
            && self.view_leave_radius >= self.view_radius;
        if !radius_ok {
            return Err(WorldConfigError::ViewRadius {
                view: self.view_radius,
                leave: self.view_leave_radius,
            });
        }
        if self.view_max == 0 || self.view_max > super::binary::MAX_INDEX as usize {
            return Err(WorldConfigError::ViewMax);
        }
        if self.max_commands_per_late_tick == 0 {
            return Err(WorldConfigError::LateTickCommands);
        }
        if !(1..=64).contains(&self.view_threads) {
            return Err(WorldConfigError::ViewThreads(self.view_threads));
        }
        let slack_ok = |v: f64| v.is_finite() && v >= 0.0;
        if !slack_ok(self.bounds_tolerance) {
            return Err(WorldConfigError::Slack("bounds_tolerance"));
        }
        Ok(())
    }

    /// Seconds per tick.
    pub fn dt(&self) -> f64 {
        1.0 / f64::from(self.tick_hz)
    }

    /// Ticks between two persistence flushes (at least one).
    pub fn flush_every_ticks(&self) -> u64 {
        let ticks = (self.flush_interval.as_secs_f64() * f64::from(self.tick_hz)).round();
        if ticks.is_finite() && ticks >= 1.0 {
            ticks as u64
        } else {
            1
        }
    }

    /// The period of one tick.
    pub fn tick_period(&self) -> Duration {
        Duration::from_secs_f64(self.dt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_contract_table() {
        let c = WorldConfig::default();
        assert_eq!((c.width, c.height), (4096.0, 4096.0));
        assert_eq!(c.tick_hz, 20);
        assert_eq!(c.speed, 300.0);
        assert_eq!((c.view_radius, c.view_leave_radius), (600.0, 700.0));
        assert_eq!(c.view_max, 128);
        assert_eq!(c.flush_every_ticks(), 20);
        assert!(c.validate().is_ok());
        assert_eq!(WorldConfig::default().with_view_radius(600.0), c);
    }

    #[test]
    fn rejects_non_finite_world_size() {
        let c = WorldConfig {
            width: f64::NAN,
            ..Default::default()
        };
        assert!(matches!(c.validate(), Err(WorldConfigError::Size { .. })));
    }

    #[test]
    fn rejects_zero_tick_rate() {
        let c = WorldConfig {
            tick_hz: 0,
            ..Default::default()
        };
        assert_eq!(c.validate(), Err(WorldConfigError::TickRate(0)));
    }

    #[test]
    fn rejects_leave_radius_below_view_radius() {
        let c = WorldConfig {
            view_leave_radius: 500.0,
            ..Default::default()
        };
        assert!(matches!(
            c.validate(),
            Err(WorldConfigError::ViewRadius { .. })
        ));
    }

    #[test]
    fn rejects_zero_view_max_and_negative_speed() {
        let c = WorldConfig {
            view_max: 0,
            ..Default::default()
        };
        assert_eq!(c.validate(), Err(WorldConfigError::ViewMax));
        let c = WorldConfig {
            speed: -1.0,
            ..Default::default()
        };
        assert_eq!(c.validate(), Err(WorldConfigError::Speed(-1.0)));
    }
}
