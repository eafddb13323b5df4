//! The persisted retry schedule: when a failed delivery is tried again, or that it is not.
//!
//! A pure function of the policy, the attempts made, the clock and a random source, so that it
//! can be property-tested; its result is stored (`next_attempt_at`), so a restart keeps the
//! schedule. Exponential bound `initial × multiplier^(n-1)` capped at `max_delay`, full jitter
//! (a uniform delay in `[0, bound]`, which spreads a burst of failures over the window), never
//! sooner than the portal's `Retry-After`, and dead after `max_attempts` or `max_age`. The
//! `backoff` crate is unmaintained (RUSTSEC-2025-0012), hence this small function.

use std::time::Duration;

use rand::Rng;

use crate::config::RetryPolicy;

/// What happens after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again at this time (ms), after this delay.
    At {
        /// When, in Unix milliseconds.
        at_ms: i64,
        /// The delay chosen.
        delay: Duration,
    },
    /// Give up: attempts or age exhausted.
    GiveUp(GiveUpReason),
}

/// Why the schedule gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUpReason {
    /// `max_attempts` reached.
    Attempts,
    /// The next attempt would fall after `max_age`.
    Age,
}

/// The upper bound of the delay before attempt `attempts_made + 1`.
pub fn delay_bound(p: &RetryPolicy, attempts_made: u32) -> Duration {
    let exp = i32::try_from(attempts_made.saturating_sub(1)).unwrap_or(i32::MAX);
    let secs = p.initial.as_secs_f64() * p.multiplier.powi(exp);
    let max = p.max_delay.as_secs_f64();
    Duration::from_secs_f64(if secs.is_finite() { secs.min(max) } else { max })
}

/// Schedules the next attempt after `attempts_made` failed attempts.
///
/// `age_from_ms` is when the delivery was queued (or replayed); `retry_after` is the portal's
/// `Retry-After`, honoured as a lower bound.
pub fn next_attempt(
    p: &RetryPolicy,
    attempts_made: u32,
    age_from_ms: i64,
    now_ms: i64,
    retry_after: Option<Duration>,
    rng: &mut impl Rng,
) -> Next {
    if attempts_made >= p.max_attempts {
        return Next::GiveUp(GiveUpReason::Attempts);
    }
    let bound = delay_bound(p, attempts_made);
    let bound_ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
    let jittered = Duration::from_millis(rng.random_range(0..=bound_ms));
    let delay = match retry_after {
        Some(ra) if ra > jittered => ra,
        _ => jittered,
    };
    let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
    let at_ms = now_ms.saturating_add(delay_ms);
    let max_age_ms = i64::try_from(p.max_age.as_millis()).unwrap_or(i64::MAX);
    if at_ms > age_from_ms.saturating_add(max_age_ms) {
        return Next::GiveUp(GiveUpReason::Age);
    }
    Next::At { at_ms, delay }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_secs(1),
            multiplier: 2.0,
            max_delay: Duration::from_secs(3600),
            max_attempts: 25,
            max_age: Duration::from_secs(72 * 3600),
        }
    }

    #[test]
    fn bound_grows_then_caps() {
        let p = policy();
        assert_eq!(delay_bound(&p, 1), Duration::from_secs(1));
        assert_eq!(delay_bound(&p, 2), Duration::from_secs(2));
        assert_eq!(delay_bound(&p, 5), Duration::from_secs(16));
        assert_eq!(delay_bound(&p, 13), Duration::from_secs(3600));
        assert_eq!(delay_bound(&p, u32::MAX), Duration::from_secs(3600));
    }

    #[test]
    fn gives_up_on_attempts_and_age() {
        let p = policy();
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(
            next_attempt(&p, 25, 0, 0, None, &mut rng),
            Next::GiveUp(GiveUpReason::Attempts)
        );
        let old = -(72 * 3600 * 1000);
        assert_eq!(
            next_attempt(&p, 3, old, 0, Some(Duration::from_secs(1)), &mut rng),
            Next::GiveUp(GiveUpReason::Age)
        );
    }

    #[test]
    fn retry_after_is_a_floor_even_above_the_bound() {
        let p = policy();
        let mut rng = StdRng::seed_from_u64(7);
        let Next::At { delay, .. } =
            next_attempt(&p, 1, 0, 0, Some(Duration::from_secs(30)), &mut rng)
        else {
            panic!("scheduled");
        };
        assert_eq!(delay, Duration::from_secs(30));
    }

    #[test]
    fn jitter_spreads_delays() {
        let p = policy();
        let mut rng = StdRng::seed_from_u64(3);
        let delays: std::collections::BTreeSet<_> = (0..50)
            .filter_map(|_| match next_attempt(&p, 6, 0, 0, None, &mut rng) {
                Next::At { delay, .. } => Some(delay),
                Next::GiveUp(_) => None,
            })
            .collect();
        assert!(
            delays.len() > 40,
            "full jitter should rarely repeat: {}",
            delays.len()
        );
    }

    proptest! {
        #[test]
        fn delay_within_bounds(attempts in 1u32..40, seed: u64, ra in proptest::option::of(0u64..7200),
                               initial_ms in 1u64..10_000, mult in 1.0f64..4.0, max_s in 10u64..7200) {
            let p = RetryPolicy {
                initial: Duration::from_millis(initial_ms),
                multiplier: mult,
                max_delay: Duration::from_secs(max_s).max(Duration::from_millis(initial_ms)),
                max_attempts: 30,
                max_age: Duration::from_secs(10 * 24 * 3600),
            };
            let mut rng = StdRng::seed_from_u64(seed);
            let retry_after = ra.map(Duration::from_secs);
            match next_attempt(&p, attempts, 0, 1_000, retry_after, &mut rng) {
                Next::At { at_ms, delay } => {
                    prop_assert!(attempts < 30);
                    let bound = delay_bound(&p, attempts);
                    prop_assert!(bound <= p.max_delay);
                    match retry_after {
                        Some(r) => prop_assert!(delay >= r && (delay <= bound || delay == r)),
                        None => prop_assert!(delay <= bound),
                    }
                    prop_assert_eq!(at_ms, 1_000 + i64::try_from(delay.as_millis()).unwrap());
                }
                Next::GiveUp(GiveUpReason::Attempts) => prop_assert!(attempts >= 30),
                Next::GiveUp(GiveUpReason::Age) => prop_assert!(false, "age cannot run out here"),
            }
        }
    }
}
