//! Errors: the rejection ([`CircuitOpen`]), the call error ([`CallError`]) and configuration
//! errors ([`ConfigError`]). All are small, `Copy` where the payload allows, and implement
//! `core::error::Error`.

use core::fmt;
use core::time::Duration;

use crate::State;

/// The call was not made: the circuit is open (or half-open with every probe slot taken, or
/// forced open).
///
/// Carries how long until a probe will be admitted, when that is known.
///
/// # Examples
///
/// ```
/// use breaker_core::{Breaker, Config, ManualClock, State};
/// use core::time::Duration;
///
/// let clock = ManualClock::new();
/// let breaker = Breaker::try_new("kafka", Config::new().failure_threshold(1), &clock).unwrap();
/// let _ = breaker.call(|| Err::<(), _>("broker down"));
///
/// clock.advance(Duration::from_secs(20));
/// let open = breaker.try_acquire().unwrap_err();
/// assert_eq!(open.name(), "kafka");
/// assert_eq!(open.state(), State::Open);
/// assert_eq!(open.retry_after(), Some(Duration::from_secs(40))); // default timeout is 60 s
/// assert_eq!(open.to_string(), "circuit breaker 'kafka' is open; retry in 40s");
/// ```
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CircuitOpen {
    name: &'static str,
    state: State,
    /// Milliseconds; converted to a `Duration` only when asked, so the rejection path does no
    /// division (64-bit division is a library call on 32-bit microcontrollers).
    retry_after_ms: Option<u64>,
}

impl CircuitOpen {
    /// A rejection by breaker `name` in `state`.
    pub const fn new(name: &'static str, state: State, retry_after: Option<Duration>) -> Self {
        let retry_after_ms = match retry_after {
            Some(d) => {
                let ms = d.as_millis();
                Some(if ms > u64::MAX as u128 { u64::MAX } else { ms as u64 })
            }
            None => None,
        };
        CircuitOpen { name, state, retry_after_ms }
    }

    /// A rejection with the retry-after already in milliseconds.
    pub(crate) const fn from_ms(name: &'static str, state: State, retry_after_ms: Option<u64>) -> Self {
        CircuitOpen { name, state, retry_after_ms }
    }

    /// The name of the breaker that rejected the call.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The breaker's state when it rejected: [`State::Open`], [`State::HalfOpen`] (all probe
    /// slots taken) or [`State::ForcedOpen`].
    pub const fn state(&self) -> State {
        self.state
    }

    /// Time until the breaker will admit a probe: `Some` while OPEN (the rest of the recovery
    /// timeout, zero if it just ran out), `None` when it depends on events rather than time
    /// (probes in flight in HALF_OPEN, or forced open).
    pub const fn retry_after(&self) -> Option<Duration> {
        match self.retry_after_ms {
            Some(ms) => Some(Duration::from_millis(ms)),
            None => None,
        }
    }
}

impl CircuitOpen {
    /// The `Retry-After` value (an HTTP header's, in whole seconds) for this rejection: the rest
    /// of the open period rounded up, at least 1, while OPEN; 1 while HALF_OPEN with its probe
    /// slots taken (a probe is running and will decide soon); `None` when forced open (no time
    /// is known). The rule of every breaker error's HTTP response (feature `axum`).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{CircuitOpen, State};
    /// use core::time::Duration;
    ///
    /// let open = CircuitOpen::new("db", State::Open, Some(Duration::from_millis(2_500)));
    /// assert_eq!(open.retry_after_secs(), Some(3));
    /// assert_eq!(CircuitOpen::new("db", State::Open, Some(Duration::ZERO)).retry_after_secs(), Some(1));
    /// assert_eq!(CircuitOpen::new("db", State::HalfOpen, None).retry_after_secs(), Some(1));
    /// assert_eq!(CircuitOpen::new("db", State::ForcedOpen, None).retry_after_secs(), None);
    /// ```
    pub const fn retry_after_secs(&self) -> Option<u64> {
        match (self.retry_after_ms, self.state) {
            // Whole seconds rounded up, at least 1.
            (Some(0), _) => Some(1),
            (Some(ms), _) => Some(ms.div_ceil(1000)),
            (None, State::HalfOpen) => Some(1),
            (None, _) => None,
        }
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.state, self.retry_after()) {
            (State::HalfOpen, _) => {
                write!(f, "circuit breaker '{}' is half-open and its probe slots are taken", self.name)
            }
            (State::ForcedOpen, _) => write!(f, "circuit breaker '{}' is forced open", self.name),
            (_, Some(d)) => write!(f, "circuit breaker '{}' is open; retry in {:?}", self.name, d),
            (_, None) => write!(f, "circuit breaker '{}' is open", self.name),
        }
    }
}

impl core::error::Error for CircuitOpen {}

