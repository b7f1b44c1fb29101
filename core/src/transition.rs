//! The pure transition function: `(word, event, now) -> (word, outcome)`.
//!
//! No atomics, no clock, no side effects: the CAS loop in `cas.rs` feeds it the loaded word and
//! stores what it returns. Everything the breaker decides is decided here, so this file is tested
//! exhaustively on its own (every state × every event) without threads.
//!
//! Time is asked for, not assumed: when the decision needs the clock and `now` is `None`, the
//! function answers [`Step::NeedsTime`] and the loop reads the clock (and the phase stamp) and
//! asks again. That keeps clock reads off the paths that do not need them (a closed-state success
//! or a non-tripping failure).
//!
//! # Semantics
//!
//! - CLOSED counts consecutive failures of permits from its own generation; the failure that
//!   reaches the threshold opens the circuit and stamps the time. A rate policy instead sends a
//!   `Trip` event for the generation whose window crossed its threshold.
//! - A success from a permit admitted while CLOSED had no failures ("clean") changes nothing:
//!   the whole call is linearized at its admission, where there was nothing to clear. This is
//!   what makes the common path one load and no store. A success from a permit admitted while
//!   failures were pending clears them (if the generation is unchanged).
//! - OPEN rejects until its open duration has passed: `min(recovery_timeout × 2^level,
//!   backoff_max)` plus the cycle's jitter, where `level` counts failed recoveries in a row.
//!   The first call after that becomes the first half-open probe.
//! - HALF_OPEN admits up to `half_open_probes` permits per cycle; a success consumes its slot, an
//!   ignored or dropped probe gives it back; `successes_to_close` successes close the circuit
//!   (level back to 0, gradual recovery if configured), any failure reopens it one level up.
//!   With every slot taken and `probe_timeout` passed since half-opening, the next caller
//!   reopens it as if a probe had failed.
//! - CLOSED while ramping (gradual recovery) answers acquisitions with the share of calls to
//!   admit; the breaker rations them with a counter. When the ramp period is over the flag is
//!   cleared and the hot path is back.
//! - A permit from an earlier generation changes nothing ("stale").
//! - Manual control: force open and disable (force closed) hold until a reset; reset always
//!   starts a fresh CLOSED generation, without backoff and without a ramp.

#[cfg(test)]
use crate::layout::Decoded;
use crate::layout::{self, Ms, Phase, Word};
use crate::observer::{Trigger, Verdict};
use crate::policy::TripReason;
use crate::{State, ValidConfig};

/// What kind of permit was admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Admission {
    /// Admitted in CLOSED; `clean` when there were no pending failures.
    Closed {
        /// No failures were pending at admission.
        clean: bool,
    },
    /// A half-open probe.
    Probe,
    /// Admitted while disabled: records nothing.
    ForcedClosed,
}

/// Manual control.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Control {
    ForceOpen,
    ForceClosed,
    Reset,
}

/// An input to the state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Event {
    /// A caller asks to make a call.
    Acquire,
    /// A permit reports.
    Record { gen: u32, kind: Admission, verdict: Verdict },
    /// A rate policy's window for CLOSED generation `gen` crossed its threshold.
    Trip { gen: u32, reason: TripReason, failures: u32 },
    /// Manual control.
    Control(Control),
}

/// The time input: the clock reading, and the time since the current phase's stamp when the
/// stamp belongs to this word's generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Now {
    pub(crate) ms: Ms,
    pub(crate) phase_elapsed: Option<Ms>,
}

/// What the event produced for its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Go ahead; report back with this generation and kind.
    Admitted { gen: u32, kind: Admission },
    /// Gradual recovery: admit this share (‰) of calls; the caller rations.
    Ramp { gen: u32, permille: u32, clean: bool },
    /// Do not call.
    Rejected { state: State, retry_after_ms: Option<Ms> },
    /// The verdict was taken into account (`applied`) or belonged to an earlier cycle.
    Recorded { applied: bool },
    /// A control event was carried out (or was already in effect).
    Controlled,
}

/// A state change, for the observer and the phase stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) from: State,
    pub(crate) to: State,
    pub(crate) trigger: Trigger,
    pub(crate) failure_count: u32,
    pub(crate) open_for_ms: Option<Ms>,
    /// Backoff level of the entered state.
    pub(crate) level: u32,
    pub(crate) gen: u32,
    /// Write the phase stamp for `gen` (the new phase has a timer).
    pub(crate) stamp: bool,
}

/// The function's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Call again with `now`.
    NeedsTime,
    /// The next word (equal to the input when nothing changes), the outcome, and the change to
    /// report if the next word is stored.
    Done { next: Word, outcome: Outcome, change: Option<Change> },
}

/// The public state a phase maps to.
pub(crate) const fn state_of(phase: Phase) -> State {
    match phase {
        Phase::Closed { .. } => State::Closed,
        Phase::Open { .. } => State::Open,
        Phase::HalfOpen { .. } => State::HalfOpen,
        Phase::ForcedOpen => State::ForcedOpen,
        Phase::ForcedClosed => State::ForcedClosed,
    }
}

/// The share of calls (‰) admitted `elapsed` ms into a ramp:
/// `start + (1000 − start) × elapsed / period`, in 32-bit arithmetic (one 32-bit division,
/// native on Cortex-M3/M4). Exact for periods below 2^22 ms (70 min); longer periods are
/// measured in units of 2^k ms so the product fits 32 bits.
pub(crate) const fn ramp_permille(cfg: &ValidConfig, elapsed: Ms) -> u32 {
    let start = cfg.ramp_start_percent * 10;
    let period = cfg.ramp_ms;
    if period == 0 || elapsed >= period {
        return 1000;
    }
    let bits = Ms::BITS - period.leading_zeros();
    let shift = bits.saturating_sub(22);
    let e = (elapsed >> shift) as u32;
    let p = (period >> shift) as u32;
    // `p >= 1` (the period's top bit survives the shift); `checked_div` spares the panic path.
    match ((1000 - start) * e).checked_div(p) {
        Some(q) => start + q,
        None => 1000,
    }
}

/// The OPEN rule on its own, shared by the transition function and the breaker's rejection fast
/// path: `Some(ms until a probe)` while the cycle's open duration has not passed, `None` once a
/// probe may be admitted.
#[inline(always)]
pub(crate) const fn open_retry_ms(
    cfg: &ValidConfig,
    opened_at: Ms,
    level: u32,
    gen: u32,
    now: Ms,
) -> Option<Ms> {
    retry_after_open(cfg.open_ms(level, gen), cfg.stamp_shift(), opened_at, now)
}

/// [`open_retry_ms`] once the open period is known: `open_ms` long, stamped on ticks of
/// `2^shift` ms (the OPEN rejection fast path has both without reading a whole config).
#[inline(always)]
pub(crate) const fn retry_after_open(open_ms: Ms, shift: u32, opened_at: Ms, now: Ms) -> Option<Ms> {
    // On ticks of `t = 2^shift` ms: a probe is due once the lower bound of the elapsed time,
    // `d·t − (t − 1)`, reaches the open period, that is from tick `due = ⌈(open + t − 1) / t⌉`
    // on; the time until then is exact: the ticks left, less how far into its tick `now` is.
    // At `shift` 0 (always on the 64-bit layout, folded at compile time) this is
    // `open − elapsed`. `open_ms + 2t` stays below 2^25 (`max_open_ms`): no overflow.
    let d = layout::ticks_since(opened_at, now, shift);
    let due = (open_ms + (2 << shift) - 2) >> shift;
    if d >= due {
        None
    } else {
        Some(((due - d) << shift) - (now & ((1 << shift) - 1)))
    }
}

/// Deterministic rationing: the `n`-th call (0-based) at share `permille` is admitted when it
/// lifts ⌊(n + 1)·share⌋ above ⌊n·share⌋, so exactly ⌊n·share⌋ of the first `n` calls pass.
/// The answer repeats every 1000 calls, so it is computed on `n mod 1000` in 32 bits.
pub(crate) const fn ramp_admits(n: u32, permille: u32) -> bool {
    let m = n % 1000;
    (m + 1) * permille / 1000 > m * permille / 1000
}

/// Bits of the generation tag in the ramp's admission counter.
const RAMP_TAG_MASK: u32 = (1 << layout::GEN_BITS) - 1;
// The counter keeps `n mod 1000` (10 bits) above the tag.
const _: () = assert!(layout::GEN_BITS + 10 <= u32::BITS);

