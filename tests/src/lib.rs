//! Integration tests for the breaker crates live in `tests/`; this library holds the shared
//! reference model they check the real breaker against.
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
//! of [`Op`]s) against a real [`Breaker<&ManualClock, &Recorder, P>`](Breaker) built with
//! [`Breaker::with_policy`] and the model side by side and compares, after every op: `state()`,
//! `failure_count()`, every field of `snapshot()` (including the backoff level, the ramp share
//! and the window's figures), the accept/reject of every admission (with the rejection's state
//! and `retry_after`, and whether a permit is a probe), and every transition (with its open
//! duration and backoff level), rejection and outcome the observer was told about.
//! [`Scenario::from_bytes`] turns raw fuzzer input into a scenario.
//!
//! Rate windows are built with `S = 1` stripe (the stripe is picked from the caller's stack
//! address, which a model cannot predict) and with one of [`SUPPORTED_BUCKETS`] buckets (the
//! bucket count is a const generic, so the checker is instantiated for a fixed list).

use core::cell::RefCell;
use core::fmt;
use core::time::Duration;

use breaker_core::{
    Breaker, CallError, CircuitOpen, Config, Consecutive, ManualClock, Observer, Permit, Policy, RateConfig,
    RateRule, Snapshot, State, Ticket, Timestamp, Transition, Trigger, ValidConfig, Verdict, Window,
    WindowStats, BUCKET_CAPACITY, GENERATIONS, JUMP_EPOCHS, MAX_BACKOFF_LEVEL, MAX_BUCKETS,
    MAX_FAILURE_THRESHOLD, MAX_HALF_OPEN_PROBES, MAX_OPEN_MS, MAX_PHASE_TIMER_MS, WORD_LAYOUT,
};

/// The modulus of the stored open timestamp in milliseconds (`2^T`), on this build's layout.
pub const TIME_MODULUS: u64 = MAX_OPEN_MS + 1;

/// The modulus of the phase stamp in milliseconds (`2^(W − G)`), on this build's layout.
pub const STAMP_MODULUS: u64 = 2 * (MAX_PHASE_TIMER_MS + 1);

/// Distinct epoch tags of a window bucket: `2 × MAX_BUCKETS` (12 bits on the 64-bit layout,
/// 5 on the 32-bit one).
pub const EPOCH_TAGS: u64 = 2 * MAX_BUCKETS as u64;

/// Distinct generation tags of a window bucket: a bucket holds the breaker's whole generation,
/// so cycles alias exactly when permits do.
pub const GEN_TAGS: u32 = GENERATIONS;

/// Bits of the breaker's atomic word on this build's layout (64, or 32 for the 32-bit layout).
pub const WORD_BITS: u32 = if WORD_LAYOUT.as_bytes()[0] == b'3' { 32 } else { 64 };

/// The largest jitter the core accepts on any layout: below 2^32 ms.
pub const MAX_JITTER_MS: u64 = u32::MAX as u64 - 1;

/// Bucket counts a [`WindowSpec`] may have: the checker is instantiated for these `B`.
pub const SUPPORTED_BUCKETS: [usize; 8] = [1, 2, 3, 4, 5, 8, 10, MAX_BUCKETS];

/// The name every breaker built by [`check`] gets.
pub const BREAKER_NAME: &str = "model";

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Random jitter added to every open duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Jitter {
    /// The largest jitter in milliseconds.
    pub max_ms: u64,
    /// The caller's seed.
    pub seed: u32,
}

/// Gradual recovery after closing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ramp {
    /// How long the ramp lasts, in milliseconds.
    pub period_ms: u64,
    /// The share of calls admitted when the ramp begins, in percent.
    pub start_percent: u32,
}

/// Slow-call tracking of a rate window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlowSpec {
    /// A call at least this long (ms, on the breaker's clock) is slow.
    pub threshold_ms: u64,
    /// Trip when at least this share (‰) of the window's calls were slow.
    pub trip_permille: u32,
    /// A slow success also counts as a failure.
    pub as_failure: bool,
}

/// An adaptive failure threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AdaptiveSpec {
    /// The threshold is at least this (‰).
    pub floor_permille: u32,
    /// The threshold is at least this share (%) of the learned baseline.
    pub multiplier_percent: u32,
    /// Learning rate 1/2^`alpha_shift`.
    pub alpha_shift: u32,
    /// Only buckets with at least this many calls teach the baseline.
    pub min_bucket_calls: u32,
}

/// The thresholds of a rate window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RuleSpec {
    /// Trip at this failure rate (‰), unless the threshold is adaptive.
    pub failure_permille: u32,
    /// Calls the window must hold before it may trip.
    pub min_calls: u32,
    /// Slow-call tracking, if any.
    pub slow: Option<SlowSpec>,
    /// Adaptive threshold, if any.
    pub adaptive: Option<AdaptiveSpec>,
}

impl RuleSpec {
    /// The same thresholds as a core [`RateConfig`].
    pub fn to_rate_config(&self) -> RateConfig {
        let mut c = RateConfig::new(self.failure_permille, self.min_calls);
        if let Some(s) = self.slow {
            c = c.slow_calls(Duration::from_millis(s.threshold_ms), s.trip_permille, s.as_failure);
        }
        if let Some(a) = self.adaptive {
            c = c.adaptive(a.floor_permille, a.multiplier_percent, a.alpha_shift, a.min_bucket_calls);
        }
        c
    }

    /// The validated core rule, if the thresholds are valid.
    pub fn validate(&self) -> Option<RateRule> {
        self.to_rate_config().validate().ok()
    }
}

/// How a rate window cuts time into buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WindowKind {
    /// `Window::count`: epoch = call number / `calls_per_bucket`.
    Count {
        /// Calls per bucket (1..=`BUCKET_CAPACITY`).
        calls_per_bucket: u32,
    },
    /// `Window::time`: epoch = clock reading / `bucket_width_ms`.
    Time {
        /// Bucket width in milliseconds (1..=`u32::MAX`).
        bucket_width_ms: u64,
    },
}

/// A rate-window policy: `Window<buckets>` (one stripe) with `kind` and `rule`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WindowSpec {
    /// Number of buckets `B`; one of [`SUPPORTED_BUCKETS`].
    pub buckets: usize,
    /// Count- or time-based.
    pub kind: WindowKind,
    /// The thresholds.
    pub rule: RuleSpec,
}

impl WindowSpec {
    /// `true` if the checker can build this window (supported bucket count, valid kind and
    /// rule).
    pub fn is_valid(&self) -> bool {
        let kind_ok = match self.kind {
            WindowKind::Count { calls_per_bucket } => (1..=BUCKET_CAPACITY).contains(&calls_per_bucket),
            WindowKind::Time { bucket_width_ms } => (1..=u64::from(u32::MAX)).contains(&bucket_width_ms),
        };
        kind_ok && SUPPORTED_BUCKETS.contains(&self.buckets) && self.rule.validate().is_some()
    }
}

/// What makes a CLOSED breaker open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelPolicy {
    /// `Consecutive`: `failure_threshold` failures in a row.
    Consecutive,
    /// A rate window.
    Window(WindowSpec),
}

/// Breaker settings as plain integers, with the trip policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModelConfig {
    /// Consecutive same-generation failures in CLOSED that open the circuit (consecutive
    /// policy only).
    pub failure_threshold: u32,
    /// How long OPEN rejects at backoff level 0 (before jitter), in milliseconds.
    pub recovery_timeout_ms: u64,
    /// Probe permits HALF_OPEN hands out before their outcomes are in.
    pub half_open_probes: u32,
    /// Successful probes that close the circuit.
    pub successes_to_close: u32,
    /// The backoff cap in milliseconds; `None`: no backoff.
    pub backoff_max_ms: Option<u64>,
    /// Jitter, if any.
    pub jitter: Option<Jitter>,
    /// Stuck half-open protection, if any: the timeout in milliseconds.
    pub probe_timeout_ms: Option<u64>,
    /// Gradual recovery, if any.
    pub ramp: Option<Ramp>,
    /// The trip policy.
    pub policy: ModelPolicy,
}

impl ModelConfig {
    /// The seed's settings with the consecutive-failures policy and no backoff, jitter, probe
    /// timeout or ramp.
    pub const fn new(
        failure_threshold: u32,
        recovery_timeout_ms: u64,
        half_open_probes: u32,
        successes_to_close: u32,
    ) -> Self {
        ModelConfig {
            failure_threshold,
            recovery_timeout_ms,
            half_open_probes,
            successes_to_close,
            backoff_max_ms: None,
            jitter: None,
            probe_timeout_ms: None,
            ramp: None,
            policy: ModelPolicy::Consecutive,
        }
    }

    /// The same settings as a core [`Config`] (the policy is not part of it).
    pub fn to_config(&self) -> Config {
        let mut c = Config::new()
            .failure_threshold(self.failure_threshold)
            .recovery_timeout(Duration::from_millis(self.recovery_timeout_ms))
            .half_open_probes(self.half_open_probes)
            .successes_to_close(self.successes_to_close);
        if let Some(max) = self.backoff_max_ms {
            c = c.backoff(Duration::from_millis(max));
        }
        if let Some(j) = self.jitter {
            c = c.jitter(Duration::from_millis(j.max_ms), j.seed);
        }
        if let Some(t) = self.probe_timeout_ms {
            c = c.probe_timeout(Duration::from_millis(t));
        }
        if let Some(r) = self.ramp {
            c = c.gradual_recovery(Duration::from_millis(r.period_ms), r.start_percent);
        }
        c
    }

    /// The validated core config, if the settings are valid and the policy can be built.
    pub fn validate(&self) -> Option<ValidConfig> {
        if let ModelPolicy::Window(w) = self.policy {
            if !w.is_valid() {
                return None;
            }
        }
        self.to_config().validate().ok()
    }

    /// The rate window, if the policy is one.
    pub fn window(&self) -> Option<&WindowSpec> {
        match &self.policy {
            ModelPolicy::Window(w) => Some(w),
            ModelPolicy::Consecutive => None,
        }
    }

    /// Slow-call tracking, if the policy has it.
    pub fn slow_calls(&self) -> Option<SlowSpec> {
        self.window().and_then(|w| w.rule.slow)
    }

    /// The backoff cap: the configured one, or the recovery timeout without backoff.
    pub fn backoff_cap_ms(&self) -> u64 {
        self.backoff_max_ms.unwrap_or(self.recovery_timeout_ms)
    }

