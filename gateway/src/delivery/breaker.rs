//! The per-destination circuit breaker: after `failures` consecutive failed attempts the
//! destination is paused (no claims, so waiting deliveries keep their attempts), then probed with
//! one delivery after `cool_down`; a successful probe resumes it, a failed one pauses it again
//! for twice as long (up to `max_cool_down`).
//!
//! Only temporary failures count: a portal that answers "invalid data" is up.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::BreakerConfig;

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant, cool: Duration },
    HalfOpen { cool: Duration, probing: bool },
}

/// How many deliveries the dispatcher may start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// As many as the concurrency limit allows.
    All,
    /// Exactly one: the probe.
    Probe,
    /// None: the circuit is open (or a probe is out).
    None,
}

/// The circuit's state as reported (metrics, summaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Deliveries flow.
    Closed,
    /// Paused.
    Open,
    /// Probing.
    HalfOpen,
}

impl CircuitState {
    /// The state as the `lienthong_circuit_state` gauge shows it: 0 closed, 1 half-open, 2 open.
    pub fn level(self) -> u8 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

/// A circuit breaker.
#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    state: Mutex<State>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// The pause after the circuit opens (the shortest; failed probes double it).
    pub fn cool_down(&self) -> std::time::Duration {
        self.config.cool_down
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks to start deliveries at `now`; a `Probe` answer reserves the probe.
    pub fn admit(&self, now: Instant) -> Admit {
        let mut s = self.lock();
        match *s {
            State::Closed { .. } => Admit::All,
            State::Open { until, cool } if now >= until => {
                *s = State::HalfOpen {
                    cool,
                    probing: true,
                };
                Admit::Probe
            }
            State::Open { .. } => Admit::None,
            State::HalfOpen {
                cool,
                probing: false,
            } => {
                *s = State::HalfOpen {
                    cool,
                    probing: true,
                };
                Admit::Probe
            }
            State::HalfOpen { probing: true, .. } => Admit::None,
        }
    }

    /// Records an attempt's result: `ok` when the destination answered (delivered or refused the
    /// data), `false` for a temporary failure. Returns the new state when it changed.
    pub fn record(&self, ok: bool, now: Instant) -> Option<CircuitState> {
        let mut s = self.lock();
        let before = report(*s);
        *s = match (*s, ok) {
            (_, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, false) if failures + 1 >= self.config.failures => {
                State::Open {
                    until: now + self.config.cool_down,
                    cool: self.config.cool_down,
                }
            }
            (State::Closed { failures }, false) => State::Closed {
                failures: failures + 1,
            },
            (State::HalfOpen { cool, .. }, false) => {
                let cool = (cool * 2).min(self.config.max_cool_down);
                State::Open {
                    until: now + cool,
                    cool,
                }
            }
            (open @ State::Open { .. }, false) => open,
        };
        let after = report(*s);
        (after != before).then_some(after)
    }

    /// A probe that was not sent (shutdown) gives its slot back.
    pub fn probe_abandoned(&self) {
        let mut s = self.lock();
        if let State::HalfOpen {
            cool,
            probing: true,
        } = *s
        {
            *s = State::HalfOpen {
                cool,
                probing: false,
            };
        }
    }

    /// The current state.
    pub fn state(&self) -> CircuitState {
        report(*self.lock())
    }
}

fn report(s: State) -> CircuitState {
    match s {
        State::Closed { .. } => CircuitState::Closed,
        State::Open { .. } => CircuitState::Open,
        State::HalfOpen { .. } => CircuitState::HalfOpen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerConfig {
            failures: 3,
            cool_down: Duration::from_secs(10),
            max_cool_down: Duration::from_secs(25),
        })
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let b = breaker();
        let t = Instant::now();
        b.record(false, t);
        b.record(false, t);
        b.record(true, t);
        b.record(false, t);
        assert_eq!(b.admit(t), Admit::All);
        b.record(false, t);
        assert_eq!(b.record(false, t), Some(CircuitState::Open));
        assert_eq!(b.admit(t + Duration::from_secs(9)), Admit::None);
    }

    #[test]
    fn probes_one_at_a_time_and_backs_off() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..3 {
            b.record(false, t);
        }
        let t1 = t + Duration::from_secs(10);
        assert_eq!(b.admit(t1), Admit::Probe);
        assert_eq!(b.admit(t1), Admit::None, "one probe at a time");
        assert_eq!(b.record(false, t1), Some(CircuitState::Open));
        // cool down doubled: 20 s
        assert_eq!(b.admit(t1 + Duration::from_secs(19)), Admit::None);
        let t2 = t1 + Duration::from_secs(20);
        assert_eq!(b.admit(t2), Admit::Probe);
        b.record(false, t2);
        // capped at 25 s
        assert_eq!(b.admit(t2 + Duration::from_secs(25)), Admit::Probe);
        assert_eq!(b.record(true, t2), Some(CircuitState::Closed));
        assert_eq!(b.admit(t2), Admit::All);
    }

    #[test]
    fn abandoned_probe_can_be_retaken() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..3 {
            b.record(false, t);
        }
        let t1 = t + Duration::from_secs(10);
        assert_eq!(b.admit(t1), Admit::Probe);
        b.probe_abandoned();
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert_eq!(b.admit(t1), Admit::Probe);
    }
}