/// One step of the ramp's admission counter, `[calls mod 1000 | generation (G bits)]` in one
/// `u32`, for a call rationed by the ramp of CLOSED generation `gen`: the call's 0-based index
/// in *its* ramp, and the counter to store. A counter tagged with another generation belongs to
/// an earlier ramp, so this ramp starts its own count at 0; that is what makes "⌊n·s⌋ of the
/// first n calls" hold for every ramp, not only the first. Only `n mod 1000` is kept, which is
/// all [`ramp_admits`] looks at.
///
/// A ramp whose generation equals an earlier ramp's modulo 2^G (the permits' horizon, see
/// `layout.rs`) continues that ramp's count; a thread that decided on an earlier ramp's word
/// restarts the count for that ramp, and the current ramp's next call restarts it again. Both
/// only ever shed a few calls more, never admit more.
pub(crate) const fn ramp_count(counter: u32, gen: u32) -> (u32, u32) {
    let gen = gen & RAMP_TAG_MASK;
    let n = if counter & RAMP_TAG_MASK == gen { (counter >> layout::GEN_BITS) % 1000 } else { 0 };
    (n, ((n + 1) % 1000) << layout::GEN_BITS | gen)
}

/// What slow-call tracking makes of a finished call that took at least the slow-call threshold
/// (`slow`): the verdict the breaker records, and the verdict its observer is told.
///
/// - With `as_failure` (slow calls count as failures), a slow success is a failure, recorded
///   and reported as one, in every state.
/// - Otherwise a slow success in CLOSED stays a success; the window counts it as slow.
/// - A slow *probe* counts against recovery whether or not slow calls are failures: it is
///   recorded as a failed probe (the breaker reopens, [`Trigger::ProbeFailed`]). This is
///   Resilience4j's rule (a half-open breaker evaluates its probes' slow-call rate too): a
///   dependency that tripped the breaker by being slow has not recovered while it is still
///   slow. Without `as_failure` the observer is told the call's own outcome, a success, as in
///   CLOSED: outcome counters stay "what the calls returned", and the transition says why the
///   breaker reopened.
pub(crate) const fn slow_verdicts(
    kind: Admission,
    verdict: Verdict,
    slow: bool,
    as_failure: bool,
) -> (Verdict, Verdict) {
    match (verdict, slow, kind) {
        (Verdict::Success, true, _) if as_failure => (Verdict::Failure, Verdict::Failure),
        (Verdict::Success, true, Admission::Probe) => (Verdict::Failure, Verdict::Success),
        _ => (verdict, verdict),
    }
}

const fn unchanged(word: Word, outcome: Outcome) -> Step {
    Step::Done { next: word, outcome, change: None }
}

const STALE: Outcome = Outcome::Recorded { applied: false };
const APPLIED: Outcome = Outcome::Recorded { applied: true };

const fn trigger_of(reason: TripReason) -> Trigger {
    match reason {
        TripReason::FailureRate => Trigger::FailureRate,
        TripReason::SlowCallRate => Trigger::SlowCallRate,
    }
}

/// The public state of a word, from its tag alone (what `state_of(decode(word).phase)` gives).
#[inline(always)]
pub(crate) const fn state_of_word(word: Word) -> State {
    match layout::tag_of(word) {
        layout::TAG_CLOSED => State::Closed,
        layout::TAG_OPEN => State::Open,
        layout::TAG_HALF_OPEN => State::HalfOpen,
        layout::TAG_DISABLED => State::ForcedClosed,
        // TAG_FORCED_OPEN, and the never-written tags (decoded as forced open).
        _ => State::ForcedOpen,
    }
}

/// A step from `word` into the phase `to` (tag `tag`, `payload`) in the next generation,
/// reporting the change. `level` is the entered phase's backoff level; `stamp` whether it has a
/// timer (HALF_OPEN, or CLOSED while ramping).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
const fn enter(
    word: Word,
    tag: u8,
    payload: Word,
    to: State,
    level: u32,
    stamp: bool,
    outcome: Outcome,
    trigger: Trigger,
    failure_count: u32,
    open_for_ms: Option<Ms>,
) -> Step {
    let gen = layout::next_gen(layout::gen_of(word));
    Step::Done {
        next: layout::make(tag, gen, payload),
        outcome,
        change: Some(Change {
            from: state_of_word(word),
            to,
            trigger,
            failure_count,
            open_for_ms,
            level,
            gen,
            stamp,
        }),
    }
}

/// Into OPEN at `now`, backoff `level`, in the next generation.
#[inline(always)]
const fn reopen(
    word: Word,
    now: Now,
    level: u32,
    outcome: Outcome,
    trigger: Trigger,
    failure_count: u32,
    cfg: &ValidConfig,
) -> Step {
    let payload = layout::open_payload(now.ms, level, cfg.stamp_shift());
    enter(word, layout::TAG_OPEN, payload, State::Open, level, false, outcome, trigger, failure_count, None)
}

/// The transition function: the one place every decision is made. It dispatches on the event
/// to the per-event functions below, which read and edit the word in place (`layout`'s
/// in-place views). The CAS loops that need only one decision call the same functions directly
/// (the closed-state record, [`closed_record`]), so each decision exists once.
#[inline]
pub(crate) fn transition(word: Word, event: Event, now: Option<Now>, cfg: &ValidConfig) -> Step {
    match event {
        Event::Acquire => acquire(word, now, cfg),
        Event::Record { gen, kind, verdict } => record(word, gen, kind, verdict, now, cfg),
        Event::Trip { gen, reason, failures } => trip(word, gen, reason, failures, now, cfg),
        Event::Control(control) => manual(word, control),
    }
}

/// [`Event::Acquire`].
///
/// Out of line, and written with one return of each kind (same generation, time needed, into
/// HALF_OPEN, into OPEN), like [`record`].
#[inline(never)]
pub(crate) fn acquire(word: Word, now: Option<Now>, cfg: &ValidConfig) -> Step {
    let gen = layout::gen_of(word);
    // Every answer that keeps the generation: the next word (the word itself when nothing is
    // stored) and the outcome.
    let (next, outcome) = match layout::tag_of(word) {
        layout::TAG_CLOSED => {
            let clean = layout::closed_failures(word) == 0;
            let admitted = Outcome::Admitted { gen, kind: Admission::Closed { clean } };
            // Without the `policies` feature no word is ever ramping; say so to the optimiser.
            if !cfg!(feature = "policies") || !layout::closed_ramping(word) {
                (word, admitted)
            } else {
                let Some(now) = now else {
                    return Step::NeedsTime;
                };
                // No stamp for this generation yet reads as "the ramp just began".
                let elapsed = now.phase_elapsed.unwrap_or_default();
                if elapsed >= cfg.ramp_ms {
                    // The ramp is over: clear the flag, back to the hot path.
                    (layout::clear_ramping(word), admitted)
                } else {
                    (word, Outcome::Ramp { gen, permille: ramp_permille(cfg, elapsed), clean })
                }
            }
        }
        layout::TAG_OPEN => {
            let Some(now) = now else {
                return Step::NeedsTime;
            };
            let (opened_at, level) = (layout::open_opened_at(word), layout::open_level(word));
            match open_retry_ms(cfg, opened_at, level, gen, now.ms) {
                Some(ms) => (word, Outcome::Rejected { state: State::Open, retry_after_ms: Some(ms) }),
                None => {
                    return enter(
                        word,
                        layout::TAG_HALF_OPEN,
                        layout::first_probe_payload(level),
                        State::HalfOpen,
                        level,
                        true,
                        Outcome::Admitted { gen: layout::next_gen(gen), kind: Admission::Probe },
                        Trigger::RecoveryTimeout,
                        0,
                        Some(layout::elapsed_since(opened_at, now.ms, cfg.stamp_shift())),
                    )
                }
            }
        }
        layout::TAG_HALF_OPEN if layout::half_issued(word) < cfg.half_open_probes => {
            (word + layout::ONE_PROBE, Outcome::Admitted { gen, kind: Admission::Probe })
        }
        layout::TAG_HALF_OPEN => {
            if !half_open_rejects_untimed(word, cfg) {
                let Some(now) = now else {
                    return Step::NeedsTime;
                };
                if matches!(now.phase_elapsed, Some(elapsed) if elapsed >= cfg.probe_timeout_ms) {
                    // Stuck probes: reopen as if one had failed.
                    let level = cfg.next_level(layout::half_level(word));
                    let retry = cfg.open_ms(level, layout::next_gen(gen));
                    let rejected = Outcome::Rejected { state: State::Open, retry_after_ms: Some(retry) };
                    return reopen(word, now, level, rejected, Trigger::ProbeTimeout, 0, cfg);
                }
            }
            (word, Outcome::Rejected { state: State::HalfOpen, retry_after_ms: None })
        }
        layout::TAG_DISABLED => (word, Outcome::Admitted { gen, kind: Admission::ForcedClosed }),
        _ => (word, Outcome::Rejected { state: State::ForcedOpen, retry_after_ms: None }),
    };
    Step::Done { next, outcome, change: None }
}

