//! [`Breaker`]: a named breaker for threaded code, and its [`Builder`].
//!
//! A thin wrapper around [`breaker_core::Breaker`] with [`Hooks`] as its observer: every decision
//! is the core's (the panic rule included); this type adds the decorator, health data, and the logs,
//! listeners and metrics the hooks produce.

use breaker_core::{
    AsBreaker, CallError, CircuitOpen, Classify, Clock, Config, ConfigError, Consecutive, Permit, Policy,
    ReconfigureError, RestoreError, SavedState, Snapshot, State, Transition, ValidConfig,
};

use crate::health::Health;
use crate::hooks::Hooks;
use crate::knobs::Knobs;
use crate::listener::{ListenerList, Listeners, OnFailure, OnIgnored, OnRejected, OnSuccess, OnTransition};
use crate::{CoarseClock, Listener, Source};

/// A circuit breaker for threaded code: the core's lock-free breaker on a std clock, with
/// `tracing` logs, listeners and (feature `metrics`) Prometheus metrics.
///
/// Share it by reference or in an `Arc`; all methods take `&self`.
///
/// # Examples
///
/// Three failures open the circuit; the next call is rejected with the open error, without
/// running.
///
/// ```
/// use breaker_std::{CallError, ManualClock, State};
/// use breaker_std::Breaker;
///
/// let breaker = Breaker::builder("svc")
///     .failure_threshold(3)
///     .clock(ManualClock::new())
///     .build()
///     .unwrap();
/// for _ in 0..3 {
///     let r = breaker.call(|| Err::<(), _>("Service down"));
///     assert!(matches!(r, Err(CallError::Inner("Service down"))));
/// }
/// assert_eq!(breaker.state(), State::Open);
/// let r = breaker.call(|| -> Result<(), &str> { unreachable!("not called while open") });
/// assert!(matches!(r, Err(CallError::Open(_))));
/// ```
pub struct Breaker<C = CoarseClock, P = Consecutive> {
    inner: breaker_core::Breaker<C, Hooks, P>,
}

impl Breaker<CoarseClock> {
    /// A breaker named `name` with `config`, on a [`CoarseClock`].
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Config;
    /// use breaker_std::Breaker;
    ///
    /// let redis = Breaker::new("redis", Config::new().failure_threshold(3)).unwrap();
    /// assert_eq!(redis.name(), "redis");
    /// ```
    pub fn new(name: &'static str, config: Config) -> Result<Self, ConfigError> {
        Breaker::builder(name).config(config).build()
    }

    /// A builder for a breaker named `name`: the core's defaults (5 failures, 60 s), a
    /// [`CoarseClock`], no listeners.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Breaker;
    /// use std::time::Duration;
    ///
    /// let api = Breaker::builder("external_api")
    ///     .failure_threshold(10)
    ///     .recovery_timeout(Duration::from_secs(30))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(api.config().failure_threshold(), 10);
    /// ```
    pub fn builder(name: &'static str) -> Builder<CoarseClock> {
        Builder {
            name,
            config: Config::new(),
            knobs: Knobs::default(),
            clock: CoarseClock::new(),
            listeners: ListenerList::default(),
            policy: Consecutive,
        }
    }
}

impl<C: Clock, P: Policy> Breaker<C, P> {
    /// Builds from parts the registry and keyed families share.
    pub(crate) fn from_parts(
        name: &'static str,
        key: Option<Box<str>>,
        config: ValidConfig,
        clock: C,
        listeners: Listeners,
        policy: P,
    ) -> Self {
        #[cfg(feature = "metrics")]
        let metrics = crate::metrics::Metrics::new(name, key.as_deref());
        #[cfg(feature = "metrics")]
        if !P::CONSECUTIVE {
            metrics.register_failure_ratio();
        }
        let hooks = Hooks {
            key,
            listeners,
            #[cfg(feature = "metrics")]
            metrics,
        };
        Breaker { inner: breaker_core::Breaker::with_policy(name, config, clock, hooks, policy) }
    }

