//! Integration tests for the breaker crates live in `tests/`; this library holds the shared
//! reference model they check the real breaker against.
//!
//! # The model
//!
//! [`Model`] is a plain, sequential, deliberately naive re-statement of the breaker's documented
//! semantics (the module docs of the core's `transition.rs`): an enum for the phase, integers for
//! the counters, a `u64` for the clock, and no atomics, bit packing or CAS loop. It is written
//! from the documentation, not from the core's code, so the two can disagree.
//!
//! The only places where the model knows about the word are the two finite horizons the word
//! documents, both public constants of `breaker_core`:
//!
//! - the open timestamp is kept modulo `2^P = MAX_RECOVERY_TIMEOUT_MS + 1` ms, so the elapsed
//!   time is `(now - opened_at) mod 2^P` (a clock stepped back reads as a huge elapsed time);
//! - the generation is compared modulo [`GENERATIONS`], so a permit held across exactly a
//!   multiple of `GENERATIONS` state changes is taken for a current one.
//!
//! The model keeps the full clock reading and an unbounded generation count, and applies the
//! modulus only where it is observable.
//!
//! # The checker
//!
//! [`check`] runs a [`Scenario`] (a config, a starting clock reading and a list of [`Op`]s)
//! against a real [`Breaker<&ManualClock, &Recorder>`](Breaker) and the model side by side and
//! compares, after every op: `state()`, `failure_count()`, every field of `snapshot()`, the
//! accept/reject of every admission (with the rejection's state and `retry_after`, and whether a
//! permit is a probe), and every transition, rejection and outcome the observer was told about.
//! [`Scenario::from_bytes`] turns raw fuzzer input into a scenario.

use core::cell::RefCell;
use core::fmt;
use core::time::Duration;

use breaker_core::{
    Breaker, CallError, CircuitOpen, Config, ManualClock, Observer, Permit, Snapshot, State, Ticket,
    Timestamp, Transition, Trigger, ValidConfig, Verdict, GENERATIONS, MAX_FAILURE_THRESHOLD,
    MAX_HALF_OPEN_PROBES, MAX_RECOVERY_TIMEOUT_MS,
};

/// The modulus of the stored open timestamp in milliseconds (`2^P`), on this build's layout.
pub const TIME_MODULUS: u64 = MAX_RECOVERY_TIMEOUT_MS + 1;

/// The name every breaker built by [`check`] gets.
pub const BREAKER_NAME: &str = "model";

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

/// Breaker settings as plain integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModelConfig {
    /// Consecutive same-generation failures in CLOSED that open the circuit.
    pub failure_threshold: u32,
    /// How long OPEN rejects, in milliseconds.
    pub recovery_timeout_ms: u64,
    /// Probe permits HALF_OPEN hands out before their outcomes are in.
    pub half_open_probes: u32,
    /// Successful probes that close the circuit.
    pub successes_to_close: u32,
}

impl ModelConfig {
    /// The same settings as a core [`Config`].
    pub fn to_config(&self) -> Config {
        Config::new()
            .failure_threshold(self.failure_threshold)
            .recovery_timeout(Duration::from_millis(self.recovery_timeout_ms))
            .half_open_probes(self.half_open_probes)
            .successes_to_close(self.successes_to_close)
    }

    /// The validated core config, if the settings are valid.
    pub fn validate(&self) -> Option<ValidConfig> {
        self.to_config().validate().ok()
    }
}

/// The model's state, with the data each state carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Counting consecutive failures.
    Closed {
        /// Failures counted in this generation.
        failures: u32,
    },
    /// Rejecting until the recovery timeout has passed.
    Open {
        /// The full clock reading (ms) when the circuit opened.
        opened_at_ms: u64,
    },
    /// Admitting a limited number of probes.
    HalfOpen {
        /// Probe permits handed out in this cycle and not given back.
        issued: u32,
        /// Probes that succeeded in this cycle.
        successes: u32,
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
    /// The state that rejected.
    pub state: State,
    /// Milliseconds until a probe will be admitted, while OPEN.
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
    /// The clock reading that decided the change, when it needed one.
    pub at_ms: Option<u64>,
    /// The generation entered, modulo [`GENERATIONS`].
    pub generation: u32,
}

/// What the model expects `Breaker::snapshot` to show (minus the constant name and threshold).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModelSnapshot {
    /// The state.
    pub state: State,
    /// Failures counted in CLOSED, else 0.
    pub failure_count: u32,
    /// Probes admitted this half-open cycle and still out, else 0.
    pub probes_in_flight: u32,
    /// Probes that succeeded this half-open cycle, else 0.
    pub probe_successes: u32,
    /// While OPEN: milliseconds until a probe is admitted (0 once the timeout has passed).
    pub retry_after_ms: Option<u64>,
    /// The generation modulo [`GENERATIONS`].
    pub generation: u32,
}