/// The HALF_OPEN rejection that needs no clock: every probe slot of `word` is taken and no probe
/// timeout is configured (with one, a rejection may instead reopen stuck probes, which needs
/// the time). [`acquire`] rejects such a word with `HalfOpen` and no retry time, storing
/// nothing; the admission's slow path (`Breaker::acquire_untimed`) answers it without the CAS
/// loop (`fast_paths_are_the_transition_function`).
#[inline(always)]
pub(crate) const fn half_open_rejects_untimed(word: Word, cfg: &ValidConfig) -> bool {
    layout::tag_of(word) == layout::TAG_HALF_OPEN
        && layout::half_issued(word) >= cfg.half_open_probes
        && !(cfg!(feature = "policies") && cfg.probe_timeout_ms > 0)
}

/// The closed-state record that needs no clock: a closed-state permit of generation `gen`
/// reports `verdict` on a word CLOSED in that generation: a failure that does not reach
/// `threshold` is one more failure, a success clears the failures (the word itself when none
/// are pending). `None` otherwise: the tripping failure (it needs the time), an ignore, a stale
/// permit. [`record`] asks this first; the closed-state CAS loop (`Breaker::record_closed`)
/// calls it directly.
#[inline(always)]
pub(crate) const fn closed_record(word: Word, gen: u32, verdict: Verdict, threshold: u32) -> Option<Word> {
    if !layout::is_closed_in(word, gen) {
        return None;
    }
    closed_step(word, verdict, threshold)
}

/// [`closed_record`] of a call admitted on `admitted`, decided on that same word (the first
/// attempt of `Breaker::record_closed`): the generation matches by construction, so the CLOSED
/// test is the tag's alone, one test where the general one (a generation extracted and compared)
/// is six instructions the optimiser does not fold. The same answer as
/// `closed_record(admitted, layout::gen_of(admitted), ..)` for every word
/// (`fast_paths_are_the_transition_function`).
#[inline(always)]
pub(crate) const fn closed_record_admitted(admitted: Word, verdict: Verdict, threshold: u32) -> Option<Word> {
    if layout::tag_of(admitted) != layout::TAG_CLOSED {
        return None;
    }
    closed_step(admitted, verdict, threshold)
}

/// [`closed_record`] on a word known to be CLOSED in the permit's generation.
#[inline(always)]
const fn closed_step(word: Word, verdict: Verdict, threshold: u32) -> Option<Word> {
    match verdict {
        Verdict::Success => Some(layout::clear_failures(word)),
        Verdict::Failure if layout::closed_failures(word) + 1 < threshold => Some(word + layout::ONE_FAILURE),
        _ => None,
    }
}

/// [`Event::Record`]: a permit of generation `gen`, admitted as `kind`, reports `verdict`.
///
/// Out of line, and written with one return of each kind (in place, stale, time needed, into
/// OPEN, into CLOSED): one copy in the CAS loop and a few bytes of `.text` per return.
#[inline(never)]
pub(crate) fn record(
    word: Word,
    gen: u32,
    kind: Admission,
    verdict: Verdict,
    now: Option<Now>,
    cfg: &ValidConfig,
) -> Step {
    let applied = |next| Step::Done { next, outcome: APPLIED, change: None };
    match (kind, verdict) {
        // The linearization rule for clean successes, and "ignore" for non-probes: no effect,
        // whatever the word is now. (The permit short-circuits these before loading the word.)
        (Admission::Closed { clean: true }, Verdict::Success)
        | (Admission::Closed { .. }, Verdict::Ignore)
        | (Admission::ForcedClosed, _) => return applied(word),
        _ => {}
    }
    let probe = kind == Admission::Probe;
    // A permit of another cycle (or of a kind this phase never issues) changes nothing.
    let current = if probe { layout::is_half_open_in(word, gen) } else { layout::is_closed_in(word, gen) };
    if !current {
        return unchanged(word, STALE);
    }
    // The records that change the word in place, in the same generation.
    let in_place = if !probe {
        closed_record(word, gen, verdict, cfg.failure_threshold)
    } else {
        match verdict {
            Verdict::Success if layout::half_successes(word) + 1 < cfg.successes_to_close => {
                Some(word + layout::ONE_SUCCESS)
            }
            // Give the slot back. `issued` counts this probe, so it is at least 1; the check
            // keeps the function total on words it never produces.
            Verdict::Ignore if layout::half_issued(word) > 0 => Some(word - layout::ONE_PROBE),
            Verdict::Ignore => Some(word),
            _ => None,
        }
    };
    if let Some(next) = in_place {
        return applied(next);
    }
    // A transition: the last success needed closes (with a ramp if configured); the failure
    // that reaches the threshold, or a failed probe, opens, stamped now. One `enter` for both.
    let closing = probe && verdict == Verdict::Success;
    let ramping = closing && cfg!(feature = "policies") && cfg.ramp_ms > 0;
    let now = match now {
        Some(now) => now,
        // The ramp's stamp and the open timestamp need the time.
        None if ramping || !closing => return Step::NeedsTime,
        None => Now { ms: 0, phase_elapsed: None },
    };
    let (tag, payload, to, level, trigger, failures) = if closing {
        (layout::TAG_CLOSED, layout::closed_payload(ramping), State::Closed, 0, Trigger::ProbeSucceeded, 0)
    } else {
        let (level, trigger, failures) = if probe {
            (cfg.next_level(layout::half_level(word)), Trigger::ProbeFailed, 1)
        } else {
            (0, Trigger::FailureThreshold, layout::closed_failures(word) + 1)
        };
        (
            layout::TAG_OPEN,
            layout::open_payload(now.ms, level, cfg.stamp_shift()),
            State::Open,
            level,
            trigger,
            failures,
        )
    };
    enter(word, tag, payload, to, level, ramping, APPLIED, trigger, failures, None)
}

/// [`Event::Trip`]: a rate policy's window for CLOSED generation `gen` crossed its threshold.
#[inline]
fn trip(
    word: Word,
    gen: u32,
    reason: TripReason,
    failures: u32,
    now: Option<Now>,
    cfg: &ValidConfig,
) -> Step {
    if !layout::is_closed_in(word, gen) {
        return unchanged(word, STALE);
    }
    match now {
        None => Step::NeedsTime,
        Some(now) => reopen(word, now, 0, APPLIED, trigger_of(reason), failures, cfg),
    }
}

/// [`Event::Control`]: manual control.
#[inline]
fn manual(word: Word, control: Control) -> Step {
    let tag = layout::tag_of(word);
    let failures_now = if tag == layout::TAG_CLOSED { layout::closed_failures(word) } else { 0 };
    let forced_open = state_of_word(word) == State::ForcedOpen;
    let (tag, to, trigger) = match control {
        Control::ForceOpen if forced_open => return unchanged(word, Outcome::Controlled),
        Control::ForceClosed if tag == layout::TAG_DISABLED => return unchanged(word, Outcome::Controlled),
        Control::ForceOpen => (layout::TAG_FORCED_OPEN, State::ForcedOpen, Trigger::ForceOpen),
        Control::ForceClosed => (layout::TAG_DISABLED, State::ForcedClosed, Trigger::ForceClosed),
        Control::Reset => (layout::TAG_CLOSED, State::Closed, Trigger::Reset),
    };
    enter(word, tag, 0, to, 0, false, Outcome::Controlled, trigger, failures_now, None)
}

/// The transition function as it was written before it read the word in place (decode, match on
/// the phase, encode): the reference the in-place function is checked against on every
/// reachable word and event (`properties::transition_is_the_reference`).
#[cfg(test)]
mod reference {
    use super::*;

    const fn unchanged(word: Word, outcome: Outcome) -> Step {
        Step::Done { next: word, outcome, change: None }
    }

    const fn same_gen(gen: u32, phase: Phase, outcome: Outcome) -> Step {
        Step::Done { next: layout::encode(Decoded { gen, phase }), outcome, change: None }
    }

