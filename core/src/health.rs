//! Honest health: what [`Breaker::failure_count`], [`Breaker::snapshot`] and
//! [`Breaker::state`] show outside CLOSED.
//!
//! - **The count that opened the breaker.** While OPEN or HALF_OPEN the breaker shows the
//!   failures that opened it plus one per probe that failed (or timed out) since it last
//!   closed: after a trip, the threshold (or a rate window's failures at the trip); after the
//!   k-th failed probe in a row, that plus k. This is the Python original's count, which goes up
//!   on every failure, a failed half-open probe included, and is only cleared when the breaker
//!   closes; a health endpoint that says `open` with `failure_count: 0` misleads operators.
//!   Forced open and disabled breakers show 0, as before: no failure put them there.
//! - **Where it lives.** The OPEN payload of the word has no spare bits, so the count is kept in
//!   a side word, `[count (W − G bits) | generation (G bits)]`, like the phase stamp: written
//!   after each transition into OPEN or HALF_OPEN by the thread whose CAS made it, and only
//!   while the word is still in that generation (a later transition's maker owns the side word
//!   then). It never decides anything; the word does.
//! - **A reader that finds another generation's tag** (it caught the breaker between a
//!   transition and the count's store, a few instructions on the thread that made it) still
//!   reports something true: in HALF_OPEN, the count tagged with the OPEN generation just before
//!   (entering HALF_OPEN does not change the count); otherwise the smallest count the breaker can
//!   have opened with: the failure threshold with the consecutive-failures policy, 0 with a rate
//!   policy (a slow-call-rate trip needs no failure). A transition's maker that finds no count
//!   for the phase it leaves counts on from that same floor. Aliasing after a multiple of 2^G
//!   generations could show an older outage's count in that window, as it could a permit's.
//! - **Ready to probe.** A breaker whose open period is over but which no call has touched yet
//!   is still OPEN in the word (only an acquisition admits the probe, with a CAS). It is shown
//!   as [`State::HalfOpen`] with no probe in flight and no retry-after: the next call *is* the
//!   probe. A pure read, no store. gobreaker's `State()` and Polly's `CircuitState` report
//!   half-open once the break duration has elapsed too (they move the state as they read it;
//!   Resilience4j stays OPEN unless its automatic transition is enabled).
//!
//! [`Breaker::failure_count`]: crate::Breaker::failure_count
//! [`Breaker::snapshot`]: crate::Breaker::snapshot
//! [`Breaker::state`]: crate::Breaker::state

use crate::layout::{self, Decoded, Ms, Phase, Word, GEN_BITS};
use crate::observer::{Observer, Trigger};
use crate::policy::Policy;
use crate::sync::Ordering;
use crate::transition::{open_retry_ms, state_of, Change};
use crate::{Breaker, Clock, State, ValidConfig};

const TAG_MASK: Word = (1 << GEN_BITS) - 1;
/// Largest count the side word holds (2^48 − 1 or 2^26 − 1): counts saturate there.
const MAX_COUNT: Word = Word::MAX >> GEN_BITS;

/// The side word for generation `gen` holding `count` (saturated at what it can hold).
pub(crate) const fn encode(gen: u32, count: u32) -> Word {
    let count = if count as Word > MAX_COUNT { MAX_COUNT } else { count as Word };
    count << GEN_BITS | (gen as Word & TAG_MASK)
}

/// The count the side word `side` holds for a word of generation `gen` (in HALF_OPEN when
/// `half_open`), if it knows it: its tag is `gen`, or, in HALF_OPEN, the OPEN generation just
/// before, whose count entering HALF_OPEN carried over unchanged.
pub(crate) const fn known_count(side: Word, gen: u32, half_open: bool) -> Option<u32> {
    let tag = (side & TAG_MASK) as u32;
    let gen = gen & TAG_MASK as u32;
    let previous = gen.wrapping_sub(1) & TAG_MASK as u32;
    if tag == gen || (half_open && tag == previous) {
        let count = side >> GEN_BITS;
        Some(if count > u32::MAX as Word { u32::MAX } else { count as u32 })
    } else {
        None
    }
}

/// The floor a count is known to be at when the side word does not know it: the failure
/// threshold with the consecutive-failures policy, 0 with a rate policy.
pub(crate) const fn floor(consecutive: bool, failure_threshold: u32) -> u32 {
    if consecutive {
        failure_threshold
    } else {
        0
    }
}

/// `true` when a transition reads or writes the count: it leaves or enters OPEN or HALF_OPEN.
/// The others (manual control and resets among CLOSED, FORCED_OPEN and DISABLED) report the
/// word's own count and leave the side word alone.
pub(crate) const fn touches_count(change: &Change) -> bool {
    matches!(change.from, State::Open | State::HalfOpen) || matches!(change.to, State::Open | State::HalfOpen)
}