    /// `min(recovery_timeout × 2^level, cap)`.
    pub fn backoff_ms(&self, level: u32) -> u64 {
        let scaled =
            1u64.checked_shl(level).and_then(|f| self.recovery_timeout_ms.checked_mul(f)).unwrap_or(u64::MAX);
        scaled.min(self.backoff_cap_ms())
    }

    /// The jitter of the open cycle whose generation (modulo [`GENERATIONS`]) is `gen`, in
    /// `0..=max`: the seed and the generation mixed by MurmurHash3's 32-bit finaliser
    /// (`seed ^ gen × 0x9E3779B9`, then fmix32), scaled to the range by a multiply and a shift
    /// (`z × (max + 1) >> 32`), as the core documents it.
    pub fn jitter_for(&self, gen: u32) -> u64 {
        let Some(j) = self.jitter else { return 0 };
        if j.max_ms == 0 {
            return 0;
        }
        let mut z = j.seed ^ gen.wrapping_mul(0x9E37_79B9);
        z ^= z >> 16;
        z = z.wrapping_mul(0x85EB_CA6B);
        z ^= z >> 13;
        z = z.wrapping_mul(0xC2B2_AE35);
        z ^= z >> 16;
        ((u128::from(z) * u128::from(j.max_ms + 1)) >> 32) as u64
    }

    /// The largest jitter these settings may have: what the backoff cap leaves of
    /// `MAX_OPEN_MS`, and below 2^32 ms ([`MAX_JITTER_MS`]).
    pub fn jitter_room_ms(&self) -> u64 {
        (MAX_OPEN_MS - self.backoff_cap_ms()).min(MAX_JITTER_MS)
    }

    /// How long the OPEN cycle of generation `gen` at backoff `level` lasts.
    pub fn open_ms(&self, level: u32, gen: u32) -> u64 {
        self.backoff_ms(level) + self.jitter_for(gen)
    }

    /// The backoff level after one more failed recovery: one up, unless the cap or
    /// `MAX_BACKOFF_LEVEL` is reached.
    pub fn next_level(&self, level: u32) -> u32 {
        if level >= MAX_BACKOFF_LEVEL || self.backoff_ms(level) >= self.backoff_cap_ms() {
            level
        } else {
            level + 1
        }
    }

    /// The share of calls (‰) admitted `elapsed_ms` into a ramp:
    /// `start‰ + (1000 − start‰) × elapsed / period`, rounded down, 1000 once the period is over.
    /// Periods of 2^22 ms or more are measured in units of 2^k ms (`k` = the period's bit length
    /// − 22), as the core documents: elapsed time and period are both rounded down to whole
    /// units first.
    pub fn ramp_permille(&self, elapsed_ms: u64) -> u32 {
        let Some(r) = self.ramp else { return 1000 };
        if elapsed_ms >= r.period_ms {
            return 1000;
        }
        let start = u64::from(r.start_percent) * 10;
        let shift = (u64::BITS - r.period_ms.leading_zeros()).saturating_sub(22);
        let share = start + (1000 - start) * (elapsed_ms >> shift) / (r.period_ms >> shift);
        share as u32
    }

    /// Time spans at which something may happen to a breaker with these settings: open
    /// durations at every backoff level, the probe timeout, the ramp period, bucket widths and
    /// whole windows, the slow-call threshold, and the layout's horizons. Never empty.
    pub fn timescales(&self) -> Vec<u64> {
        let mut t = vec![self.recovery_timeout_ms];
        let mut level = 0;
        loop {
            t.push(self.open_ms(level, 0));
            let next = self.next_level(level);
            if next == level {
                break;
            }
            level = next;
        }
        if let Some(j) = self.jitter {
            t.push(self.backoff_cap_ms() + j.max_ms);
        }
        t.extend(self.probe_timeout_ms);
        t.extend(self.ramp.map(|r| r.period_ms));
        if let Some(w) = self.window() {
            if let WindowKind::Time { bucket_width_ms } = w.kind {
                t.push(bucket_width_ms);
                t.push(bucket_width_ms * w.buckets as u64);
                t.push(bucket_width_ms * MAX_BUCKETS as u64);
                t.push(bucket_width_ms * EPOCH_TAGS);
            }
            t.extend(w.rule.slow.map(|s| s.threshold_ms));
        }
        t.extend([TIME_MODULUS, STAMP_MODULUS, MAX_PHASE_TIMER_MS + 1]);
        t
    }
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

/// Deviations of the core from its documented semantics that the model reproduces, so that
/// the property tests stay green while they are open. [`KnownBugs::CORE`] (the default) models
/// the core as it is; [`KnownBugs::NONE`] follows the documentation strictly and makes the
/// property tests find them. The environment variable `BREAKER_MODEL_STRICT` makes [`check`]
/// leave out all of them (`1` or `all`) or the named ones (comma-separated field names).
///
/// Fixed since the model found them (now regression tests in `tests/tests/model.rs`): windows
/// blinded by a quiet period, by wrapped generation tags or by a cycle taken for an older one;
/// a stale settle re-stamping the current phase timer; a window read after a silence of a
/// whole epoch-tag range showing old buckets; a call far behind the newest epoch recycling a
/// current bucket (64-bit layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KnownBugs {
    /// The window's epochs are compared through finite fields (see [`ModelWindow`]): bucket
    /// epoch tags modulo [`EPOCH_TAGS`], and the newest epoch in the word's width with 0 meaning
    /// "none yet". Reads and calls are first compared with the newest epoch at the word's width
    /// (a read a whole window past it sees nothing, a call a whole window behind it is dropped,
    /// [`JUMP_EPOCHS`] or more behind is a jump), so the tags only decide within a window. What
    /// is left is the word's width on the 32-bit layout: a silence just under a multiple of
    /// 2^32 epochs (within `JUMP_EPOCHS`) reads as a step back (calls dropped and reads showing
    /// old buckets until the clock moves on by that much), one just over it (within `B`) as a
    /// short step forward (old buckets with matching tags count as current), and the newest
    /// epoch forgets itself after a call at an epoch of `2^W − 1`.
    /// (Strict mode also flags effects of the `u64` clock wrapping around, which are not bugs.)
    pub window_tag_horizons: bool,
}

impl KnownBugs {
    /// The core as it is.
    pub const CORE: KnownBugs = KnownBugs { window_tag_horizons: true };

    /// The documented semantics.
    pub const NONE: KnownBugs = KnownBugs { window_tag_horizons: false };

    /// [`KnownBugs::CORE`], minus what the environment variable `BREAKER_MODEL_STRICT` names:
    /// `1` or `all` for everything, else comma-separated field names.
    pub fn from_env() -> KnownBugs {
        let Some(strict) = std::env::var_os("BREAKER_MODEL_STRICT") else {
            return KnownBugs::CORE;
        };
        let strict = strict.to_string_lossy().into_owned();
        let mut bugs = KnownBugs::CORE;
        for name in strict.split(',').map(str::trim) {
            match name {
                "1" | "all" => bugs = KnownBugs::NONE,
                "window_tag_horizons" => bugs.window_tag_horizons = false,
                other => panic!("BREAKER_MODEL_STRICT: unknown known bug {other:?}"),
            }
        }
        bugs
    }
}

/// The model's state, with the data each state carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Counting consecutive failures (or, with a rate policy, feeding the window).
    Closed {
        /// Consecutive failures counted in this generation (always 0 with a rate policy).
        failures: u32,
        /// Gradual recovery in progress (its start is the phase stamp).
        ramping: bool,
    },
    /// Rejecting until the open duration has passed.
    Open {
        /// The full clock reading (ms) when the circuit opened.
        opened_at_ms: u64,
        /// Failed recoveries in a row.
        level: u32,
    },
    /// Admitting a limited number of probes (its start is the phase stamp).
    HalfOpen {
        /// Probe permits handed out in this cycle and not given back.
        issued: u32,
        /// Probes that succeeded in this cycle.
        successes: u32,
        /// Failed recoveries in a row, carried from OPEN.
        level: u32,
    },
    /// Manually opened.
    ForcedOpen,
    /// Manually closed: admits everything, counts nothing.
    Disabled,
}

impl Phase {
    /// The public state this phase shows as.
    pub fn state(&self) -> State {
        match self {
            Phase::Closed { .. } => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
            Phase::ForcedOpen => State::ForcedOpen,
            Phase::Disabled => State::Disabled,
        }
    }

    /// The backoff level shown for this phase (0 outside OPEN and HALF_OPEN).
    pub fn level(&self) -> u32 {
        match *self {
            Phase::Open { level, .. } | Phase::HalfOpen { level, .. } => level,
            _ => 0,
        }
    }

    /// `true` for the phases with a timer measured from the phase stamp.
    pub fn is_timed(&self) -> bool {
        matches!(self, Phase::HalfOpen { .. } | Phase::Closed { ramping: true, .. })
    }
}

/// What kind of call a model permit admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PermitKind {
    /// Admitted in CLOSED.
    Closed {
        /// There were no failures pending at admission.
        clean: bool,
    },
    /// A half-open probe.
    Probe,
    /// Admitted while disabled.
    Disabled,
}

/// A permit handed out by the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModelPermit {
    /// The model's (unbounded) generation count at admission.
    pub generation: u64,
    /// What it was admitted as.
    pub kind: PermitKind,
    /// The clock reading at admission (the start of the call, for slow-call tracking).
    pub started_ms: u64,
}

impl ModelPermit {
    /// `true` for a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.kind == PermitKind::Probe
    }
}

/// A rejection by the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModelRejection {
    /// The state that rejected (CLOSED for a call shed by a ramp).
    pub state: State,
    /// Milliseconds until a probe will be admitted, while OPEN; `Some(0)` for a shed call.
    pub retry_after_ms: Option<u64>,
}

/// A state change reported by the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModelTransition {
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
    /// Why.
    pub trigger: Trigger,
    /// Failures at the moment of the change (see [`Transition::failure_count`]).
    pub failure_count: u32,
    /// Time spent open, on OPEN → HALF_OPEN.
    pub open_for_ms: Option<u64>,
    /// How long the entered OPEN lasts (backoff and jitter included), on entering OPEN.
    pub open_duration_ms: Option<u64>,
    /// The backoff level of the entered state.
    pub backoff_level: u32,
    /// The clock reading that decided the change, when it needed one.
    pub at_ms: Option<u64>,
    /// The generation entered, modulo [`GENERATIONS`].
    pub generation: u32,
}

/// What the model expects a rate window's [`WindowStats`] to show, as integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WindowFigures {
    /// Calls in the window.
    pub calls: u32,
    /// Failed calls in the window.
    pub failures: u32,
    /// Slow calls in the window.
    pub slow: u32,
    /// The failure rate that trips now, ‰.
    pub trip_permille: u32,
    /// The learned baseline in 1/65 536, with an adaptive threshold.
    pub baseline: Option<u32>,
}

