//! The sequential reference model ([`Model`]; see the crate docs): its phase, permits,
//! snapshot and transitions, the core's known deviations ([`KnownBugs`]) and what a run
//! exercised ([`Coverage`]). The rate window is in `window.rs`.

use breaker_core::limits::{GENERATIONS, MAX_OPEN_MS, MAX_PHASE_TIMER_MS};
use breaker_core::{State, Trigger, Verdict};

#[cfg(doc)]
use crate::check;
use crate::config::ModelConfig;
#[cfg(doc)]
use breaker_core::limits::JUMP_EPOCHS;
#[cfg(doc)]
use breaker_core::{Transition, WindowStats};

mod lifecycle;
mod window;

pub use lifecycle::{crc32, same_error, ModelSaved, Saved};
pub use window::{Bucket, ModelWindow, EPOCH_TAGS, GEN_TAGS, WORD_BITS};

/// The modulus of the stored open timestamp in milliseconds (`2^T`), on this build's layout.
pub const TIME_MODULUS: u64 = MAX_OPEN_MS + 1;

/// The modulus of the phase stamp in milliseconds (`2^(W − G)`), on this build's layout.
pub const STAMP_MODULUS: u64 = 2 * (MAX_PHASE_TIMER_MS + 1);

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
/// current bucket (64-bit layout); a trip leaving the window's "filled" mark, and the mark of
/// generation `2^G − 1` reading as none; a restore from HALF_OPEN into OPEN counted as a failed
/// probe.
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
    ForcedClosed,
}