    /// The transition function.
    #[inline]
    pub(crate) fn transition(word: Word, event: Event, now: Option<Now>, cfg: &ValidConfig) -> Step {
        let Decoded { gen, phase } = layout::decode(word);
        let from = state_of(phase);
        let failures_now = match phase {
            Phase::Closed { failures, .. } => failures,
            _ => 0,
        };

        // A step into `to` in the next generation, reporting the change.
        let enter =
            |to: Phase, outcome: Outcome, trigger: Trigger, failure_count: u32, open_for_ms: Option<Ms>| {
                let gen = layout::next_gen(gen);
                let (level, stamp) = match to {
                    Phase::Open { level, .. } => (level, false),
                    Phase::HalfOpen { level, .. } => (level, true),
                    Phase::Closed { ramping, .. } => (0, ramping),
                    Phase::ForcedOpen | Phase::ForcedClosed => (0, false),
                };
                Step::Done {
                    next: layout::encode(Decoded { gen, phase: to }),
                    outcome,
                    change: Some(Change {
                        from,
                        to: state_of(to),
                        trigger,
                        failure_count,
                        open_for_ms,
                        level,
                        gen,
                        stamp,
                    }),
                }
            };
        let open_now =
            |now: Now, level: u32| Phase::Open { opened_at: layout::stamp(now.ms, cfg.stamp_shift()), level };

        match event {
            Event::Control(control) => {
                return match (control, phase) {
                    (Control::ForceOpen, Phase::ForcedOpen) | (Control::ForceClosed, Phase::ForcedClosed) => {
                        unchanged(word, Outcome::Controlled)
                    }
                    (Control::ForceOpen, _) => {
                        enter(Phase::ForcedOpen, Outcome::Controlled, Trigger::ForceOpen, failures_now, None)
                    }
                    (Control::ForceClosed, _) => enter(
                        Phase::ForcedClosed,
                        Outcome::Controlled,
                        Trigger::ForceClosed,
                        failures_now,
                        None,
                    ),
                    (Control::Reset, _) => enter(
                        Phase::Closed { failures: 0, ramping: false },
                        Outcome::Controlled,
                        Trigger::Reset,
                        failures_now,
                        None,
                    ),
                };
            }
            // The linearization rule for clean successes, and "ignore" for non-probes: no effect,
            // whatever the word is now. (The permit short-circuits these before loading the word.)
            Event::Record { kind: Admission::Closed { clean: true }, verdict: Verdict::Success, .. }
            | Event::Record { kind: Admission::Closed { .. }, verdict: Verdict::Ignore, .. }
            | Event::Record { kind: Admission::ForcedClosed, .. } => return unchanged(word, APPLIED),
            Event::Record { .. } | Event::Trip { .. } | Event::Acquire => {}
        }

        match (phase, event) {
            (Phase::Closed { failures, ramping }, Event::Acquire) => {
                let clean = failures == 0;
                // Without the `policies` feature no word is ever ramping; say so to the optimiser.
                if !ramping || !cfg!(feature = "policies") {
                    return unchanged(word, Outcome::Admitted { gen, kind: Admission::Closed { clean } });
                }
                let Some(now) = now else {
                    return Step::NeedsTime;
                };
                // No stamp for this generation yet reads as "the ramp just began".
                let elapsed = now.phase_elapsed.unwrap_or_default();
                if elapsed >= cfg.ramp_ms {
                    // The ramp is over: clear the flag, back to the hot path. Same generation.
                    same_gen(
                        gen,
                        Phase::Closed { failures, ramping: false },
                        Outcome::Admitted { gen, kind: Admission::Closed { clean } },
                    )
                } else {
                    unchanged(word, Outcome::Ramp { gen, permille: ramp_permille(cfg, elapsed), clean })
                }
            }
            (
                Phase::Closed { failures, ramping },
                Event::Record { gen: g, kind: Admission::Closed { .. }, verdict },
            ) if g == gen => match verdict {
                Verdict::Success if failures == 0 => unchanged(word, APPLIED),
                Verdict::Success => same_gen(gen, Phase::Closed { failures: 0, ramping }, APPLIED),
                Verdict::Failure if failures + 1 >= cfg.failure_threshold => match now {
                    None => Step::NeedsTime,
                    Some(now) => {
                        enter(open_now(now, 0), APPLIED, Trigger::FailureThreshold, failures + 1, None)
                    }
                },
                Verdict::Failure => same_gen(gen, Phase::Closed { failures: failures + 1, ramping }, APPLIED),
                Verdict::Ignore => unchanged(word, APPLIED),
            },
            (Phase::Closed { .. }, Event::Trip { gen: g, reason, failures }) if g == gen => match now {
                None => Step::NeedsTime,
                Some(now) => enter(open_now(now, 0), APPLIED, trigger_of(reason), failures, None),
            },
            (Phase::Open { opened_at, level }, Event::Acquire) => match now {
                None => Step::NeedsTime,
                Some(now) => {
                    let elapsed = layout::elapsed_since(opened_at, now.ms, cfg.stamp_shift());
                    let open_ms = cfg.open_ms(level, gen);
                    if open_retry_ms(cfg, opened_at, level, gen, now.ms).is_none() {
                        let gen = layout::next_gen(gen);
                        enter(
                            Phase::HalfOpen { issued: 1, successes: 0, level },
                            Outcome::Admitted { gen, kind: Admission::Probe },
                            Trigger::RecoveryTimeout,
                            0,
                            Some(elapsed),
                        )
                    } else {
                        unchanged(
                            word,
                            Outcome::Rejected { state: State::Open, retry_after_ms: Some(open_ms - elapsed) },
                        )
                    }
                }
            },
            (Phase::HalfOpen { issued, successes, level }, Event::Acquire) => {
                if issued < cfg.half_open_probes {
                    return same_gen(
                        gen,
                        Phase::HalfOpen { issued: issued + 1, successes, level },
                        Outcome::Admitted { gen, kind: Admission::Probe },
                    );
                }
                let busy = Outcome::Rejected { state: State::HalfOpen, retry_after_ms: None };
                if !cfg!(feature = "policies") || cfg.probe_timeout_ms == 0 {
                    return unchanged(word, busy);
                }
                let Some(now) = now else {
                    return Step::NeedsTime;
                };
                match now.phase_elapsed {
                    Some(elapsed) if elapsed >= cfg.probe_timeout_ms => {
                        // Stuck probes: reopen as if one had failed.
                        let level = cfg.next_level(level);
                        let retry = cfg.open_ms(level, layout::next_gen(gen));
                        enter(
                            open_now(now, level),
                            Outcome::Rejected { state: State::Open, retry_after_ms: Some(retry) },
                            Trigger::ProbeTimeout,
                            0,
                            None,
                        )
                    }
                    _ => unchanged(word, busy),
                }
            }
            (
                Phase::HalfOpen { issued, successes, level },
                Event::Record { gen: g, kind: Admission::Probe, verdict },
            ) if g == gen => {
                match verdict {
                    Verdict::Success if successes + 1 >= cfg.successes_to_close => {
                        let ramping = cfg!(feature = "policies") && cfg.ramp_ms > 0;
                        if ramping && now.is_none() {
                            return Step::NeedsTime; // the ramp's stamp needs the time
                        }
                        enter(
                            Phase::Closed { failures: 0, ramping },
                            APPLIED,
                            Trigger::ProbeSucceeded,
                            0,
                            None,
                        )
                    }
                    Verdict::Success => {
                        same_gen(gen, Phase::HalfOpen { issued, successes: successes + 1, level }, APPLIED)
                    }
                    Verdict::Failure => match now {
                        None => Step::NeedsTime,
                        Some(now) => enter(
                            open_now(now, cfg.next_level(level)),
                            APPLIED,
                            Trigger::ProbeFailed,
                            1,
                            None,
                        ),
                    },
                    // Give the slot back. `issued` counts this probe, so it is at least 1; the
                    // saturating form keeps the function total on words it never produces.
                    Verdict::Ignore => same_gen(
                        gen,
                        Phase::HalfOpen { issued: issued.saturating_sub(1), successes, level },
                        APPLIED,
                    ),
                }
            }
            (Phase::ForcedOpen, Event::Acquire) => {
                unchanged(word, Outcome::Rejected { state: State::ForcedOpen, retry_after_ms: None })
            }
            (Phase::ForcedClosed, Event::Acquire) => {
                unchanged(word, Outcome::Admitted { gen, kind: Admission::ForcedClosed })
            }
            // Every other record or trip: a permit or window from another generation, or (after
            // generation wrap-around) of a kind this phase never issues. It belongs to an earlier
            // cycle.
            (_, Event::Record { .. } | Event::Trip { .. }) => unchanged(word, STALE),
            (_, Event::Control(_)) => unchanged(word, Outcome::Controlled), // handled above
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "policies")]
    use crate::layout::MAX_BACKOFF_LEVEL;
    use crate::layout::{encode, GENERATIONS, TIME_MODULUS};
    use crate::Config;
    use core::time::Duration;

    fn cfg() -> ValidConfig {
        Config::new()
            .failure_threshold(3)
            .recovery_timeout(Duration::from_millis(1_000))
            .half_open_probes(2)
            .successes_to_close(2)
            .validate()
            .unwrap()
    }

    fn w(gen: u32, phase: Phase) -> Word {
        encode(Decoded { gen, phase })
    }

    fn closed(failures: u32) -> Phase {
        Phase::Closed { failures, ramping: false }
    }
    fn open(opened_at: Ms) -> Phase {
        Phase::Open { opened_at, level: 0 }
    }
    fn half(issued: u32, successes: u32) -> Phase {
        Phase::HalfOpen { issued, successes, level: 0 }
    }