impl WindowFigures {
    /// `n / calls`, 0 without calls.
    fn rate(&self, n: u32) -> f32 {
        if self.calls == 0 {
            0.0
        } else {
            n as f32 / self.calls as f32
        }
    }

    /// `failures / calls` (0 without calls), as `WindowStats::failure_rate` shows it.
    pub fn failure_rate(&self) -> f32 {
        self.rate(self.failures)
    }

    /// `slow / calls` (0 without calls), as `WindowStats::slow_rate` shows it.
    pub fn slow_rate(&self) -> f32 {
        self.rate(self.slow)
    }

    /// The trip threshold as a fraction, as `WindowStats::trip_rate` shows it.
    pub fn trip_rate(&self) -> f32 {
        self.trip_permille as f32 / 1000.0
    }

    /// The baseline as a fraction, as `WindowStats::baseline` shows it.
    pub fn baseline_rate(&self) -> Option<f32> {
        self.baseline.map(|b| b as f32 / 65_536.0)
    }
}

/// What the model expects `Breaker::snapshot` to show (minus the constant name and threshold).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModelSnapshot {
    /// The state.
    pub state: State,
    /// Failures counted in CLOSED (consecutive ones, or the window's), else 0.
    pub failure_count: u32,
    /// Probes admitted this half-open cycle and still out, else 0.
    pub probes_in_flight: u32,
    /// Probes that succeeded this half-open cycle, else 0.
    pub probe_successes: u32,
    /// While OPEN: milliseconds until a probe is admitted (0 once the open duration has passed).
    pub retry_after_ms: Option<u64>,
    /// The backoff level in OPEN and HALF_OPEN, else 0.
    pub backoff_level: u32,
    /// While ramping: the share of calls admitted now, ‰.
    pub recovering_permille: Option<u32>,
    /// With a rate policy, while CLOSED: the window's figures.
    pub window: Option<WindowFigures>,
    /// The generation modulo [`GENERATIONS`].
    pub generation: u32,
}

/// How often the model went through each interesting path: a measure of what a set of
/// scenarios exercised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Coverage {
    /// Transitions by trigger, in the order of [`Coverage::TRIGGERS`].
    pub transitions: [u64; 10],
    /// Transitions into OPEN at a backoff level above 0.
    pub backed_off_opens: u64,
    /// Transitions into OPEN whose jitter was not 0.
    pub jittered_opens: u64,
    /// Transitions into OPEN at a level that `next_level` does not raise (cap or maximum).
    pub capped_opens: u64,
    /// Calls admitted by a ramp's rationing.
    pub ramp_admitted: u64,
    /// Calls shed by a ramp.
    pub ramp_shed: u64,
    /// Ramps that ended on an acquisition.
    pub ramps_ended: u64,
    /// Phase stamps that read as unknown and were re-stamped.
    pub restamps: u64,
    /// Slow outcomes classified (closed permits and probes).
    pub slow_calls: u64,
    /// Slow successes promoted to failures.
    pub promoted: u64,
    /// Outcomes recorded in a window.
    pub window_records: u64,
    /// Outcomes a window dropped (their bucket held a newer tag).
    pub window_dropped: u64,
    /// Outcomes a full bucket did not count.
    pub window_saturated: u64,
    /// Finished buckets folded into an adaptive baseline.
    pub learned: u64,
}

impl Coverage {
    /// The triggers counted in [`Coverage::transitions`], in order.
    pub const TRIGGERS: [Trigger; 10] = [
        Trigger::FailureThreshold,
        Trigger::FailureRate,
        Trigger::SlowCallRate,
        Trigger::RecoveryTimeout,
        Trigger::ProbeSucceeded,
        Trigger::ProbeFailed,
        Trigger::ProbeTimeout,
        Trigger::ForceOpen,
        Trigger::Disable,
        Trigger::Reset,
    ];

    /// Transitions seen with `trigger`.
    pub fn count(&self, trigger: Trigger) -> u64 {
        Self::TRIGGERS.iter().position(|&t| t == trigger).map_or(0, |i| self.transitions[i])
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Coverage) {
        for (a, b) in self.transitions.iter_mut().zip(other.transitions) {
            *a += b;
        }
        self.backed_off_opens += other.backed_off_opens;
        self.jittered_opens += other.jittered_opens;
        self.capped_opens += other.capped_opens;
        self.ramp_admitted += other.ramp_admitted;
        self.ramp_shed += other.ramp_shed;
        self.ramps_ended += other.ramps_ended;
        self.restamps += other.restamps;
        self.slow_calls += other.slow_calls;
        self.promoted += other.promoted;
        self.window_records += other.window_records;
        self.window_dropped += other.window_dropped;
        self.window_saturated += other.window_saturated;
        self.learned += other.learned;
    }
}

/// One bucket of a model window: its tag and counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bucket {
    /// The full generation of its calls (the tag is this modulo [`GEN_TAGS`]).
    pub gen: u64,
    /// The full epoch of its calls (the tag is this modulo [`EPOCH_TAGS`]).
    pub epoch: u64,
    /// Calls counted.
    pub calls: u32,
    /// Failed calls counted.
    pub failures: u32,
    /// Slow calls counted.
    pub slow: u32,
}

impl Bucket {
    /// Generation tag.
    pub fn gen_tag(&self) -> u64 {
        self.gen % u64::from(GEN_TAGS)
    }

    /// Epoch tag.
    pub fn epoch_tag(&self) -> u64 {
        self.epoch % EPOCH_TAGS
    }
}

/// `a` is newer than `b` in a wrapping space of `modulus` values (half-range rule); modulus 0
/// stands for 2^64 (epochs of a wrapping `u64` clock).
fn newer(a: u64, b: u64, modulus: u64) -> bool {
    let d = a.wrapping_sub(b);
    if modulus == 0 {
        return d != 0 && d < 1 << 63;
    }
    let d = d % modulus;
    d != 0 && d < modulus / 2
}

/// The model of a rate window: `B` buckets, the call counter of a count window, the closed
/// cycle it counts, the newest epoch recorded and the adaptive baseline.
///
/// - A call of generation `g` at epoch `e` (time: `now / width`; count: the number of calls
///   recorded before it, over all generations, divided by `calls_per_bucket`) first enters its
///   cycle: the first call of another cycle than the one counted makes it the counted cycle and
///   empties the buckets of other cycles. (The breaker records only calls of its current cycle.
///   Generations are compared modulo [`GENERATIONS`], the permits' horizon.)
/// - Then the newest epoch moves forward to `e` if `e` is newer; if epochs were skipped (a quiet
///   period), the slots of the last `min(gap, B)` epochs up to `e` are emptied, by position.
/// - A call `B` or more epochs behind the newest one (a clock stepped back) is outside the
///   window and dropped; one [`JUMP_EPOCHS`] or more behind is taken for a jump instead: the
///   newest epoch becomes the call's and the window empties. A read that far behind sees an
///   empty window.
/// - Then the call goes to bucket `e mod B`: a bucket of the same cycle and epoch counts it
///   (unless it already holds `BUCKET_CAPACITY` calls); an empty bucket, one of another cycle or
///   one of an older epoch is recycled for it; otherwise (the slot holds a newer epoch: the call
///   is a whole window behind) it is dropped.
/// - A recycled bucket of the same cycle is a finished bucket: with an adaptive threshold and
///   at least `min_bucket_calls` calls it moves the baseline (1/65 536 units) by
///   `(rate − baseline) / 2^alpha_shift`, rounded down. Emptied buckets teach nothing.
/// - The window of cycle `g` read at epoch `e` ends at the newest epoch recorded if that is not
///   older than `e` (else at `e`) and sums the buckets of `g` with calls within `B` epochs of
///   the end.
/// - After a failed or slow call that was not dropped, the window trips when it holds at least
///   `min_calls` calls and either `failures > 0` and `failures / calls ≥ threshold` (fixed, or
///   `max(floor, multiplier × baseline)`) — a failure-rate trip — or slow calls are tracked,
///   `slow > 0` and `slow / calls ≥ slow threshold` — a slow-call-rate trip.
///
/// Epochs are compared with the half-range rule at the clock's full width (modulo 2^64, as the
/// clock wraps), unless [`KnownBugs::window_tag_horizons`] (the core's finite fields): then
/// buckets are compared through their epoch tags (modulo [`EPOCH_TAGS`], half-range rule for
/// "newer") and the newest epoch is kept modulo `2^W` (`W` = [`WORD_BITS`]) as `epoch + 1`,
/// with 0 meaning "none yet", and compared by the half-range rule in that width.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelWindow {
    spec: WindowSpec,
    buckets: Vec<Bucket>,
    /// Calls recorded so far (count windows), never reset.
    recorded: u64,
    /// The adaptive baseline, 1/65 536 units, never reset.
    baseline: u32,
    /// The cycle counted: the full generation of its first call.
    cycle: Option<u64>,
    /// The newest epoch recorded, at full width.
    latest: Option<u64>,
    /// With tags: the newest epoch recorded plus one, modulo `2^W`; 0 = none.
    latest_word: u64,
    /// Compare through the core's finite fields.
    tags: bool,
}

/// `x` modulo `2^WORD_BITS`.
fn word(x: u64) -> u64 {
    if WORD_BITS == 64 {
        x
    } else {
        x & ((1 << WORD_BITS) - 1)
    }
}

impl ModelWindow {
    /// An empty window; `tags`: see [`KnownBugs::window_tag_horizons`].
    pub fn new(spec: WindowSpec, tags: bool) -> Self {
        ModelWindow {
            spec,
            buckets: vec![Bucket::default(); spec.buckets],
            recorded: 0,
            baseline: 0,
            cycle: None,
            latest: None,
            latest_word: 0,
            tags,
        }
    }

