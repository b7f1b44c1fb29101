//! # breaker-tokio
//!
//! The circuit breaker for tokio services: the lock-free [`breaker_core`] state machine on
//! tokio's clock, with async calls, timeouts and cancellation, a tower middleware, per-endpoint
//! breakers and a ready-made `503` for axum. It adds no state machine and no observability of
//! its own: breakers are [`breaker_std::Breaker`]s, so the registry, keyed families, the
//! `tracing` logs, listeners, health data and Prometheus metrics are breaker-std's, and every
//! decision is the core's one compare-and-swap.
//!
//! New to circuit breakers, or to this library? The concepts are in one guide:
//! [`breaker_core::_guide`].
//!
//! One dependency: `breaker-tokio` re-exports everything a tokio service needs from
//! breaker-std and breaker-core (`use breaker_tokio::prelude::*;`).
//!
//! ```
//! use breaker_tokio::prelude::*;
//! use std::time::Duration;
//!
//! async fn get_user(id: u32) -> Result<String, std::io::Error> {
//!     Ok(format!("user {id}"))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let database_breaker = breaker_tokio::builder("database").build().unwrap(); // 5 failures, 60 s
//! match database_breaker.call_async(get_user(7)).timeout(Duration::from_secs(2)).await {
//!     Ok(user) => assert_eq!(user, "user 7"),
//!     Err(e) if e.is_open() => { /* fail fast: a fallback, Retry-After */ }
//!     Err(e) => { /* the call failed or timed out: counted as a failure */ }
//! }
//! # }
//! ```
//!
//! # What is here
//!
//! | need | use |
//! |---|---|
//! | a clock that `tokio::time::pause()` / `advance()` drive | [`TokioClock`] (the clock of every breaker built here) |
//! | `await breaker.call_async(f)` | [`BreakerExt::call_async`], then `.classify(c)` (a [`Classify`]) and `.timeout(d)` |
//! | a tower service behind a breaker | [`layer::CircuitBreakerLayer`]: rejection in `call`, a [`Classify`]er (`HttpClassifier`: 5xx and transport errors fail, 4xx do not) |
//! | one breaker per route or host | the same layer over [`layer::ByKey`] (`by_route`, `by_path`, `by_host`) and a [`Keyed`] family from the [`Registry`] |
//! | `503 Service Unavailable` + `Retry-After` in axum | the `axum` module (feature `axum`) |
//! | a permit held by a `'static` future | [`Permit`], over any handle (`Arc<Breaker>` or `&'static Breaker`) |
//! | the cheapest handle for a long-lived breaker (no reference counting per request) | a `&'static Breaker`: what the [`Registry`] hands out, or `Box::leak` of your own |
//! | named breakers, keyed families, health, metrics | [`registry()`], [`builder()`], [`keyed()`], and the [`Breaker`] / [`Registry`] / [`Keyed`] API on what they return |
//!
//! # Cancellation and timeouts
//!
//! A call future or response future dropped before it finishes counts as **neither** success
//! nor failure, and gives its half-open probe slot back: a cancelled probe never leaves the
//! breaker stuck in HALF_OPEN. A per-call timeout drops the call and counts it as a **failure**
//! (or as **slow**, when the breaker has a slow-call policy and the timeout is at least its
//! threshold). A panic in the call is a failure. All of this is tested on paused time.
//!
//! # Logs
//!
//! Every transition is logged through `tracing` with the target [`LOG_TARGET`]
//! (`"breaker_std"`: the breakers are breaker-std's, so tokio and threaded services filter the
//! same target). With `tracing-subscriber`'s `EnvFilter`, `RUST_LOG=info,breaker_std=info`
//! shows them, `RUST_LOG=breaker_std=warn` keeps only the opening (ERROR) and manual-control
//! (WARN) lines, and `RUST_LOG=breaker_std=off` silences them. The messages and fields are
//! listed in breaker-std's crate docs.
//!
//! # Features
//!
//! - `http` (default): `HttpClassifier`, per-endpoint keys by path or host
//!   (`layer::ByKey::by_path`, `layer::ByKey::by_host`).
//! - `axum`: `IntoResponse` for every breaker error (`CircuitOpen`, `CallError`, `layer::Open`,
//!   `TimedCallError`, `Elapsed`), `handle_error`, keys by route template
//!   (`layer::ByKey::by_route`, from `MatchedPath`).
//! - `serde`, `metrics`: breaker-std's health serialization and Prometheus metrics.
#![cfg_attr(docsrs, feature(doc_cfg))]

// The crate README (what crates.io shows) is compiled and run with the doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(feature = "axum")]
pub mod axum;
mod call;
mod clock;
mod error;
#[cfg(feature = "http")]
mod http_classifier;
pub mod layer;

#[doc(inline)]
pub use breaker_std::limits;
#[cfg(feature = "metrics")]
#[doc(inline)]
pub use breaker_std::metrics;
pub use breaker_std::LOG_TARGET;
pub use breaker_std::{
    classify, protect, AsBreaker, Builder, CallError, CircuitOpen, Classify, Clock, CoarseClock, Config,
    ConfigError, Consecutive, FamilyHealth, Health, KeyedBuilder, Listener, ManualClock, MonotonicClock,
    Observer, Permit, Policy, RateConfig, RateRule, ReconfigureError, RegistryBuilder, RegistryError,
    RegistryHealth, RestoreError, Sample, SavedState, Snapshot, Source, State, Timestamp, Transition,
    Trigger, TripReason, ValidConfig, Verdict, Window, WindowStats,
};

