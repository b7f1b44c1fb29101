//! Honest health: what [`Breaker::failure_count`], [`Breaker::snapshot`] and
//! [`Breaker::state`] show outside CLOSED.
//!
//! - **The count that opened the breaker.** While OPEN or HALF_OPEN the breaker shows the
//!   failures that opened it plus one per probe that failed (or timed out) since it last
//!   closed: after a trip, the threshold (or a rate window's failures at the trip); after the
//!   k-th failed probe in a row, that plus k. This is the Python original's count, which goes up
//!   on every failure, a failed half-open probe included, and is only cleared when the breaker
//!   closes; a health endpoint that says `open` with `failure_count: 0` misleads operators.
//!   Forced open and forced closed breakers show 0, as before: no failure put them there.
//! - **Where it lives.** The OPEN payload of the word has no spare bits, so the count is kept in
//!   a side word, `[count (W − G bits) | generation (G bits)]`, like the phase stamp: written
//!   after each transition into OPEN or HALF_OPEN by the thread whose CAS made it, with a plain
//!   store. A later transition's maker stores after its own CAS, so the only overwrite left is
//!   an earlier maker's store landing just after a newer one; readers of the newer generation
//!   take it for another generation's count (the side word is tagged) and show the floor below.
//!   It never decides anything; the word does. What the transition does to the count is decided
//!   on the two words, so a breaker whose observer ignores transitions computes nothing more
//!   (the firmware's consecutive-mode image stays within its 1.5 KiB budget).
//! - **A reader that finds another generation's tag** (it caught the breaker between a
//!   transition and the count's store, a few instructions on the thread that made it) still
//!   reports something true: in HALF_OPEN, the count tagged with the OPEN generation just before
//!   (entering HALF_OPEN does not change the count); otherwise the smallest count the breaker can
//!   have opened with: the failure threshold with the consecutive-failures policy, 0 with a rate
//!   policy (a slow-call-rate trip needs no failure). A transition's maker that finds no count
//!   for the phase it leaves counts on from that same floor, and so does everyone after an
//!   earlier maker's late store overwrote a newer one (within the same few instructions).
//!   Aliasing after a multiple of 2^G generations could show an older outage's count in that
//!   window, as it could a permit's. A restored OPEN breaker with the consecutive-failures policy
//!   shows the threshold: the smallest count it can have opened with.
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

/// `true` for the words whose phase shows the side word's count (OPEN, HALF_OPEN): two tag
/// compares, no decode.
const fn shows_count(word: Word) -> bool {
    layout::is_open(word) || layout::is_half_open(word)
}

/// `true` when a transition from the word `old` to `new` reads or writes the count: it leaves or
/// enters OPEN or HALF_OPEN. The others (manual control and resets among CLOSED, FORCED_OPEN
/// and DISABLED) report the word's own count and leave the side word alone.
pub(crate) const fn touches_count(old: Word, new: Word) -> bool {
    shows_count(old) || shows_count(new)
}

/// The count stored for the generation the transition from the word `old` to `new` entered, if
/// it is kept: `trip` (the count that opened the breaker) on entering OPEN or HALF_OPEN from
/// anywhere else (a trip, a restored state); nothing on OPEN → HALF_OPEN (a HALF_OPEN reader takes
/// the OPEN generation's count, so nothing needs carrying); one more on
/// HALF_OPEN → OPEN (a failed or timed-out probe; a restore into OPEN is not one: it shows the
/// trip's count, `restored`); nothing for the other states, which do not
/// read the side word. `before` is the count of the phase left (the side word's, or the floor).
/// Decided on the words' tags, not on the reported change, so that a breaker whose observer
/// ignores transitions computes nothing else.
pub(crate) const fn stored_count(
    old: Word,
    new: Word,
    trip: u32,
    before: u32,
    restored: bool,
) -> Option<u32> {
    if layout::is_open(old) && layout::is_half_open(new) {
        // Nothing to store: a HALF_OPEN reader takes the OPEN generation's count (`known_count`).
        None
    } else if layout::is_half_open(old) && layout::is_open(new) && !restored {
        Some(before.saturating_add(1))
    } else if shows_count(new) {
        Some(trip)
    } else {
        None
    }
}