    /// The buckets.
    pub fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }

    /// The failure rate (‰) that trips now.
    pub fn trip_permille(&self) -> u32 {
        match self.spec.rule.adaptive {
            None => self.spec.rule.failure_permille,
            Some(a) => {
                let scaled = u64::from(self.baseline) * u64::from(a.multiplier_percent) * 10 / 65_536;
                (scaled.min(1000) as u32).max(a.floor_permille)
            }
        }
    }

    /// The epoch a call recorded now would belong to, without counting it.
    fn current_epoch(&self, now_ms: u64) -> u64 {
        match self.spec.kind {
            WindowKind::Time { bucket_width_ms } => now_ms / bucket_width_ms,
            WindowKind::Count { calls_per_bucket } => {
                word(self.recorded).saturating_sub(1) / u64::from(calls_per_bucket)
            }
        }
    }

    /// `b` belongs to cycle `gen` (generations compared modulo [`GENERATIONS`], as permits'
    /// are: a bucket holds the whole generation).
    fn of_gen(&self, gen: u64, b: &Bucket) -> bool {
        b.gen_tag() == gen % u64::from(GEN_TAGS)
    }

    /// Enters the call's cycle: the first call of another cycle empties the buckets of others.
    fn enter_cycle(&mut self, gen: u64) {
        let gens = u64::from(GENERATIONS);
        if self.cycle.is_some_and(|c| c % gens == gen % gens) {
            return;
        }
        self.cycle = Some(gen);
        for i in 0..self.buckets.len() {
            let b = self.buckets[i];
            if b.calls > 0 && !self.of_gen(gen, &b) {
                self.buckets[i] = Bucket::default();
            }
        }
    }

    /// Moves the newest epoch forward to `epoch` (or back to it, when it is at least
    /// [`JUMP_EPOCHS`] behind: a jump), emptying the slots of skipped epochs (all of them after
    /// a jump). Returns how many epochs `epoch` is behind the newest one (0 if it is the newest
    /// or now is).
    fn advance(&mut self, epoch: u64) -> u64 {
        let width = self.spec.buckets as u64;
        let gap = if self.tags {
            let next = word(epoch.wrapping_add(1));
            let cur = self.latest_word;
            let ahead = word(next.wrapping_sub(cur));
            let behind = word(cur.wrapping_sub(next));
            if cur != 0 && (ahead == 0 || ahead > word(u64::MAX) / 2) && behind < JUMP_EPOCHS {
                return behind;
            }
            self.latest_word = next;
            if cur == 0 {
                return 0;
            }
            ahead
        } else {
            match self.latest {
                Some(latest) if !newer(epoch, latest, 0) && latest.wrapping_sub(epoch) < JUMP_EPOCHS => {
                    return latest.wrapping_sub(epoch)
                }
                Some(latest) => {
                    self.latest = Some(epoch);
                    epoch.wrapping_sub(latest)
                }
                None => {
                    self.latest = Some(epoch);
                    return 0;
                }
            }
        };
        if gap > 1 {
            for k in 0..gap.min(width) {
                let slot = (epoch.wrapping_sub(k) % width) as usize;
                self.buckets[slot] = Bucket::default();
            }
        }
        0
    }

    /// Sums cycle `gen`'s window ending at the newest epoch, or at `epoch` if that is newer.
    fn sum(&self, gen: u64, epoch: u64) -> Bucket {
        let width = self.spec.buckets as u64;
        let mine = |b: &&Bucket| self.of_gen(gen, b) && b.calls > 0;
        let mut total = Bucket { gen, ..Bucket::default() };
        let in_window: &dyn Fn(&Bucket) -> bool = if self.tags {
            let newest = word(self.latest_word.wrapping_sub(1));
            let ahead = word(newest.wrapping_sub(epoch));
            let end = if self.latest_word == 0 {
                epoch
            } else if ahead <= word(u64::MAX) / 2 && ahead < JUMP_EPOCHS {
                epoch.wrapping_add(ahead)
            } else if ahead <= word(u64::MAX) / 2 {
                return total; // a jump: the window restarts empty
            } else if word(ahead.wrapping_neg()) < width {
                epoch
            } else {
                return total; // a whole window past the newest epoch: all older
            };
            total.epoch = end;
            &move |b: &Bucket| end.wrapping_sub(b.epoch_tag()) % EPOCH_TAGS < width
        } else {
            let end = match self.latest {
                Some(l) if newer(l, epoch, 0) && l.wrapping_sub(epoch) >= JUMP_EPOCHS => return total,
                Some(l) if newer(l, epoch, 0) => l,
                _ => epoch,
            };
            total.epoch = end;
            &move |b: &Bucket| end.wrapping_sub(b.epoch) < width
        };
        for b in self.buckets.iter().filter(mine).filter(|b| in_window(b)) {
            total.calls += b.calls;
            total.failures += b.failures;
            total.slow += b.slow;
        }
        total
    }

    /// The figures of cycle `gen`'s window at `now_ms`.
    pub fn figures(&self, gen: u64, now_ms: u64) -> WindowFigures {
        let total = self.sum(gen, self.current_epoch(now_ms));
        WindowFigures {
            calls: total.calls,
            failures: total.failures,
            slow: total.slow,
            trip_permille: self.trip_permille(),
            baseline: self.spec.rule.adaptive.map(|_| self.baseline),
        }
    }

    /// Folds a finished bucket into the adaptive baseline.
    fn learn(&mut self, finished: Bucket, coverage: &mut Coverage) {
        let Some(a) = self.spec.rule.adaptive else {
            return;
        };
        if finished.calls < a.min_bucket_calls {
            return;
        }
        coverage.learned += 1;
        let rate = (i64::from(finished.failures) << 16) / i64::from(finished.calls);
        let b = i64::from(self.baseline);
        let next = b + (rate - b).div_euclid(1 << a.alpha_shift);
        self.baseline = next.clamp(0, 1 << 16) as u32;
    }

    /// Records one outcome of generation `gen` at `now_ms`; returns the trip, if any, with the
    /// window's failures.
    fn record(
        &mut self,
        gen: u64,
        failed: bool,
        slow: bool,
        now_ms: u64,
        coverage: &mut Coverage,
    ) -> Option<(Trigger, u32)> {
        coverage.window_records += 1;
        let epoch = match self.spec.kind {
            WindowKind::Time { bucket_width_ms } => now_ms / bucket_width_ms,
            WindowKind::Count { calls_per_bucket } => {
                let n = word(self.recorded);
                self.recorded += 1;
                n / u64::from(calls_per_bucket)
            }
        };
        self.enter_cycle(gen);
        if self.advance(epoch) >= self.spec.buckets as u64 {
            coverage.window_dropped += 1;
            return None;
        }
        let index = (epoch % self.spec.buckets as u64) as usize;
        let bucket = self.buckets[index];
        let same = self.of_gen(gen, &bucket)
            && if self.tags { bucket.epoch_tag() == epoch % EPOCH_TAGS } else { bucket.epoch == epoch };
        let bucket_ahead = if self.tags {
            newer(bucket.epoch_tag(), epoch % EPOCH_TAGS, EPOCH_TAGS)
        } else {
            newer(bucket.epoch, epoch, 0)
        };
        if same && bucket.calls > 0 {
            if bucket.calls < BUCKET_CAPACITY {
                let b = &mut self.buckets[index];
                b.calls += 1;
                b.failures += u32::from(failed);
                b.slow += u32::from(slow);
            } else {
                coverage.window_saturated += 1;
            }
        } else if bucket.calls == 0 || !self.of_gen(gen, &bucket) || !bucket_ahead {
            self.buckets[index] =
                Bucket { gen, epoch, calls: 1, failures: u32::from(failed), slow: u32::from(slow) };
            if self.of_gen(gen, &bucket) {
                self.learn(bucket, coverage);
            }
        } else {
            coverage.window_dropped += 1;
            return None;
        }
        if !(failed || slow) {
            return None;
        }
        let total = self.sum(gen, epoch);
        let rule = self.spec.rule;
        if total.calls < rule.min_calls {
            return None;
        }
        let calls = u64::from(total.calls);
        if total.failures > 0 && u64::from(total.failures) * 1000 >= u64::from(self.trip_permille()) * calls {
            return Some((Trigger::FailureRate, total.failures));
        }
        if let Some(s) = rule.slow {
            if total.slow > 0 && u64::from(total.slow) * 1000 >= u64::from(s.trip_permille) * calls {
                return Some((Trigger::SlowCallRate, total.failures));
            }
        }
        None
    }
}

/// The sequential reference model of one breaker, its policy and its clock.
///
/// # Examples
///
/// ```
/// use breaker_core::{State, Verdict};
/// use breaker_tests::{Model, ModelConfig};
///
/// let config = ModelConfig {
///     backoff_max_ms: Some(400),
///     ..ModelConfig::new(2, 100, 1, 1)
/// };
/// let mut model = Model::new(config, 0);
/// for _ in 0..2 {
///     let permit = model.acquire().unwrap();
///     model.record(&permit, Verdict::Failure);
/// }
/// assert_eq!(model.state(), State::Open);
/// assert_eq!(model.acquire().unwrap_err().retry_after_ms, Some(100));
/// model.advance(100);
/// let probe = model.acquire().unwrap();
/// model.record(&probe, Verdict::Failure); // one level up: 200 ms
/// assert_eq!(model.acquire().unwrap_err().retry_after_ms, Some(200));
/// model.advance(200);
/// let probe = model.acquire().unwrap();
/// model.record(&probe, Verdict::Success);
/// assert_eq!(model.state(), State::Closed);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    config: ModelConfig,
    phase: Phase,
    /// Number of state changes (and resets) so far; never wraps in practice.
    generation: u64,
    now_ms: u64,
    /// Acquisitions seen during ramps, for rationing; never reset, wraps at `u32`.
    ramp_calls: u32,
    /// The phase stamp: the generation (modulo [`GENERATIONS`]) it belongs to and the full
    /// clock reading it holds (compared modulo [`STAMP_MODULUS`]).
    stamp: (u32, u64),
    bugs: KnownBugs,
    window: Option<ModelWindow>,
    transitions: Vec<ModelTransition>,
    coverage: Coverage,
}

impl Model {
    /// A closed breaker, generation 0, with the clock reading `now_ms`, modelling the core as it
    /// is ([`KnownBugs::CORE`]).
    pub fn new(config: ModelConfig, now_ms: u64) -> Self {
        Model::with_bugs(config, now_ms, KnownBugs::CORE)
    }

