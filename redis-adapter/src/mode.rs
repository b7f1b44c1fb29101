//! How a replica's trip becomes the fleet's: [`Mode`], and the quorum arithmetic as a pure
//! function ([`Mode::needed`]).

use core::fmt;
use core::time::Duration;

/// How the trips of the replicas open the fleet, per shared breaker.
///
/// A replica always opens itself when its own breaker trips; the mode decides when the other
/// replicas follow.
///
/// # Examples
///
/// ```
/// use breaker_redis::Mode;
/// use std::time::Duration;
///
/// // The default: two replicas within 30 s.
/// assert_eq!(Mode::default(), Mode::Quorum { replicas: 2, window: Duration::from_secs(30) });
/// // Half of the live replicas (rounded up), within 10 s.
/// let half = Mode::Share { percent: 50, window: Duration::from_secs(10) }.validate().unwrap();
/// assert_eq!(half.needed(5), 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// One replica's trip opens every replica.
    Any,
    /// The fleet opens when at least `replicas` distinct replicas tripped within `window`
    /// (each replica's latest trip counts once). A single bad replica opens only itself.
    Quorum {
        /// Distinct replicas whose trips open the fleet (at least 1).
        replicas: u32,
        /// How far back a trip counts (Redis' clock).
        window: Duration,
    },
    /// The fleet opens when at least `percent` % of the live replicas (rounded up, at least
    /// one) tripped within `window`.
    Share {
        /// The share of live replicas, 1–100.
        percent: u32,
        /// How far back a trip counts (Redis' clock).
        window: Duration,
    },
    /// Shared counts: the fleet opens when the replicas' failures add up to `failures` within
    /// `window` (ten expiring buckets on Redis' clock), so replicas with little traffic still
    /// open on a dependency that fails for everyone. Needs a
    /// [`FailureCounter`](crate::FailureCounter) on the breakers' registry (one virtual call per
    /// call and an atomic add per failure); the task sends the counts in batches, never a
    /// command per call. Each replica's own breaker still trips on its own policy as well.
    Counts {
        /// Failures, summed over the fleet, that open it (at least 1).
        failures: u32,
        /// How far back a failure counts (Redis' clock).
        window: Duration,
    },
}

impl Default for Mode {
    fn default() -> Self {
        Mode::Quorum { replicas: 2, window: Duration::from_secs(30) }
    }
}

/// The longest vote window: one day.
pub const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// A [`Mode`] that does not make sense.
///
/// # Examples
///
/// ```
/// use breaker_redis::{Mode, ModeError};
/// use std::time::Duration;
///
/// let err = Mode::Quorum { replicas: 0, window: Duration::from_secs(1) }.validate().unwrap_err();
/// assert_eq!(err, ModeError::NoReplicas);
/// assert_eq!(err.to_string(), "a quorum needs at least one replica");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModeError {
    /// `Quorum { replicas: 0, .. }`.
    NoReplicas,
    /// `Counts { failures: 0, .. }`.
    NoFailures,
    /// `Share { percent, .. }` outside 1–100.
    Percent(u32),
    /// A window of zero, or longer than [`MAX_WINDOW`].
    Window(Duration),
}

impl fmt::Display for ModeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModeError::NoReplicas => f.write_str("a quorum needs at least one replica"),
            ModeError::NoFailures => f.write_str("shared counts need a threshold of at least one failure"),
            ModeError::Percent(p) => write!(f, "a share of {p} %: it must be 1 to 100"),
            ModeError::Window(w) => {
                write!(f, "a vote window of {w:?}: it must be above zero and at most a day")
            }
        }
    }
}

impl std::error::Error for ModeError {}