    /// Runs `f` through the breaker: rejected without running while open; `Err` counts as a
    /// failure, `Ok` as a success. A panic in `f` counts as a failure and keeps unwinding.
    ///
    /// The open error, [`CallError::Open`], carries the breaker's name and the time until a
    /// probe will be admitted, and converts with `?` into any error type that has a
    /// `From<CircuitOpen>` (including `Box<dyn Error>`).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::CallError;
    /// use breaker_std::Breaker;
    ///
    /// fn fetch(db: &Breaker) -> Result<u32, Box<dyn std::error::Error>> {
    ///     // `?` on the call: the open error and the service's own error both convert.
    ///     let rows = db.call(|| "42".parse::<u32>())?;
    ///     Ok(rows)
    /// }
    ///
    /// let db = Breaker::builder("database").build().unwrap();
    /// assert_eq!(fetch(&db).unwrap(), 42);
    /// db.force_open();
    /// let err = fetch(&db).unwrap_err();
    /// assert_eq!(err.to_string(), "circuit breaker 'database' is forced open");
    /// ```
    #[inline]
    pub fn call<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, CallError<E>> {
        self.inner.call(f)
    }

    /// Runs `f` and lets `classify` decide the verdict: any [`Classify`] — a closure over the
    /// whole result (an `Ok(503)` can be a failure), or
    /// [`classify::failures_where`](crate::classify::failures_where) for "which errors count"
    /// (the pattern's `expected_exception`: other errors are returned as they are and count as
    /// neither).
    ///
    /// A panic in `f` or in `classify` counts as a failure and keeps unwinding.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{classify::failures_where, Breaker, Verdict};
    /// use std::io::{Error, ErrorKind};
    ///
    /// let db = Breaker::builder("database").failure_threshold(1).build().unwrap();
    /// let expected_exception = failures_where(|e: &Error| e.kind() != ErrorKind::InvalidInput);
    /// let _ = db.call_with(|| Err::<(), _>(Error::from(ErrorKind::InvalidInput)), expected_exception);
    /// assert_eq!(db.failure_count(), 0); // the caller's mistake, not the database's
    ///
    /// let api = Breaker::builder("api").build().unwrap();
    /// let status = api
    ///     .call_with(|| Ok::<u16, ()>(503), |r: &Result<u16, ()>| match r {
    ///         Ok(s) if *s >= 500 => Verdict::Failure,
    ///         Ok(_) => Verdict::Success,
    ///         Err(_) => Verdict::Failure,
    ///     })
    ///     .unwrap();
    /// assert_eq!((status, api.failure_count()), (503, 1));
    /// ```
    #[inline]
    pub fn call_with<T, E>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
        classify: impl Classify<T, E>,
    ) -> Result<T, CallError<E>> {
        // The core's call path already counts a panic in `f` or `classify` as a failure (a
        // guard that is disarmed on the normal path) and lets it keep unwinding.
        self.inner.call_with(f, classify)
    }

    /// Asks to make a call: the two-step API. Report the outcome on the permit; dropping it
    /// reports the call as ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Breaker;
    ///
    /// let db = Breaker::builder("database").build().unwrap();
    /// match db.try_acquire() {
    ///     Ok(permit) => permit.success(), // make the call, then report
    ///     Err(open) => eprintln!("skipped: {open}"),
    /// };
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<&Self>, CircuitOpen> {
        Permit::acquire(self)
    }

    /// The state to keep across a restart (see [`SavedState`](crate::SavedState)): save it on the
    /// way down, [`restore`](Breaker::restore) it on the way up.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Breaker, State};
    ///
    /// let before = Breaker::builder("db").failure_threshold(1).build().unwrap();
    /// let _ = before.call(|| Err::<(), _>("down"));
    /// let saved = before.save();
    ///
    /// let after = Breaker::builder("db").failure_threshold(1).build().unwrap();
    /// after.restore(&saved).unwrap();
    /// assert_eq!(after.state(), State::Open);
    /// ```
    pub fn save(&self) -> SavedState {
        self.inner.save()
    }

    /// Puts back a state from [`save`](Breaker::save) (logged and reported as a transition
    /// with trigger `restore`).
    ///
    /// # Errors
    ///
    /// A [`RestoreError`] when the saved state cannot be applied to this breaker (another
    /// policy, a layout or config it does not fit); the breaker is unchanged.
    ///
    /// # Examples
    ///
    /// See [`save`](Breaker::save).
    pub fn restore(&self, saved: &SavedState) -> Result<(), RestoreError> {
        self.inner.restore(saved)
    }

    /// Replaces the configuration at run time, keeping the state (see
    /// [`breaker_core::Breaker::reconfigure`] for what happens to each state); returns the
    /// config it replaced.
    ///
    /// # Errors
    ///
    /// [`ReconfigureError::Invalid`] for a config that does not validate,
    /// [`ReconfigureError::Busy`] while another change is being written,
    /// [`ReconfigureError::OpenTimeResolution`] for another open-time resolution than the
    /// breaker was built with.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Breaker, Config};
    ///
    /// let db = Breaker::builder("db").build().unwrap();
    /// let old = db.reconfigure(Config::new().failure_threshold(2)).unwrap();
    /// assert_eq!((old.failure_threshold(), db.config().failure_threshold()), (5, 2));
    /// ```
    pub fn reconfigure(&self, config: Config) -> Result<ValidConfig, ReconfigureError> {
        self.inner.reconfigure(config)
    }

    /// Changes the configuration by `f` (from the config in force), keeping the state; see
    /// [`breaker_core::Breaker::update_config`].
    ///
    /// # Errors
    ///
    /// As [`reconfigure`](Breaker::reconfigure).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Breaker;
    ///
    /// let db = Breaker::builder("db").build().unwrap();
    /// db.update_config(|c| c.failure_threshold(3)).unwrap();
    /// assert_eq!(db.config().failure_threshold(), 3);
    /// ```
    pub fn update_config(&self, f: impl FnMut(Config) -> Config) -> Result<ValidConfig, ReconfigureError> {
        self.inner.update_config(f)
    }

    /// Opens the circuit until [`reset`](Breaker::reset): every call is rejected. Logged at
    /// WARN and counted as a transition.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::State;
    /// use breaker_std::Breaker;
    ///
    /// let db = Breaker::builder("database").build().unwrap();
    /// db.force_open();
    /// assert_eq!(db.state(), State::ForcedOpen);
    /// assert!(db.call(|| Ok::<_, ()>(())).is_err());
    /// ```
    pub fn force_open(&self) {
        self.inner.force_open();
    }

    /// Closes the circuit until [`reset`](Breaker::reset) : every call
    /// passes and nothing is counted. Logged at WARN and counted as a transition.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::State;
    /// use breaker_std::Breaker;
    ///
    /// let db = Breaker::builder("database").failure_threshold(1).build().unwrap();
    /// db.force_closed();
    /// let _ = db.call(|| Err::<(), _>("down"));
    /// assert_eq!(db.state(), State::ForcedClosed);
    /// ```
    pub fn force_closed(&self) {
        self.inner.force_closed();
    }

    /// Back to CLOSED with no failures; ends a forced state. Logged at INFO and counted as a
    /// transition.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::State;
    /// use breaker_std::Breaker;
    ///
    /// let db = Breaker::builder("database").failure_threshold(1).build().unwrap();
    /// let _ = db.call(|| Err::<(), _>("down"));
    /// db.reset();
    /// assert_eq!(db.state(), State::Closed);
    /// ```
    pub fn reset(&self) {
        self.inner.reset();
    }

    /// The current state (the core's [`state`](breaker_core::Breaker::state): an OPEN breaker
    /// whose open period is over shows as [`State::HalfOpen`], ready to probe).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::State;
    /// use breaker_std::Breaker;
    ///
    /// assert_eq!(Breaker::builder("db").build().unwrap().state(), State::Closed);
    /// ```
    pub fn state(&self) -> State {
        self.inner.state()
    }

    /// The Python original's `_failure_count`: consecutive failures in CLOSED; while OPEN or
    /// HALF_OPEN the failures that opened the breaker plus its failed probes since it last
    /// closed (see the core's [`failure_count`](breaker_core::Breaker::failure_count)).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Breaker;
    ///
    /// let db = Breaker::builder("db").build().unwrap();
    /// let _ = db.call(|| Err::<(), _>("down"));
    /// assert_eq!(db.failure_count(), 1);
    /// ```
    pub fn failure_count(&self) -> u32 {
        self.inner.failure_count()
    }

    /// The core's snapshot: state, counts, time to the next probe.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::State;
    /// use breaker_std::Breaker;
    ///
    /// let s = Breaker::builder("db").build().unwrap().snapshot();
    /// assert_eq!((s.name, s.state, s.failure_threshold), ("db", State::Closed, 5));
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        self.inner.snapshot()
    }

    /// Health data for a `/health/detailed` endpoint; with the `serde` feature it serializes to
    /// the Python original's shape (`{"circuit_breaker": "closed", "failure_count": 0, ...}`).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::State;
    /// use breaker_std::Breaker;
    ///
    /// let h = Breaker::builder("database").build().unwrap().health();
    /// assert_eq!((&*h.name, h.state, h.failure_count), ("database", State::Closed, 0));
    /// ```
    pub fn health(&self) -> Health {
        Health::new(
            self.inner.snapshot(),
            self.inner.config().recovery_timeout(),
            self.inner.observer().key(),
        )
    }

    /// The breaker's name (the family name for a keyed breaker).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Breaker;
    ///
    /// assert_eq!(Breaker::builder("kafka").build().unwrap().name(), "kafka");
    /// ```
    pub fn name(&self) -> &'static str {
        self.inner.name()
    }

    /// The key, for a breaker of a [`Keyed`](crate::Keyed) family.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// let hosts = Keyed::<String>::builder("upstream").build().unwrap();
    /// assert_eq!(hosts.breaker("10.0.0.7").unwrap().key(), Some("10.0.0.7"));
    /// ```
    pub fn key(&self) -> Option<&str> {
        self.inner.observer().key()
    }

    /// The configuration in force, a copy (change it with [`reconfigure`](Breaker::reconfigure)
    /// or [`update_config`](Breaker::update_config)).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Breaker;
    /// use std::time::Duration;
    ///
    /// let db = Breaker::builder("db").build().unwrap();
    /// assert_eq!(db.config().recovery_timeout(), Duration::from_secs(60));
    /// ```
    pub fn config(&self) -> ValidConfig {
        self.inner.config()
    }

    /// Its clock.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Clock, ManualClock};
    /// use breaker_std::Breaker;
    ///
    /// let db = Breaker::builder("db").clock(ManualClock::new()).build().unwrap();
    /// assert_eq!(db.clock().now().as_millis(), 0);
    /// ```
    pub fn clock(&self) -> &C {
        self.inner.clock()
    }

    #[cfg(feature = "metrics")]
    fn record_failure_rate(&self, rate: f64) {
        self.inner.observer().metrics.failure_rate(rate);
    }

    /// Updates the gauges that are read rather than event-driven (the
    /// `circuit_breaker_failure_ratio` gauge of a breaker with a rate policy, from its window),
    /// and touches every other series of the breaker, so an exporter's idle timeout keeps them
    /// (see [bounded series](crate::metrics#bounded-series-for-keyed-families)). Call it right
    /// before rendering metrics, e.g. in the `/metrics` handler
    /// ([`Registry::refresh_metrics`](crate::Registry::refresh_metrics) does every breaker of a
    /// registry, keyed families included). Feature `metrics`.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{RateConfig, Window};
    /// use breaker_std::Breaker;
    ///
    /// let rule = RateConfig::new(500, 10).validate().unwrap();
    /// let api = Breaker::builder("api")
    ///     .policy(Window::<4>::count(25, rule).unwrap())
    ///     .build()
    ///     .unwrap();
    /// let _ = api.call(|| Err::<(), _>("503"));
    /// api.refresh_metrics(); // sets circuit_breaker_failure_ratio{breaker="api"} to 1.0
    /// ```
    #[cfg(feature = "metrics")]
    pub fn refresh_metrics(&self) {
        self.inner.observer().metrics.touch();
        if let Some(window) = self.inner.snapshot().window {
            self.record_failure_rate(f64::from(window.failure_rate));
        }
    }
}

