//! The errors of the [`CircuitBreaker`](super::CircuitBreaker) service: [`Error`] and the
//! rejection, [`Rejected`].

use core::fmt;
use core::time::Duration;

use breaker_core::{CircuitOpen, State};

/// The request was rejected without calling the inner service: the circuit is open (or
/// half-open with its probe slots taken, or forced open).
///
/// Carries the core's [`CircuitOpen`], so the breaker's name and the time until a probe will
/// be admitted; with feature `axum` it is a `503 Service Unavailable` response with a
/// `Retry-After` header.
///
/// # Examples
///
/// ```
/// use breaker_core::{CircuitOpen, State};
/// use breaker_tokio::layer::Rejected;
/// use std::time::Duration;
///
/// let r = Rejected::new(CircuitOpen::new("api", State::Open, Some(Duration::from_millis(2_500))));
/// assert_eq!(r.retry_after(), Some(Duration::from_millis(2_500)));
/// assert_eq!(r.retry_after_secs(), Some(3)); // rounded up
/// assert_eq!(r.to_string(), "circuit breaker 'api' is open; retry in 2.5s");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    open: CircuitOpen,
}

impl Rejected {
    /// The rejection for `open`.
    pub const fn new(open: CircuitOpen) -> Self {
        Rejected { open }
    }

    /// The name of the breaker that rejected the request.
    pub const fn name(&self) -> &'static str {
        self.open.name()
    }

    /// The breaker's state when it rejected.
    pub const fn state(&self) -> State {
        self.open.state()
    }

    /// Time until the breaker admits a probe, when it depends on time (see
    /// [`CircuitOpen::retry_after`]).
    pub const fn retry_after(&self) -> Option<Duration> {
        self.open.retry_after()
    }

    /// The `Retry-After` value in whole seconds, rounded up and at least 1: the remaining open
    /// time while OPEN; 1 while HALF_OPEN with its probe slots taken (a probe is running and
    /// will decide soon); `None` when forced open (no time is known).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{CircuitOpen, State};
    /// use breaker_tokio::layer::Rejected;
    ///
    /// assert_eq!(Rejected::new(CircuitOpen::new("api", State::HalfOpen, None)).retry_after_secs(), Some(1));
    /// assert_eq!(Rejected::new(CircuitOpen::new("api", State::ForcedOpen, None)).retry_after_secs(), None);
    /// ```
    pub fn retry_after_secs(&self) -> Option<u64> {
        match (self.open.retry_after(), self.open.state()) {
            (Some(d), _) => {
                let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
                Some(secs.max(1))
            }
            (None, State::HalfOpen) => Some(1),
            (None, _) => None,
        }
    }

    /// The core's rejection.
    pub const fn circuit(&self) -> CircuitOpen {
        self.open
    }
}

impl From<CircuitOpen> for Rejected {
    fn from(open: CircuitOpen) -> Self {
        Rejected::new(open)
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.open.fmt(f)
    }
}

impl std::error::Error for Rejected {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.open)
    }
}

/// The error of a service behind a breaker: the breaker rejected the request, or the inner
/// service failed.
///
/// # Examples
///
/// ```
/// use breaker_core::{CircuitOpen, State};
/// use breaker_tokio::layer::{Error, Rejected};
///
/// let e: Error<std::io::Error> = Error::Rejected(Rejected::new(CircuitOpen::new("api", State::ForcedOpen, None)));
/// assert!(e.is_rejected());
/// assert_eq!(e.to_string(), "circuit breaker 'api' is forced open");
/// ```
#[derive(Debug)]
pub enum Error<E> {
    /// The breaker rejected the request; the inner service was not called.
    Rejected(Rejected),
    /// The inner service failed (from `poll_ready` or from its response future).
    Inner(E),
}

impl<E> Error<E> {
    /// `true` if the breaker rejected the request.
    pub const fn is_rejected(&self) -> bool {
        matches!(self, Error::Rejected(_))
    }

    /// The inner service's error, if it was called.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::layer::Error;
    ///
    /// assert_eq!(Error::Inner("reset by peer").into_inner(), Some("reset by peer"));
    /// ```
    pub fn into_inner(self) -> Option<E> {
        match self {
            Error::Inner(e) => Some(e),
            Error::Rejected(_) => None,
        }
    }
}

impl<E> From<Rejected> for Error<E> {
    fn from(r: Rejected) -> Self {
        Error::Rejected(r)
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Rejected(r) => r.fmt(f),
            Error::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Rejected(r) => Some(r),
            Error::Inner(e) => Some(e),
        }
    }
}
