//! # breaker-std
//!
//! The circuit breaker for threaded Rust services: the lock-free [`breaker_core`] state machine
//! on std clocks, with the pattern's `tracing` logs, listeners, a registry of named and keyed
//! breakers, health data, Prometheus metrics and manual control. It is thin: every decision
//! (admit, reject, count, trip, probe, close) is the core's, made by one compare-and-swap on one
//! atomic word; this crate reports what the core decided.
//!
//! New to circuit breakers, or to this library? The concepts are in one guide:
//! [`breaker_core::_guide`].
//!
//! One dependency: breaker-std re-exports every type of the core its API uses, at its root
//! (`use breaker_std::{Breaker, CallError};`) and the classifiers in
//! [`classify`].
//!
//! ```
//! use breaker_std::{Breaker, CallError, State};
//! use std::time::Duration;
//!
//! let kafka = Breaker::builder("kafka").failure_threshold(3).recovery_timeout(Duration::from_secs(30)).build()?;
//!
//! fn publish_event(ok: bool) -> Result<(), std::io::Error> {
//!     if ok { Ok(()) } else { Err(std::io::ErrorKind::ConnectionRefused.into()) }
//! }
//!
//! for _ in 0..3 {
//!     assert!(matches!(kafka.call(|| publish_event(false)), Err(CallError::Inner(_))));
//! }
//! // Open: calls fail fast with the open error, which says when to retry.
//! match kafka.call(|| publish_event(true)) {
//!     Err(CallError::Open(open)) => {
//!         assert_eq!(open.name(), "kafka");
//!         assert!(open.retry_after().is_some());
//!     }
//!     other => panic!("{other:?}"),
//! }
//! assert_eq!(kafka.state(), State::Open);
//! # Ok::<(), breaker_std::ConfigError>(())
//! ```
//!
//! # The Python original's API
//!
//! | Python | here |
//! |---|---|
//! | `CircuitBreaker(failure_threshold=5, recovery_timeout=60, name="my_service")` | [`Breaker::builder`]`("my_service").failure_threshold(5).recovery_timeout(60 s).build()` |
//! | `breaker.call(f)` | [`Breaker::call`]: `Err` counts as a failure |
//! | `expected_exception=...` | [`Breaker::call_with`] with [`classify::failures_where`] (a predicate on the error) or any [`Classify`] (a classifier on the whole result) |
//! | `@breaker` (decorator) | [`protect`]: a function that runs through the breaker |
//! | `CircuitBreakerError` | [`CircuitOpen`] inside [`CallError::Open`]: `std::error::Error + Display`, the breaker's name and [`retry_after`](CircuitOpen::retry_after); works with `?` |
//! | `breaker.state`, `_failure_count` | [`Breaker::state`], [`Breaker::failure_count`], [`Breaker::health`] |
//! | `database_breaker`, `kafka_breaker` | two [`Registry`] entries (the demo service configures them) |
//!
//! A **panic** inside the protected call (or its classifier) counts as a failure and keeps
//! unwinding: the core's call path records it from a drop guard, which costs nothing on the
//! normal path.
//!
//! # Clocks
//!
//! [`CoarseClock`] is the default: `CLOCK_MONOTONIC_COARSE` on Linux and Android (`Instant`
//! elsewhere), resolution one kernel tick (4 ms here). A breaker reads its clock on every
//! rejection, so this is what makes rejections cheap; the core keeps whole milliseconds and
//! recovery timeouts are seconds, so a tick costs nothing that matters. [`MonotonicClock`]
//! (`std::time::Instant`) is the precise one, for timeouts of tens of milliseconds. Any
//! [`Clock`] works, including [`ManualClock`] in tests.
//! Measured with `cargo bench -p breaker-benches --bench clocks` on a 2-vCPU x86_64 VM (TSC
//! clocksource) shared with other builds, so absolute figures vary by up to 2× between runs; the
//! order does not:
//!
//! | source | ns per reading |
//! |---|---|
//! | `Instant::now()` | 57.1 |
//! | ms since a start `Instant` (`elapsed().as_millis()`) | 75.2 |
//! | [`MonotonicClock::now`](crate::Clock::now) | 76.0 |
//! | `quanta::Instant::now()` (TSC read and scaling) | 35.1 |
//! | `quanta::Clock::recent()` (needs quanta's upkeep thread) | 5.4 |
//! | `CLOCK_MONOTONIC_COARSE` in ms (rustix, vDSO) | 12.7 |
//! | [`CoarseClock::now`](crate::Clock::now) | 12.2 |
//!
//! The coarse clock is chosen over quanta's `recent()` because it needs no background thread
//! and no global state, at a few nanoseconds more.
//!
//! # Logs
//!
//! Every transition is logged through `tracing` (target `breaker_std`), with the Python
//! original's messages and fields:
//!
//! | transition | level | message | fields |
//! |---|---|---|---|
//! | CLOSED → OPEN, threshold reached | ERROR | `Circuit breaker '{name}' opening circuit` | `circuit_breaker`, `state = "open"`, `failure_count`, `threshold` |
//! | CLOSED → OPEN, a rate reached its threshold | ERROR | `Circuit breaker '{name}' opening circuit: failure rate reached its threshold` (or `slow-call rate`) | the same, and `trigger` (`failure_rate`, `slow_call_rate`) |
//! | HALF_OPEN → OPEN, a probe failed (or was slow, with a slow-call policy) | ERROR | `Circuit breaker '{name}' probe failed, reopening circuit` | the same, and `trigger = "probe_failed"` |
//! | HALF_OPEN → OPEN, the probes got stuck | ERROR | `Circuit breaker '{name}' probe timed out, reopening circuit` | the same, and `trigger = "probe_timeout"` |
//! | OPEN → HALF_OPEN | INFO | `Circuit breaker '{name}' transitioning to HALF_OPEN` | `circuit_breaker`, `state = "half_open"`, `elapsed_seconds` |
//! | HALF_OPEN → CLOSED | INFO | `Circuit breaker '{name}' recovered, closing circuit` | `circuit_breaker`, `state = "closed"` |
//! | force open | WARN | `Circuit breaker '{name}' forced open` | `circuit_breaker`, `state = "forced_open"`, `failure_count`, `threshold` |
//! | force closed | WARN | `Circuit breaker '{name}' forced closed` | `circuit_breaker`, `state = "forced_closed"`, `failure_count`, `threshold` |
//! | reset | INFO | `Circuit breaker '{name}' reset, closing circuit` | `circuit_breaker`, `state = "closed"`, `failure_count`, `threshold` |
//! | restore (a saved state put back, any state) | INFO | `Circuit breaker '{name}' restored, {state}` | `circuit_breaker`, `state`, `failure_count`, `retry_after_seconds` (into OPEN) |
//!
//! Breakers of a keyed family add a `key` field. A listener that panics is logged at WARN.
//! Calls and rejections are not logged (they are counted in metrics).
//!
//! # Listeners
//!
//! [`Listener`]s (or closures: `on_transition`, `on_rejected`, `on_success`, `on_failure`,
//! `on_ignored` on every builder) are fixed when a breaker, registry or family is built. Each
//! event reaches each listener exactly once, on the thread that caused it, after the breaker's
//! word was updated and with no lock held. A panicking listener is caught and logged; the
//! breaker and the other listeners are unaffected.
//!
//! # Registry and keyed families
//!
//! [`Registry`]: one store behind named breakers and keyed families, get-or-create by name with
//! per-name configs and trip policies; concurrent creation of one name yields one breaker;
//! lookups return `Result` ([`RegistryError`]), never panic. A named breaker lives for the
//! process and is handed out as a `&'static Breaker` (a copy per request, no reference count):
//! one allocation per distinct name, at most [`RegistryBuilder::max_names`] of them. Per-route
//! or per-host breakers are a [`Keyed`] family: one family name, the key as a label, at most
//! `max_keys` keys, handed out as `Arc`s; an idle key is evicted in O(1), and a key whose
//! breaker protects (open, probing, forced) is never evicted by a flood of new keys (the family
//! refuses the new key instead). [`RegistryBuilder::on_evict`] is the hook to drop an evicted
//! key's metrics series. Reconfigure by name with [`Registry::reconfigure`].
//!
//! # Trip policies
//!
//! A [`Breaker`] takes any [`Policy`]: [`Builder::policy`] with a failure-rate [`Window`]
//! instead of the default consecutive failures; a registry name or family takes a policy recipe
//! ([`RegistryBuilder::policy`]), so each route gets its own window. The window shows in
//! [`Health`] and, with `metrics`, in the `circuit_breaker_failure_ratio` gauge.
//!
//! # Health
//!
//! [`Health`] for one breaker, [`FamilyHealth`] for a keyed family, [`RegistryHealth`] for a
//! registry. With the feature `serde` all three are `Serialize` and `Deserialize`, in the
//! `/health/detailed` shape of the Python original. This is the one table of their fields.
//!
//! One breaker is an object:
//!
//! ```json
//! {"circuit_breaker": "open", "failure_count": 5, "failure_threshold": 5,
//!  "recovery_timeout_seconds": 60.0, "retry_after_seconds": 42.5,
//!  "probes_in_flight": 0, "probe_successes": 0, "backoff_level": 0,
//!  "recovering": null, "window": null, "generation": 3}
//! ```
//!
//! | JSON field | [`Health`] field | meaning |
//! |---|---|---|
//! | `circuit_breaker` | `state` | `closed`, `open`, `half_open`, `forced_open`, `forced_closed` ([`State::as_str`]) |
//! | `failure_count` | `failure_count` | see [`Breaker::failure_count`] |
//! | `failure_threshold` | `failure_threshold` | consecutive failures that open it |
//! | `recovery_timeout_seconds` | `recovery_timeout` | seconds, a float |
//! | `retry_after_seconds` | `retry_after` | while OPEN, seconds until a probe is admitted; else `null` |
//! | `probes_in_flight`, `probe_successes` | same | the half-open cycle |
//! | `backoff_level` | same | failed recoveries in a row |
//! | `recovering` | same | while ramping up after a recovery, the share admitted (0–1); else `null` |
//! | `window` | same | a rate policy's `{"calls", "failures", "slow", "failure_rate", "slow_rate", "trip_rate", "baseline"}`; `null` for consecutive failures |
//! | `generation` | same | the core's cycle counter |
//! | (the entry's key) | `name`, `key` | not fields: a registry's entry key is the name, a family's the key |
//!
//! A family is an object with one such entry per key, and a registry an object with one entry
//! per named breaker and per family:
//!
//! ```json
//! {"database": {"circuit_breaker": "closed", "failure_count": 0, ...},
//!  "kafka":    {"circuit_breaker": "open",   "failure_count": 3, ...},
//!  "api":      {"/users": {"circuit_breaker": "closed", ...}, "/orders": {...}}}
//! ```
//!
//! Deserializing reads the same shape back: a registry entry with a `circuit_breaker` field is
//! a breaker, any other object a family; names and keys come from the entry keys (so a
//! [`Health`] or [`FamilyHealth`] deserialized on its own has an empty name); an unknown state
//! is an error.
//!
//! # Metrics (feature `metrics`)
//!
//! Through the [`metrics`](https://docs.rs/metrics) facade; any exporter works
//! (`metrics-exporter-prometheus` for Prometheus). Install the recorder before building
//! breakers: handles are registered when a breaker is built.
//!
//! The series, their labels and when they exist are listed in the [`metrics`] module (the one
//! table of them).
//!
//! A keyed family's breakers add a `key` label. A family has at most `max_keys` live keys; an
//! exporter keeps the series of evicted keys unless told otherwise (drop them from
//! [`RegistryBuilder::on_evict`], or let the exporter expire idle series: for
//! `metrics-exporter-prometheus`, `PrometheusBuilder::idle_timeout`).
//!
//! # Costs
//!
//! No allocation per call on any path (closed success, closed failure, open rejection,
//! half-open probe), tested with a counting allocator. A closed-state success is the core's one
//! atomic load plus, per listener, one virtual call; without listeners or a metrics recorder
//! nothing else. A rejection reads the clock once.
#![cfg_attr(docsrs, feature(doc_cfg))]