impl<C: Clock, P: Policy> AsBreaker for Breaker<C, P> {
    type Clock = C;
    type Observer = Hooks;
    type Policy = P;

    #[inline(always)]
    fn as_breaker(&self) -> &breaker_core::Breaker<C, Hooks, P> {
        &self.inner
    }
}

impl<C: Clock, P: Policy> core::fmt::Debug for Breaker<C, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.name())
            .field("key", &self.key())
            .field("state", &self.state())
            .field("config", &self.config())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Breaker`]: configuration, clock and listeners.
///
/// # Examples
///
/// ```
/// use breaker_std::{ManualClock, State, Transition};
/// use breaker_std::{Breaker, Source};
/// use std::time::Duration;
///
/// let kafka = Breaker::builder("kafka")
///     .failure_threshold(3)
///     .recovery_timeout(Duration::from_secs(30))
///     .clock(ManualClock::new())
///     .on_transition(|s: &Source<'_>, t: &Transition| eprintln!("{} -> {}", s.name(), t.to))
///     .build()
///     .unwrap();
/// assert_eq!(kafka.state(), State::Closed);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Debug)]
pub struct Builder<C = CoarseClock, P = Consecutive> {
    name: &'static str,
    config: Config,
    knobs: Knobs,
    clock: C,
    listeners: ListenerList,
    policy: P,
}

