//! A lock-free, `no_std`, allocation-free circuit breaker.
//!
//! State, consecutive-failure count, open timestamp, half-open probe counters, a generation tag
//! and manual overrides live in **one atomic word** (its widths and limits: [`limits`]),
//! changed only by a compare-and-swap loop (`cas.rs`) around a pure transition function
//! (`transition.rs`). Time comes from a [`Clock`] you supply; [`ManualClock`] drives tests.
//!
//! ```text
//!            failures reach threshold                 recovery timeout passed, a call arrives
//!  CLOSED ───────────────────────────────▶ OPEN ───────────────────────────────────▶ HALF_OPEN
//!    ▲                                      ▲                 a probe fails               │
//!    │                                      └─────────────────────────────────────────────┤
//!    └────────────────────────────────────────────────────────────────────────────────────┘
//!                                   enough probes succeed
//! ```
//!
//! # Quick start
//!
//! ```
//! use breaker_core::{Breaker, CallError, Config, ManualClock, State};
//! use core::time::Duration;
//!
//! let clock = ManualClock::new();
//! let config = Config::new().failure_threshold(3).recovery_timeout(Duration::from_secs(30));
//! let kafka = Breaker::try_new("kafka", config, &clock).unwrap();
//!
//! // Three failures trip it...
//! for _ in 0..3 {
//!     let _ = kafka.call(|| Err::<(), _>("broker unreachable"));
//! }
//! // ...after which calls fail fast, without running, and say when to retry.
//! match kafka.call(|| Ok::<_, &str>("sent")) {
//!     Err(CallError::Open(open)) => assert_eq!(open.retry_after(), Some(Duration::from_secs(30))),
//!     other => panic!("{other:?}"),
//! }
//! // After the recovery timeout one probe is let through; its success closes the circuit.
//! clock.advance(Duration::from_secs(30));
//! assert_eq!(kafka.call(|| Ok::<_, &str>("sent")), Ok("sent"));
//! assert_eq!(kafka.state(), State::Closed);
//! ```
//!
//! # Costs
//!
//! - CLOSED, no pending failures, success: one atomic load, no store, no clock read.
//! - A failure: one CAS (and a clock read only if it trips the breaker).
//! - OPEN, rejection: one load and one clock read, no store.
//!
//! # Async
//!
//! [`call_async`] runs any `Future` through a breaker: executor-agnostic (embassy, tokio, a
//! firmware poll loop), no allocation, lazy, a dropped call counts as neither success nor
//! failure and gives back its probe slot, an optional [`Classify`] decides the verdict.
//!
//! # Features
//!
//! - `embedded-time`: [`EmbeddedTimeClock`] adapts any `embedded_time::Clock`.
//! - `embassy-time`: [`EmbassyClock`] reads embassy-time's driver (embassy-time 0.5 needs Rust
//!   1.85; the rest of the crate builds on 1.81).
//! - `reconfigure` (default): [`Breaker::reconfigure`] and [`Breaker::update_config`] change a
//!   live breaker's config; without it the config is a plain value (smaller on microcontrollers).
//! - `serde`: `Serialize` / `Deserialize` for [`SavedState`] (no `alloc` needed).
//! - `axum` (host only; axum-core needs `std`): `IntoResponse` for [`CircuitOpen`] (503 +
//!   `Retry-After`, [`CircuitOpen::retry_after_secs`]) and [`CallError`]; see the `axum` module.
//!
//! On targets without compare-and-swap (`thumbv6m-none-eabi`, `riscv32imc-unknown-none-elf`)
//! the application enables `portable-atomic`'s `critical-section` feature and provides a
//! `critical-section` implementation; this crate never does so itself.
#![no_std]
#![warn(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]
// `Word` and `Ms` are u64 or u32 depending on the word layout, so a cast that is a no-op on one
// layout is a conversion on the other.
#![allow(clippy::unnecessary_cast)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The crate README (what crates.io shows) is compiled and run with the doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(test)]
extern crate std;

#[cfg(feature = "axum")]
extern crate alloc;

pub mod _guide;
#[cfg(feature = "axum")]
pub mod axum;
mod breaker;
mod call_async;
mod cas;
pub mod classify;
mod clock;
mod config;
mod config_cell;
mod error;
mod health;
mod layout;
mod observer;
mod permit;
mod policy;
mod reconfigure;
mod restore;
mod state;
mod sync;
mod transition;
#[cfg(feature = "policies")]
mod window;

pub use breaker::Breaker;
pub use call_async::{call_async, CallAsync};
pub use classify::Classify;
#[cfg(feature = "embassy-time")]
pub use clock::EmbassyClock;
#[cfg(feature = "embedded-time")]
pub use clock::EmbeddedTimeClock;
pub use clock::{Clock, ManualClock, Timestamp};
pub use config::{Config, ValidConfig};
pub use error::{CallError, CircuitOpen, ConfigError};
pub use observer::{Observer, Transition, Trigger, Verdict};
#[doc(hidden)]
pub use permit::Ticket;
pub use permit::{AsBreaker, Permit};
pub use policy::{Consecutive, Policy, Sample, TripReason, WindowStats};
#[cfg(feature = "reconfigure")]
pub use reconfigure::ReconfigureError;
pub use restore::{RestoreError, SavedState};
pub use state::{Snapshot, State};
#[cfg(feature = "policies")]
pub use window::{RateConfig, RateRule, Window};

