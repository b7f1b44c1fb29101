//! The public view of the word: [`State`] and [`Snapshot`].

use core::fmt;
use core::time::Duration;

/// The breaker's state, as reported by [`Breaker::state`](crate::Breaker::state).
///
/// # Examples
///
/// ```
/// use breaker_core::State;
///
/// assert_eq!(State::HalfOpen.as_str(), "half_open"); // the Python original's `state.value`
/// assert_eq!(State::Open.to_string(), "open");
/// assert!(State::ForcedOpen.rejects_calls());
/// ```
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Normal operation: calls pass, failures are counted.
    Closed,
    /// Failing fast until the recovery timeout has passed.
    Open,
    /// Admitting a limited number of probe calls to test recovery. Also what an OPEN breaker
    /// shows once its open period is over and before a call has arrived: it is ready to probe,
    /// and the next call is admitted as the probe (see [`Breaker::state`](crate::Breaker::state)).
    HalfOpen,
    /// Manually opened: every call is rejected until a reset.
    ForcedOpen,
    /// Manually closed ("force closed"): every call passes and nothing is counted until a reset.
    ForcedClosed,
}

impl State {
    /// Lower-case name, as the logs, metric labels and health data spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::ForcedOpen => "forced_open",
            State::ForcedClosed => "forced_closed",
        }
    }

    /// `true` for the states in which a call may be rejected without a half-open probe slot:
    /// [`State::Open`] and [`State::ForcedOpen`].
    pub const fn rejects_calls(self) -> bool {
        matches!(self, State::Open | State::ForcedOpen)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything a health endpoint shows about one breaker, read from a single load of the word.
///
/// # Examples
///
/// ```
/// use breaker_core::{Breaker, Config, ManualClock, State};
///
/// let breaker = Breaker::try_new("database", Config::new(), ManualClock::new()).unwrap();
/// let _ = breaker.call(|| Err::<(), _>("timeout"));
/// let s = breaker.snapshot();
/// assert_eq!((s.name, s.state, s.failure_count, s.failure_threshold), ("database", State::Closed, 1, 5));
/// ```
///
/// With the `serde` feature it is `Serialize`, field names as they are here, the state as its
/// [`as_str`](State::as_str) name and durations as serde's `{secs, nanos}`. It is not
/// `Deserialize`: it borrows its `name` for `'static`. Deserialize breaker-std's `Health` (the
/// same data in the health endpoint's shape) or, to carry state across a restart,
/// [`SavedState`](crate::SavedState).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The breaker's name.
    pub name: &'static str,
    /// Its state, as [`Breaker::state`](crate::Breaker::state) shows it: [`State::HalfOpen`],
    /// with no probe in flight and no `retry_after`, for an OPEN breaker ready to probe.
    pub state: State,
    /// Failures counted in CLOSED (consecutive ones, or those in the rate window); while OPEN
    /// or HALF_OPEN, the failures that opened the breaker plus one per probe that failed since
    /// it last closed; 0 when forced open or forced closed (see
    /// [`Breaker::failure_count`](crate::Breaker::failure_count)).
    pub failure_count: u32,
    /// The configured threshold.
    pub failure_threshold: u32,
    /// Probe calls admitted in this half-open cycle and still running (0 outside HALF_OPEN).
    pub probes_in_flight: u32,
    /// Probe calls that succeeded in this half-open cycle (0 outside HALF_OPEN).
    pub probe_successes: u32,
    /// While OPEN: time until a probe is admitted (never zero: once the open period is over the
    /// breaker shows as ready to probe, `HalfOpen` with `retry_after` `None`).
    pub retry_after: Option<Duration>,
    /// Failed recoveries in a row (OPEN and HALF_OPEN; 0 otherwise).
    pub backoff_level: u32,
    /// During gradual recovery: the share of calls admitted now (0.0–1.0).
    pub recovering: Option<f32>,
    /// The rate window's figures, for breakers with a rate policy, while CLOSED.
    pub window: Option<crate::WindowStats>,
    /// The generation (cycle) counter, wrapping; changes on every transition.
    pub generation: u32,
}

#[cfg(all(test, feature = "serde"))]
mod serde_tests {
    use crate::{Breaker, Config, ManualClock, State, WindowStats};

    #[test]
    fn states_serialize_as_their_names_and_back() {
        for s in [State::Closed, State::Open, State::HalfOpen, State::ForcedOpen, State::ForcedClosed] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, std::format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<State>(&json).unwrap(), s);
        }
    }

    #[test]
    fn a_snapshot_serializes_with_its_field_names() {
        let b = Breaker::try_new("db", Config::new().failure_threshold(1), ManualClock::new()).unwrap();
        let _ = b.call(|| Err::<(), _>("down"));
        let v = serde_json::to_value(b.snapshot()).unwrap();
        assert_eq!((v["name"].as_str(), v["state"].as_str()), (Some("db"), Some("open")));
        assert_eq!(v["failure_count"], 1);
        assert_eq!(v["retry_after"]["secs"], 60);
        let w = WindowStats::default();
        let back: WindowStats = serde_json::from_value(serde_json::to_value(w).unwrap()).unwrap();
        assert_eq!(back, w);
    }
}