    /// [`Model::new`], reproducing only the given deviations from the documentation.
    pub fn with_bugs(config: ModelConfig, now_ms: u64, bugs: KnownBugs) -> Self {
        Model {
            config,
            phase: Phase::Closed { failures: 0, ramping: false },
            generation: 0,
            now_ms,
            ramp_calls: 0,
            stamp: (0, 0),
            bugs,
            window: config.window().map(|w| ModelWindow::new(*w, bugs.window_tag_horizons)),
            transitions: Vec::new(),
            coverage: Coverage::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The rate window, with a rate policy.
    pub fn window(&self) -> Option<&ModelWindow> {
        self.window.as_ref()
    }

    /// What this model went through so far.
    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }

    /// The current clock reading in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Moves the clock forward by `ms` (wrapping at `u64`, as `ManualClock` does).
    pub fn advance(&mut self, ms: u64) {
        self.now_ms = self.now_ms.wrapping_add(ms);
    }

    /// Sets the clock reading, forwards or backwards.
    pub fn set_clock(&mut self, ms: u64) {
        self.now_ms = ms;
    }

    /// The public state.
    pub fn state(&self) -> State {
        self.phase.state()
    }

    /// The generation as the breaker shows it (modulo [`GENERATIONS`]).
    pub fn generation(&self) -> u32 {
        (self.generation % u64::from(GENERATIONS)) as u32
    }

    /// The window's figures now, with a rate policy while CLOSED.
    fn window_figures(&self) -> Option<WindowFigures> {
        match (self.phase, &self.window) {
            (Phase::Closed { .. }, Some(w)) => Some(w.figures(self.generation, self.now_ms)),
            _ => None,
        }
    }

    /// Failures counted in CLOSED (consecutive ones, or those in the rate window), else 0.
    pub fn failure_count(&self) -> u32 {
        match (self.phase, self.window_figures()) {
            (_, Some(w)) => w.failures,
            (Phase::Closed { failures, .. }, None) => failures,
            _ => 0,
        }
    }

    /// Milliseconds since the circuit opened, modulo [`TIME_MODULUS`]: the stored timestamp has
    /// only that many distinct values, so a clock that went backwards reads as a long time.
    fn open_elapsed(&self, opened_at_ms: u64) -> u64 {
        // TIME_MODULUS divides 2^64, so reducing the wrapped difference is exact.
        self.now_ms.wrapping_sub(opened_at_ms) % TIME_MODULUS
    }

    /// Reads the phase stamp on behalf of a word of generation `gen` (modulo [`GENERATIONS`])
    /// whose phase has a timer: the milliseconds since the stamp, or, when the stamp belongs to
    /// another generation or its elapsed time (modulo [`STAMP_MODULUS`]) exceeds
    /// `MAX_PHASE_TIMER_MS`, "unknown": the stamp is rewritten for `gen` now and the phase has
    /// just begun.
    fn read_stamp(&mut self, gen: u32) -> u64 {
        let (stamp_gen, stamp_ms) = self.stamp;
        let elapsed = self.now_ms.wrapping_sub(stamp_ms) % STAMP_MODULUS;
        if stamp_gen != gen || elapsed > MAX_PHASE_TIMER_MS {
            self.stamp = (gen, self.now_ms);
            self.coverage.restamps += 1;
            0
        } else {
            elapsed
        }
    }

    /// Milliseconds since the current phase (HALF_OPEN, or a ramp) began, by its stamp.
    fn phase_elapsed(&mut self) -> u64 {
        debug_assert!(self.phase.is_timed());
        self.read_stamp(self.generation())
    }

    /// What `snapshot()` should show now. Takes `&mut self` because reading a ramp's share
    /// reads its phase stamp, which re-stamps an unknown one (as every reader does).
    pub fn snapshot(&mut self) -> ModelSnapshot {
        let mut s = ModelSnapshot {
            state: self.state(),
            failure_count: self.failure_count(),
            probes_in_flight: 0,
            probe_successes: 0,
            retry_after_ms: None,
            backoff_level: self.phase.level(),
            recovering_permille: None,
            window: self.window_figures(),
            generation: self.generation(),
        };
        match self.phase {
            Phase::Open { opened_at_ms, level } => {
                let elapsed = self.open_elapsed(opened_at_ms);
                let open_ms = self.config.open_ms(level, self.generation());
                s.retry_after_ms = Some(open_ms.saturating_sub(elapsed));
            }
            Phase::HalfOpen { issued, successes, .. } => {
                s.probes_in_flight = issued.saturating_sub(successes);
                s.probe_successes = successes;
            }
            Phase::Closed { ramping: true, .. } => {
                let elapsed = self.phase_elapsed();
                s.recovering_permille = Some(self.config.ramp_permille(elapsed));
            }
            _ => {}
        }
        s
    }

    /// Transitions reported since the last call.
    pub fn take_transitions(&mut self) -> Vec<ModelTransition> {
        core::mem::take(&mut self.transitions)
    }

    /// Moves to `to` in a new generation and reports it.
    fn change_to(
        &mut self,
        to: Phase,
        trigger: Trigger,
        failure_count: u32,
        open_for_ms: Option<u64>,
        at_ms: Option<u64>,
    ) {
        let from = self.state();
        self.phase = to;
        self.generation += 1;
        if to.is_timed() {
            // The transition's maker stamps the phase it entered.
            self.stamp = (self.generation(), self.now_ms);
        }
        let level = to.level();
        let open_duration_ms = match to {
            Phase::Open { .. } => Some(self.config.open_ms(level, self.generation())),
            _ => None,
        };
        let jittered = self.config.jitter_for(self.generation()) > 0;
        let capped = self.config.next_level(level) == level;
        let c = &mut self.coverage;
        if let Some(i) = Coverage::TRIGGERS.iter().position(|&t| t == trigger) {
            c.transitions[i] += 1;
        }
        if let Phase::Open { .. } = to {
            c.backed_off_opens += u64::from(level > 0);
            c.jittered_opens += u64::from(jittered);
            c.capped_opens += u64::from(capped);
        }
        self.transitions.push(ModelTransition {
            from,
            to: to.state(),
            trigger,
            failure_count,
            open_for_ms,
            open_duration_ms,
            backoff_level: level,
            at_ms,
            generation: self.generation(),
        });
    }

    /// OPEN at the current reading, at backoff `level`.
    fn open_now(&self, level: u32) -> Phase {
        Phase::Open { opened_at_ms: self.now_ms, level }
    }

    /// Asks to make a call.
    pub fn acquire(&mut self) -> Result<ModelPermit, ModelRejection> {
        let now = self.now_ms;
        let permit =
            |model: &Model, kind| ModelPermit { generation: model.generation, kind, started_ms: now };
        match self.phase {
            Phase::Closed { failures, ramping: false } => {
                Ok(permit(self, PermitKind::Closed { clean: failures == 0 }))
            }
            Phase::Closed { failures, ramping: true } => {
                let kind = PermitKind::Closed { clean: failures == 0 };
                let elapsed = self.phase_elapsed();
                let period = self.config.ramp.map_or(0, |r| r.period_ms);
                if elapsed >= period {
                    // The ramp is over: same generation, no transition.
                    self.phase = Phase::Closed { failures, ramping: false };
                    self.coverage.ramps_ended += 1;
                    return Ok(permit(self, kind));
                }
                let permille = u64::from(self.config.ramp_permille(elapsed));
                // The n-th call (0-based) passes when it lifts ⌊n·share⌋.
                let n = u64::from(self.ramp_calls);
                self.ramp_calls = self.ramp_calls.wrapping_add(1);
                if (n + 1) * permille / 1000 > n * permille / 1000 {
                    self.coverage.ramp_admitted += 1;
                    Ok(permit(self, kind))
                } else {
                    self.coverage.ramp_shed += 1;
                    Err(ModelRejection { state: State::Closed, retry_after_ms: Some(0) })
                }
            }
            Phase::Open { opened_at_ms, level } => {
                let elapsed = self.open_elapsed(opened_at_ms);
                let open_ms = self.config.open_ms(level, self.generation());
                if elapsed >= open_ms {
                    self.change_to(
                        Phase::HalfOpen { issued: 1, successes: 0, level },
                        Trigger::RecoveryTimeout,
                        0,
                        Some(elapsed),
                        Some(now),
                    );
                    Ok(permit(self, PermitKind::Probe))
                } else {
                    Err(ModelRejection { state: State::Open, retry_after_ms: Some(open_ms - elapsed) })
                }
            }
            Phase::HalfOpen { issued, successes, level } => {
                if issued < self.config.half_open_probes {
                    self.phase = Phase::HalfOpen { issued: issued + 1, successes, level };
                    return Ok(permit(self, PermitKind::Probe));
                }
                let busy = ModelRejection { state: State::HalfOpen, retry_after_ms: None };
                let Some(timeout) = self.config.probe_timeout_ms else {
                    return Err(busy);
                };
                if self.phase_elapsed() < timeout {
                    return Err(busy);
                }
                // Stuck probes: reopen one level up, as if a probe had failed.
                let level = self.config.next_level(level);
                self.change_to(self.open_now(level), Trigger::ProbeTimeout, 0, None, Some(now));
                Err(ModelRejection {
                    state: State::Open,
                    retry_after_ms: Some(self.config.open_ms(level, self.generation())),
                })
            }
            Phase::ForcedOpen => Err(ModelRejection { state: State::ForcedOpen, retry_after_ms: None }),
            Phase::Disabled => Ok(permit(self, PermitKind::Disabled)),
        }
    }

    /// Slow-call classification of an outcome: whether the call was slow (it lasted at least
    /// the threshold on the clock; a clock that went back makes it 0 long), and the verdict
    /// after promoting a slow success to a failure when so configured. Only with slow-call
    /// tracking, only for closed permits and probes, and never for `Ignore`.
    fn classify(&mut self, permit: &ModelPermit, verdict: Verdict) -> (Verdict, bool) {
        let Some(slow) = self.config.slow_calls() else {
            return (verdict, false);
        };
        if permit.kind == PermitKind::Disabled || verdict == Verdict::Ignore {
            return (verdict, false);
        }
        // The breaker measures a call modulo 2^46 ms and reads a difference of 2^45 ms or more
        // as a clock that went back (duration 0).
        const MODULUS: u64 = 1 << 46;
        let d = self.now_ms.wrapping_sub(permit.started_ms) % MODULUS;
        let took = if d >= MODULUS / 2 { 0 } else { d };
        let is_slow = took >= slow.threshold_ms;
        self.coverage.slow_calls += u64::from(is_slow);
        if is_slow && verdict == Verdict::Success && slow.as_failure {
            self.coverage.promoted += 1;
            (Verdict::Failure, true)
        } else {
            (verdict, is_slow)
        }
    }

    /// `true` if `permit` belongs to the current cycle, as far as the breaker can tell
    /// (generations compared modulo [`GENERATIONS`]).
    fn is_current(&self, permit: &ModelPermit) -> bool {
        let gens = u64::from(GENERATIONS);
        permit.generation % gens == self.generation % gens
    }

    /// Reports how a permitted call went (dropping a permit is `Verdict::Ignore`); returns the
    /// verdict the observer hears (a slow success may have been promoted to a failure).
    pub fn record(&mut self, permit: &ModelPermit, verdict: Verdict) -> Verdict {
        let (verdict, slow) = self.classify(permit, verdict);
        let rate = self.window.is_some();
        match (permit.kind, verdict) {
            // Counts nothing, ever.
            (PermitKind::Disabled, _) => return verdict,
            // Neither success nor failure, and a closed permit holds no slot.
            (PermitKind::Closed { .. }, Verdict::Ignore) => return verdict,
            // A rate policy: into the window, if the permit's closed cycle is still current.
            (PermitKind::Closed { .. }, _) if rate => {
                if self.is_current(permit) && self.state() == State::Closed {
                    self.record_in_window(verdict == Verdict::Failure, slow);
                }
                return verdict;
            }
            // Linearized at admission, where there were no failures to clear.
            (PermitKind::Closed { clean: true }, Verdict::Success) => return verdict,
            _ => {}
        }
        // A permit from another cycle changes nothing.
        if !self.is_current(permit) {
            return verdict;
        }
        let threshold = self.config.failure_threshold;
        let now = self.now_ms;
        match (self.phase, permit.kind, verdict) {
            (Phase::Closed { ramping, .. }, PermitKind::Closed { .. }, Verdict::Success) => {
                self.phase = Phase::Closed { failures: 0, ramping };
            }
            (Phase::Closed { failures, ramping }, PermitKind::Closed { .. }, Verdict::Failure) => {
                let failures = failures + 1;
                if failures >= threshold {
                    self.change_to(self.open_now(0), Trigger::FailureThreshold, failures, None, Some(now));
                } else {
                    self.phase = Phase::Closed { failures, ramping };
                }
            }
            (Phase::HalfOpen { issued, successes, level }, PermitKind::Probe, Verdict::Success) => {
                let successes = successes + 1;
                if successes >= self.config.successes_to_close {
                    // Backoff resets; a ramp begins (and needs the time for its stamp).
                    let ramping = self.config.ramp.is_some();
                    self.change_to(
                        Phase::Closed { failures: 0, ramping },
                        Trigger::ProbeSucceeded,
                        0,
                        None,
                        ramping.then_some(now),
                    );
                } else {
                    // The success keeps its slot for the rest of the cycle.
                    self.phase = Phase::HalfOpen { issued, successes, level };
                }
            }
            (Phase::HalfOpen { level, .. }, PermitKind::Probe, Verdict::Failure) => {
                let level = self.config.next_level(level);
                self.change_to(self.open_now(level), Trigger::ProbeFailed, 1, None, Some(now));
            }
            (Phase::HalfOpen { issued, successes, level }, PermitKind::Probe, Verdict::Ignore) => {
                // The slot goes back. (`issued` is at least 1 unless generations aliased.)
                self.phase = Phase::HalfOpen { issued: issued.saturating_sub(1), successes, level };
            }
            // A kind this phase never hands out: only possible after generations aliased.
            _ => {}
        }
        verdict
    }

    /// A closed-state outcome of the current generation into the rate window; a trip opens
    /// the circuit at level 0 and reports the window's failures.
    fn record_in_window(&mut self, failed: bool, slow: bool) {
        let gen = self.generation;
        let now = self.now_ms;
        let Some(window) = self.window.as_mut() else {
            return;
        };
        if let Some((trigger, failures)) = window.record(gen, failed, slow, now, &mut self.coverage) {
            self.change_to(self.open_now(0), trigger, failures, None, Some(now));
        }
    }

    /// The failures a manual transition reports: the word's consecutive-failure count, which a
    /// rate policy never uses (so 0 with a rate policy).
    fn manual_failures(&self) -> u32 {
        match self.phase {
            Phase::Closed { failures, .. } => failures,
            _ => 0,
        }
    }

    /// Opens the circuit until a reset.
    pub fn force_open(&mut self) {
        if self.phase != Phase::ForcedOpen {
            let failures = self.manual_failures();
            self.change_to(Phase::ForcedOpen, Trigger::ForceOpen, failures, None, None);
        }
    }

    /// Closes the circuit ("force closed") until a reset.
    pub fn disable(&mut self) {
        if self.phase != Phase::Disabled {
            let failures = self.manual_failures();
            self.change_to(Phase::Disabled, Trigger::Disable, failures, None, None);
        }
    }

    /// Back to CLOSED with no failures in a new generation, from any state, without backoff
    /// and without a ramp.
    pub fn reset(&mut self) {
        let failures = self.manual_failures();
        self.change_to(Phase::Closed { failures: 0, ramping: false }, Trigger::Reset, failures, None, None);
    }
}

// ---------------------------------------------------------------------------------------------
// Operations and scenarios
// ---------------------------------------------------------------------------------------------

/// How a held permit (or ticket) ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Settle {
    /// `success()` / `settle(ticket, Success)`.
    Success,
    /// `failure()` / `settle(ticket, Failure)`.
    Failure,
    /// `ignore()` / `settle(ticket, Ignore)`.
    Ignore,
    /// The permit is dropped (reports `Ignore`); a ticket is forgotten, never settled.
    Drop,
}