/// The sequential reference model of one breaker and its clock.
///
/// # Examples
///
/// ```
/// use breaker_core::{State, Verdict};
/// use breaker_tests::{Model, ModelConfig};
///
/// let config = ModelConfig {
///     failure_threshold: 2,
///     recovery_timeout_ms: 100,
///     half_open_probes: 1,
///     successes_to_close: 1,
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
    transitions: Vec<ModelTransition>,
}

impl Model {
    /// A closed breaker, generation 0, with the clock reading `now_ms`.
    pub fn new(config: ModelConfig, now_ms: u64) -> Self {
        Model { config, phase: Phase::Closed { failures: 0 }, generation: 0, now_ms, transitions: Vec::new() }
    }

    /// The settings.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
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

    /// Failures counted in CLOSED, else 0.
    pub fn failure_count(&self) -> u32 {
        match self.phase {
            Phase::Closed { failures } => failures,
            _ => 0,
        }
    }

    /// The generation as the breaker shows it (modulo [`GENERATIONS`]).
    pub fn generation(&self) -> u32 {
        (self.generation % u64::from(GENERATIONS)) as u32
    }

    /// Milliseconds since the circuit opened, modulo [`TIME_MODULUS`]: the stored timestamp has
    /// only that many distinct values, so a clock that went backwards reads as a long time.
    fn elapsed_since(&self, opened_at_ms: u64) -> u64 {
        // TIME_MODULUS divides 2^64, so reducing the wrapped difference is exact.
        self.now_ms.wrapping_sub(opened_at_ms) % TIME_MODULUS
    }

