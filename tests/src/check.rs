//! The checker: the [`Recorder`] observer, [`check`] / [`check_counting`] and the step-by-step
//! comparison of the real breaker with the model.

use core::cell::RefCell;
use core::fmt;
use core::time::Duration;

use breaker_core::limits::MAX_BUCKETS;
use breaker_core::{
    Breaker, CallError, CircuitOpen, Consecutive, ManualClock, Observer, Permit, Policy, ReconfigureError,
    RestoreError, SavedState, Snapshot, Ticket, Timestamp, Transition, ValidConfig, Verdict, Window,
    WindowStats,
};

use crate::config::{shown, ModelPolicy, Settings, WindowKind, WindowSpec};
use crate::model::{
    crc32, same_error, Coverage, KnownBugs, Model, ModelPermit, ModelRejection, ModelSaved, ModelTransition,
    WindowFigures,
};
use crate::scenario::{Op, Scenario, Settle};

/// The name every breaker built by [`check`] gets.
pub const BREAKER_NAME: &str = "model";

/// An [`Observer`] that keeps every transition, for integration tests that share a breaker
/// across threads (it is `Sync`, unlike [`Recorder`]).
///
/// ```
/// use breaker_core::{Breaker, Config, ManualClock, State};
/// use breaker_tests::TransitionLog;
///
/// let b = Breaker::with_observer("db", Config::new().failure_threshold(1).validate().unwrap(), ManualClock::new(), TransitionLog::default());
/// let _ = b.call(|| Err::<(), _>("down"));
/// assert_eq!(b.observer().last().to, State::Open);
/// ```
#[derive(Debug, Default)]
pub struct TransitionLog(std::sync::Mutex<Vec<Transition>>);

impl TransitionLog {
    /// `(from, to, trigger)` of every transition so far.
    pub fn all(&self) -> Vec<(breaker_core::State, breaker_core::State, breaker_core::Trigger)> {
        self.0.lock().unwrap().iter().map(|t| (t.from, t.to, t.trigger)).collect()
    }

    /// The newest transition; panics if there is none.
    pub fn last(&self) -> Transition {
        *self.0.lock().unwrap().last().expect("a transition")
    }
}

impl Observer for TransitionLog {
    fn on_transition(&self, t: &Transition) {
        self.0.lock().unwrap().push(*t);
    }
}

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
    /// That op (boxed: a reconfiguration carries a whole config).
    pub op: Option<Box<Op>>,
    /// What differed, with both sides' values.
    pub what: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.step, self.op.as_deref()) {
            (Some(step), Some(op)) => write!(f, "after op #{step} ({op:?}): {}", self.what),
            _ => write!(f, "before any op: {}", self.what),
        }
    }
}

impl core::error::Error for Divergence {}

type RealBreaker<'a, P> = Breaker<&'a ManualClock, &'a Recorder, P>;

/// A permit or ticket the scenario holds, with the model's counterpart.
enum Handle<'a, P: Policy> {
    Permit(Permit<&'a Breaker<&'a ManualClock, &'a Recorder, P>>),
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
    same!("config() in force", shown(&breaker.config()), model.config().settings().shown());

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
        return run_scenario(scenario, valid, bugs, || Consecutive);
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
    let build = || match spec.kind {
        WindowKind::Count { calls_per_bucket } => Window::<B>::count(calls_per_bucket, rule),
        WindowKind::Time { bucket_width_ms } => {
            Window::<B>::time(Duration::from_millis(bucket_width_ms), rule)
        }
    };
    build().map_err(|e| unusable(format!("invalid window {spec:?}: {e}")))?;
    // Every breaker of the scenario (one more per restart) gets a fresh, empty window.
    run_scenario(scenario, valid, bugs, || build().expect("built once already"))
}