/// One step of a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `try_acquire()`; an admitted permit is held.
    Acquire,
    /// `try_acquire_ticket()`; an admitted ticket is held.
    AcquireTicket,
    /// `call_with(..)` with a closure that reports this verdict.
    Call(Verdict),
    /// End the held permit or ticket at `index % held` (nothing if none is held).
    Settle {
        /// Which held permit, modulo how many are held.
        index: usize,
        /// How it ends.
        how: Settle,
    },
    /// End the most recently acquired permit or ticket still held (nothing if none is held).
    SettleLast(Settle),
    /// Turn the held permit at `index % held` into a ticket (`Permit::into_ticket`).
    IntoTicket {
        /// Which held permit, modulo how many are held.
        index: usize,
    },
    /// Move the clock forward by this many milliseconds (wrapping at `u64`).
    Advance(u64),
    /// Move the clock backward by this many milliseconds (wrapping at `u64`).
    Rewind(u64),
    /// Set the clock reading.
    SetClock(u64),
    /// `force_open()`.
    ForceOpen,
    /// `disable()`.
    Disable,
    /// `reset()`.
    Reset,
}

/// A config, a starting clock reading and the ops to run.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scenario {
    /// The breaker's settings and policy (must be valid).
    pub config: ModelConfig,
    /// The clock's initial reading in milliseconds.
    pub start_ms: u64,
    /// What to do, in order.
    pub ops: Vec<Op>,
}

/// Reads bytes front to back, yielding zeros once they run out.
struct Bytes<'a> {
    data: &'a [u8],
}

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        let mut b = [0; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }

    fn verdict(&mut self) -> Verdict {
        match self.u8() % 3 {
            0 => Verdict::Success,
            1 => Verdict::Failure,
            _ => Verdict::Ignore,
        }
    }

    fn settle(&mut self) -> Settle {
        match self.u8() % 4 {
            0 => Settle::Success,
            1 => Settle::Failure,
            2 => Settle::Ignore,
            _ => Settle::Drop,
        }
    }

    /// A time span that is interesting for a breaker whose timescales are `scales`.
    fn span(&mut self, scales: &[u64]) -> u64 {
        let small = u64::from(self.u8());
        let scale = scales[usize::from(self.u8()) % scales.len()];
        match self.u8() % 12 {
            0 => small,
            1 | 2 => scale,
            3 => scale.saturating_sub(1 + small % 4),
            4 => scale + small % 4,
            5 => u64::from(self.u16()),
            6 => (u128::from(scale) * u128::from(small) / 128) as u64,
            7 => TIME_MODULUS.saturating_sub(scale).wrapping_add(small % 4),
            8 => [TIME_MODULUS, STAMP_MODULUS][usize::from(small % 2 == 0)]
                .wrapping_mul(1 + small % 4)
                .wrapping_add(u64::from(self.u16())),
            9 => self.u64(),
            _ => scale / 2 + small,
        }
    }

    /// A millisecond setting in `1..=max`, often small, sometimes near `max` or `near`.
    fn ms(&mut self, near: u64, max: u64) -> u64 {
        let v = match self.u8() % 6 {
            0 => 1 + u64::from(self.u8()),
            1 => 1 + u64::from(self.u16()),
            2 => max,
            3 => max - u64::from(self.u8()).min(max - 1),
            4 => near,
            _ => 1 + u64::from(self.u8()) % 16,
        };
        v.clamp(1, max)
    }
}