impl Phase {
    /// The public state this phase shows as.
    pub fn state(&self) -> State {
        match self {
            Phase::Closed { .. } => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
            Phase::ForcedOpen => State::ForcedOpen,
            Phase::ForcedClosed => State::ForcedClosed,
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
    ForcedClosed,
}

/// A permit handed out by the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModelPermit {
    /// The model's (unbounded) generation count at admission.
    pub generation: u64,
    /// What it was admitted as.
    pub kind: PermitKind,
    /// The clock reading at admission (the start of the call, for slow-call tracking and the
    /// abandoned-call rule).
    pub started_ms: u64,
    /// Whether the breaker read the clock at admission: with slow-call tracking, or while the
    /// abandoned-call rule is set. An untimed permit is never slow, and its drop is neither.
    pub timed: bool,
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
    /// The state ([`Model::state`]: HALF_OPEN for an OPEN breaker ready to probe).
    pub state: State,
    /// Failures counted in CLOSED (consecutive ones, or the window's); while OPEN or HALF_OPEN
    /// those that opened the breaker plus its failed probes since; else 0.
    pub failure_count: u32,
    /// Probes admitted this half-open cycle and still out, else 0.
    pub probes_in_flight: u32,
    /// Probes that succeeded this half-open cycle, else 0.
    pub probe_successes: u32,
    /// While OPEN: milliseconds until a probe is admitted (`None` once the open duration has
    /// passed: the breaker shows as ready to probe).
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
    pub transitions: [u64; 11],
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
    /// Permits dropped late enough to count as failures (the abandoned-call rule).
    pub abandoned: u64,
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
    /// Restarts: a fresh breaker restored from the old one's saved state.
    pub restarts: u64,
    /// Restores that succeeded in place (same state, no new generation).
    pub restores_in_place: u64,
    /// Restores into OPEN that changed the state (the open time left carried over).
    pub restored_open: u64,
    /// Restores refused with a `RestoreError` (the breaker left as it was).
    pub restore_errors: u64,
    /// Saved states whose bytes were refused by `SavedState::from_bytes`.
    pub bytes_rejected: u64,
    /// Reconfigurations applied (the config in force changed).
    pub reconfigurations: u64,
    /// Reconfigurations refused as invalid (the old config kept).
    pub reconfigure_errors: u64,
    /// Reconfigurations applied while OPEN or HALF_OPEN.
    pub reconfigured_mid_recovery: u64,
    /// Failures recorded in CLOSED with a pending count already at or above a lowered threshold.
    pub over_threshold: u64,
}

impl Coverage {
    /// The triggers counted in [`Coverage::transitions`], in order.
    pub const TRIGGERS: [Trigger; 11] = [
        Trigger::FailureThreshold,
        Trigger::FailureRate,
        Trigger::SlowCallRate,
        Trigger::RecoveryTimeout,
        Trigger::ProbeSucceeded,
        Trigger::ProbeFailed,
        Trigger::ProbeTimeout,
        Trigger::ForceOpen,
        Trigger::ForceClosed,
        Trigger::Reset,
        Trigger::Restore,
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
        self.abandoned += other.abandoned;
        self.promoted += other.promoted;
        self.window_records += other.window_records;
        self.window_dropped += other.window_dropped;
        self.window_saturated += other.window_saturated;
        self.learned += other.learned;
        self.restarts += other.restarts;
        self.restores_in_place += other.restores_in_place;
        self.restored_open += other.restored_open;
        self.restore_errors += other.restore_errors;
        self.bytes_rejected += other.bytes_rejected;
        self.reconfigurations += other.reconfigurations;
        self.reconfigure_errors += other.reconfigure_errors;
        self.reconfigured_mid_recovery += other.reconfigured_mid_recovery;
        self.over_threshold += other.over_threshold;
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
    /// Acquisitions seen during the current ramp, for rationing: the generation (modulo
    /// [`GENERATIONS`]) of the ramp they belong to and their count modulo 1000 (rationing
    /// repeats every 1000 calls). A ramp of another generation starts its own count at 0.
    ramp_calls: (u32, u32),
    /// The failures shown while OPEN and HALF_OPEN: those that opened the breaker (the
    /// threshold, or the window's failures at the trip), plus one per failed or timed-out probe
    /// since it last closed. Set by every transition into OPEN or HALF_OPEN.
    open_failures: u32,
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
            ramp_calls: (0, 0),
            open_failures: 0,
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

    /// For the checker's own counts.
    pub(crate) fn coverage_mut(&mut self) -> &mut Coverage {
        &mut self.coverage
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

    /// The public state: the phase's, except that an OPEN breaker whose open duration has
    /// passed shows as HALF_OPEN (ready to probe: the next call is the probe), before any call
    /// has moved it there.
    pub fn state(&self) -> State {
        match self.phase {
            Phase::Open { opened_at_ms, level } if self.open_left_ms(opened_at_ms, level).is_none() => {
                State::HalfOpen
            }
            phase => phase.state(),
        }
    }

    /// While OPEN: the milliseconds until a probe is admitted, `None` once the open duration
    /// has passed.
    fn open_left_ms(&self, opened_at_ms: u64, level: u32) -> Option<u64> {
        let elapsed = self.open_elapsed(opened_at_ms);
        let open_ms = self.config.open_ms(level, self.generation());
        (elapsed < open_ms).then(|| open_ms - elapsed)
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

    /// Failures counted in CLOSED (consecutive ones, or those in the rate window); while OPEN
    /// or HALF_OPEN, the failures that opened the breaker plus its failed probes since it last
    /// closed; 0 when forced open or disabled.
    pub fn failure_count(&self) -> u32 {
        match (self.phase, self.window_figures()) {
            (_, Some(w)) => w.failures,
            (Phase::Closed { failures, .. }, None) => failures,
            (Phase::Open { .. } | Phase::HalfOpen { .. }, None) => self.open_failures,
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
                // `None` once the open duration has passed: the breaker shows as ready to
                // probe (HALF_OPEN with no probe in flight).
                s.retry_after_ms = self.open_left_ms(opened_at_ms, level);
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
        let from = self.phase.state();
        if matches!(to, Phase::Open { .. } | Phase::HalfOpen { .. }) {
            self.open_failures = failure_count;
        }
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
        let timed = self.config.slow_calls().is_some() || self.config.abandoned_ms.is_some();
        let permit =
            |model: &Model, kind| ModelPermit { generation: model.generation, kind, started_ms: now, timed };
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
                let gen = self.generation();
                let n = match self.ramp_calls {
                    (ramp, n) if ramp == gen => n,
                    _ => 0,
                };
                self.ramp_calls = (gen, (n + 1) % 1000);
                let n = u64::from(n);
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
                        self.open_failures,
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
                let failures = self.open_failures.saturating_add(1);
                self.change_to(self.open_now(level), Trigger::ProbeTimeout, failures, None, Some(now));
                Err(ModelRejection {
                    state: State::Open,
                    retry_after_ms: Some(self.config.open_ms(level, self.generation())),
                })
            }
            Phase::ForcedOpen => Err(ModelRejection { state: State::ForcedOpen, retry_after_ms: None }),
            Phase::ForcedClosed => Ok(permit(self, PermitKind::ForcedClosed)),
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
        if permit.kind == PermitKind::ForcedClosed || verdict == Verdict::Ignore || !permit.timed {
            return (verdict, false);
        }
        let is_slow = self.took(permit) >= slow.threshold_ms;
        self.coverage.slow_calls += u64::from(is_slow);
        if is_slow && verdict == Verdict::Success && slow.as_failure {
            self.coverage.promoted += 1;
            (Verdict::Failure, true)
        } else {
            (verdict, is_slow)
        }
    }

    /// How long `permit` has been out: the breaker measures a call modulo 2^44 ms and reads a
    /// difference of 2^43 ms or more as a clock that went back (duration 0).
    fn took(&self, permit: &ModelPermit) -> u64 {
        const MODULUS: u64 = 1 << 44;
        let d = self.now_ms.wrapping_sub(permit.started_ms) % MODULUS;
        if d >= MODULUS / 2 {
            0
        } else {
            d
        }
    }

    /// A permit dropped without a verdict: neither, unless the abandoned-call rule is set now,
    /// the permit was timed, and it has been out at least the rule's limit: then a failure.
    /// Returns what the observer hears, as [`record`](Model::record).
    pub fn drop_permit(&mut self, permit: &ModelPermit) -> Verdict {
        let verdict = match self.config.abandoned_ms {
            Some(after) if permit.timed && self.took(permit) >= after => {
                self.coverage.abandoned += 1;
                Verdict::Failure
            }
            _ => Verdict::Ignore,
        };
        self.record(permit, verdict)
    }

    /// `true` if `permit` belongs to the current cycle, as far as the breaker can tell
    /// (generations compared modulo [`GENERATIONS`]).
    fn is_current(&self, permit: &ModelPermit) -> bool {
        let gens = u64::from(GENERATIONS);
        permit.generation % gens == self.generation % gens
    }

    /// Reports how a permitted call went (dropping a permit is `Verdict::Ignore`); returns the
    /// verdict the observer hears (a slow success may have been promoted to a failure).
    ///
    /// A slow probe counts against recovery, as a failed probe, whether or not slow calls count
    /// as failures; unpromoted, the observer still hears the success it was.
    pub fn record(&mut self, permit: &ModelPermit, verdict: Verdict) -> Verdict {
        let (heard, slow) = self.classify(permit, verdict);
        let verdict =
            if permit.is_probe() && slow && heard == Verdict::Success { Verdict::Failure } else { heard };
        let rate = self.window.is_some();
        match (permit.kind, verdict) {
            // Counts nothing, ever.
            (PermitKind::ForcedClosed, _) => return verdict,
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
            return heard;
        }
        let threshold = self.config.failure_threshold;
        let now = self.now_ms;
        match (self.phase, permit.kind, verdict) {
            (Phase::Closed { ramping, .. }, PermitKind::Closed { .. }, Verdict::Success) => {
                self.phase = Phase::Closed { failures: 0, ramping };
            }
            (Phase::Closed { failures, ramping }, PermitKind::Closed { .. }, Verdict::Failure) => {
                self.coverage.over_threshold += u64::from(failures >= threshold);
                let failures = failures + 1;
                if failures >= threshold {
                    // Reported (and shown while OPEN) as the threshold, as `Transition` and
                    // `health.rs` document it: also when a lowered threshold left the pending
                    // count above it, so that this failure makes more than the threshold.
                    let at = threshold;
                    self.change_to(self.open_now(0), Trigger::FailureThreshold, at, None, Some(now));
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
                let failures = self.open_failures.saturating_add(1);
                self.change_to(self.open_now(level), Trigger::ProbeFailed, failures, None, Some(now));
            }
            (Phase::HalfOpen { issued, successes, level }, PermitKind::Probe, Verdict::Ignore) => {
                // The slot goes back. (`issued` is at least 1 unless generations aliased.)
                self.phase = Phase::HalfOpen { issued: issued.saturating_sub(1), successes, level };
            }
            // A kind this phase never hands out: only possible after generations aliased.
            _ => {}
        }
        heard
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

    /// The failures a manual transition reports: in CLOSED the word's consecutive-failure
    /// count, which a rate policy never uses (so 0 with a rate policy); while OPEN or HALF_OPEN
    /// the count shown there.
    fn manual_failures(&self) -> u32 {
        match self.phase {
            Phase::Closed { failures, .. } => failures,
            Phase::Open { .. } | Phase::HalfOpen { .. } => self.open_failures,
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
    pub fn force_closed(&mut self) {
        if self.phase != Phase::ForcedClosed {
            let failures = self.manual_failures();
            self.change_to(Phase::ForcedClosed, Trigger::ForceClosed, failures, None, None);
        }
    }

    /// Back to CLOSED with no failures in a new generation, from any state, without backoff
    /// and without a ramp.
    pub fn reset(&mut self) {
        let failures = self.manual_failures();
        self.change_to(Phase::Closed { failures: 0, ramping: false }, Trigger::Reset, failures, None, None);
    }
}