    fn at(ms: Ms) -> Now {
        Now { ms, phase_elapsed: None }
    }

    /// Runs the function with `c`, supplying `now` only when asked (and checking it is asked only
    /// once, and that supplying it early changes nothing).
    fn run_with(c: &ValidConfig, word: Word, event: Event, now: Now) -> (Word, Outcome, Option<Change>) {
        match transition(word, event, None, c) {
            Step::Done { next, outcome, change } => {
                assert_eq!(transition(word, event, Some(now), c), Step::Done { next, outcome, change });
                (next, outcome, change)
            }
            Step::NeedsTime => match transition(word, event, Some(now), c) {
                Step::Done { next, outcome, change } => (next, outcome, change),
                Step::NeedsTime => panic!("asked for time twice"),
            },
        }
    }

    fn run(word: Word, event: Event, now: Ms) -> (Word, Outcome, Option<Change>) {
        run_with(&cfg(), word, event, at(now))
    }

    fn rec(gen: u32, kind: Admission, verdict: Verdict) -> Event {
        Event::Record { gen, kind, verdict }
    }

    const G: u32 = 5;
    const CLOSED: Admission = Admission::Closed { clean: false };
    const CLEAN: Admission = Admission::Closed { clean: true };

    // ---- CLOSED ----

    #[test]
    fn closed_acquire_admits_without_store_and_marks_clean() {
        let clean = w(G, closed(0));
        assert_eq!(run(clean, Event::Acquire, 0), (clean, Outcome::Admitted { gen: G, kind: CLEAN }, None));
        let dirty = w(G, closed(2));
        assert_eq!(run(dirty, Event::Acquire, 0), (dirty, Outcome::Admitted { gen: G, kind: CLOSED }, None));
    }

    #[test]
    fn closed_failure_counts_then_trips_at_threshold_with_time() {
        let w0 = w(G, closed(0));
        assert_eq!(run(w0, rec(G, CLEAN, Verdict::Failure), 10), (w(G, closed(1)), APPLIED, None));
        // No time is needed below the threshold.
        let w1 = w(G, closed(1));
        assert!(matches!(transition(w1, rec(G, CLOSED, Verdict::Failure), None, &cfg()), Step::Done { .. }));
        let w2 = w(G, closed(2));
        assert_eq!(transition(w2, rec(G, CLOSED, Verdict::Failure), None, &cfg()), Step::NeedsTime);
        let (w3, o, c) = run(w2, rec(G, CLOSED, Verdict::Failure), 1_234);
        assert_eq!((w3, o), (w(G + 1, open(1_234)), APPLIED));
        let c = c.unwrap();
        assert_eq!(
            (c.from, c.to, c.trigger, c.failure_count, c.gen, cfg().open_ms(c.level, c.gen)),
            (State::Closed, State::Open, Trigger::FailureThreshold, 3, G + 1, 1_000)
        );
    }

    #[test]
    fn closed_success_clears_pending_failures_but_clean_success_is_a_no_op() {
        let dirty = w(G, closed(2));
        assert_eq!(run(dirty, rec(G, CLOSED, Verdict::Success), 0), (w(G, closed(0)), APPLIED, None));
        // A permit admitted clean does not clear failures recorded while it ran.
        assert_eq!(run(dirty, rec(G, CLEAN, Verdict::Success), 0), (dirty, APPLIED, None));
        let clean = w(G, closed(0));
        assert_eq!(run(clean, rec(G, CLOSED, Verdict::Success), 0), (clean, APPLIED, None));
    }

    #[test]
    fn closed_ignore_changes_nothing() {
        let dirty = w(G, closed(2));
        assert_eq!(run(dirty, rec(G, CLOSED, Verdict::Ignore), 0), (dirty, APPLIED, None));
        assert_eq!(run(dirty, rec(G, CLEAN, Verdict::Ignore), 0), (dirty, APPLIED, None));
    }

    #[test]
    fn closed_ignores_stale_generations_and_foreign_kinds() {
        let dirty = w(G, closed(2));
        for event in [
            rec(G - 1, CLOSED, Verdict::Failure),
            rec(G - 1, CLOSED, Verdict::Success),
            rec(G, Admission::Probe, Verdict::Failure),
            rec(G, Admission::Probe, Verdict::Success),
            rec(G, Admission::Probe, Verdict::Ignore),
            Event::Trip { gen: G - 1, reason: TripReason::FailureRate, failures: 9 },
        ] {
            assert_eq!(run(dirty, event, 0), (dirty, STALE, None), "{event:?}");
        }
    }

    #[test]
    fn closed_trip_event_opens_for_its_generation() {
        let word = w(G, closed(0));
        let trip = Event::Trip { gen: G, reason: TripReason::SlowCallRate, failures: 7 };
        assert_eq!(transition(word, trip, None, &cfg()), Step::NeedsTime);
        let (next, o, c) = run(word, trip, 40);
        assert_eq!((next, o), (w(G + 1, open(40)), APPLIED));
        let c = c.unwrap();
        assert_eq!((c.trigger, c.failure_count), (Trigger::SlowCallRate, 7));
    }

    // ---- OPEN ----

    #[test]
    fn open_rejects_with_retry_after_until_timeout_then_admits_first_probe() {
        let o = w(G, open(100));
        assert_eq!(transition(o, Event::Acquire, None, &cfg()), Step::NeedsTime);
        assert_eq!(
            run(o, Event::Acquire, 100),
            (o, Outcome::Rejected { state: State::Open, retry_after_ms: Some(1_000) }, None)
        );
        assert_eq!(
            run(o, Event::Acquire, 1_099),
            (o, Outcome::Rejected { state: State::Open, retry_after_ms: Some(1) }, None)
        );
        let (next, out, c) = run(o, Event::Acquire, 1_100);
        assert_eq!(next, w(G + 1, half(1, 0)));
        assert_eq!(out, Outcome::Admitted { gen: G + 1, kind: Admission::Probe });
        let c = c.unwrap();
        assert_eq!(
            (c.from, c.to, c.trigger, c.open_for_ms, c.stamp),
            (State::Open, State::HalfOpen, Trigger::RecoveryTimeout, Some(1_000), true)
        );
    }

    #[test]
    fn open_timeout_survives_timestamp_wrap_around() {
        let opened = TIME_MODULUS - 300;
        let o = w(G, open(layout::stamp(opened, 0)));
        assert!(matches!(
            run(o, Event::Acquire, opened + 999).1,
            Outcome::Rejected { retry_after_ms: Some(1), .. }
        ));
        assert!(matches!(run(o, Event::Acquire, opened + 1_000).1, Outcome::Admitted { .. }));
    }

    #[test]
    fn open_with_clock_stepped_back_admits_a_probe_rather_than_sticking() {
        let o = w(G, open(5_000));
        assert!(matches!(run(o, Event::Acquire, 4_000).1, Outcome::Admitted { kind: Admission::Probe, .. }));
    }

    #[test]
    fn open_ignores_every_record() {
        let o = w(G, open(0));
        for gen in [G - 1, G] {
            for kind in [CLOSED, CLEAN, Admission::Probe] {
                for verdict in [Verdict::Success, Verdict::Failure] {
                    let e = rec(gen, kind, verdict);
                    let expected = if kind == CLEAN && verdict == Verdict::Success { APPLIED } else { STALE };
                    assert_eq!(run(o, e, 50), (o, expected, None), "{e:?}");
                }
            }
        }
    }

    // ---- backoff and jitter ----

    #[cfg(feature = "policies")]
    fn backoff_cfg() -> ValidConfig {
        Config::new()
            .failure_threshold(1)
            .recovery_timeout(Duration::from_millis(100))
            .backoff(Duration::from_millis(350))
            .validate()
            .unwrap()
    }

    #[test]
    #[cfg(feature = "policies")]
    fn failed_probes_double_the_open_time_up_to_the_cap_and_closing_resets_it() {
        let c = backoff_cfg();
        let mut word = w(G, closed(0));
        let mut now = 0;
        let mut durations = std::vec::Vec::new();
        word = run_with(&c, word, rec(G, CLOSED, Verdict::Failure), at(now)).0;
        for _ in 0..5 {
            let Outcome::Rejected { retry_after_ms: Some(d), .. } =
                run_with(&c, word, Event::Acquire, at(now)).1
            else {
                panic!("open rejects")
            };
            durations.push(d);
            now += d;
            let (probe, out, _) = run_with(&c, word, Event::Acquire, at(now));
            let Outcome::Admitted { gen, .. } = out else { panic!("probe after {d} ms") };
            word = run_with(&c, probe, rec(gen, Admission::Probe, Verdict::Failure), at(now)).0;
        }
        assert_eq!(durations, [100, 200, 350, 350, 350]);
        assert!(matches!(layout::decode(word).phase, Phase::Open { level: 2, .. }), "level stops at the cap");
        // A successful probe closes and forgets the level.
        now += 350;
        let (probe, out, _) = run_with(&c, word, Event::Acquire, at(now));
        let Outcome::Admitted { gen, .. } = out else { panic!() };
        let (closed_word, _, ch) = run_with(&c, probe, rec(gen, Admission::Probe, Verdict::Success), at(now));
        assert_eq!(ch.unwrap().level, 0);
        let reopened =
            run_with(&c, closed_word, rec(layout::gen_of(closed_word), CLOSED, Verdict::Failure), at(now)).0;
        assert!(matches!(layout::decode(reopened).phase, Phase::Open { level: 0, .. }));
    }