/// The limits of this build: what the word layout and the rate windows can hold. Every value a
/// [`Config`] or a [`Window`] is checked against; a value beyond one is a
/// [`ConfigError`] naming the limit. They differ between the 64-bit and the 32-bit word layout
/// ([`WORD_LAYOUT`](limits::WORD_LAYOUT)).
///
/// # The word and its limits
///
/// Everything a decision reads lives in one atomic word, `[ payload (P bits) | generation (G) |
/// tag (3) ]`: the payload holds the consecutive failures in CLOSED, the backoff level (L bits)
/// and the open timestamp (T = P − L bits) in OPEN, the probe counters in HALF_OPEN. This is the
/// one table of the widths and of the limits they imply:
///
/// | | 64-bit layout | 32-bit layout |
/// |---|---|---|
/// | used on | targets with 64-bit atomics (x86_64, aarch64, …) | no 64-bit atomics: thumbv7em, thumbv6m, riscv32imc; a host with `--cfg breaker_word32` |
/// | G / P / L / T bits | 16 / 45 / 5 / 40 | 6 / 23 / 3 / 20 |
/// | [`GENERATIONS`](limits::GENERATIONS) (2^G cycles) | 65 536 | 64 |
/// | [`MAX_BACKOFF_LEVEL`](limits::MAX_BACKOFF_LEVEL) (2^L − 1 doublings of the open time) | 31 | 7 |
/// | [`MAX_OPEN_MS`](limits::MAX_OPEN_MS) = [`MAX_RECOVERY_TIMEOUT_MS`](limits::MAX_RECOVERY_TIMEOUT_MS) (2^T − 1 ms: the longest open cycle, backoff cap plus jitter included) | 2^40 − 1 ms ≈ 34.8 years | 2^20 − 1 ms ≈ 17.5 minutes |
/// | longest open cycle at an [`open_time_resolution`](Config::open_time_resolution) of `t` = 2, 4, 8, 16 ms (up to [`MAX_OPEN_TIME_RESOLUTION_MS`](limits::MAX_OPEN_TIME_RESOLUTION_MS)) | unchanged: measured at 1 ms | (2^20 − 2)·t + 1 ms: 35 min, 70 min, 2.3 h, 4.7 h |
/// | [`MAX_PHASE_TIMER_MS`](limits::MAX_PHASE_TIMER_MS) (ramp period, probe timeout) | 2^47 − 1 ms | 2^25 − 1 ms ≈ 9.3 hours |
/// | [`MAX_FAILURE_THRESHOLD`](limits::MAX_FAILURE_THRESHOLD) | 65 535 | 65 535 |
/// | [`MAX_HALF_OPEN_PROBES`](limits::MAX_HALF_OPEN_PROBES) (and `successes_to_close` ≤ `half_open_probes`) | 255 | 255 |
/// | [`BUCKET_CAPACITY`](limits::BUCKET_CAPACITY) (calls one window bucket counts; feature `policies`) | 4 095 | 127 |
/// | [`MAX_BUCKETS`](limits::MAX_BUCKETS) (buckets of a time window) | 2 048 | 16 |
/// | [`MAX_COUNT_BUCKETS`](limits::MAX_COUNT_BUCKETS) (buckets of a count window: the last N calls exactly, N up to it) | 65 536 | 65 536 |
/// | [`MAX_STRIPES`](limits::MAX_STRIPES) (stripes of a window) | 64 | 64 |
/// | [`JUMP_EPOCHS`](limits::JUMP_EPOCHS) (a call this many window epochs behind the newest is taken for a clock jump: the window restarts) | 65 536 | 65 536 |
///
/// Timestamps have 1 ms resolution, unless a config on the 32-bit layout asks for a coarser
/// open-time resolution to keep a longer open cycle (the probe then comes up to 2t − 2 ms late, never early;
/// never early). What the widths mean for a running breaker:
///
/// - **Wrap-around.** The open timestamp is kept modulo 2^T ms and elapsed time is computed
///   modulo 2^T, so the clock's own wrap is harmless; a breaker that sits OPEN and untouched for
///   longer than 2^T ms may see a small elapsed value and wait up to one more open period. (A
///   clock that goes backwards: see [`Clock`].)
/// - **Generations** wrap modulo 2^G. A permit held across exactly a multiple of 2^G transitions
///   could be taken for a current one (its outcome then counts in that cycle): 64 transitions on
///   the 32-bit layout is the figure to keep in mind when permits are held for a long time.
///
/// # Examples
///
/// ```
/// use breaker_core::limits::{MAX_FAILURE_THRESHOLD, WORD_LAYOUT};
/// use breaker_core::{Config, ConfigError};
///
/// assert!(Config::new().failure_threshold(MAX_FAILURE_THRESHOLD).validate().is_ok());
/// let too_many = Config::new().failure_threshold(MAX_FAILURE_THRESHOLD + 1).validate();
/// assert!(matches!(too_many, Err(ConfigError::TooLarge { field: "failure_threshold", .. })));
/// assert!(["64-bit", "32-bit"].contains(&WORD_LAYOUT));
/// ```
pub mod limits {
    pub use crate::layout::{
        GENERATIONS, MAX_BACKOFF_LEVEL, MAX_FAILURE_THRESHOLD, MAX_HALF_OPEN_PROBES, MAX_OPEN_MS,
        MAX_OPEN_TIME_RESOLUTION_MS, MAX_PHASE_TIMER_MS, MAX_RECOVERY_TIMEOUT_MS,
    };
    #[cfg(feature = "policies")]
    pub use crate::window::{BUCKET_CAPACITY, JUMP_EPOCHS, MAX_BUCKETS, MAX_COUNT_BUCKETS, MAX_STRIPES};

    /// Which word layout this build uses: `"64-bit"` or `"32-bit"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(["64-bit", "32-bit"].contains(&breaker_core::limits::WORD_LAYOUT));
    /// ```
    pub const WORD_LAYOUT: &str = crate::layout::NAME;
}
