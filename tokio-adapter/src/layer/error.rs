//! [`Open`]: the rejection inside a [`CircuitBreaker`](super::CircuitBreaker)'s error.
//!
//! The service's error is a `tower::BoxError` (`Box<dyn Error + Send + Sync>`), as the errors of
//! tower's own middleware (`tower::timeout`, `tower::limit`) are, so layers stack and
//! `HandleErrorLayer` takes it as it is. A request the breaker turned away is an [`Open`] inside
//! it: `error.downcast_ref::<Open>()`. Any other error is the inner service's own, converted with
//! `Into<BoxError>` and not wrapped, so it downcasts to its own type.

use core::fmt;
use core::time::Duration;
use std::sync::Arc;

use breaker_core::{CircuitOpen, State};

/// `Box<dyn Error + Send + Sync>`: tower's `BoxError`, the error type of every service here.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The breaker turned the request away without calling the inner service: the circuit is open
/// (or half-open with its probe slots taken, or forced open).
///
/// Carries the core's [`CircuitOpen`] (the breaker's name, its state, the time until it admits
/// a probe) and, for a breaker of a keyed family, the key (the route, the host): a per-route
/// rejection names its route, not only the family. With feature `axum` it is a
/// `503 Service Unavailable` response with a `Retry-After` header.
///
/// It is what a [`CircuitBreaker`](super::CircuitBreaker)'s `BoxError` holds for a rejection;
/// `Display` says what happened and there is no `source()`: nothing failed below it.
///
/// # Examples
///
/// ```
/// use breaker_tokio::layer::Open;
/// use breaker_tokio::{CircuitOpen, State};
/// use std::time::Duration;
///
/// let open = Open::new(CircuitOpen::new("routes", State::Open, Some(Duration::from_millis(2_500))))
///     .with_key("/users/{id}");
/// assert_eq!((open.name(), open.key()), ("routes", Some("/users/{id}")));
/// assert_eq!(open.retry_after_secs(), Some(3)); // rounded up
/// assert_eq!(open.to_string(), "circuit breaker 'routes' for '/users/{id}' is open; retry in 2.5s");
///
/// // Inside the service's error:
/// let error: Box<dyn std::error::Error + Send + Sync> = Box::new(open);
/// assert_eq!(error.downcast_ref::<Open>().and_then(Open::key), Some("/users/{id}"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Open {
    circuit: CircuitOpen,
    key: Option<Arc<str>>,
}

impl Open {
    /// The rejection for `circuit`, from a breaker without a key.
    pub const fn new(circuit: CircuitOpen) -> Self {
        Open { circuit, key: None }
    }

    /// The same rejection, from the breaker of `key` in its family.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::layer::Open;
    /// use breaker_tokio::{CircuitOpen, State};
    ///
    /// let open = Open::new(CircuitOpen::new("upstream", State::ForcedOpen, None)).with_key("billing:8080");
    /// assert_eq!(open.to_string(), "circuit breaker 'upstream' for 'billing:8080' is forced open");
    /// ```
    #[must_use]
    pub fn with_key(self, key: impl Into<Arc<str>>) -> Self {
        Open { key: Some(key.into()), ..self }
    }

    /// The name of the breaker (of the family, for a keyed breaker).
    pub const fn name(&self) -> &'static str {
        self.circuit.name()
    }

    /// The key of the breaker in its family (the route, the host), for a keyed breaker.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::layer::Open;
    /// use breaker_tokio::{CircuitOpen, State};
    ///
    /// assert_eq!(Open::new(CircuitOpen::new("db", State::Open, None)).key(), None);
    /// ```
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The breaker's state when it rejected.
    pub const fn state(&self) -> State {
        self.circuit.state()
    }

    /// Time until the breaker admits a probe, when it depends on time (see
    /// [`CircuitOpen::retry_after`]).
    pub const fn retry_after(&self) -> Option<Duration> {
        self.circuit.retry_after()
    }

    /// The `Retry-After` value in whole seconds (the core's rule,
    /// [`CircuitOpen::retry_after_secs`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::layer::Open;
    /// use breaker_tokio::{CircuitOpen, State};
    ///
    /// assert_eq!(Open::new(CircuitOpen::new("api", State::HalfOpen, None)).retry_after_secs(), Some(1));
    /// assert_eq!(Open::new(CircuitOpen::new("api", State::ForcedOpen, None)).retry_after_secs(), None);
    /// ```
    pub const fn retry_after_secs(&self) -> Option<u64> {
        self.circuit.retry_after_secs()
    }

    /// The core's rejection (without the key).
    pub const fn circuit_open(&self) -> CircuitOpen {
        self.circuit
    }
}

impl From<CircuitOpen> for Open {
    fn from(circuit: CircuitOpen) -> Self {
        Open::new(circuit)
    }
}

impl fmt::Display for Open {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(key) = &self.key else {
            return self.circuit.fmt(f);
        };
        write!(f, "circuit breaker '{}' for '{key}' is ", self.circuit.name())?;
        match (self.circuit.state(), self.circuit.retry_after()) {
            (State::HalfOpen, _) => f.write_str("half-open and its probe slots are taken"),
            (State::ForcedOpen, _) => f.write_str("forced open"),
            (_, Some(d)) => write!(f, "open; retry in {d:?}"),
            (_, None) => f.write_str("open"),
        }
    }
}

/// No `source()`: the rejection is the whole story (the inner service was not called).
impl std::error::Error for Open {}