    #[test]
    #[cfg(feature = "policies")]
    fn jitter_is_bounded_deterministic_and_varies_by_cycle() {
        let c = Config::new()
            .recovery_timeout(Duration::from_millis(1_000))
            .jitter(Duration::from_millis(500), 42)
            .validate()
            .unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for gen in 0..64 {
            let j = c.jitter_for(gen);
            assert!(j <= 500);
            assert_eq!(j, c.jitter_for(gen), "deterministic");
            assert_eq!(c.open_ms(0, gen), 1_000 + j);
            seen.insert(j);
        }
        assert!(seen.len() > 32, "jitter should spread: {seen:?}");
        let other_seed = Config::new().jitter(Duration::from_millis(500), 43).validate().unwrap();
        assert!((0..64).any(|g| other_seed.jitter_for(g) != c.jitter_for(g)));
    }

    #[test]
    #[cfg(feature = "policies")]
    fn level_saturates_at_the_layout_maximum() {
        let c = Config::new()
            .recovery_timeout(Duration::from_millis(1))
            .backoff(Duration::from_millis(crate::limits::MAX_OPEN_MS))
            .validate()
            .unwrap();
        assert_eq!(c.next_level(MAX_BACKOFF_LEVEL), MAX_BACKOFF_LEVEL);
        assert_eq!(c.next_level(0), 1);
    }

    // ---- HALF_OPEN ----

    #[test]
    fn half_open_admits_up_to_the_probe_limit() {
        let h1 = w(G, half(1, 0));
        let (h2, o, c) = run(h1, Event::Acquire, 0);
        assert_eq!(
            (h2, o, c),
            (w(G, half(2, 0)), Outcome::Admitted { gen: G, kind: Admission::Probe }, None)
        );
        assert_eq!(
            run(h2, Event::Acquire, 0),
            (h2, Outcome::Rejected { state: State::HalfOpen, retry_after_ms: None }, None)
        );
    }

    #[test]
    fn half_open_successes_close_after_enough() {
        let h = w(G, half(2, 0));
        let (h1, o, c) = run(h, rec(G, Admission::Probe, Verdict::Success), 0);
        assert_eq!((h1, o, c), (w(G, half(2, 1)), APPLIED, None));
        // A success keeps its slot: with both probes issued, no third is admitted.
        assert!(matches!(run(h1, Event::Acquire, 0).1, Outcome::Rejected { .. }));
        let (closed_word, o, c) = run(h1, rec(G, Admission::Probe, Verdict::Success), 0);
        assert_eq!((closed_word, o), (w(G + 1, closed(0)), APPLIED));
        let c = c.unwrap();
        assert_eq!(
            (c.from, c.to, c.trigger, c.stamp),
            (State::HalfOpen, State::Closed, Trigger::ProbeSucceeded, false)
        );
    }

    #[test]
    fn half_open_failure_reopens_with_fresh_timestamp() {
        let h = w(G, half(2, 1));
        assert_eq!(transition(h, rec(G, Admission::Probe, Verdict::Failure), None, &cfg()), Step::NeedsTime);
        let (o, out, c) = run(h, rec(G, Admission::Probe, Verdict::Failure), 7_777);
        assert_eq!((o, out), (w(G + 1, open(7_777)), APPLIED));
        let c = c.unwrap();
        assert_eq!(
            (c.from, c.to, c.trigger, c.failure_count),
            (State::HalfOpen, State::Open, Trigger::ProbeFailed, 1)
        );
    }

    #[test]
    fn half_open_ignore_returns_the_slot() {
        let h = w(G, half(2, 1));
        assert_eq!(run(h, rec(G, Admission::Probe, Verdict::Ignore), 0), (w(G, half(1, 1)), APPLIED, None));
        // Total on words the machine never produces.
        let h0 = w(G, half(0, 0));
        assert_eq!(run(h0, rec(G, Admission::Probe, Verdict::Ignore), 0).0, h0);
    }

    #[test]
    fn half_open_ignores_stale_and_closed_permits() {
        let h = w(G, half(1, 0));
        for e in [
            rec(G - 1, Admission::Probe, Verdict::Failure),
            rec(G - 1, Admission::Probe, Verdict::Success),
            rec(G - 2, CLOSED, Verdict::Failure),
            rec(G, CLOSED, Verdict::Failure),
            rec(G, CLOSED, Verdict::Success),
            Event::Trip { gen: G, reason: TripReason::FailureRate, failures: 1 },
        ] {
            assert_eq!(run(h, e, 0), (h, STALE, None), "{e:?}");
        }
    }

    // ---- stuck half-open ----

    #[test]
    #[cfg(feature = "policies")]
    fn stuck_probes_reopen_after_the_probe_timeout() {
        let c = Config::new()
            .recovery_timeout(Duration::from_millis(100))
            .backoff(Duration::from_millis(1_000))
            .probe_timeout(Duration::from_millis(50))
            .validate()
            .unwrap();
        let full = w(G, Phase::HalfOpen { issued: 1, successes: 0, level: 1 });
        assert_eq!(transition(full, Event::Acquire, None, &c), Step::NeedsTime);
        let busy = Outcome::Rejected { state: State::HalfOpen, retry_after_ms: None };
        let stamped = |e| Now { ms: 500, phase_elapsed: Some(e) };
        assert_eq!(run_with(&c, full, Event::Acquire, stamped(49)), (full, busy, None));
        // No stamp for this generation yet: not stuck.
        assert_eq!(run_with(&c, full, Event::Acquire, at(500)), (full, busy, None));
        let (next, out, ch) = run_with(&c, full, Event::Acquire, stamped(50));
        assert_eq!(next, w(G + 1, Phase::Open { opened_at: 500, level: 2 }));
        assert_eq!(out, Outcome::Rejected { state: State::Open, retry_after_ms: Some(400) });
        let ch = ch.unwrap();
        assert_eq!(
            (ch.trigger, ch.to, c.open_ms(ch.level, ch.gen)),
            (Trigger::ProbeTimeout, State::Open, 400)
        );
        // Without a probe timeout the breaker never asks for time here.
        assert!(matches!(transition(full, Event::Acquire, None, &cfg()), Step::Done { .. }));
    }

    // ---- gradual recovery ----

    #[test]
    #[cfg(feature = "policies")]
    fn closing_starts_a_ramp_that_rations_then_ends() {
        let c = Config::new()
            .half_open_probes(1)
            .gradual_recovery(Duration::from_millis(1_000), 10)
            .validate()
            .unwrap();
        let h = w(G, Phase::HalfOpen { issued: 1, successes: 0, level: 3 });
        assert_eq!(transition(h, rec(G, Admission::Probe, Verdict::Success), None, &c), Step::NeedsTime);
        let (ramping, _, ch) = run_with(&c, h, rec(G, Admission::Probe, Verdict::Success), at(0));
        assert_eq!(ramping, w(G + 1, Phase::Closed { failures: 0, ramping: true }));
        assert!(ch.unwrap().stamp, "the ramp's start is stamped");
        let g = G + 1;
        let ramp = |e| run_with(&c, ramping, Event::Acquire, Now { ms: e, phase_elapsed: Some(e) });
        assert_eq!(ramp(0), (ramping, Outcome::Ramp { gen: g, permille: 100, clean: true }, None));
        assert_eq!(ramp(500), (ramping, Outcome::Ramp { gen: g, permille: 550, clean: true }, None));
        let (done, out, ch) = ramp(1_000);
        assert_eq!((done, out, ch), (w(g, closed(0)), Outcome::Admitted { gen: g, kind: CLEAN }, None));
        // Unknown stamp: the ramp is taken as just begun.
        let unknown = run_with(&c, ramping, Event::Acquire, at(5_000)).1;
        assert_eq!(unknown, Outcome::Ramp { gen: g, permille: 100, clean: true });
        // A reset ends any ramp.
        let (reset, _, _) = run_with(&c, ramping, Event::Control(Control::Reset), at(0));
        assert_eq!(reset, w(g + 1, closed(0)));
    }