impl Scenario {
    /// Decodes arbitrary bytes (fuzzer input) into a valid scenario: a few bytes for the config
    /// (every setting and policy can come out) and starting clock, then one op (or a short
    /// burst of ops) per tag byte with its arguments. Never fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = breaker_tests::Scenario::from_bytes(&[3, 0, 7, 1, 0, 9, 9, 9, 9]);
    /// assert!(s.config.validate().is_some());
    /// breaker_tests::check(&s).unwrap();
    /// ```
    pub fn from_bytes(data: &[u8]) -> Scenario {
        const MAX_OPS: usize = 4_096;
        let mut b = Bytes { data };
        let failure_threshold = match b.u8() {
            250..=255 => 1 + u32::from(b.u16()) % MAX_FAILURE_THRESHOLD, // occasionally large
            x => 1 + u32::from(x % 5),
        };
        let max = MAX_OPEN_MS;
        let recovery_timeout_ms = match b.u8() % 8 {
            0 => 1,
            1 => max,
            2 => max - u64::from(b.u8()),
            3 => (max / 2).max(1),
            4 => 1 + b.u64() % max,
            _ => 1 + u64::from(b.u16()),
        };
        let half_open_probes = match b.u8() {
            255 => MAX_HALF_OPEN_PROBES,
            x => 1 + u32::from(x % 4),
        };
        let successes_to_close = 1 + u32::from(b.u8()) % half_open_probes;
        let start_ms = match b.u8() % 6 {
            0 => 0,
            1 => TIME_MODULUS - 1 - u64::from(b.u8()),
            2 => u64::MAX - u64::from(b.u16()),
            3 => b.u64(),
            _ => u64::from(b.u16()),
        };
        let mut config =
            ModelConfig::new(failure_threshold, recovery_timeout_ms, half_open_probes, successes_to_close);
        let features = b.u8();
        if features & 1 != 0 {
            let t = recovery_timeout_ms;
            config.backoff_max_ms = Some(match b.u8() % 4 {
                0 => t,
                1 => t.saturating_mul(1 << (1 + b.u8() % 6)).min(max),
                2 => max,
                _ => t.saturating_add(u64::from(b.u16())).min(max),
            });
        }
        if features & 2 != 0 {
            let room = config.jitter_room_ms();
            let max_ms = match b.u8() % 4 {
                0 => 0,
                1 => u64::from(b.u8()),
                2 => u64::from(b.u16()),
                _ => room,
            };
            config.jitter = Some(Jitter { max_ms: max_ms.min(room), seed: b.u32() });
        }
        if features & 4 != 0 {
            config.probe_timeout_ms = Some(b.ms(recovery_timeout_ms, MAX_PHASE_TIMER_MS));
        }
        if features & 8 != 0 {
            config.ramp = Some(Ramp {
                period_ms: b.ms(recovery_timeout_ms, MAX_PHASE_TIMER_MS),
                start_percent: u32::from(b.u8()) % 100,
            });
        }
        let window_kind = match (features >> 4) & 3 {
            2 => Some(WindowKind::Count {
                calls_per_bucket: match b.u8() % 4 {
                    0 | 1 => 1,
                    2 => 1 + u32::from(b.u8() % 8),
                    _ => 1 + u32::from(b.u16()) % BUCKET_CAPACITY,
                },
            }),
            3 => Some(WindowKind::Time {
                bucket_width_ms: match b.u8() % 4 {
                    0 => 1 + u64::from(b.u8() % 10),
                    1 => 1 + u64::from(b.u16()),
                    2 => u64::from(u32::MAX) - u64::from(b.u8()),
                    _ => 100,
                },
            }),
            _ => None,
        };
        if let Some(kind) = window_kind {
            let buckets = SUPPORTED_BUCKETS[usize::from(b.u8()) % SUPPORTED_BUCKETS.len()];
            let failure_permille = match b.u8() % 4 {
                0 => 1000,
                1 => 500,
                _ => 1 + u32::from(b.u16()) % 1000,
            };
            let min_calls = match b.u8() {
                250..=255 => 1 + u32::from(b.u16()) % 1000,
                x => 1 + u32::from(x % 10),
            };
            let slow = (features & 64 != 0).then(|| SlowSpec {
                threshold_ms: match b.u8() % 4 {
                    0 => 1,
                    1 => 1 + u64::from(b.u16()),
                    2 => u64::from(u32::MAX),
                    _ => 1 + u64::from(b.u8()),
                },
                trip_permille: 1 + u32::from(b.u16()) % 1000,
                as_failure: b.u8() % 2 == 1,
            });
            let adaptive = (features & 128 != 0).then(|| AdaptiveSpec {
                floor_permille: 1 + u32::from(b.u16()) % 1000,
                multiplier_percent: match b.u8() % 4 {
                    0 => 100,
                    1 => 100_000,
                    _ => 100 + u32::from(b.u16()) % 1000,
                },
                alpha_shift: 1 + u32::from(b.u8() % 16),
                min_bucket_calls: 1 + u32::from(b.u8() % 8),
            });
            config.policy = ModelPolicy::Window(WindowSpec {
                buckets,
                kind,
                rule: RuleSpec { failure_permille, min_calls, slow, adaptive },
            });
        }
        let scales = config.timescales();
        let mut ops = Vec::new();
        while !b.data.is_empty() && ops.len() < MAX_OPS {
            let tag = b.u8();
            let op = match tag % 40 {
                0..=6 => Op::Acquire,
                7 => Op::AcquireTicket,
                8..=9 => Op::Call(b.verdict()),
                10..=19 => Op::Settle {
                    index: usize::from(b.u8()),
                    how: match tag % 4 {
                        0 => Settle::Success,
                        1 => Settle::Failure,
                        2 => Settle::Ignore,
                        _ => Settle::Drop,
                    },
                },
                20 => Op::IntoTicket { index: usize::from(b.u8()) },
                21..=25 => Op::Advance(b.span(&scales)),
                26 => Op::Rewind(b.span(&scales)),
                27 => Op::SetClock(b.u64()),
                28 => Op::ForceOpen,
                29 => Op::Disable,
                30 | 31 => Op::Reset,
                32..=33 => Op::SettleLast(b.settle()),
                34..=36 => {
                    // A burst of calls, every `every`-th failing (none when 0).
                    let n = 1 + usize::from(b.u8() % 64);
                    let every = usize::from(b.u8() % 6);
                    ops.extend((0..n).map(|i| {
                        Op::Call(if every > 0 && i % every == 0 {
                            Verdict::Failure
                        } else {
                            Verdict::Success
                        })
                    }));
                    continue;
                }
                _ => {
                    // A timed call: acquire, let time pass, settle.
                    let span = b.span(&scales);
                    let how = b.settle();
                    ops.extend([Op::Acquire, Op::Advance(span), Op::SettleLast(how)]);
                    continue;
                }
            };
            ops.push(op);
        }
        Scenario { config, start_ms, ops }
    }
}

// ---------------------------------------------------------------------------------------------
// The checker
// ---------------------------------------------------------------------------------------------

/// An [`Observer`] that writes down everything it is told.
#[derive(Debug, Default)]
pub struct Recorder {
    transitions: RefCell<Vec<Transition>>,
    rejections: RefCell<Vec<CircuitOpen>>,
    outcomes: RefCell<Vec<Verdict>>,
}

impl Recorder {
    /// Transitions reported since the last call.
    pub fn take_transitions(&self) -> Vec<Transition> {
        self.transitions.take()
    }

    /// Rejections reported since the last call.
    pub fn take_rejections(&self) -> Vec<CircuitOpen> {
        self.rejections.take()
    }

    /// Outcomes reported since the last call.
    pub fn take_outcomes(&self) -> Vec<Verdict> {
        self.outcomes.take()
    }
}

impl Observer for Recorder {
    fn on_transition(&self, transition: &Transition) {
        self.transitions.borrow_mut().push(*transition);
    }

    fn on_rejected(&self, rejection: &CircuitOpen) {
        self.rejections.borrow_mut().push(*rejection);
    }

    fn on_outcome(&self, name: &'static str, verdict: Verdict) {
        assert_eq!(name, BREAKER_NAME, "on_outcome got the wrong name");
        self.outcomes.borrow_mut().push(verdict);
    }
}

/// Where and how the real breaker and the model disagreed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// Index of the op after which they disagreed (`None`: before the first op, or the
    /// scenario itself was unusable). Indices past the end of the ops are the permits still
    /// held at the end being dropped, oldest first.
    pub step: Option<usize>,
    /// That op.
    pub op: Option<Op>,
    /// What differed, with both sides' values.
    pub what: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.step, self.op) {
            (Some(step), Some(op)) => write!(f, "after op #{step} ({op:?}): {}", self.what),
            _ => write!(f, "before any op: {}", self.what),
        }
    }
}

impl core::error::Error for Divergence {}

type RealBreaker<'a, P> = Breaker<&'a ManualClock, &'a Recorder, P>;

/// A permit or ticket the scenario holds, with the model's counterpart.
enum Handle<'a, P: Policy> {
    Permit(Permit<'a, &'a ManualClock, &'a Recorder, P>),
    Ticket(Ticket),
}

struct Held<'a, P: Policy> {
    real: Handle<'a, P>,
    model: ModelPermit,
}

macro_rules! same {
    ($what:expr, $real:expr, $model:expr) => {{
        let (real, model) = (&$real, &$model);
        if real != model {
            return Err(format!("{}: real {:?}, model {:?}", $what, real, model));
        }
    }};
}

fn compare_rejection(real: &CircuitOpen, model: &ModelRejection) -> Result<(), String> {
    same!("rejection name", real.name(), BREAKER_NAME);
    same!("rejection state", real.state(), model.state);
    same!("rejection retry_after", real.retry_after(), model.retry_after_ms.map(Duration::from_millis));
    Ok(())
}

fn compare_transition(real: &Transition, model: &ModelTransition, threshold: u32) -> Result<(), String> {
    let real_fields = (
        real.name,
        real.from,
        real.to,
        real.trigger,
        real.failure_count,
        real.threshold,
        real.open_for,
        real.open_duration,
        real.backoff_level,
        real.at,
        real.generation,
    );
    let model_fields = (
        BREAKER_NAME,
        model.from,
        model.to,
        model.trigger,
        model.failure_count,
        threshold,
        model.open_for_ms.map(Duration::from_millis),
        model.open_duration_ms.map(Duration::from_millis),
        model.backoff_level,
        model.at_ms.map(Timestamp::from_millis),
        model.generation,
    );
    same!(
        "transition (name, from, to, trigger, failure_count, threshold, open_for, open_duration, \
         backoff_level, at, generation)",
        real_fields,
        model_fields
    );
    Ok(())
}

/// A window's figures as the snapshot shows them, field by field.
type StatsFields = (u32, u32, u32, f32, f32, f32, Option<f32>);

fn real_stats(w: &WindowStats) -> StatsFields {
    (w.calls, w.failures, w.slow, w.failure_rate, w.slow_rate, w.trip_rate, w.baseline)
}

fn model_stats(w: &WindowFigures) -> StatsFields {
    (w.calls, w.failures, w.slow, w.failure_rate(), w.slow_rate(), w.trip_rate(), w.baseline_rate())
}

/// Compares everything observable after one op.
fn compare_state<P: Policy>(
    breaker: &RealBreaker<'_, P>,
    recorder: &Recorder,
    model: &mut Model,
    expected_outcomes: &[Verdict],
) -> Result<(), String> {
    same!("state()", breaker.state(), model.state());
    same!("failure_count()", breaker.failure_count(), model.failure_count());

    let s: Snapshot = breaker.snapshot();
    let m = model.snapshot();
    let real_fields = (
        s.name,
        s.state,
        s.failure_count,
        s.failure_threshold,
        s.probes_in_flight,
        s.probe_successes,
        s.retry_after,
        s.backoff_level,
        s.recovering,
        s.generation,
    );
    let model_fields = (
        BREAKER_NAME,
        m.state,
        m.failure_count,
        model.config().failure_threshold,
        m.probes_in_flight,
        m.probe_successes,
        m.retry_after_ms.map(Duration::from_millis),
        m.backoff_level,
        m.recovering_permille.map(|p| p as f32 / 1000.0),
        m.generation,
    );
    same!(
        "snapshot (name, state, failure_count, threshold, probes_in_flight, probe_successes, \
         retry_after, backoff_level, recovering, generation)",
        real_fields,
        model_fields
    );
    same!(
        "snapshot window (calls, failures, slow, failure_rate, slow_rate, trip_rate, baseline)",
        s.window.as_ref().map(real_stats),
        m.window.as_ref().map(model_stats)
    );

    let real_transitions = recorder.take_transitions();
    let model_transitions = model.take_transitions();
    same!("number of transitions reported", real_transitions.len(), model_transitions.len());
    for (r, m) in real_transitions.iter().zip(&model_transitions) {
        compare_transition(r, m, model.config().failure_threshold)?;
    }
    same!("outcomes reported", recorder.take_outcomes(), expected_outcomes);
    same!("unexpected rejections reported", recorder.take_rejections(), Vec::<CircuitOpen>::new());
    Ok(())
}