/// The result of a call made through a breaker failed: either the breaker rejected it without
/// calling ([`CallError::Open`]) or the call ran and returned its own error ([`CallError::Inner`]).
///
/// # Examples
///
/// ```
/// use breaker_core::{Breaker, CallError, Config, ManualClock};
///
/// let breaker = Breaker::try_new("db", Config::new().failure_threshold(1), ManualClock::new()).unwrap();
/// match breaker.call(|| Err::<u32, _>("connection refused")) {
///     Err(CallError::Inner(e)) => assert_eq!(e, "connection refused"),
///     other => panic!("unexpected {other:?}"),
/// }
/// match breaker.call(|| Ok::<u32, &str>(1)) {
///     Err(CallError::Open(open)) => assert_eq!(open.name(), "db"),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError<E> {
    /// The breaker rejected the call; the function was not run.
    Open(CircuitOpen),
    /// The function ran and failed with this error.
    Inner(E),
}

impl<E> CallError<E> {
    /// `true` if the breaker rejected the call.
    pub const fn is_open(&self) -> bool {
        matches!(self, CallError::Open(_))
    }

    /// The inner error, if the call ran.
    pub fn into_inner(self) -> Option<E> {
        match self {
            CallError::Inner(e) => Some(e),
            CallError::Open(_) => None,
        }
    }
}

impl<E> From<CircuitOpen> for CallError<E> {
    fn from(open: CircuitOpen) -> Self {
        CallError::Open(open)
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Open(open) => open.fmt(f),
            CallError::Inner(e) => e.fmt(f),
        }
    }
}

/// `Display` or `source()`, never both: an `Inner` error is transparent (it displays as the
/// inner error and its source is the inner error's source), and `Open` displays the rejection
/// and has no source. So an error chain prints each message once.
impl<E: core::error::Error + 'static> core::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            CallError::Open(_) => None,
            CallError::Inner(e) => e.source(),
        }
    }
}

/// A configuration value was rejected. Names the field and the limit it broke; nothing is
/// clamped. Durations are in milliseconds, the breaker's resolution.
///
/// Every variant's `Display` says which field is wrong and what it must be, e.g.
/// "`recovery_timeout` must be at least 1 ms" or "`jitter` must be at most `MAX_OPEN_MS` −
/// `backoff_max` (10 ms), got 11 ms". A value too large to be a `u64` of milliseconds (such as
/// `Duration::MAX`) is reported as too large, with `value` saturated at `u64::MAX`.
///
/// # Examples
///
/// ```
/// use breaker_core::{Config, ConfigError};
///
/// let err = Config::new().failure_threshold(0).validate().unwrap_err();
/// assert_eq!(err, ConfigError::Zero { field: "failure_threshold" });
/// assert_eq!(err.field(), "failure_threshold");
/// assert_eq!(err.to_string(), "invalid breaker config: `failure_threshold` must be at least 1");
///
/// let err = Config::new().recovery_timeout(core::time::Duration::MAX).validate().unwrap_err();
/// assert!(matches!(err, ConfigError::TooLarge { field: "recovery_timeout", value: u64::MAX, .. }));
/// assert!(err.to_string().starts_with("invalid breaker config: `recovery_timeout` must be at most"));
/// ```
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The field must be at least 1 (1 ms for a duration).
    Zero {
        /// The offending field.
        field: &'static str,
    },
    /// The field is above what the word can hold on this target (or another fixed limit).
    TooLarge {
        /// The offending field.
        field: &'static str,
        /// The value given (milliseconds for durations, saturated at `u64::MAX`).
        value: u64,
        /// The largest accepted value (milliseconds for durations).
        max: u64,
    },
    /// The field is below its smallest accepted value.
    TooSmall {
        /// The offending field.
        field: &'static str,
        /// The value given (milliseconds for durations).
        value: u64,
        /// The smallest accepted value (milliseconds for durations).
        min: u64,
    },
    /// A duration has a part finer than the breaker's 1 ms resolution.
    SubMillisecond {
        /// The offending field.
        field: &'static str,
    },
    /// `successes_to_close` is larger than `half_open_probes`, so the breaker could never close.
    SuccessesExceedProbes {
        /// `successes_to_close` as given.
        successes_to_close: u32,
        /// `half_open_probes` as given.
        half_open_probes: u32,
    },
    /// The field is outside the range that other settings allow (a cross-field constraint):
    /// `backoff_max` below `recovery_timeout`, a `jitter` that would take the longest open
    /// period past [`MAX_OPEN_MS`](crate::limits::MAX_OPEN_MS), …
    Conflict {
        /// The offending field.
        field: &'static str,
        /// The value given (milliseconds for durations).
        value: u64,
        /// The bound the other settings imply (milliseconds for durations).
        limit: u64,
        /// How the value must relate to `limit` and where the limit comes from, e.g.
        /// "at least `recovery_timeout`".
        rule: &'static str,
    },
}

