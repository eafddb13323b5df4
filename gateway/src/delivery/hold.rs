//! A destination held back by a failure of this gateway's own (a signing key on a token that was
//! pulled out: [`lienthong_connectors::Outcome::Local`]), kept apart from the circuit breaker.
//!
//! Such a failure says nothing about the destination, so it must neither open the breaker (whose
//! pause grows to `max_cool_down` and fires the alert that points operators at the portal) nor
//! burn the messages' attempts. While held, the dispatcher claims nothing for the destination;
//! the hold lasts 1 s after the first local failure and doubles up to [`MAX_WAIT`], so the
//! messages go out within seconds of the resource coming back, at one trial per wait meanwhile.
//! Any other outcome ends the hold.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The first wait after a local failure.
pub const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait between trials while the resource stays away.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

/// The hold of one destination.
#[derive(Debug, Default)]
pub struct Hold {
    state: Mutex<Option<(Instant, Duration)>>,
}

impl Hold {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Duration)>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether deliveries may start at `now`.
    pub fn admits(&self, now: Instant) -> bool {
        self.lock().is_none_or(|(until, _)| now >= until)
    }

    /// Records a local failure at `now`; returns how long the destination is held (when its
    /// messages are due again).
    pub fn failed(&self, now: Instant) -> Duration {
        let mut s = self.lock();
        let wait = match *s {
            Some((_, last)) => (last * 2).min(MAX_WAIT),
            None => FIRST_WAIT,
        };
        *s = Some((now + wait, wait));
        wait
    }

    /// Records an attempt that reached the destination (whatever it answered): the hold ends.
    /// Returns whether there was one.
    pub fn cleared(&self) -> bool {
        self.lock().take().is_some()
    }

    /// Whether the destination is held by a local failure.
    pub fn is_held(&self) -> bool {
        self.lock().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_grows_to_its_bound_and_ends_with_a_real_attempt() {
        let hold = Hold::default();
        let t0 = Instant::now();
        assert!(hold.admits(t0));
        assert_eq!(hold.failed(t0), FIRST_WAIT);
        assert!(!hold.admits(t0 + Duration::from_millis(500)));
        assert!(hold.admits(t0 + FIRST_WAIT));
        let waits: Vec<Duration> = (0..5).map(|_| hold.failed(t0)).collect();
        assert_eq!(
            waits,
            [2, 4, 5, 5, 5].map(Duration::from_secs),
            "doubling, never past MAX_WAIT"
        );
        assert!(hold.is_held());
        assert!(hold.cleared());
        assert!(!hold.is_held());
        assert!(hold.admits(t0));
        assert_eq!(hold.failed(t0), FIRST_WAIT, "a new hold starts short");
    }
}
