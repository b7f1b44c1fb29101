//! Health data: [`Health`] for one breaker, [`RegistryHealth`] for a registry, in the seed's
//! `/health/detailed` shape when serialized (feature `serde`).
//!
//! One breaker serializes to
//!
//! ```json
//! {"circuit_breaker": "open", "failure_count": 0, "failure_threshold": 5,
//!  "recovery_timeout_seconds": 60.0, "retry_after_seconds": 42.5,
//!  "probes_in_flight": 0, "probe_successes": 0, "backoff_level": 0,
//!  "recovering": null, "window": null, "generation": 3}
//! ```
//!
//! (`circuit_breaker` and `failure_count` are the seed's fields; the rest is what the core
//! exposes; `retry_after_seconds` is `null` unless OPEN, `recovering` unless ramping up after a
//! recovery, `window` unless the breaker has a rate policy, when it is `{"calls", "failures",
//! "slow", "failure_rate", "slow_rate", "trip_rate", "baseline"}`), and a registry to an object with one
//! such entry per named breaker, and per keyed family an object with one entry per key:
//!
//! ```json
//! {"database": {"circuit_breaker": "closed", "failure_count": 0, ...},
//!  "kafka":    {"circuit_breaker": "open",   "failure_count": 0, ...},
//!  "api":      {"/users": {"circuit_breaker": "closed", ...}, "/orders": {...}}}
//! ```

use core::time::Duration;
use std::borrow::Cow;

use breaker_core::{Snapshot, State, WindowStats};

/// One breaker's health: the core's [`Snapshot`] plus the recovery timeout and the key.
///
/// # Examples
///
/// ```
/// use breaker_core::State;
/// use breaker_std::Breaker;
///
/// let db = Breaker::builder("database").build().unwrap();
/// let _ = db.call(|| Err::<(), _>("timeout"));
/// let h = db.health();
/// assert_eq!((h.state, h.failure_count, h.failure_threshold), (State::Closed, 1, 5));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Health {
    /// The breaker's name (the key of its entry when serialized, not a field; empty after
    /// deserializing one breaker's health on its own).
    pub name: Cow<'static, str>,
    /// The key, for a breaker of a keyed family (the key of its entry, not a field).
    pub key: Option<String>,
    /// `circuit_breaker`: the state, as the seed spells it (`closed`, `open`, `half_open`,
    /// `forced_open`, `forced_closed`).
    pub state: State,
    /// `failure_count`: consecutive failures counted in CLOSED.
    pub failure_count: u32,
    /// `failure_threshold`.
    pub failure_threshold: u32,
    /// `recovery_timeout_seconds`.
    pub recovery_timeout: Duration,
    /// `retry_after_seconds`: while OPEN, the time until a probe is admitted.
    pub retry_after: Option<Duration>,
    /// `probes_in_flight`: half-open probes admitted and still running.
    pub probes_in_flight: u32,
    /// `probe_successes`: successful probes in this half-open cycle.
    pub probe_successes: u32,
    /// `backoff_level`: failed recoveries in a row (OPEN and HALF_OPEN; 0 otherwise).
    pub backoff_level: u32,
    /// `recovering`: during gradual recovery, the share of calls admitted now (0.0–1.0).
    pub recovering: Option<f32>,
    /// `window`: a rate policy's figures while CLOSED (`calls`, `failures`, `slow`,
    /// `failure_rate`, `slow_rate`, `trip_rate`, `baseline`); `null` for consecutive failures.
    pub window: Option<WindowStats>,
    /// `generation`: the core's cycle counter (changes on every transition; wraps).
    pub generation: u32,
}

impl Health {
    pub(crate) fn new(s: Snapshot, recovery_timeout: Duration, key: Option<&str>) -> Self {
        Health {
            name: Cow::Borrowed(s.name),
            key: key.map(str::to_owned),
            state: s.state,
            failure_count: s.failure_count,
            failure_threshold: s.failure_threshold,
            recovery_timeout,
            retry_after: s.retry_after,
            probes_in_flight: s.probes_in_flight,
            probe_successes: s.probe_successes,
            backoff_level: s.backoff_level,
            recovering: s.recovering,
            window: s.window,
            generation: s.generation,
        }
    }
}

/// The health of every breaker in a [`Registry`](crate::Registry): named breakers, and keyed
/// families with their live keys, each sorted by name.
///
/// # Examples
///
/// ```
/// use breaker_std::Registry;
///
/// let registry = Registry::new();
/// registry.breaker("database");
/// registry.breaker("kafka");
/// let health = registry.health();
/// let names: Vec<_> = health.breakers.iter().map(|h| h.name).collect();
/// assert_eq!(names, ["database", "kafka"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct RegistryHealth {
    /// The named breakers, by name.
    pub breakers: Vec<Health>,
    /// The keyed families, by name.
    pub families: Vec<FamilyHealth>,
}

/// The health of a [`Keyed`](crate::Keyed) family: one [`Health`] per live key, sorted by key.
///
/// # Examples
///
/// ```
/// use breaker_std::Keyed;
///
/// let api = Keyed::<String>::builder("api").build().unwrap();
/// let _ = api.call("/users", || Ok::<_, ()>(()));
/// let h = api.health();
/// assert_eq!((h.name, h.breakers.len()), ("api", 1));
/// assert_eq!(h.breakers[0].key.as_deref(), Some("/users"));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct FamilyHealth {
    /// The family's name (the key of its entry when serialized; empty after deserializing one
    /// family's health on its own).
    pub name: Cow<'static, str>,
    /// One entry per key.
    pub breakers: Vec<Health>,
}

