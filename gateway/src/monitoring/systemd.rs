//! The service manager's notification protocol (`sd_notify`): `READY=1` once the store,
//! mappings and certificates are loaded and the listener is up, `RELOADING=1` (with
//! `MONOTONIC_USEC`) then `READY=1` around a configuration reload, `STOPPING=1` at shutdown,
//! `WATCHDOG=1` from the dispatcher's loop, and `STATUS=` lines that `systemctl status` shows.
//!
//! Every function is a no-op when `NOTIFY_SOCKET` is not set (a terminal, a container, the
//! tests that run the server in-process). A failure to notify is logged, never fatal: the
//! gateway keeps serving and systemd's own timeouts decide.
//!
//! The watchdog is fed by the dispatcher's loop, not by a free-running timer, so a dispatcher
//! that stops turning (a deadlock, a store call that never returns) stops the pings and systemd
//! restarts the service after `WatchdogSec`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}

/// The gateway is up: store open and migrated, mappings compiled, certificates loaded, listener
/// bound.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A configuration reload starts (systemd waits for the next `READY=1`).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the monotonic clock for RELOADING=1");
            send(&[NotifyState::Reloading]);
        }
    }
}

/// The reload ended (applied or refused, `status` says which); the gateway serves again.
pub fn reloaded(status: &str) {
    ready(status);
}

/// Shutdown has begun: no new work is taken.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// The watchdog interval systemd asked for (`WatchdogSec=`), if any.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
}

/// Feeds systemd's watchdog from a loop that must keep turning. [`Watchdog::pet`] sends
/// `WATCHDOG=1` at most every quarter of the interval, however often the loop turns; the loop
/// must turn at least every [`Watchdog::max_sleep`].
#[derive(Debug)]
pub struct Watchdog {
    interval: Duration,
    last: Mutex<Option<Instant>>,
}

impl Watchdog {
    /// The watchdog systemd asked for, or `None` (then the loop needs no pinging).
    pub fn from_env() -> Option<Self> {
        watchdog_interval().map(Self::new)
    }

    /// A watchdog of `interval` (tests, or a value read elsewhere).
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Mutex::new(None),
        }
    }

    /// The longest the fed loop may sleep between two turns and still ping in time.
    pub fn max_sleep(&self) -> Duration {
        self.interval / 4
    }

    /// The loop turned: ping if a quarter of the interval has passed since the last ping.
    pub fn pet(&self) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if last.is_none_or(|t| now.duration_since(t) >= self.interval / 4) {
            *last = Some(now);
            send(&[NotifyState::Watchdog]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_may_sleep_a_quarter_of_the_interval() {
        let w = Watchdog::new(Duration::from_secs(60));
        assert_eq!(w.max_sleep(), Duration::from_secs(15));
    }

    #[test]
    fn pets_are_rate_limited_to_a_quarter_of_the_interval() {
        let w = Watchdog::new(Duration::from_secs(3600));
        w.pet();
        let first = *w.last.lock().expect("lock");
        w.pet();
        assert_eq!(*w.last.lock().expect("lock"), first, "second pet too soon");
    }
}