impl<C: Clock, P: Policy> Builder<C, P> {
    /// The base configuration (a preset, a config loaded from a file). The knobs set one by one
    /// ([`failure_threshold`](Builder::failure_threshold) and the rest) are applied over it,
    /// whatever the order of the calls: nothing set is silently replaced.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Breaker, Config};
    ///
    /// let preset = Config::new().failure_threshold(2).half_open_probes(3);
    /// let b = Breaker::builder("db").half_open_probes(1).config(preset).build().unwrap();
    /// assert_eq!((b.config().failure_threshold(), b.config().half_open_probes()), (2, 1));
    /// ```
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    crate::knobs::knob_setters!("let builder = breaker_std::Breaker::builder(\"db\");");

    /// Uses `clock` instead of the default [`CoarseClock`](crate::CoarseClock): a
    /// [`MonotonicClock`](crate::MonotonicClock) for recovery timeouts short enough that a few
    /// milliseconds matter, or a [`ManualClock`](crate::ManualClock) in tests.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::ManualClock;
    /// use breaker_std::Breaker;
    ///
    /// static CLOCK: ManualClock = ManualClock::new();
    /// let b = Breaker::builder("db").clock(&CLOCK).build().unwrap();
    /// # let _ = b;
    /// ```
    pub fn clock<C2: Clock>(self, clock: C2) -> Builder<C2, P> {
        Builder {
            name: self.name,
            config: self.config,
            knobs: self.knobs,
            clock,
            listeners: self.listeners,
            policy: self.policy,
        }
    }