// The crate README (what crates.io shows) is compiled and run with the doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod breaker;
mod clock;
mod health;
mod hooks;
pub mod keyed;
mod knobs;
mod listener;
mod log;
#[cfg(feature = "metrics")]
pub mod metrics;
mod registry;

pub use breaker::{Breaker, Builder};
pub use breaker_core::classify;
#[doc(inline)]
pub use breaker_core::limits;
pub use breaker_core::{
    AsBreaker, CallError, CircuitOpen, Classify, Clock, Config, ConfigError, Consecutive, ManualClock,
    Observer, Permit, Policy, RateConfig, RateRule, ReconfigureError, RestoreError, Sample, SavedState,
    Snapshot, State, Timestamp, Transition, Trigger, TripReason, ValidConfig, Verdict, Window, WindowStats,
};
pub use clock::{CoarseClock, MonotonicClock};
pub use health::{FamilyHealth, Health, RegistryHealth};
#[doc(hidden)]
pub use hooks::Hooks;
pub use keyed::family::{Keyed, KeyedBuilder};
pub use listener::{Listener, Source};
pub use registry::{Registry, RegistryBuilder, RegistryError};

/// The `tracing` target of every event this crate logs.
pub const LOG_TARGET: &str = "breaker_std";

/// The decorator, for any handle to a breaker (`&Breaker`, `Arc<Breaker>`): wraps `f` into a
/// function with the same argument that runs through the breaker. Several arguments go in a
/// tuple, none as `()`.
///
/// # Examples
///
/// ```
/// use breaker_std::{protect, Breaker};
/// use std::sync::Arc;
///
/// let db = Arc::new(Breaker::builder("database").build().unwrap());
/// let get_user = protect(Arc::clone(&db), |(id, verbose): (u32, bool)| {
///     Ok::<_, String>(format!("user {id}{}", if verbose { "!" } else { "" }))
/// });
/// // The protected function owns its handle: it can move to another thread.
/// let user = std::thread::spawn(move || get_user((7, true))).join().unwrap();
/// assert_eq!(user.unwrap(), "user 7!");
/// ```
pub fn protect<B, C, P, A, T, E>(
    breaker: B,
    f: impl Fn(A) -> Result<T, E>,
) -> impl Fn(A) -> Result<T, CallError<E>>
where
    B: core::ops::Deref<Target = Breaker<C, P>>,
    C: Clock,
    P: Policy,
{
    move |arg| breaker.call(|| f(arg))
}