fn run_scenario<P: Policy>(
    scenario: &Scenario,
    valid: ValidConfig,
    bugs: KnownBugs,
    policy: impl Fn() -> P,
) -> Result<Coverage, Divergence> {
    let before = |what: String| Divergence { step: None, op: None, what };
    let clock = ManualClock::starting_at(Timestamp::from_millis(scenario.start_ms));
    let recorder = Recorder::default();
    let mut model = Model::with_bugs(scenario.config, scenario.start_ms, bugs);
    // BREAKER_MODEL_TRACE=1 prints every op with both sides' state after it.
    let trace = std::env::var_os("BREAKER_MODEL_TRACE").is_some();
    let ops = &scenario.ops;
    // One breaker per process lifetime: a `Restart` ends the inner loop, the next breaker is
    // built fresh and restored from what the last one saved.
    let mut config = valid;
    let mut restored: Option<(usize, Op, SavedState, ModelSaved)> = None;
    let mut next = 0;
    loop {
        let breaker: RealBreaker<'_, P> =
            Breaker::with_policy(BREAKER_NAME, config, &clock, &recorder, policy());
        let mut held: Vec<Held<'_, P>> = Vec::new();
        match restored.take() {
            None => compare_state(&breaker, &recorder, &mut model, &[]).map_err(before)?,
            Some((step, op, real, saved)) => {
                let result = restore_fresh(&breaker, &recorder, &mut model, &real, &saved);
                if trace {
                    std::eprintln!(
                        "#{step} {op:?} (restored) model {:?}; real {:?}",
                        model.phase(),
                        breaker.snapshot()
                    );
                }
                result.map_err(|what| Divergence {
                    step: Some(step),
                    op: Some(Box::new(op)),
                    what: format!("{what} (model phase {:?})", model.phase()),
                })?;
            }
        }
        while next < ops.len() {
            let (step, op) = (next, ops[next]);
            next += 1;
            if let Op::Restart { down_ms, keep_config } = op {
                let fail = |what: String| Divergence { step: Some(step), op: Some(Box::new(op)), what };
                let real = breaker.save();
                let saved = model.save();
                compare_saved(&real, &saved).map_err(fail)?;
                let back = SavedState::from_bytes(&real.to_bytes());
                if back != Ok(real) {
                    return Err(fail(format!("from_bytes(to_bytes()) of {real:?} gave {back:?}")));
                }
                // The process dies with its permits: nothing is reported for them.
                for h in held.drain(..) {
                    if let Handle::Permit(p) = h.real {
                        core::mem::forget(p);
                    }
                }
                clock.advance(Duration::from_millis(down_ms));
                model.advance(down_ms);
                let model_config = if keep_config {
                    config = breaker.config();
                    *model.config()
                } else {
                    config = valid;
                    scenario.config
                };
                model.restart(model_config);
                restored = Some((step, op, real, saved));
                break;
            }
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
                op: Some(Box::new(op)),
                what: format!("{what} (model phase {:?})", model.phase()),
            })?;
        }
        if restored.is_some() {
            continue;
        }
        // Finally drop whatever is still held, oldest first, checking after each (a dropped
        // permit reports Ignore; a ticket is forgotten).
        let drop_oldest = Op::Settle { index: 0, how: Settle::Drop };
        for step in ops.len()..ops.len() + held.len() {
            let result = run_op(drop_oldest, &breaker, &clock, &recorder, &mut model, &mut held);
            result.map_err(|what| Divergence { step: Some(step), op: Some(Box::new(drop_oldest)), what })?;
        }
        return Ok(*model.coverage());
    }
}

/// Compares a real saved state with the model's, accessor by accessor and byte by byte.
fn compare_saved(real: &SavedState, model: &ModelSaved) -> Result<(), String> {
    same!(
        "save() (state, failure_count, backoff_level, retry_after, layout)",
        (real.state(), real.failure_count(), real.backoff_level(), real.retry_after(), real.layout()),
        (
            model.state(),
            model.failure_count(),
            model.backoff_level(),
            model.retry_after_ms().map(Duration::from_millis),
            model.layout_name()
        )
    );
    same!("save().to_bytes()", real.to_bytes(), model.to_bytes());
    Ok(())
}

