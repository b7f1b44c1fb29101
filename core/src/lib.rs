//! A lock-free, `no_std`, allocation-free circuit breaker.
//!
//! State, consecutive-failure count, open timestamp, half-open probe counters, a generation tag
//! and manual overrides live in **one atomic word** (see `layout.rs` and the README's table),
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
//! # Features
//!
//! - `embedded-time`: [`EmbeddedTimeClock`] adapts any `embedded_time::Clock`.
//! - `reconfigure` (default): [`Breaker::reconfigure`] and [`Breaker::update_config`] change a
//!   live breaker's config; without it the config is a plain value (smaller on microcontrollers).
//! - `serde`: `Serialize` / `Deserialize` for [`SavedState`] (no `alloc` needed).
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

pub mod _guide;
mod breaker;
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
pub use classify::Classify;
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
        MAX_PHASE_TIMER_MS, MAX_RECOVERY_TIMEOUT_MS,
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