impl Mode {
    /// Checks the mode.
    ///
    /// # Errors
    ///
    /// A [`ModeError`] for zero replicas, a share outside 1–100 or a window that is zero or
    /// longer than [`MAX_WINDOW`].
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_redis::Mode;
    ///
    /// assert!(Mode::Any.validate().is_ok());
    /// ```
    pub fn validate(self) -> Result<Mode, ModeError> {
        let window = match self {
            Mode::Any => return Ok(self),
            Mode::Quorum { replicas: 0, .. } => return Err(ModeError::NoReplicas),
            Mode::Counts { failures: 0, .. } => return Err(ModeError::NoFailures),
            Mode::Share { percent, .. } if !(1..=100).contains(&percent) => {
                return Err(ModeError::Percent(percent))
            }
            Mode::Quorum { window, .. } | Mode::Share { window, .. } | Mode::Counts { window, .. } => window,
        };
        if window.is_zero() || window > MAX_WINDOW {
            return Err(ModeError::Window(window));
        }
        Ok(self)
    }

    /// The trips (distinct replicas within the window) that open the fleet when `live`
    /// replicas are alive (for [`Mode::Counts`], the failures). Never 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_redis::Mode;
    /// use std::time::Duration;
    ///
    /// let w = Duration::from_secs(5);
    /// assert_eq!(Mode::Any.needed(10), 1);
    /// assert_eq!(Mode::Quorum { replicas: 3, window: w }.needed(10), 3);
    /// assert_eq!(Mode::Share { percent: 34, window: w }.needed(3), 2);
    /// assert_eq!(Mode::Share { percent: 50, window: w }.needed(0), 1);
    /// ```
    pub fn needed(self, live: u32) -> u32 {
        match self {
            Mode::Any => 1,
            Mode::Quorum { replicas, .. } => replicas.max(1),
            Mode::Counts { failures, .. } => failures.max(1),
            Mode::Share { percent, .. } => {
                let n = (u64::from(live) * u64::from(percent)).div_ceil(100);
                u32::try_from(n).unwrap_or(u32::MAX).max(1)
            }
        }
    }

    /// How far back a trip counts: the window, or zero for [`Mode::Any`] (only the trip
    /// itself).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_redis::Mode;
    /// use std::time::Duration;
    ///
    /// assert_eq!(Mode::default().window(), Duration::from_secs(30));
    /// assert_eq!(Mode::Any.window(), Duration::ZERO);
    /// ```
    pub fn window(self) -> Duration {
        match self {
            Mode::Any => Duration::ZERO,
            Mode::Quorum { window, .. } | Mode::Share { window, .. } | Mode::Counts { window, .. } => window,
        }
    }

    /// The name used in health and logs: `any`, `quorum`, `share`, `counts`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(breaker_redis::Mode::default().as_str(), "quorum");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Any => "any",
            Mode::Quorum { .. } => "quorum",
            Mode::Share { .. } => "share",
            Mode::Counts { .. } => "counts",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_rounds_up_and_never_asks_for_zero() {
        let w = Duration::from_secs(1);
        let m = |percent| Mode::Share { percent, window: w };
        assert_eq!(m(50).needed(4), 2);
        assert_eq!(m(50).needed(5), 3);
        assert_eq!(m(100).needed(3), 3);
        assert_eq!(m(1).needed(1), 1);
        assert_eq!(m(1).needed(0), 1);
        assert_eq!(m(100).needed(u32::MAX), u32::MAX);
    }

    #[test]
    fn validation_rejects_each_bad_field() {
        let w = Duration::from_secs(1);
        assert_eq!(Mode::Share { percent: 0, window: w }.validate(), Err(ModeError::Percent(0)));
        assert_eq!(Mode::Share { percent: 101, window: w }.validate(), Err(ModeError::Percent(101)));
        assert_eq!(
            Mode::Quorum { replicas: 2, window: Duration::ZERO }.validate(),
            Err(ModeError::Window(Duration::ZERO))
        );
        let long = MAX_WINDOW + Duration::from_millis(1);
        assert_eq!(Mode::Quorum { replicas: 2, window: long }.validate(), Err(ModeError::Window(long)));
        assert!(Mode::Quorum { replicas: 1, window: MAX_WINDOW }.validate().is_ok());
        assert_eq!(Mode::Counts { failures: 0, window: w }.validate(), Err(ModeError::NoFailures));
        assert_eq!(Mode::Counts { failures: 9, window: w }.validate().map(|m| m.needed(3)), Ok(9));
    }
}