    #[test]
    fn ramp_rationing_admits_exactly_the_share() {
        for permille in [0, 1, 100, 333, 500, 999, 1000] {
            let admitted = (0..10_000).filter(|&n| ramp_admits(n, permille)).count() as u32;
            assert_eq!(admitted, 10_000 * permille / 1000, "share {permille}");
        }
        // Evenly spread: at 50 % every other call passes.
        assert_eq!(
            (0..6).map(|n| ramp_admits(n, 500)).collect::<std::vec::Vec<_>>(),
            [false, true, false, true, false, true]
        );
    }

    #[test]
    fn each_ramp_counts_its_own_calls() {
        // A fresh breaker's counter (0) is generation 0's, at call 0.
        assert_eq!(ramp_count(0, 0).0, 0);
        // First ramp (generation 3): ten calls at 10 % admit one, the tenth.
        let mut counter = 0;
        let mut first = std::vec::Vec::new();
        for _ in 0..10 {
            let (n, next) = ramp_count(counter, 3);
            first.push(ramp_admits(n, 100));
            counter = next;
        }
        assert_eq!(first.iter().filter(|&&a| a).count(), 1);
        assert!(first[9], "the tenth call passes");
        // Five more calls of the same ramp continue its count...
        let (n, _) = ramp_count(counter, 3);
        assert_eq!(n, 10);
        // ...but a second ramp (generation 6) starts at 0: its first 5 calls admit ⌊5 · 0.1⌋ = 0.
        let mut second = 0;
        for i in 0..5 {
            let (n, next) = ramp_count(counter, 6);
            assert_eq!(n, i);
            second += u32::from(ramp_admits(n, 100));
            counter = next;
        }
        assert_eq!(second, 0);
        // The count wraps at 1000, where `ramp_admits` repeats, and keeps its tag.
        let mut c = ramp_count(0, 6).1;
        for _ in 1..1000 {
            c = ramp_count(c, 6).1;
        }
        assert_eq!(ramp_count(c, 6).0, 0);
        let top = GENERATIONS - 1;
        assert_eq!(ramp_count(ramp_count(0, top).1, top).0, 1, "the widest tag fits");
        // Exactly ⌊n·s⌋ of the first n calls of any ramp, whatever the previous ramp left.
        for permille in [0, 1, 100, 333, 500, 999] {
            for left in [0u32, 7, 999] {
                let mut counter = (left << layout::GEN_BITS) | 1;
                let mut admitted = 0;
                for n in 1..=2_000u32 {
                    let (i, next) = ramp_count(counter, 2);
                    admitted += u32::from(ramp_admits(i, permille));
                    counter = next;
                    assert_eq!(admitted, n * permille / 1000, "share {permille}, left {left}, n {n}");
                }
            }
        }
    }

    #[test]
    fn slow_calls_are_promoted_when_configured_and_slow_probes_always_count_against_recovery() {
        use Verdict::{Failure as F, Ignore as I, Success as S};
        let kinds = [CLEAN, CLOSED, Admission::Probe, Admission::ForcedClosed];
        for kind in kinds {
            for as_failure in [false, true] {
                // A call under the threshold, and every non-success, is left alone.
                for v in [S, F, I] {
                    assert_eq!(slow_verdicts(kind, v, false, as_failure), (v, v));
                }
                assert_eq!(slow_verdicts(kind, F, true, as_failure), (F, F));
                assert_eq!(slow_verdicts(kind, I, true, as_failure), (I, I));
            }
            // A slow success counting as a failure is one, recorded and reported.
            assert_eq!(slow_verdicts(kind, S, true, true), (F, F));
        }
        // Without promotion: a success in CLOSED, but a failed probe (reported as the success it
        // was, the reopening says the rest).
        assert_eq!(slow_verdicts(CLEAN, S, true, false), (S, S));
        assert_eq!(slow_verdicts(CLOSED, S, true, false), (S, S));
        assert_eq!(slow_verdicts(Admission::Probe, S, true, false), (F, S));
    }

    // ---- manual control ----

    #[test]
    fn forced_open_rejects_without_retry_after_and_ignores_records() {
        let f = w(G, Phase::ForcedOpen);
        assert_eq!(
            run(f, Event::Acquire, 0),
            (f, Outcome::Rejected { state: State::ForcedOpen, retry_after_ms: None }, None)
        );
        assert_eq!(run(f, rec(G, Admission::Probe, Verdict::Failure), 0), (f, STALE, None));
        assert_eq!(run(f, Event::Control(Control::ForceOpen), 0), (f, Outcome::Controlled, None));
    }

    #[test]
    fn disabled_admits_everything_and_records_nothing() {
        let d = w(G, Phase::ForcedClosed);
        assert_eq!(
            run(d, Event::Acquire, 0),
            (d, Outcome::Admitted { gen: G, kind: Admission::ForcedClosed }, None)
        );
        for v in [Verdict::Success, Verdict::Failure, Verdict::Ignore] {
            assert_eq!(run(d, rec(G, Admission::ForcedClosed, v), 0), (d, APPLIED, None));
            assert_eq!(run(d, rec(G, CLOSED, Verdict::Failure), 0).0, d);
        }
        assert_eq!(run(d, Event::Control(Control::ForceClosed), 0), (d, Outcome::Controlled, None));
    }

    #[test]
    fn every_state_accepts_every_control() {
        let phases = [closed(2), open(3), half(1, 0), Phase::ForcedOpen, Phase::ForcedClosed];
        for phase in phases {
            let word = w(G, phase);
            for (control, to, trigger) in [
                (Control::ForceOpen, Phase::ForcedOpen, Trigger::ForceOpen),
                (Control::ForceClosed, Phase::ForcedClosed, Trigger::ForceClosed),
                (Control::Reset, closed(0), Trigger::Reset),
            ] {
                let (next, o, c) = run(word, Event::Control(control), 0);
                assert_eq!(o, Outcome::Controlled);
                if phase == to && control != Control::Reset {
                    assert_eq!((next, c), (word, None));
                } else {
                    assert_eq!(next, w(G + 1, to), "{phase:?} {control:?}");
                    let c = c.unwrap();
                    assert_eq!((c.from, c.to, c.trigger), (state_of(phase), state_of(to), trigger));
                    let expected_failures =
                        if let Phase::Closed { failures, .. } = phase { failures } else { 0 };
                    assert_eq!(c.failure_count, expected_failures);
                }
            }
        }
    }