/// The keyed families' constants (breaker-std's [`keyed`](breaker_std::keyed) module): the
/// overflow breaker's key and the defaults of [`KeyedBuilder::max_keys`] and
/// [`KeyedBuilder::idle_timeout`]. The family itself is [`Keyed`] (on tokio's clock), built
/// with [`keyed()`].
///
/// # Examples
///
/// ```
/// use breaker_tokio::keyed::{DEFAULT_MAX_KEYS, OVERFLOW_KEY};
///
/// let tenants: breaker_tokio::Keyed<String> = breaker_tokio::keyed("tenant").build().unwrap();
/// assert_eq!(tenants.max_keys(), DEFAULT_MAX_KEYS);
/// assert_eq!(OVERFLOW_KEY, "(overflow)");
/// ```
pub mod keyed {
    pub use breaker_std::keyed::{DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_KEYS, OVERFLOW_KEY};
}
pub use call::{BreakerExt, CallAsync, CallAsyncTimeout};
pub use clock::TokioClock;
pub use error::{Elapsed, TimedCallError};
#[cfg(feature = "http")]
pub use http_classifier::HttpClassifier;

/// The names a tokio service uses, in one import: `use breaker_tokio::prelude::*;`.
///
/// # Examples
///
/// ```
/// use breaker_tokio::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let db: Breaker = breaker_tokio::builder("database").failure_threshold(1).build().unwrap();
/// let r = db.call_async(async { Err::<(), _>("refused") }).await;
/// assert!(matches!(r, Err(CallError::Inner("refused"))));
/// assert_eq!(db.state(), State::Open);
/// # }
/// ```
pub mod prelude {
    pub use crate::classify::{failures_where, Errors};
    #[cfg(feature = "http")]
    pub use crate::HttpClassifier;
    pub use crate::{
        Breaker, BreakerExt, CallError, CircuitOpen, Classify, Config, Registry, State, TimedCallError,
        Verdict,
    };
}

/// A breaker: breaker-std's [`Breaker`](breaker_std::Breaker) with tokio's clock as the
/// default (clock first, then policy, as in every crate of this workspace).
///
/// # Examples
///
/// ```
/// let db: breaker_tokio::Breaker = breaker_tokio::builder("database").build().unwrap();
/// assert_eq!(db.name(), "database");
/// ```
pub type Breaker<C = TokioClock, P = Consecutive> = breaker_std::Breaker<C, P>;

/// A registry of named breakers and keyed families, on tokio's clock by default.
pub type Registry<C = TokioClock> = breaker_std::Registry<C>;

/// A family of breakers, one per key, on tokio's clock by default (build one with [`keyed()`], or
/// take it from the [`Registry`]).
pub type Keyed<K, C = TokioClock, P = Consecutive> = breaker_std::Keyed<K, C, P>;

/// A builder for a breaker named `name` on a [`TokioClock`]: the core's defaults (5 failures,
/// 60 s), no listeners. Everything else is the [`Builder`]'s.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let api = breaker_tokio::builder("external_api")
///     .failure_threshold(10)
///     .recovery_timeout(Duration::from_secs(30))
///     .build()
///     .unwrap();
/// assert_eq!(api.config().failure_threshold(), 10);
/// ```
pub fn builder(name: &'static str) -> breaker_std::Builder<TokioClock> {
    breaker_std::Breaker::builder(name).clock(TokioClock::new())
}

/// A builder for a keyed family named `name` (one breaker per key) on a [`TokioClock`]; see
/// [`KeyedBuilder`].
///
/// # Examples
///
/// ```
/// let hosts: breaker_tokio::Keyed<String> = breaker_tokio::keyed("upstream").build().unwrap();
/// assert_eq!(hosts.breaker("10.0.0.7").unwrap().key(), Some("10.0.0.7"));
/// ```
pub fn keyed<K>(name: &'static str) -> breaker_std::KeyedBuilder<K, TokioClock>
where
    K: core::hash::Hash + Eq + Clone + core::fmt::Display + Send + Sync + 'static,
{
    breaker_std::Keyed::<K>::builder(name).clock(TokioClock::new())
}

/// A builder for a registry whose breakers and families run on a [`TokioClock`].
///
/// # Examples
///
/// ```
/// use breaker_tokio::Config;
/// use std::time::Duration;
///
/// let registry = breaker_tokio::registry()
///     .configure("database", Config::new())
///     .configure("kafka", Config::new().failure_threshold(3).recovery_timeout(Duration::from_secs(30)))
///     .build()
///     .unwrap();
/// assert_eq!(registry.breaker("kafka").unwrap().config().failure_threshold(), 3);
/// ```
pub fn registry() -> breaker_std::RegistryBuilder<TokioClock> {
    breaker_std::Registry::builder().clock(TokioClock::new())
}