    /// Uses trip policy `policy` instead of consecutive failures: a failure-rate
    /// [`Window`](crate::Window) (count- or time-based, optionally tracking slow calls).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{RateConfig, State, Window};
    /// use breaker_std::Breaker;
    ///
    /// // Open at 50 % failures over the last 20 calls, once 4 calls are in.
    /// let rule = RateConfig::new(500, 4).validate().unwrap();
    /// let api = Breaker::builder("api")
    ///     .policy(Window::<4>::count(5, rule).unwrap())
    ///     .build()
    ///     .unwrap();
    /// for ok in [true, false, true, false] {
    ///     let _ = api.call(|| if ok { Ok(()) } else { Err("503") });
    /// }
    /// assert_eq!(api.state(), State::Open);
    /// ```
    pub fn policy<P2: Policy>(self, policy: P2) -> Builder<C, P2> {
        Builder {
            name: self.name,
            config: self.config,
            knobs: self.knobs,
            clock: self.clock,
            listeners: self.listeners,
            policy,
        }
    }

    /// Adds a [`Listener`].
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Breaker, Listener, Source};
    ///
    /// struct Quiet;
    /// impl Listener for Quiet {}
    /// let b = Breaker::builder("db").listener(Quiet).build().unwrap();
    /// # let _ = b;
    /// ```
    pub fn listener(mut self, listener: impl Listener) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Adds a callback for transitions.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{State, Transition};
    /// use breaker_std::{Breaker, Source};
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let opened = Arc::new(AtomicBool::new(false));
    /// let flag = Arc::clone(&opened);
    /// let db = Breaker::builder("db")
    ///     .failure_threshold(1)
    ///     .on_transition(move |_: &Source<'_>, t: &Transition| flag.store(t.to == State::Open, Ordering::Relaxed))
    ///     .build()
    ///     .unwrap();
    /// let _ = db.call(|| Err::<(), _>("down"));
    /// assert!(opened.load(Ordering::Relaxed));
    /// ```
    pub fn on_transition(self, f: impl Fn(&Source<'_>, &Transition) + Send + Sync + 'static) -> Self {
        self.listener(OnTransition(f))
    }

    /// Adds a callback for rejected calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::CircuitOpen;
    /// use breaker_std::{Breaker, Source};
    ///
    /// let db = Breaker::builder("db")
    ///     .on_rejected(|s: &Source<'_>, open: &CircuitOpen| assert_eq!(open.name(), s.name()))
    ///     .build()
    ///     .unwrap();
    /// db.force_open();
    /// let _ = db.call(|| Ok::<_, ()>(()));
    /// ```
    pub fn on_rejected(self, f: impl Fn(&Source<'_>, &CircuitOpen) + Send + Sync + 'static) -> Self {
        self.listener(OnRejected(f))
    }

    /// Adds a callback for successful calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Breaker, Source};
    ///
    /// let db = Breaker::builder("db").on_success(|_: &Source<'_>| {}).build().unwrap();
    /// # let _ = db;
    /// ```
    pub fn on_success(self, f: impl Fn(&Source<'_>) + Send + Sync + 'static) -> Self {
        self.listener(OnSuccess(f))
    }

    /// Adds a callback for failed calls (a panic in the call included).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Breaker, Source};
    ///
    /// let db = Breaker::builder("db").on_failure(|s: &Source<'_>| eprintln!("{} failed", s.name())).build().unwrap();
    /// # let _ = db;
    /// ```
    pub fn on_failure(self, f: impl Fn(&Source<'_>) + Send + Sync + 'static) -> Self {
        self.listener(OnFailure(f))
    }

    /// Adds a callback for calls that count as neither success nor failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Breaker, Source};
    ///
    /// let db = Breaker::builder("db").on_ignored(|_: &Source<'_>| {}).build().unwrap();
    /// # let _ = db;
    /// ```
    pub fn on_ignored(self, f: impl Fn(&Source<'_>) + Send + Sync + 'static) -> Self {
        self.listener(OnIgnored(f))
    }

    /// Validates the configuration and builds the breaker.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::ConfigError;
    /// use breaker_std::Breaker;
    ///
    /// let err = Breaker::builder("db").failure_threshold(0).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { field: "failure_threshold" });
    /// ```
    pub fn build(self) -> Result<Breaker<C, P>, ConfigError> {
        Ok(Breaker::from_parts(
            self.name,
            None,
            self.knobs.apply(self.config).validate()?,
            self.clock,
            self.listeners.freeze(),
            self.policy,
        ))
    }
}
