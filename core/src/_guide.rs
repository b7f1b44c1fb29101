//! The concepts, in the order a new user meets them. Nothing here is code; every item it names
//! links to its reference docs.
//!
//! # 1. Which crate
//!
//! | you write | depend on | it gives you |
//! |---|---|---|
//! | firmware (`no_std`, no allocator) | `breaker-core` | [`Breaker`](crate::Breaker) in a `static`, any [`Clock`](crate::Clock) (an `embedded-time` one behind a feature) |
//! | a threaded service | `breaker-std` | the same breaker on std clocks, with `tracing` logs, listeners, a registry, keyed families, health JSON, Prometheus metrics |
//! | a tokio / tower / axum service | `breaker-tokio` | all of breaker-std on tokio's clock, `call_async`, a tower layer, per-route breakers, axum `503`s |
//!
//! Each crate re-exports what its signatures use, so one dependency is enough (breaker-tokio
//! also has a `prelude`). The decisions are all the core's: the adapters only report them.
//!
//! # 2. Three states in one word
//!
//! **CLOSED** lets calls through and counts failures; at the threshold it goes **OPEN**, which
//! rejects every call without running it until the recovery timeout has passed; then the next
//! call is admitted as a **HALF_OPEN** probe: its success closes the breaker, its failure opens it
//! again. Two manual states hold until a reset: **FORCED_OPEN** (reject everything) and
//! **FORCED_CLOSED** (let everything through, count nothing).
//!
//! The state, the failure count and the time the breaker opened are packed into **one atomic
//! word**, so a decision is one load (a closed-state success) or one compare-and-swap (anything
//! that changes the state): no lock, and a thread that reads the word sees a consistent state.
//! Every decision is made by one pure function of the word, the event and the time (the
//! transition function); the code that touches the atomic only applies it.
//!
//! ```
//! use breaker_core::{Breaker, Config, ManualClock, State};
//! use core::time::Duration;
//!
//! let clock = ManualClock::new();
//! let db = Breaker::try_new("db", Config::new().failure_threshold(2), &clock).unwrap();
//! for _ in 0..2 {
//!     let _ = db.call(|| Err::<(), _>("connection refused"));
//! }
//! assert_eq!(db.state(), State::Open);
//! clock.advance(Duration::from_secs(60)); // the default recovery timeout
//! assert!(db.call(|| Ok::<_, &str>(())).is_ok()); // the probe succeeds
//! assert_eq!(db.state(), State::Closed);
//! ```
//!
//! # 3. What counts as a failure
//!
//! A call's `Result` is turned into a [`Verdict`](crate::Verdict) — success, failure, or
//! neither — by a [`Classify`](crate::Classify)er. `call(f)` counts every `Err`;
//! `call_with(f, classifier)` takes any other: [`failures_where`](crate::classify::failures_where)
//! for "which errors count" (a constraint violation is the caller's mistake, not the database's),
//! or a closure over the whole result (an HTTP `Ok(503)` is a failure). "Neither" gives a
//! half-open probe slot back.
//!
//! # 4. Permits and cancellation
//!
//! When the call is not a closure — it is spread over a state machine, or it runs on another
//! thread — take a [`Permit`](crate::Permit), make the call, and report on the permit. A permit
//! holds any handle to its breaker (`&Breaker`, `Arc<Breaker>`, `&'static Breaker`), so it can
//! move into a task. **A permit dropped without a verdict counts as neither**, which is what
//! makes a cancelled call (a dropped future, an early return) safe: it cannot leave a half-open
//! breaker waiting for a probe that never reports; with
//! [`Config::count_abandoned_after`](crate::Config::count_abandoned_after), one dropped after it
//! has been out that long counts as a failure instead (callers giving up on a hung dependency).
//! A call given up after a deadline is reported
//! with [`Permit::timed_out`](crate::Permit::timed_out), and the breaker decides what it is.
//!
//! # 5. Policies: when to open
//!
//! The default, [`Consecutive`](crate::Consecutive), opens after `failure_threshold` failures in
//! a row (a success resets the count), as the Python original and gobreaker's default do. A
//! rate window ([`Window`](crate::Window), feature `policies`) opens when the failure rate, or
//! the slow-call rate, of the last N calls or the last T seconds reaches a threshold, evaluated
//! after every outcome as Resilience4j does; the README's *Policies* section compares the two
//! with Resilience4j, gobreaker and Polly.
//!
//! # 6. Recovery
//!
//! [`Config`](crate::Config) sets how a breaker comes back: how many probes a half-open cycle
//! admits and how many must succeed, exponential backoff of the open time after failed
//! recoveries, jitter (so a fleet does not probe in step), a probe timeout (a probe that never
//! reports counts as failed), and gradual recovery (after closing, admit a share of calls rising
//! to all). Every value is checked: a bad one is a [`ConfigError`](crate::ConfigError) naming the
//! field and the limit, never a clamped value. The limits are in [`limits`](crate::limits).
//!
//! # 7. Operating it
//!
//! - **Manual control:** [`force_open`](crate::Breaker::force_open),
//!   [`force_closed`](crate::Breaker::force_closed), [`reset`](crate::Breaker::reset).
//! - **Health:** [`snapshot`](crate::Breaker::snapshot) reads everything from one load of the
//!   word; breaker-std turns it into the health endpoint's JSON.
//! - **Reconfiguration** at run time, keeping the state:
//!   [`reconfigure`](crate::Breaker::reconfigure) (feature `reconfigure`).
//! - **Restarts:** [`save`](crate::Breaker::save) the state on the way down and
//!   [`restore`](crate::Breaker::restore) it on the way up, so a restarted process (or a
//!   rebooted device) does not hammer a dependency that was failing.
//!
//! # 8. Clocks
//!
//! The breaker reads its [`Clock`](crate::Clock) only when it must (a rejection, a trip, a
//! probe), in whole milliseconds. [`ManualClock`](crate::ManualClock) drives tests;
//! breaker-std's `CoarseClock` (the default) and `MonotonicClock`, breaker-tokio's `TokioClock`
//! (which `tokio::time::pause()` drives) and an `embedded-time` adapter are the others. The
//! contract a clock must keep is on the trait.