/// Compares the results of a restore (errors up to what the docs leave open).
fn compare_restore(real: Result<(), RestoreError>, model: Result<(), RestoreError>) -> Result<(), String> {
    let same = match (&real, &model) {
        (Ok(()), Ok(())) => true,
        (Err(r), Err(m)) => same_error(r, m),
        _ => false,
    };
    if !same {
        return Err(format!("restore: real {real:?}, model {model:?}"));
    }
    Ok(())
}

/// The second half of a restart: the fresh breaker is restored from what the old one saved.
fn restore_fresh<P: Policy>(
    breaker: &RealBreaker<'_, P>,
    recorder: &Recorder,
    model: &mut Model,
    real: &SavedState,
    saved: &ModelSaved,
) -> Result<(), String> {
    // Nothing of the fresh breaker before its restore: it reports nothing when built.
    same!("fresh breaker's generation", breaker.snapshot().generation, 0);
    compare_restore(breaker.restore(real), model.restore(saved))?;
    compare_state(breaker, recorder, model, &[])
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
                _ => p.ignore(),
            }
            outcomes.push(model.record(&m, v));
        }
        (Handle::Permit(p), None) => {
            drop(p);
            outcomes.push(model.drop_permit(&m));
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
                |_: &Result<(), ()>| verdict,
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
        Op::ForceClosed => {
            breaker.force_closed();
            model.force_closed();
        }
        Op::Reset => {
            breaker.reset();
            model.reset();
        }
        // Handled by `run_scenario`, which replaces the breaker.
        Op::Restart { .. } => return Err("Restart reached run_op".into()),
        Op::RestoreOwn => {
            let real = breaker.save();
            let saved = model.save();
            compare_saved(&real, &saved)?;
            compare_restore(breaker.restore(&real), model.restore(&saved))?;
        }
        Op::RestoreBytes { index, xor, reseal } => {
            let real = breaker.save();
            let saved = model.save();
            compare_saved(&real, &saved)?;
            let mut bytes = real.to_bytes();
            bytes[index % SavedState::BYTES] ^= xor;
            if reseal {
                let crc = crc32(&bytes[..20]).to_le_bytes();
                bytes[20..].copy_from_slice(&crc);
            }
            match (SavedState::from_bytes(&bytes), ModelSaved::from_bytes(&bytes)) {
                (Ok(real), Ok(saved)) => {
                    compare_saved(&real, &saved)?;
                    compare_restore(breaker.restore(&real), model.restore(&saved))?;
                }
                (Err(r), Err(m)) if same_error(&r, &m) => model.coverage_mut().bytes_rejected += 1,
                (real, model) => {
                    return Err(format!("from_bytes({bytes:?}): real {real:?}, model {model:?}"))
                }
            }
        }
        Op::Reconfigure(settings) => {
            let real = breaker.reconfigure(settings.to_config());
            compare_reconfigure(real, model.reconfigure(settings))?;
        }
        Op::UpdateConfig(edit) => {
            let real = breaker.update_config(|c| edit.apply_to(c));
            compare_reconfigure(real, model.update_config(edit))?;
        }
    }
    same!("clock reading", clock_ms(clock), model.now_ms());
    compare_state(breaker, recorder, model, &outcomes)
}

/// Compares the results of a reconfiguration: the config replaced, or the field named.
fn compare_reconfigure(
    real: Result<ValidConfig, ReconfigureError>,
    model: Result<Settings, &'static str>,
) -> Result<(), String> {
    match (real, model) {
        (Ok(old), Ok(m)) => same!("reconfigure: the config replaced", shown(&old), m.shown()),
        (Err(ReconfigureError::Invalid(e)), Err(field)) => {
            same!("reconfigure: the field named", e.field(), field)
        }
        (real, model) => return Err(format!("reconfigure: real {real:?}, model {model:?}")),
    }
    Ok(())
}

fn clock_ms(clock: &ManualClock) -> u64 {
    use breaker_core::Clock;
    clock.now().as_millis()
}