/// The `failure_count` a transition reports: the count it stored, if any; on a manual
/// transition out of OPEN or HALF_OPEN, the count it interrupted (`before`); otherwise the
/// change's own count (the word's consecutive failures; 0 when a probe closes the breaker).
pub(crate) const fn reported_count(change: &Change, stored: Option<u32>, before: u32) -> u32 {
    let manual = matches!(change.trigger, Trigger::ForceOpen | Trigger::ForceClosed | Trigger::Reset);
    match stored {
        Some(count) => count,
        None if manual && matches!(change.from, State::Open | State::HalfOpen) => before,
        // OPEN → HALF_OPEN stores nothing (the HALF_OPEN reader takes the OPEN count) but
        // reports the count it carries.
        None if matches!((change.from, change.to), (State::Open, State::HalfOpen)) => before,
        None => change.failure_count,
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

    /// Applies [`stored_count`] and [`reported_count`] for the transition from the word `old`
    /// to `new` this thread just made, right after its winning CAS and before the observer
    /// hears of it: stores the count for the entered generation if it is kept, and returns the
    /// count the transition reports. `threshold` is the config's: a consecutive-failure trip
    /// happens at the threshold exactly, and it is the floor.
    ///
    /// Inlined into the CAS loop, the side word's part ([`Breaker::store_count`]) too: what only
    /// the observer needs (the reported count, the count of the phase left) is then dead code
    /// for a breaker whose observer ignores transitions, and the compiler drops it. Out of line,
    /// the side word's part cost the consecutive-mode firmware image 96 B more at opt-level "s"
    /// (its arguments, its returned pair and the call), and the whole-API image 60–70 B less at
    /// "s" and "z", where it has three copies of the CAS loop.
    #[inline(always)]
    pub(crate) fn carry_failures(&self, old: Word, new: Word, change: &Change, threshold: u32) -> u32 {
        if !touches_count(old, new) {
            return change.failure_count;
        }
        let restored = matches!(change.trigger, Trigger::Restore);
        let (stored, before) = self.store_count(old, new, change.failure_count, threshold, restored);
        reported_count(change, stored, before)
    }

    /// The side word's part of [`carry_failures`](Breaker::carry_failures): the count of the
    /// phase left (`before`), and the count stored for the entered generation, if any. `trip`
    /// is the change's own count (a rate trip's failures).
    #[inline(always)]
    fn store_count(
        &self,
        old: Word,
        new: Word,
        trip: u32,
        threshold: u32,
        restored: bool,
    ) -> (Option<u32>, u32) {
        let side = self.open_failures.load(Ordering::Acquire);
        let gen = layout::gen_of(new);
        let before = match known_count(side, gen.wrapping_sub(1), layout::is_half_open(old)) {
            Some(count) => count,
            None => floor(P::CONSECUTIVE, threshold),
        };
        // The change's own count is needed only for a rate trip and for what the observer hears.
        let trip = if P::CONSECUTIVE { threshold } else { trip };
        let stored = stored_count(old, new, trip, before, restored);
        if let Some(count) = stored {
            // A store, not a compare-and-swap: a later transition's maker stores after its own
            // CAS, so the only
            // overwrite left is this store landing just after a newer one, which readers of
            // the newer generation take for another generation's count and show the floor (the
            // side word is tagged; see `known_count`).
            self.open_failures.store(encode(gen, count), Ordering::Release);
        }
        (stored, before)
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
    fn a_restore_from_half_open_into_open_is_not_a_failed_probe() {
        let at = |gen, phase| word(Decoded { gen, phase });
        let half = Phase::HalfOpen { issued: 1, successes: 0, level: 0 };
        let open = Phase::Open { opened_at: 0, level: 0 };
        assert_eq!(stored_count(at(5, half), at(6, open), 3, 5, true), Some(3));
        assert_eq!(stored_count(at(5, open), at(6, half), 3, 5, true), None);
        assert_eq!(stored_count(at(5, half), at(6, open), 3, 5, false), Some(6));
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

    fn at(gen: u32, phase: Phase) -> Word {
        word(Decoded { gen, phase })
    }

    const CLOSED: Phase = Phase::Closed { failures: 0, ramping: false };
    const OPEN: Phase = Phase::Open { opened_at: 0, level: 1 };
    const HALF: Phase = Phase::HalfOpen { issued: 1, successes: 0, level: 1 };

    #[test]
    fn a_trip_sets_the_count_probes_add_to_it_and_other_states_do_not_touch_it() {
        // A trip (or anything else entering OPEN or HALF_OPEN): the count that opened it.
        assert_eq!(stored_count(at(3, CLOSED), at(4, OPEN), 3, 40, false), Some(3));
        assert_eq!(stored_count(at(3, Phase::ForcedOpen), at(4, OPEN), 3, 40, false), Some(3));
        // OPEN → HALF_OPEN carries it; a failed or timed-out probe adds one.
        assert_eq!(stored_count(at(4, OPEN), at(5, HALF), 3, 5, false), None, "read through the OPEN tag");
        assert_eq!(stored_count(at(5, HALF), at(6, OPEN), 3, 5, false), Some(6));
        assert_eq!(stored_count(at(5, HALF), at(6, OPEN), 3, u32::MAX, false), Some(u32::MAX));
        // Leaving OPEN or HALF_OPEN for another state stores nothing (but reads the count).
        for to in [CLOSED, Phase::ForcedOpen, Phase::ForcedClosed] {
            for from in [OPEN, HALF] {
                assert!(touches_count(at(5, from), at(6, to)));
                assert_eq!(stored_count(at(5, from), at(6, to), 3, 5, false), None);
            }
        }
        // Among the other states nothing is read or written.
        for (from, to) in [
            (CLOSED, Phase::ForcedOpen),
            (CLOSED, Phase::ForcedClosed),
            (CLOSED, CLOSED),
            (Phase::ForcedOpen, CLOSED),
            (Phase::ForcedClosed, Phase::ForcedOpen),
        ] {
            assert!(!touches_count(at(5, from), at(6, to)), "{from:?} -> {to:?}");
            assert_eq!(stored_count(at(5, from), at(6, to), 3, 5, false), None);
        }
        assert!(touches_count(at(3, CLOSED), at(4, OPEN)));
    }

    #[test]
    fn a_transition_reports_what_it_stored_or_what_it_interrupted() {
        use State::{Closed, ForcedClosed, ForcedOpen, HalfOpen, Open};
        // What it stored.
        for (from, to, trigger) in [
            (Closed, Open, Trigger::FailureThreshold),
            (Closed, Open, Trigger::FailureRate),
            (Open, HalfOpen, Trigger::RecoveryTimeout),
            (HalfOpen, Open, Trigger::ProbeFailed),
            (HalfOpen, Open, Trigger::ProbeTimeout),
        ] {
            assert_eq!(reported_count(&change(from, to, trigger, 1), Some(6), 5), 6);
        }
        // Closing ends the count: the change's own 0.
        assert_eq!(reported_count(&change(HalfOpen, Closed, Trigger::ProbeSucceeded, 0), None, 5), 0);
        // Manual control out of OPEN or HALF_OPEN: the count it interrupted.
        for from in [Open, HalfOpen] {
            for (to, trigger) in [
                (ForcedOpen, Trigger::ForceOpen),
                (ForcedClosed, Trigger::ForceClosed),
                (Closed, Trigger::Reset),
            ] {
                assert_eq!(reported_count(&change(from, to, trigger, 0), None, 5), 5);
            }
        }
        // Manual control out of CLOSED: the word's consecutive failures, as before.
        assert_eq!(reported_count(&change(Closed, ForcedOpen, Trigger::ForceOpen, 2), None, 5), 2);
        assert_eq!(reported_count(&change(Closed, Closed, Trigger::Reset, 2), None, 5), 2);
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
            Phase::ForcedClosed,
        ] {
            let d = Decoded { gen: 3, phase };
            assert_eq!(shown_state(&cfg, d, 50_000), state_of(phase), "{phase:?}");
        }
        // The word itself is untouched: this is only what is shown.
        assert_eq!(layout::decode(word(open)).phase, open.phase);
    }
}
