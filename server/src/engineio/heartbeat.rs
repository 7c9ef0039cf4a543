//! The server-driven heartbeat of one session (Engine.IO v4: the server
//! pings, the client answers): when pings fall due, when a missing pong
//! ends the session, and applying a timer expiry to the session state.
//!
//! Pure timing plus one state update; knows no transport (the polling
//! wait and the WebSocket loop both call it) and no driver.

use std::pin::Pin;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use super::socket::{CloseReason, EngineSocket};

/// The server-driven heartbeat of one session (Engine.IO v4: the server
/// pings, the client answers).
#[derive(Debug)]
pub(crate) struct Heartbeat {
    /// Time between a pong and the next ping.
    interval: Duration,
    /// Time the client has to answer a ping.
    timeout: Duration,
    /// When the next ping goes out; `None` while one is unanswered.
    next_ping: Option<Instant>,
    /// When the unanswered ping expires; `None` when none is outstanding.
    pong_deadline: Option<Instant>,
}

/// What a heartbeat timer expiry calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Beat {
    /// Nothing yet (the timer fired early or was already handled).
    Idle,
    /// Queue a ping now.
    Ping,
    /// The client missed its pong.
    TimedOut,
}

impl Heartbeat {
    /// The first ping is due one interval after the handshake.
    pub fn new(opened_at: Instant, interval: Duration, timeout: Duration) -> Self {
        Self {
            interval,
            timeout,
            next_ping: Some(opened_at + interval),
            pong_deadline: None,
        }
    }

    /// When the outstanding ping expires, if one is outstanding.
    pub fn pong_deadline(&self) -> Option<Instant> {
        self.pong_deadline
    }

    /// When the heartbeat next needs attention.
    pub fn deadline(&self) -> Instant {
        match (self.next_ping, self.pong_deadline) {
            (_, Some(deadline)) => deadline,
            (Some(ping), None) => ping,
            // Unreachable by construction; a far deadline keeps timers sane.
            (None, None) => Instant::now() + self.interval,
        }
    }

    /// Advances the heartbeat to `now`. A ping's pong deadline starts when
    /// it is queued, not when a poll carries it out.
    pub fn on_timer(&mut self, now: Instant) -> Beat {
        if self.pong_deadline.is_some_and(|deadline| now >= deadline) {
            return Beat::TimedOut;
        }
        if let Some(due) = self.next_ping.filter(|due| now >= *due) {
            self.next_ping = None;
            // Counted from when the ping was due, so a late timer does not
            // stretch the session's life; but never less than half the
            // timeout from now.
            self.pong_deadline = Some((due + self.timeout).max(now + self.timeout / 2));
            return Beat::Ping;
        }
        Beat::Idle
    }

    /// A pong arrived: the next ping is one interval away. A pong nobody
    /// asked for changes nothing, so a pong flood cannot delay pings.
    pub fn on_pong(&mut self, now: Instant) {
        if self.pong_deadline.take().is_some() {
            self.next_ping = Some(now + self.interval);
        }
    }
}

/// Applies a heartbeat timer expiry to the session and re-arms the timer.
pub(crate) fn on_heartbeat_timer<D>(
    socket: &EngineSocket<D>,
    heartbeat: &mut Heartbeat,
    sleep: Pin<&mut Sleep>,
) {
    match heartbeat.on_timer(Instant::now()) {
        Beat::Idle => {}
        Beat::Ping => {
            let mut state = socket.lock();
            state.ping_due = true;
            state.pong_deadline = heartbeat.pong_deadline();
            if let Some(waker) = state.wakers.poll.take() {
                waker.wake();
            }
        }
        Beat::TimedOut => socket.close(CloseReason::PingTimeout),
    }
    sleep.reset(heartbeat.deadline());
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn first_ping_after_one_interval() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(start, 10 * SECOND, 5 * SECOND);
        assert_eq!(heartbeat.deadline(), start + 10 * SECOND);
        assert_eq!(heartbeat.on_timer(start + 9 * SECOND), Beat::Idle);
        assert_eq!(heartbeat.on_timer(start + 10 * SECOND), Beat::Ping);
        // Exactly one ping per interval, however often the timer fires.
        assert_eq!(heartbeat.on_timer(start + 10 * SECOND), Beat::Idle);
        assert_eq!(heartbeat.deadline(), start + 15 * SECOND);
    }

    #[test]
    fn pong_schedules_next_ping() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(start, 10 * SECOND, 5 * SECOND);
        heartbeat.on_timer(start + 10 * SECOND);
        heartbeat.on_pong(start + 12 * SECOND);
        assert_eq!(heartbeat.deadline(), start + 22 * SECOND);
        assert_eq!(heartbeat.on_timer(start + 16 * SECOND), Beat::Idle);
    }

    #[test]
    fn missing_pong_times_out() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(start, 10 * SECOND, 5 * SECOND);
        heartbeat.on_timer(start + 10 * SECOND);
        assert_eq!(heartbeat.on_timer(start + 15 * SECOND), Beat::TimedOut);
    }

    #[test]
    fn late_timer_does_not_extend_pong_deadline() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(start, 10 * SECOND, 4 * SECOND);
        assert_eq!(heartbeat.on_timer(start + 11 * SECOND), Beat::Ping);
        assert_eq!(heartbeat.pong_deadline(), Some(start + 14 * SECOND));
        heartbeat.on_pong(start + 12 * SECOND);
        assert_eq!(heartbeat.on_timer(start + 40 * SECOND), Beat::Ping);
        assert_eq!(heartbeat.pong_deadline(), Some(start + 42 * SECOND));
    }

    #[test]
    fn unsolicited_pong_does_not_delay_pings() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(start, 10 * SECOND, 5 * SECOND);
        heartbeat.on_pong(start + 9 * SECOND);
        assert_eq!(heartbeat.deadline(), start + 10 * SECOND);
    }
}