    #[test]
    fn generation_wraps_through_transitions() {
        let c = w(GENERATIONS - 1, closed(2));
        let (o, _, ch) = run(c, rec(GENERATIONS - 1, CLOSED, Verdict::Failure), 0);
        assert_eq!(o, w(0, open(0)));
        assert_eq!(ch.unwrap().gen, 0);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::layout::MAX_BACKOFF_LEVEL;
    use crate::layout::{encode, GENERATIONS, TIME_MODULUS};
    use crate::Config;
    use core::time::Duration;
    use proptest::prelude::*;

    fn config() -> impl Strategy<Value = ValidConfig> {
        // No probe timeout in half the cases (its own rules, and the fast path's precondition).
        let probe_timeout = prop_oneof![Just(0u64), 1u64..500];
        (1u32..6, 1u64..5_000, 1u32..4, 1u32..4, 0u64..3, 0u64..500, probe_timeout, 0u64..2_000)
            .prop_filter_map(
                "successes <= probes",
                |(t, ms, p, s, backoff_factor, jitter, probe_timeout, ramp)| {
                    let c = Config::new()
                        .failure_threshold(t)
                        .recovery_timeout(Duration::from_millis(ms))
                        .half_open_probes(p)
                        .successes_to_close(s);
                    #[cfg(feature = "policies")]
                    let c = {
                        let mut c = c
                            .backoff(Duration::from_millis(ms << backoff_factor))
                            .jitter(Duration::from_millis(jitter), 7);
                        if probe_timeout > 0 {
                            c = c.probe_timeout(Duration::from_millis(probe_timeout));
                        }
                        if ramp > 0 {
                            c = c.gradual_recovery(Duration::from_millis(ramp), (ramp % 100) as u32);
                        }
                        c
                    };
                    #[cfg(not(feature = "policies"))]
                    let _ = (backoff_factor, jitter, probe_timeout, ramp);
                    c.validate().ok()
                },
            )
    }

    /// Words the machine can produce under `cfg`.
    fn reachable(cfg: ValidConfig) -> impl Strategy<Value = Word> {
        let phase = prop_oneof![
            (0..cfg.failure_threshold, any::<bool>())
                .prop_map(|(failures, ramping)| Phase::Closed { failures, ramping }),
            (0..TIME_MODULUS, 0..=MAX_BACKOFF_LEVEL)
                .prop_map(|(opened_at, level)| Phase::Open { opened_at, level }),
            (0..=cfg.half_open_probes, 0..cfg.successes_to_close, 0..=MAX_BACKOFF_LEVEL)
                .prop_map(|(issued, successes, level)| Phase::HalfOpen { issued, successes, level }),
            Just(Phase::ForcedOpen),
            Just(Phase::ForcedClosed),
        ];
        (0..GENERATIONS, phase).prop_map(|(gen, phase)| encode(Decoded { gen, phase }))
    }

    fn event() -> impl Strategy<Value = Event> {
        let kind = prop_oneof![
            any::<bool>().prop_map(|clean| Admission::Closed { clean }),
            Just(Admission::Probe),
            Just(Admission::ForcedClosed),
        ];
        let verdict = prop_oneof![Just(Verdict::Success), Just(Verdict::Failure), Just(Verdict::Ignore)];
        let reason = prop_oneof![Just(TripReason::FailureRate), Just(TripReason::SlowCallRate)];
        prop_oneof![
            Just(Event::Acquire),
            (0..GENERATIONS, kind, verdict).prop_map(|(gen, kind, verdict)| Event::Record {
                gen,
                kind,
                verdict
            }),
            (0..GENERATIONS, reason, any::<u32>())
                .prop_map(|(gen, reason, failures)| { Event::Trip { gen, reason, failures } }),
            prop_oneof![Just(Control::ForceOpen), Just(Control::ForceClosed), Just(Control::Reset)]
                .prop_map(Event::Control),
        ]
    }

    proptest! {
        // PROPTEST_CASES overrides the count (ci/miri.sh shrinks it under Miri).
        #![proptest_config(ProptestConfig::default())]

        /// The in-place transition function decides as the decode-match-encode one it replaced
        /// (`reference`): the same next word, outcome and change, and time asked for exactly
        /// when it was, on every reachable word and every event (with and without a phase
        /// timer's elapsed time).
        #[test]
        fn transition_is_the_reference(
            (cfg, word) in config().prop_flat_map(|c| (Just(c), reachable(c))),
            event in event(),
            now in any::<Ms>(),
            phase_elapsed in proptest::option::of(0..5_000 as Ms),
        ) {
            let now = Some(Now { ms: now, phase_elapsed });
            prop_assert_eq!(transition(word, event, None, &cfg), reference::transition(word, event, None, &cfg));
            prop_assert_eq!(transition(word, event, now, &cfg), reference::transition(word, event, now, &cfg));
        }

        /// The closed-state record's fast path ([`closed_record`], what `Breaker::record_closed`
        /// runs in its CAS loop) is the transition function where it answers: the same next
        /// word, outcome `APPLIED`, no change, no clock; and it answers for every non-tripping
        /// failure and every success of a closed-state permit of the word's generation.
        #[test]
        fn fast_paths_are_the_transition_function(
            (cfg, word) in config().prop_flat_map(|c| (Just(c), reachable(c))),
            gen in prop_oneof![Just(None), (0..GENERATIONS).prop_map(Some)],
            clean in any::<bool>(),
            verdict in prop_oneof![Just(Verdict::Success), Just(Verdict::Failure), Just(Verdict::Ignore)],
        ) {
            let d = layout::decode(word);
            let gen = gen.unwrap_or(d.gen);
            let event = Event::Record { gen, kind: Admission::Closed { clean: false }, verdict };
            let untimed = transition(word, event, None, &cfg);
            // On its own admission word, the shortcut answers as the general record.
            prop_assert_eq!(
                closed_record_admitted(word, verdict, cfg.failure_threshold),
                closed_record(word, d.gen, verdict, cfg.failure_threshold)
            );
            match closed_record(word, gen, verdict, cfg.failure_threshold) {
                Some(next) => prop_assert_eq!(untimed, Step::Done { next, outcome: APPLIED, change: None }),
                None => {
                    let answers = matches!(d.phase, Phase::Closed { failures, .. } if gen == d.gen
                        && (verdict == Verdict::Success
                            || (verdict == Verdict::Failure && failures + 1 < cfg.failure_threshold)));
                    prop_assert!(!answers, "a closed-state record left the fast path");
                }
            }
            // Admission in CLOSED without a ramp is one load, no store, whatever the failures
            // (`layout::is_closed_unramped`, what `call_with` admits on).
            let admitted = transition(word, Event::Acquire, None, &cfg);
            if layout::is_closed_unramped(word) {
                let kind = Admission::Closed { clean: layout::closed_failures(word) == 0 };
                let outcome = Outcome::Admitted { gen: d.gen, kind };
                prop_assert_eq!(admitted, Step::Done { next: word, outcome, change: None });
            } else {
                let unramped = matches!(d.phase, Phase::Closed { ramping: false, .. });
                prop_assert!(!unramped, "an unramped closed word failed the in-place check");
            }
            // A HALF_OPEN word with every probe slot taken and no probe timeout is rejected
            // without a clock and without a store (`half_open_rejects_untimed`, what
            // `Breaker::acquire_untimed` answers before the CAS loop), by the transition
            // function and by the decode-match-encode reference, which does not use the
            // predicate; and the predicate holds for every such word.
            let rejected = Outcome::Rejected { state: State::HalfOpen, retry_after_ms: None };
            if half_open_rejects_untimed(word, &cfg) {
                let done = Step::Done { next: word, outcome: rejected, change: None };
                prop_assert_eq!(admitted, done);
                prop_assert_eq!(reference::transition(word, Event::Acquire, None, &cfg), done);
            } else if let Phase::HalfOpen { issued, .. } = d.phase {
                let untimed = !(cfg!(feature = "policies") && cfg.probe_timeout_ms > 0);
                prop_assert!(!(issued >= cfg.half_open_probes && untimed), "a full HALF_OPEN word left the fast path");
            }
            let _ = clean;
        }

        /// The CAS loop may hand the function a clock reading it did not ask for (`cas.rs`,
        /// `apply_at`: the probe's admission and a failed probe's record read the clock up
        /// front): a decision that needs no time is the same with one.
        #[test]
        fn time_is_an_input_only_where_asked_for(
            (cfg, word) in config().prop_flat_map(|c| (Just(c), reachable(c))),
            event in event(),
            now in any::<Ms>(),
            phase_elapsed in proptest::option::of(0..5_000 as Ms),
        ) {
            let without = transition(word, event, None, &cfg);
            if without != Step::NeedsTime {
                let with = transition(word, event, Some(Now { ms: now, phase_elapsed }), &cfg);
                prop_assert_eq!(with, without);
            }
        }

        #[test]
        fn transition_is_total_and_keeps_invariants(
            (cfg, word) in config().prop_flat_map(|c| (Just(c), reachable(c))),
            event in event(),
            now in any::<Ms>(),
            phase_elapsed in proptest::option::of(0..5_000 as Ms),
        ) {
            let now = Now { ms: now, phase_elapsed };
            let step = match transition(word, event, None, &cfg) {
                Step::NeedsTime => transition(word, event, Some(now), &cfg),
                done => done,
            };
            let Step::Done { next, outcome, change } = step else {
                panic!("asked for time twice");
            };
            let before = layout::decode(word);
            let after = layout::decode(next);
            match after.phase {
                Phase::Closed { failures, .. } => prop_assert!(failures < cfg.failure_threshold),
                Phase::HalfOpen { issued, successes, .. } => {
                    prop_assert!(issued <= cfg.half_open_probes);
                    prop_assert!(successes < cfg.successes_to_close);
                }
                Phase::Open { level, .. } => prop_assert!(level <= MAX_BACKOFF_LEVEL),
                _ => {}
            }
            // The generation moves exactly when a transition is reported, by one.
            prop_assert_eq!(change.is_some(), after.gen != before.gen);
            if let Some(c) = change {
                prop_assert_eq!(after.gen, layout::next_gen(before.gen));
                if c.to == State::Open {
                    // Every open cycle fits the stored timestamp's horizon.
                    prop_assert!(cfg.open_ms(c.level, c.gen) < TIME_MODULUS);
                }
            }
            match outcome {
                Outcome::Rejected { retry_after_ms: Some(ms), .. } => prop_assert!(ms < TIME_MODULUS),
                Outcome::Admitted { gen, kind: Admission::Probe } => {
                    prop_assert_eq!(gen, after.gen);
                    let half_open = matches!(after.phase, Phase::HalfOpen { .. });
                    prop_assert!(half_open, "probe admitted outside HALF_OPEN");
                }
                Outcome::Ramp { permille, .. } => {
                    prop_assert!(permille < 1000);
                    prop_assert_eq!(next, word);
                }
                Outcome::Recorded { applied: false } => prop_assert_eq!(next, word),
                _ => {}
            }
            if let Outcome::Rejected { .. } = outcome {
                // A rejection stores nothing, except when it reopens stuck probes.
                prop_assert!(next == word || change.map(|c| c.trigger) == Some(Trigger::ProbeTimeout));
            }
        }
    }
}