    /// What `snapshot()` should show now.
    pub fn snapshot(&self) -> ModelSnapshot {
        let mut s = ModelSnapshot {
            state: self.state(),
            failure_count: self.failure_count(),
            probes_in_flight: 0,
            probe_successes: 0,
            retry_after_ms: None,
            generation: self.generation(),
        };
        match self.phase {
            Phase::Open { opened_at_ms } => {
                let elapsed = self.elapsed_since(opened_at_ms);
                s.retry_after_ms = Some(self.config.recovery_timeout_ms.saturating_sub(elapsed));
            }
            Phase::HalfOpen { issued, successes } => {
                s.probes_in_flight = issued.saturating_sub(successes);
                s.probe_successes = successes;
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
        self.transitions.push(ModelTransition {
            from,
            to: to.state(),
            trigger,
            failure_count,
            open_for_ms,
            at_ms,
            generation: self.generation(),
        });
    }

    /// Asks to make a call.
    pub fn acquire(&mut self) -> Result<ModelPermit, ModelRejection> {
        let permit = |model: &Model, kind| ModelPermit { generation: model.generation, kind };
        match self.phase {
            Phase::Closed { failures } => Ok(permit(self, PermitKind::Closed { clean: failures == 0 })),
            Phase::Open { opened_at_ms } => {
                let elapsed = self.elapsed_since(opened_at_ms);
                let timeout = self.config.recovery_timeout_ms;
                if elapsed >= timeout {
                    let now = self.now_ms;
                    self.change_to(
                        Phase::HalfOpen { issued: 1, successes: 0 },
                        Trigger::RecoveryTimeout,
                        0,
                        Some(elapsed),
                        Some(now),
                    );
                    Ok(permit(self, PermitKind::Probe))
                } else {
                    Err(ModelRejection { state: State::Open, retry_after_ms: Some(timeout - elapsed) })
                }
            }
            Phase::HalfOpen { issued, successes } => {
                if issued < self.config.half_open_probes {
                    self.phase = Phase::HalfOpen { issued: issued + 1, successes };
                    Ok(permit(self, PermitKind::Probe))
                } else {
                    Err(ModelRejection { state: State::HalfOpen, retry_after_ms: None })
                }
            }
            Phase::ForcedOpen => Err(ModelRejection { state: State::ForcedOpen, retry_after_ms: None }),
            Phase::Disabled => Ok(permit(self, PermitKind::Disabled)),
        }
    }

    /// Reports how a permitted call went. Dropping a permit is `Verdict::Ignore`.
    pub fn record(&mut self, permit: &ModelPermit, verdict: Verdict) {
        match (permit.kind, verdict) {
            // Counts nothing, ever.
            (PermitKind::Disabled, _) => return,
            // Linearized at admission, where there were no failures to clear.
            (PermitKind::Closed { clean: true }, Verdict::Success) => return,
            // Neither success nor failure, and a closed permit holds no slot.
            (PermitKind::Closed { .. }, Verdict::Ignore) => return,
            _ => {}
        }
        // A permit from another cycle changes nothing. The breaker can tell cycles apart only
        // modulo GENERATIONS.
        let gens = u64::from(GENERATIONS);
        if permit.generation % gens != self.generation % gens {
            return;
        }
        let threshold = self.config.failure_threshold;
        let now = self.now_ms;
        match (self.phase, permit.kind, verdict) {
            (Phase::Closed { .. }, PermitKind::Closed { .. }, Verdict::Success) => {
                self.phase = Phase::Closed { failures: 0 };
            }
            (Phase::Closed { failures }, PermitKind::Closed { .. }, Verdict::Failure) => {
                let failures = failures + 1;
                if failures >= threshold {
                    self.change_to(
                        Phase::Open { opened_at_ms: now },
                        Trigger::FailureThreshold,
                        failures,
                        None,
                        Some(now),
                    );
                } else {
                    self.phase = Phase::Closed { failures };
                }
            }
            (Phase::HalfOpen { issued, successes }, PermitKind::Probe, Verdict::Success) => {
                let successes = successes + 1;
                if successes >= self.config.successes_to_close {
                    self.change_to(Phase::Closed { failures: 0 }, Trigger::ProbeSucceeded, 0, None, None);
                } else {
                    // The success keeps its slot for the rest of the cycle.
                    self.phase = Phase::HalfOpen { issued, successes };
                }
            }
            (Phase::HalfOpen { .. }, PermitKind::Probe, Verdict::Failure) => {
                self.change_to(Phase::Open { opened_at_ms: now }, Trigger::ProbeFailed, 1, None, Some(now));
            }
            (Phase::HalfOpen { issued, successes }, PermitKind::Probe, Verdict::Ignore) => {
                // The slot goes back. (`issued` is at least 1 unless generations aliased.)
                self.phase = Phase::HalfOpen { issued: issued.saturating_sub(1), successes };
            }
            // A kind this phase never hands out: only possible after generations aliased.
            _ => {}
        }
    }

    /// Opens the circuit until a reset.
    pub fn force_open(&mut self) {
        if self.phase != Phase::ForcedOpen {
            let failures = self.failure_count();
            self.change_to(Phase::ForcedOpen, Trigger::ForceOpen, failures, None, None);
        }
    }

    /// Closes the circuit ("force closed") until a reset.
    pub fn disable(&mut self) {
        if self.phase != Phase::Disabled {
            let failures = self.failure_count();
            self.change_to(Phase::Disabled, Trigger::Disable, failures, None, None);
        }
    }

    /// Back to CLOSED with no failures in a new generation, from any state.
    pub fn reset(&mut self) {
        let failures = self.failure_count();
        self.change_to(Phase::Closed { failures: 0 }, Trigger::Reset, failures, None, None);
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
    /// The breaker's settings (must be valid).
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

    fn u64(&mut self) -> u64 {
        let mut b = [0; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }

    /// A time span that is interesting for a breaker with recovery timeout `timeout`.
    fn span(&mut self, timeout: u64) -> u64 {
        let m = TIME_MODULUS;
        let small = u64::from(self.u8());
        match self.u8() % 12 {
            0 => small,
            1 => timeout,
            2 => timeout.saturating_sub(1 + small % 4),
            3 => timeout + small % 4,
            4 => u64::from(self.u16()),
            5 => m - 1 - small % 4,
            6 => m + small % 4,
            7 => m.saturating_sub(timeout) + small % 4,
            8 => m.saturating_sub(timeout).saturating_sub(1 + small % 4),
            9 => m.wrapping_mul(1 + small % 4).wrapping_add(u64::from(self.u16())),
            10 => self.u64(),
            _ => timeout / 2 + small,
        }
    }
}

impl Scenario {
    /// Decodes arbitrary bytes (fuzzer input) into a valid scenario: a few bytes for the config
    /// and starting clock, then one op per tag byte with its arguments. Never fails.
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
        let max = MAX_RECOVERY_TIMEOUT_MS;
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
        let config =
            ModelConfig { failure_threshold, recovery_timeout_ms, half_open_probes, successes_to_close };
        let mut ops = Vec::new();
        while !b.data.is_empty() && ops.len() < MAX_OPS {
            let tag = b.u8();
            let op = match tag % 32 {
                0..=6 => Op::Acquire,
                7 => Op::AcquireTicket,
                8..=9 => Op::Call(match b.u8() % 3 {
                    0 => Verdict::Success,
                    1 => Verdict::Failure,
                    _ => Verdict::Ignore,
                }),
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
                21..=25 => Op::Advance(b.span(recovery_timeout_ms)),
                26 => Op::Rewind(b.span(recovery_timeout_ms)),
                27 => Op::SetClock(b.u64()),
                28 => Op::ForceOpen,
                29 => Op::Disable,
                _ => Op::Reset,
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

type RealBreaker<'a> = Breaker<&'a ManualClock, &'a Recorder>;

/// A permit or ticket the scenario holds, with the model's counterpart.
enum Handle<'a> {
    Permit(Permit<'a, &'a ManualClock, &'a Recorder>),
    Ticket(Ticket),
}

struct Held<'a> {
    real: Handle<'a>,
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
        model.at_ms.map(Timestamp::from_millis),
        model.generation,
    );
    same!(
        "transition (name, from, to, trigger, failure_count, threshold, open_for, at, generation)",
        real_fields,
        model_fields
    );
    Ok(())
}

/// Compares everything observable after one op.
fn compare_state(
    breaker: &RealBreaker<'_>,
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
        m.generation,
    );
    same!(
        "snapshot (name, state, failure_count, threshold, probes_in_flight, probe_successes, retry_after, generation)",
        real_fields,
        model_fields
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

/// Runs `scenario` against a real breaker (with a [`ManualClock`] and a [`Recorder`]) and the
/// [`Model`] side by side and returns the first disagreement.
///
/// # Examples
///
/// ```
/// use breaker_tests::{check, ModelConfig, Op, Scenario, Settle};
///
/// let scenario = Scenario {
///     config: ModelConfig {
///         failure_threshold: 1,
///         recovery_timeout_ms: 10,
///         half_open_probes: 1,
///         successes_to_close: 1,
///     },
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
pub fn check(scenario: &Scenario) -> Result<(), Divergence> {
    let before = |what: String| Divergence { step: None, op: None, what };
    let valid =
        scenario.config.validate().ok_or_else(|| before(format!("invalid config {:?}", scenario.config)))?;
    let clock = ManualClock::starting_at(Timestamp::from_millis(scenario.start_ms));
    let recorder = Recorder::default();
    let breaker: RealBreaker<'_> = Breaker::with_observer(BREAKER_NAME, valid, &clock, &recorder);
    let mut model = Model::new(scenario.config, scenario.start_ms);
    let mut held: Vec<Held<'_>> = Vec::new();

    compare_state(&breaker, &recorder, &mut model, &[]).map_err(before)?;
    for (step, &op) in scenario.ops.iter().enumerate() {
        let result = run_op(op, &breaker, &clock, &recorder, &mut model, &mut held);
        result.map_err(|what| Divergence { step: Some(step), op: Some(op), what })?;
    }
    // Finally drop whatever is still held, oldest first, checking after each (a dropped permit
    // reports Ignore; a ticket is forgotten).
    let drop_oldest = Op::Settle { index: 0, how: Settle::Drop };
    for step in scenario.ops.len()..scenario.ops.len() + held.len() {
        let result = run_op(drop_oldest, &breaker, &clock, &recorder, &mut model, &mut held);
        result.map_err(|what| Divergence { step: Some(step), op: Some(drop_oldest), what })?;
    }
    Ok(())
}

fn run_op<'a>(
    op: Op,
    breaker: &'a RealBreaker<'a>,
    clock: &ManualClock,
    recorder: &Recorder,
    model: &mut Model,
    held: &mut Vec<Held<'a>>,
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
                model.record(&permit, verdict);
                outcomes.push(verdict);
            }
        }
        Op::Settle { index, how } => {
            if !held.is_empty() {
                let Held { real, model: m } = held.remove(index % held.len());
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
                        model.record(&m, v);
                        outcomes.push(v);
                    }
                    (Handle::Permit(p), None) => {
                        drop(p);
                        model.record(&m, Verdict::Ignore);
                        outcomes.push(Verdict::Ignore);
                    }
                    (Handle::Ticket(t), Some(v)) => {
                        breaker.settle(t, v);
                        model.record(&m, v);
                        outcomes.push(v);
                    }
                    // A ticket that is never settled: nothing is reported, the breaker never
                    // hears of it again.
                    (Handle::Ticket(t), None) => {
                        let _ = t;
                    }
                }
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
