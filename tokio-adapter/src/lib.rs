//! # breaker-tokio
//!
//! The circuit breaker for tokio services: the lock-free [`breaker_core`] state machine on
//! tokio's clock, with async calls, timeouts and cancellation, a tower middleware, per-endpoint
//! breakers and a ready-made `503` for axum. It adds no state machine and no observability of
//! its own: breakers are [`breaker_std::Breaker`]s, so the registry, keyed families, the seed's
//! `tracing` logs, listeners, health data and Prometheus metrics are breaker-std's, and every
//! decision is the core's one compare-and-swap.
//!
//! ```
//! use breaker_core::CallError;
//! use breaker_tokio::BreakerExt;
//! use std::time::Duration;
//!
//! async fn get_user(id: u32) -> Result<String, std::io::Error> {
//!     Ok(format!("user {id}"))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let database_breaker = breaker_tokio::presets::database().build().unwrap(); // 5 failures, 60 s
//! match database_breaker.call_async_timeout(Duration::from_secs(2), get_user(7)).await {
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
//! | the seed's `await breaker.call_async(f)` | [`BreakerExt::call_async`], `_with` a [`Classify`]er, `_timeout` |
//! | a tower service behind a breaker | [`layer::CircuitBreakerLayer`]: rejection in `call`, a [`Classify`]er (`HttpClassifier`: 5xx and transport errors fail, 4xx do not) |
//! | one breaker per route or host | [`per_endpoint::PerEndpointLayer`] over a breaker-std keyed family |
//! | `503 Service Unavailable` + `Retry-After` in axum | the `axum` module (feature `axum`) |
//! | a permit held by a `'static` future | [`OwnedPermit`], over any [`BreakerRef`] (`Arc<Breaker>` or `&'static Breaker`) |
//! | the cheapest handle for a long-lived breaker (no reference counting per request) | [`leak`] |
//! | named breakers, presets, health, metrics | [`registry`], [`builder`], [`presets`], and breaker-std's API on what they return |
//!
//! # Cancellation and timeouts
//!
//! A call future or response future dropped before it finishes counts as **neither** success
//! nor failure, and gives its half-open probe slot back: a cancelled probe never leaves the
//! breaker stuck in HALF_OPEN. A per-call timeout drops the call and counts it as a **failure**
//! (or as **slow**, when the breaker has a slow-call policy and the timeout is at least its
//! threshold). A panic in the call is a failure. All of this is tested on paused time.
//!
//! # Features
//!
//! - `http` (default): `HttpClassifier`, per-endpoint keys `per_endpoint::ByPath` and
//!   `per_endpoint::ByHost`.
//! - `axum`: `IntoResponse` for the rejection, `handle_error`, keys by `MatchedPath`.
//! - `serde`, `metrics`: breaker-std's health serialization and Prometheus metrics.
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "axum")]
pub mod axum;
mod call;
mod classify;
mod clock;
mod error;
pub mod layer;
pub mod per_endpoint;
mod permit;

use breaker_core::Consecutive;

pub use breaker_core::{CallError, CircuitOpen, Config, State, Verdict};
pub use call::BreakerExt;
#[cfg(feature = "http")]
pub use classify::HttpClassifier;
pub use classify::{Classify, ErrorClassifier};
pub use clock::TokioClock;
pub use error::{Elapsed, TimedCallError};
pub use permit::{BreakerRef, OwnedPermit};

/// A breaker-std breaker on tokio's clock.
pub type Breaker<P = Consecutive> = breaker_std::Breaker<TokioClock, P>;

/// A breaker-std registry on tokio's clock.
pub type Registry = breaker_std::Registry<TokioClock>;

/// A breaker-std keyed family on tokio's clock.
pub type Keyed<K> = breaker_std::Keyed<K, TokioClock>;

/// Gives a breaker a `'static` lifetime by leaking one handle to it: for breakers that live as
/// long as the process (most do), so tower services can hold a `&'static Breaker`, whose
/// per-request cost is a copy instead of an `Arc`'s two atomic operations (see [`BreakerRef`]).
/// Leaks one `Arc` (and so the breaker) per call; call it once per breaker, at startup.
///
/// # Examples
///
/// ```
/// use breaker_tokio::layer::CircuitBreakerLayer;
///
/// let registry = breaker_tokio::registry().build().unwrap();
/// let db: &'static breaker_tokio::Breaker = breaker_tokio::leak(registry.breaker("database"));
/// let layer = CircuitBreakerLayer::new(db); // the response futures copy a reference
/// assert_eq!(layer.breaker().name(), "database");
/// ```
pub fn leak<C: breaker_core::Clock, P: breaker_core::Policy>(
    breaker: std::sync::Arc<breaker_std::Breaker<C, P>>,
) -> &'static breaker_std::Breaker<C, P> {
    let forever: &'static std::sync::Arc<breaker_std::Breaker<C, P>> = Box::leak(Box::new(breaker));
    forever
}

/// A builder for a breaker named `name` on a [`TokioClock`]: the core's defaults (5 failures,
/// 60 s), no listeners. Everything else is breaker-std's [`Builder`](breaker_std::Builder).
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

/// A builder for a registry whose breakers and families run on a [`TokioClock`].
///
/// # Examples
///
/// ```
/// use breaker_std::presets;
///
/// let registry = breaker_tokio::registry()
///     .configure("database", presets::DATABASE)
///     .configure("kafka", presets::KAFKA)
///     .build()
///     .unwrap();
/// assert_eq!(registry.breaker("kafka").config().failure_threshold(), 3);
/// ```
pub fn registry() -> breaker_std::RegistryBuilder<TokioClock> {
    breaker_std::Registry::builder().clock(TokioClock::new())
}

/// The seed's two breakers on a [`TokioClock`] (breaker-std's presets).
///
/// | preset | name | failure threshold | recovery timeout |
/// |---|---|---|---|
/// | [`database`](presets::database) | `"database"` | 5 | 60 s |
/// | [`kafka`](presets::kafka) | `"kafka"` | 3 | 30 s |
pub mod presets {
    use crate::TokioClock;

    /// The seed's database breaker: `"database"`, 5 failures, 60 s, on a [`TokioClock`].
    ///
    /// # Examples
    ///
    /// ```
    /// let db = breaker_tokio::presets::database().build().unwrap();
    /// assert_eq!((db.name(), db.config().failure_threshold()), ("database", 5));
    /// ```
    pub fn database() -> breaker_std::Builder<TokioClock> {
        breaker_std::presets::database().clock(TokioClock::new())
    }

    /// The seed's Kafka breaker: `"kafka"`, 3 failures, 30 s, on a [`TokioClock`].
    ///
    /// # Examples
    ///
    /// ```
    /// let kafka = breaker_tokio::presets::kafka().build().unwrap();
    /// assert_eq!((kafka.name(), kafka.config().failure_threshold()), ("kafka", 3));
    /// ```
    pub fn kafka() -> breaker_std::Builder<TokioClock> {
        breaker_std::presets::kafka().clock(TokioClock::new())
    }
}