/// What a transition does to the count: the `failure_count` its [`Transition`] reports, and
/// whether that count is stored for the generation it entered. `before` is the count of the
/// phase it left, when it left OPEN or HALF_OPEN: the side word's, or the floor if the side
/// word did not know it.
///
/// - CLOSED → OPEN (a trip; or anything else entering OPEN or HALF_OPEN, such as a restored
///   state): the change's own count, stored;
/// - OPEN → HALF_OPEN: the count carries over, stored again for the new generation;
/// - HALF_OPEN → OPEN on a failed or timed-out probe: one more, stored;
/// - HALF_OPEN → CLOSED on success: 0, the count is over;
/// - a manual transition out of OPEN or HALF_OPEN: the count it interrupted; nothing stored
///   (FORCED_OPEN, DISABLED and CLOSED do not read the side word);
/// - anything else: the change's own count (the word's), nothing stored.
///
/// [`Transition`]: crate::Transition
pub(crate) const fn carry(change: &Change, before: u32) -> (u32, bool) {
    let manual = matches!(change.trigger, Trigger::ForceOpen | Trigger::Disable | Trigger::Reset);
    let probing = matches!(change.trigger, Trigger::RecoveryTimeout);
    let probe_failed = matches!(change.trigger, Trigger::ProbeFailed | Trigger::ProbeTimeout);
    let recovered = matches!(change.trigger, Trigger::ProbeSucceeded);
    match (change.from, change.to) {
        (State::Open, State::HalfOpen) if probing => (before, true),
        (State::HalfOpen, State::Open) if probe_failed => (before.saturating_add(1), true),
        (State::HalfOpen, State::Closed) if recovered => (0, false),
        (State::Open | State::HalfOpen, _) if manual => (before, false),
        (_, State::Open | State::HalfOpen) => (change.failure_count, true),
        _ => (change.failure_count, false),
    }
}

/// The state a breaker shows for the decoded word `d` at clock reading `now_ms`: the word's
/// state, except that an OPEN breaker whose open period is over shows as HALF_OPEN (ready to
/// probe: the next call is admitted as the probe). The same rule as the transition function's
/// (`open_retry_ms`), so what is shown is what the next call gets.
pub(crate) const fn shown_state(cfg: &ValidConfig, d: Decoded, now_ms: Ms) -> State {
    match d.phase {
        Phase::Open { opened_at, level } if open_retry_ms(cfg, opened_at, level, d.gen, now_ms).is_none() => {
            State::HalfOpen
        }
        phase => state_of(phase),
    }
}

impl<C: Clock, O: Observer, P: Policy> Breaker<C, O, P> {
    /// The count shown while the word `d` is OPEN or HALF_OPEN (see the module docs).
    pub(crate) fn open_failure_count(&self, d: Decoded) -> u32 {
        let side = self.open_failures.load(Ordering::Acquire);
        let half_open = matches!(d.phase, Phase::HalfOpen { .. });
        match known_count(side, d.gen, half_open) {
            Some(count) => count,
            None => floor(P::CONSECUTIVE, self.config().failure_threshold),
        }
    }

