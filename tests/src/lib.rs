//! Integration tests for the breaker crates live in `tests/`; this library holds the shared
//! reference model they check the real breaker against.
//!
//! Its modules, by file:
//!
//! - `config.rs`: [`ModelConfig`] and its specs (policy, rate window and rule, slow calls,
//!   adaptive threshold, jitter, ramp), the real config built from them and the derived figures
//!   the model and the generators use; [`Settings`] and [`Edit`], what a reconfiguration
//!   carries;
//! - `model/mod.rs`: the sequential reference model, [`Model`] (phase, permits, snapshot,
//!   transitions), [`KnownBugs`] and [`Coverage`]; `model/window.rs`: its rate window,
//!   [`ModelWindow`] and [`Bucket`]; `model/lifecycle.rs`: save, restore and reconfiguration,
//!   [`ModelSaved`];
//! - `scenario.rs`: [`Scenario`], [`Op`] and the decoding of fuzzer input;
//! - `check.rs`: the checker, [`Recorder`], [`check`] and [`check_counting`].
//!
//! # The model
//!
//! [`Model`] is a plain, sequential, deliberately naive re-statement of the breaker's documented
//! semantics (the module docs of the core's `transition.rs`, the docs of `Config`, `RateConfig`,
//! `Window` and `Transition`): an enum for the phase, integers for the counters, a `u64` for the
//! clock, a `Vec` of buckets for a rate window, and no atomics, bit packing or CAS loop. It is
//! written from the documentation, not from the core's code, so the two can disagree.
//!
//! It covers every policy: consecutive failures, count- and time-based rate windows (failure
//! rate, minimum calls, slow calls with optional promotion to failures, adaptive thresholds),
//! open-duration backoff with jitter, stuck half-open protection (`probe_timeout`) and gradual
//! recovery.
//!
//! The model knows about the word only where the layout documents a finite horizon, all derived
//! from public constants of `breaker_core`:
//!
//! - the open timestamp is kept modulo [`TIME_MODULUS`] `= MAX_OPEN_MS + 1` ms, so the elapsed
//!   open time is `(now - opened_at) mod TIME_MODULUS` (a clock stepped back reads as a huge
//!   elapsed time);
//! - the generation is compared modulo [`GENERATIONS`], so a permit held across exactly a
//!   multiple of `GENERATIONS` state changes is taken for a current one;
//! - the phase stamp (when HALF_OPEN or a ramp began) is one value for the breaker, tagged with
//!   the generation (modulo [`GENERATIONS`]) it belongs to and kept modulo [`STAMP_MODULUS`]
//!   `= 2 (MAX_PHASE_TIMER_MS + 1)` ms. The transition into a timed phase writes it; a reader
//!   that finds a stamp of another generation, or an elapsed time above `MAX_PHASE_TIMER_MS` (a
//!   clock stepped back, or a jump of more than half the stamp's range), takes the phase as just
//!   begun and re-stamps it with the current reading (any reader does that, `snapshot()`
//!   included);
//! - the ramp's admission counter is tagged with the generation (modulo [`GENERATIONS`]) of the
//!   ramp it counts and keeps the count modulo 1000: a ramp of another generation starts its
//!   own count at 0, one whose generation aliases an earlier ramp's continues that count;
//! - the failures shown while OPEN and HALF_OPEN (the count that opened the breaker plus its
//!   failed probes) are one plain count here: the core keeps them beside the word, tagged with
//!   the generation, and a sequential caller always finds them stored;
//! - a rate window keeps the closed cycle it counts, the newest epoch recorded and tagged
//!   buckets (generation modulo [`GEN_TAGS`], epoch modulo [`EPOCH_TAGS`] `= 2 × MAX_BUCKETS`),
//!   each counting at most [`BUCKET_CAPACITY`] calls (see [`ModelWindow`]).
//!
//! The model keeps the full clock reading and an unbounded generation count, and applies the
//! moduli only where they are observable.
//!
//! Where the core deviates from its documentation, the model reproduces the deviation unless
//! told otherwise ([`KnownBugs`]; `BREAKER_MODEL_STRICT`), so that the property tests stay
//! green while a bug is open and find it on demand.
//!
//! # The checker
//!
//! [`check`] runs a [`Scenario`] (a config with its policy, a starting clock reading and a list
//! of [`Op`]s) against a real [`Breaker<&ManualClock, &Recorder, P>`](breaker_core::Breaker) built with
//! [`Breaker::with_policy`] and the model side by side and compares, after every op: `state()`,
//! `failure_count()`, every field of `snapshot()` (including the backoff level, the ramp share
//! and the window's figures), the accept/reject of every admission (with the rejection's state
//! and `retry_after`, and whether a permit is a probe), and every transition (with its open
//! duration and backoff level), rejection and outcome the observer was told about, and the
//! config in force. Restores ([`Op::Restart`], [`Op::RestoreOwn`], [`Op::RestoreBytes`]) also
//! compare the saved state (accessors and bytes), what `from_bytes` reads and what `restore`
//! returns; reconfigurations ([`Op::Reconfigure`], [`Op::UpdateConfig`]) the config replaced or
//! the field an invalid change names. A restart replaces the breaker with a fresh one (same
//! policy, the same clock moved on by the downtime) restored from what the old one saved.
//! [`Scenario::from_bytes`] turns raw fuzzer input into a scenario.
//!
//! Rate windows are built with `S = 1` stripe (the stripe is picked from the caller's stack
//! address, which a model cannot predict) and with one of [`SUPPORTED_BUCKETS`] buckets (the
//! bucket count is a const generic, so the checker is instantiated for a fixed list).
//!
//! [`GENERATIONS`]: breaker_core::limits::GENERATIONS
//! [`BUCKET_CAPACITY`]: breaker_core::limits::BUCKET_CAPACITY
//! [`Breaker::with_policy`]: breaker_core::Breaker::with_policy

mod check;
mod config;
mod model;
mod scenario;

pub use check::{check, check_counting, Divergence, Recorder, TransitionLog, BREAKER_NAME};
pub use config::{
    shown, AdaptiveSpec, Edit, Jitter, ModelConfig, ModelPolicy, Ramp, RuleSpec, Settings, ShownConfig,
    SlowSpec, WindowKind, WindowSpec, MAX_JITTER_MS, SUPPORTED_BUCKETS,
};
pub use model::{
    crc32, same_error, Bucket, Coverage, KnownBugs, Model, ModelPermit, ModelRejection, ModelSaved,
    ModelSnapshot, ModelTransition, ModelWindow, PermitKind, Phase, Saved, WindowFigures, EPOCH_TAGS,
    GEN_TAGS, STAMP_MODULUS, TIME_MODULUS, WORD_BITS,
};
pub use scenario::{Op, Scenario, Settle};
