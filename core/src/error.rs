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

impl<E: core::error::Error + 'static> core::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            CallError::Open(open) => Some(open),
            CallError::Inner(e) => Some(e),
        }
    }
}

/// A configuration value was rejected. Names the field and says why; nothing is clamped.
///
/// # Examples
///
/// ```
/// use breaker_core::{Config, ConfigError};
///
/// let err = Config::new().failure_threshold(0).validate().unwrap_err();
/// assert_eq!(err, ConfigError::Zero { field: "failure_threshold" });
/// assert_eq!(err.field(), "failure_threshold");
/// assert_eq!(err.to_string(), "invalid breaker config: `failure_threshold` must not be zero");
/// ```
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The field must be at least 1 (or a non-zero duration).
    Zero {
        /// The offending field.
        field: &'static str,
    },
    /// The field is above what the word can hold on this target.
    TooLarge {
        /// The offending field.
        field: &'static str,
        /// The value given (milliseconds for durations).
        value: u64,
        /// The largest accepted value (milliseconds for durations).
        max: u64,
    },
    /// The field is below the smallest value that makes sense with the others.
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
}

impl ConfigError {
    /// The name of the offending field.
    pub const fn field(&self) -> &'static str {
        match self {
            ConfigError::Zero { field }
            | ConfigError::TooLarge { field, .. }
            | ConfigError::TooSmall { field, .. }
            | ConfigError::SubMillisecond { field } => field,
            ConfigError::SuccessesExceedProbes { .. } => "successes_to_close",
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid breaker config: ")?;
        match self {
            ConfigError::Zero { field } => write!(f, "`{field}` must not be zero"),
            ConfigError::TooLarge { field, value, max } => {
                write!(f, "`{field}` is {value}, above the largest supported value {max}")
            }
            ConfigError::TooSmall { field, value, min } => {
                write!(f, "`{field}` is {value}, below the smallest accepted value {min}")
            }
            ConfigError::SubMillisecond { field } => {
                write!(f, "`{field}` must be a whole number of milliseconds")
            }
            ConfigError::SuccessesExceedProbes { successes_to_close, half_open_probes } => write!(
                f,
                "`successes_to_close` ({successes_to_close}) exceeds `half_open_probes` \
                 ({half_open_probes}); the breaker could never close"
            ),
        }
    }
}

impl core::error::Error for ConfigError {}