/// Checks an admission: both admit (with the same probe-ness) or both reject alike, and the
/// observer saw exactly the rejection that was returned.
fn compare_admission(
    real: Result<bool, CircuitOpen>,
    model: &Result<ModelPermit, ModelRejection>,
    recorder: &Recorder,
) -> Result<(), String> {
    match (real, model) {
        (Ok(real_probe), Ok(m)) => same!("admitted as a probe", real_probe, m.is_probe()),
        (Err(open), Err(m)) => {
            compare_rejection(&open, m)?;
            same!("rejections reported", recorder.take_rejections(), vec![open]);
        }
        (real, model) => return Err(format!("admission: real {real:?} (Ok = is_probe), model {model:?}")),
    }
    Ok(())
}

/// Runs `scenario` against a real breaker (with a [`ManualClock`], a [`Recorder`] and the
/// scenario's policy) and the [`Model`] side by side and returns the first disagreement.
///
/// # Examples
///
/// ```
/// use breaker_tests::{check, ModelConfig, Op, Scenario, Settle};
///
/// let scenario = Scenario {
///     config: ModelConfig::new(1, 10, 1, 1),
///     start_ms: 0,
///     ops: vec![
///         Op::Acquire,
///         Op::Settle { index: 0, how: Settle::Failure },
///         Op::Advance(10),
///         Op::Acquire, // the probe
///     ],
/// };
/// check(&scenario).unwrap();
/// ```
///
/// The model reproduces the core's known deviations from its documentation ([`KnownBugs`])
/// unless the environment variable `BREAKER_MODEL_STRICT` is set.
pub fn check(scenario: &Scenario) -> Result<(), Divergence> {
    check_counting(scenario, KnownBugs::from_env()).map(drop)
}

/// [`check`] with a model that reproduces `bugs`, also returning what the model went through
/// (for coverage statistics).
pub fn check_counting(scenario: &Scenario, bugs: KnownBugs) -> Result<Coverage, Divergence> {
    let unusable = |what: String| Divergence { step: None, op: None, what };
    let valid = scenario
        .config
        .validate()
        .ok_or_else(|| unusable(format!("invalid config {:?}", scenario.config)))?;
    let ModelPolicy::Window(spec) = scenario.config.policy else {
        return run_scenario(scenario, valid, bugs, Consecutive);
    };
    match spec.buckets {
        1 => run_window::<1>(scenario, valid, bugs, &spec),
        2 => run_window::<2>(scenario, valid, bugs, &spec),
        3 => run_window::<3>(scenario, valid, bugs, &spec),
        4 => run_window::<4>(scenario, valid, bugs, &spec),
        5 => run_window::<5>(scenario, valid, bugs, &spec),
        8 => run_window::<8>(scenario, valid, bugs, &spec),
        10 => run_window::<10>(scenario, valid, bugs, &spec),
        b if b == MAX_BUCKETS => run_window::<MAX_BUCKETS>(scenario, valid, bugs, &spec),
        b => Err(unusable(format!("unsupported bucket count {b}"))),
    }
}

fn run_window<const B: usize>(
    scenario: &Scenario,
    valid: ValidConfig,
    bugs: KnownBugs,
    spec: &WindowSpec,
) -> Result<Coverage, Divergence> {
    let unusable = |what: String| Divergence { step: None, op: None, what };
    let rule = spec.rule.validate().ok_or_else(|| unusable(format!("invalid rule {:?}", spec.rule)))?;
    let window = match spec.kind {
        WindowKind::Count { calls_per_bucket } => Window::<B>::count(calls_per_bucket, rule),
        WindowKind::Time { bucket_width_ms } => {
            Window::<B>::time(Duration::from_millis(bucket_width_ms), rule)
        }
    }
    .map_err(|e| unusable(format!("invalid window {spec:?}: {e}")))?;
    run_scenario(scenario, valid, bugs, window)
}

fn run_scenario<P: Policy>(
    scenario: &Scenario,
    valid: ValidConfig,
    bugs: KnownBugs,
    policy: P,
) -> Result<Coverage, Divergence> {
    let before = |what: String| Divergence { step: None, op: None, what };
    let clock = ManualClock::starting_at(Timestamp::from_millis(scenario.start_ms));
    let recorder = Recorder::default();
    let breaker: RealBreaker<'_, P> = Breaker::with_policy(BREAKER_NAME, valid, &clock, &recorder, policy);
    let mut model = Model::with_bugs(scenario.config, scenario.start_ms, bugs);
    let mut held: Vec<Held<'_, P>> = Vec::new();

    compare_state(&breaker, &recorder, &mut model, &[]).map_err(before)?;
    // BREAKER_MODEL_TRACE=1 prints every op with both sides' state after it.
    let trace = std::env::var_os("BREAKER_MODEL_TRACE").is_some();
    for (step, &op) in scenario.ops.iter().enumerate() {
        let result = run_op(op, &breaker, &clock, &recorder, &mut model, &mut held);
        if trace {
            std::eprintln!(
                "#{step} {op:?} @{}: model {:?}; real {:?}",
                model.now_ms(),
                model.phase(),
                breaker.snapshot()
            );
        }
        result.map_err(|what| Divergence {
            step: Some(step),
            op: Some(op),
            what: format!("{what} (model phase {:?})", model.phase()),
        })?;
    }
    // Finally drop whatever is still held, oldest first, checking after each (a dropped permit
    // reports Ignore; a ticket is forgotten).
    let drop_oldest = Op::Settle { index: 0, how: Settle::Drop };
    for step in scenario.ops.len()..scenario.ops.len() + held.len() {
        let result = run_op(drop_oldest, &breaker, &clock, &recorder, &mut model, &mut held);
        result.map_err(|what| Divergence { step: Some(step), op: Some(drop_oldest), what })?;
    }
    Ok(*model.coverage())
}

/// Ends `held` permit or ticket `h` as `how` says, on both sides; returns what the observer
/// should have heard.
fn settle_held<P: Policy>(
    h: Held<'_, P>,
    how: Settle,
    breaker: &RealBreaker<'_, P>,
    model: &mut Model,
    outcomes: &mut Vec<Verdict>,
) {
    let Held { real, model: m } = h;
    let verdict = match how {
        Settle::Success => Some(Verdict::Success),
        Settle::Failure => Some(Verdict::Failure),
        Settle::Ignore => Some(Verdict::Ignore),
        Settle::Drop => None,
    };
    match (real, verdict) {
        (Handle::Permit(p), Some(v)) => {
            match v {
                Verdict::Success => p.success(),
                Verdict::Failure => p.failure(),
                Verdict::Ignore => p.ignore(),
            }
            outcomes.push(model.record(&m, v));
        }
        (Handle::Permit(p), None) => {
            drop(p);
            outcomes.push(model.record(&m, Verdict::Ignore));
        }
        (Handle::Ticket(t), Some(v)) => {
            breaker.settle(t, v);
            outcomes.push(model.record(&m, v));
        }
        // A ticket that is never settled: nothing is reported, the breaker never hears of it
        // again.
        (Handle::Ticket(t), None) => {
            let _ = t;
        }
    }
}

fn run_op<'a, P: Policy>(
    op: Op,
    breaker: &'a RealBreaker<'a, P>,
    clock: &ManualClock,
    recorder: &Recorder,
    model: &mut Model,
    held: &mut Vec<Held<'a, P>>,
) -> Result<(), String> {
    let mut outcomes = Vec::new();
    match op {
        Op::Acquire => {
            let real = breaker.try_acquire();
            let m = model.acquire();
            compare_admission(real.as_ref().map(Permit::is_probe).map_err(|e| *e), &m, recorder)?;
            if let (Ok(permit), Ok(model)) = (real, m) {
                held.push(Held { real: Handle::Permit(permit), model });
            }
        }
        Op::AcquireTicket => {
            let real = breaker.try_acquire_ticket();
            let m = model.acquire();
            compare_admission(real.as_ref().map(Ticket::is_probe).map_err(|e| *e), &m, recorder)?;
            if let (Ok(ticket), Ok(model)) = (real, m) {
                held.push(Held { real: Handle::Ticket(ticket), model });
            }
        }
        Op::Call(verdict) => {
            let mut ran = false;
            let real = breaker.call_with(
                || {
                    ran = true;
                    Ok::<(), ()>(())
                },
                |_| verdict,
            );
            let m = model.acquire();
            // `call_with` does not say whether it was a probe; compare acceptance only.
            let admitted = match real {
                Ok(()) => Ok(m.as_ref().is_ok_and(ModelPermit::is_probe)),
                Err(CallError::Open(open)) => Err(open),
                Err(CallError::Inner(())) => return Err("call_with returned Inner".into()),
            };
            same!("call_with ran the closure", ran, admitted.is_ok());
            compare_admission(admitted, &m, recorder)?;
            if let Ok(permit) = m {
                outcomes.push(model.record(&permit, verdict));
            }
        }
        Op::Settle { index, how } => {
            if !held.is_empty() {
                let h = held.remove(index % held.len());
                settle_held(h, how, breaker, model, &mut outcomes);
            }
        }
        Op::SettleLast(how) => {
            if let Some(h) = held.pop() {
                settle_held(h, how, breaker, model, &mut outcomes);
            }
        }
        Op::IntoTicket { index } => {
            if !held.is_empty() {
                let i = index % held.len();
                let h = held.remove(i);
                let real = match h.real {
                    Handle::Permit(p) => Handle::Ticket(p.into_ticket()),
                    ticket => ticket,
                };
                held.insert(i, Held { real, model: h.model });
            }
        }
        Op::Advance(ms) => {
            clock.advance(Duration::from_millis(ms));
            model.advance(ms);
        }
        Op::Rewind(ms) => {
            let t = model.now_ms().wrapping_sub(ms);
            clock.set(Timestamp::from_millis(t));
            model.set_clock(t);
        }
        Op::SetClock(ms) => {
            clock.set(Timestamp::from_millis(ms));
            model.set_clock(ms);
        }
        Op::ForceOpen => {
            breaker.force_open();
            model.force_open();
        }
        Op::Disable => {
            breaker.disable();
            model.disable();
        }
        Op::Reset => {
            breaker.reset();
            model.reset();
        }
    }
    same!("clock reading", clock_ms(clock), model.now_ms());
    compare_state(breaker, recorder, model, &outcomes)
}

fn clock_ms(clock: &ManualClock) -> u64 {
    use breaker_core::Clock;
    clock.now().as_millis()
}