impl ConfigError {
    /// The name of the offending field.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::Config;
    ///
    /// let err = Config::new().half_open_probes(2).successes_to_close(3).validate().unwrap_err();
    /// assert_eq!(err.field(), "successes_to_close");
    /// ```
    pub const fn field(&self) -> &'static str {
        match self {
            ConfigError::Zero { field }
            | ConfigError::TooLarge { field, .. }
            | ConfigError::TooSmall { field, .. }
            | ConfigError::SubMillisecond { field }
            | ConfigError::Conflict { field, .. } => field,
            ConfigError::SuccessesExceedProbes { .. } => "successes_to_close",
        }
    }
}

/// The unit a field's values are shown in: " ms" for the durations (every duration the
/// breaker and its windows take), nothing for counts and rates.
const fn unit(field: &str) -> &'static str {
    const DURATIONS: [&str; 7] = [
        "recovery_timeout",
        "backoff_max",
        "jitter",
        "probe_timeout",
        "ramp_period",
        "slow_call_threshold",
        "bucket_width",
    ];
    let mut i = 0;
    while i < DURATIONS.len() {
        if str_eq(DURATIONS[i], field) {
            return " ms";
        }
        i += 1;
    }
    ""
}

/// `a == b`, in a `const fn`.
const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid breaker config: ")?;
        let unit = unit(self.field());
        match *self {
            ConfigError::Zero { field } => write!(f, "`{field}` must be at least 1{unit}"),
            ConfigError::TooLarge { field, value, max } => {
                // A saturated value stands for anything beyond `u64::MAX` ms.
                let more = if value == u64::MAX { " or more" } else { "" };
                write!(f, "`{field}` must be at most {max}{unit}, got {value}{unit}{more}")
            }
            ConfigError::TooSmall { field, value, min } => {
                write!(f, "`{field}` must be at least {min}{unit}, got {value}{unit}")
            }
            ConfigError::SubMillisecond { field } => {
                write!(f, "`{field}` must be whole milliseconds (the breaker's resolution is 1 ms)")
            }
            ConfigError::SuccessesExceedProbes { successes_to_close, half_open_probes } => write!(
                f,
                "`successes_to_close` must be at most `half_open_probes` ({half_open_probes}), got \
                 {successes_to_close}: the breaker could never close"
            ),
            ConfigError::Conflict { field, value, limit, rule } => {
                write!(f, "`{field}` must be {rule} ({limit}{unit}), got {value}{unit}")
            }
        }
    }
}

impl core::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn every_variant_names_the_field_and_the_limit() {
        let cases = [
            (ConfigError::Zero { field: "failure_threshold" }, "`failure_threshold` must be at least 1"),
            (ConfigError::Zero { field: "recovery_timeout" }, "`recovery_timeout` must be at least 1 ms"),
            (
                ConfigError::TooLarge { field: "half_open_probes", value: 256, max: 255 },
                "`half_open_probes` must be at most 255, got 256",
            ),
            (
                ConfigError::TooLarge { field: "probe_timeout", value: u64::MAX, max: 1_000 },
                "`probe_timeout` must be at most 1000 ms, got 18446744073709551615 ms or more",
            ),
            (
                ConfigError::TooSmall { field: "adaptive_multiplier_percent", value: 99, min: 100 },
                "`adaptive_multiplier_percent` must be at least 100, got 99",
            ),
            (
                ConfigError::SubMillisecond { field: "ramp_period" },
                "`ramp_period` must be whole milliseconds (the breaker's resolution is 1 ms)",
            ),
            (
                ConfigError::SuccessesExceedProbes { successes_to_close: 3, half_open_probes: 2 },
                "`successes_to_close` must be at most `half_open_probes` (2), got 3: the breaker could \
                 never close",
            ),
            (
                ConfigError::Conflict {
                    field: "backoff_max",
                    value: 999,
                    limit: 1_000,
                    rule: "at least `recovery_timeout`",
                },
                "`backoff_max` must be at least `recovery_timeout` (1000 ms), got 999 ms",
            ),
        ];
        for (err, message) in cases {
            assert_eq!(err.to_string(), std::format!("invalid breaker config: {message}"));
            assert!(err.to_string().contains(err.field()));
        }
    }

    #[test]
    fn durations_are_shown_in_milliseconds_and_counts_without_a_unit() {
        for field in ["recovery_timeout", "backoff_max", "jitter", "probe_timeout", "ramp_period"] {
            assert_eq!(unit(field), " ms", "{field}");
        }
        for field in ["slow_call_threshold", "bucket_width"] {
            assert_eq!(unit(field), " ms", "{field}");
        }
        for field in ["failure_threshold", "half_open_probes", "ramp_start_percent", "min_calls", "jitte"] {
            assert_eq!(unit(field), "", "{field}");
        }
    }
}