    /// Applies [`carry`] for a transition this thread just made: stores the count for the
    /// entered generation if it is to be kept, and returns the count the transition reports.
    /// Called right after the winning CAS, before the observer hears of the change.
    pub(crate) fn carry_failures(&self, change: &Change) -> u32 {
        if !touches_count(change) {
            return change.failure_count;
        }
        let mut side = self.open_failures.load(Ordering::Acquire);
        let left_half_open = matches!(change.from, State::HalfOpen);
        let before = match known_count(side, change.gen.wrapping_sub(1), left_half_open) {
            Some(count) => count,
            None => floor(P::CONSECUTIVE, self.config().failure_threshold),
        };
        let (count, store) = carry(change, before);
        if store {
            let next = encode(change.gen, count);
            // Only while the word is still in the entered generation: after that, the side
            // word belongs to a later transition's maker, which may already have stored.
            while layout::gen_of(self.word.load(Ordering::Acquire)) == change.gen {
                match self.open_failures.compare_exchange_weak(
                    side,
                    next,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    Err(actual) => side = actual,
                }
            }
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{encode as word, GENERATIONS};
    use crate::Config;
    use core::time::Duration;

    fn change(from: State, to: State, trigger: Trigger, failure_count: u32) -> Change {
        Change { from, to, trigger, failure_count, open_for_ms: None, level: 0, gen: 7, stamp: false }
    }

    #[test]
    fn the_side_word_round_trips_its_count_for_its_generation() {
        for gen in [0, 1, GENERATIONS - 1] {
            for count in [0, 1, 5, 65_535] {
                assert_eq!(known_count(encode(gen, count), gen, false), Some(count));
                assert_eq!(known_count(encode(gen, count), gen, true), Some(count));
            }
        }
        // Saturates at what the side word holds (all of `u32` on the 64-bit layout).
        let top = known_count(encode(3, u32::MAX), 3, false).unwrap();
        assert_eq!(top as Word, if MAX_COUNT > u32::MAX as Word { u32::MAX as Word } else { MAX_COUNT });
    }

    #[test]
    fn another_generations_count_is_unknown_except_the_open_one_before_half_open() {
        let side = encode(4, 9);
        assert_eq!(known_count(side, 5, false), None, "OPEN: the maker has not stored yet");
        assert_eq!(known_count(side, 5, true), Some(9), "HALF_OPEN right after OPEN 4: carried");
        assert_eq!(known_count(side, 6, true), None);
        assert_eq!(known_count(side, 3, true), None, "a newer count is not this phase's");
        // The generation before 0 is the last one.
        assert_eq!(known_count(encode(GENERATIONS - 1, 2), 0, true), Some(2));
    }

    #[test]
    fn the_floor_is_the_threshold_or_nothing_for_rate_policies() {
        assert_eq!((floor(true, 4), floor(false, 4)), (4, 0));
    }

    #[test]
    fn a_trip_sets_the_count_probes_add_to_it_and_closing_ends_it() {
        use State::{Closed, Disabled, ForcedOpen, HalfOpen, Open};
        // Trips: the count that opened the breaker.
        for trigger in [Trigger::FailureThreshold, Trigger::FailureRate, Trigger::SlowCallRate] {
            let trip = change(Closed, Open, trigger, 3);
            assert!(touches_count(&trip));
            assert_eq!(carry(&trip, 0), (3, true));
        }
        // OPEN → HALF_OPEN carries it; a failed or timed-out probe adds one.
        assert_eq!(carry(&change(Open, HalfOpen, Trigger::RecoveryTimeout, 0), 5), (5, true));
        assert_eq!(carry(&change(HalfOpen, Open, Trigger::ProbeFailed, 1), 5), (6, true));
        assert_eq!(carry(&change(HalfOpen, Open, Trigger::ProbeTimeout, 0), 5), (6, true));
        assert_eq!(carry(&change(HalfOpen, Open, Trigger::ProbeFailed, 1), u32::MAX), (u32::MAX, true));
        // Closing ends it.
        assert_eq!(carry(&change(HalfOpen, Closed, Trigger::ProbeSucceeded, 0), 5), (0, false));
        // Manual transitions out of OPEN or HALF_OPEN report the count they interrupt.
        for to in [ForcedOpen, Disabled, Closed] {
            for from in [Open, HalfOpen] {
                for trigger in [Trigger::ForceOpen, Trigger::Disable, Trigger::Reset] {
                    let manual = change(from, to, trigger, 0);
                    assert!(touches_count(&manual));
                    assert_eq!(carry(&manual, 5), (5, false));
                }
            }
        }
        // Manual transitions among the other states report the word's own count and neither
        // read nor write the side word.
        for (from, to, trigger) in [
            (Closed, ForcedOpen, Trigger::ForceOpen),
            (Closed, Disabled, Trigger::Disable),
            (Closed, Closed, Trigger::Reset),
            (ForcedOpen, Closed, Trigger::Reset),
            (Disabled, ForcedOpen, Trigger::ForceOpen),
        ] {
            let manual = change(from, to, trigger, 2);
            assert!(!touches_count(&manual));
            assert_eq!(carry(&manual, 5), (2, false));
        }
    }

    #[test]
    fn an_open_breaker_past_its_open_period_shows_as_ready_to_probe() {
        let cfg = Config::new().recovery_timeout(Duration::from_millis(100)).validate().unwrap();
        let open = Decoded { gen: 3, phase: Phase::Open { opened_at: 1_000, level: 0 } };
        assert_eq!(shown_state(&cfg, open, 1_000), State::Open);
        assert_eq!(shown_state(&cfg, open, 1_099), State::Open);
        assert_eq!(shown_state(&cfg, open, 1_100), State::HalfOpen);
        assert_eq!(shown_state(&cfg, open, 50_000), State::HalfOpen);
        for phase in [
            Phase::Closed { failures: 1, ramping: false },
            Phase::HalfOpen { issued: 1, successes: 0, level: 0 },
            Phase::ForcedOpen,
            Phase::Disabled,
        ] {
            let d = Decoded { gen: 3, phase };
            assert_eq!(shown_state(&cfg, d, 50_000), state_of(phase), "{phase:?}");
        }
        // The word itself is untouched: this is only what is shown.
        assert_eq!(layout::decode(word(open)).phase, open.phase);
    }
}
