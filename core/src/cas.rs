//! The compare-and-swap loop: the only code that writes the word.
//!
//! It loads (or is handed) the current word, asks the pure [`transition`] function what to do,
//! and stores the answer with `compare_exchange_weak`; on a lost race it re-runs the function on
//! the word that won. The thread whose CAS succeeds is the one that reports the transition, so
//! every transition is reported exactly once.
//!
//! Invariants kept here:
//! - The clock is read only when the transition function asks for it (or, for an admission on an
//!   OPEN word, by the OPEN fast path just before: the function always asks there), and always
//!   *after* the word it is compared with was loaded. A reading taken before a concurrent re-open would look
//!   like a clock going backwards (an early probe), so a lost race discards the reading.
//! - "Nothing to do" is trusted only on a freshly loaded word: a word seen earlier (the one an
//!   admission was decided on, say) may be the first CAS guess, never proof that nothing changed.
//! - Orderings: loads are `Acquire`, successful CASes `AcqRel`, so a transition and everything
//!   its maker did before it happen-before whoever observes the new word.

use crate::layout::{self, Ms, Word};
use crate::observer::Verdict;
use crate::observer::{Observer, Transition};
use crate::policy::Policy;
use crate::sync::Ordering;
use crate::transition::{acquire, record, transition, Admission, Event, Now, Outcome, Step};
use crate::{Breaker, Clock, Timestamp, ValidConfig};
use core::time::Duration;

/// The events of a call (admission, record): [`Event`] without the rare ones.
#[derive(Clone, Copy)]
enum Call {
    Acquire,
    Record { gen: u32, kind: Admission, verdict: Verdict },
}

impl<C: Clock, O: Observer, P: Policy> Breaker<C, O, P> {
    /// Reads the clock, and the phase stamp when `word`'s phase has a timer (HALF_OPEN, or
    /// CLOSED while ramping). A stamp from another generation means
    /// the transition's maker has not written it yet, or a late writer from an older transition
    /// overwrote it: this reader stamps it now (only over that same stale value) and reports the
    /// phase as just begun, which is the conservative answer for both timers.
    #[inline]
    pub(crate) fn now_for(&self, word: Word, clock_ms: u64, may_stamp: bool) -> Now {
        // Every stored time is kept modulo a power of two no wider than `Ms`.
        let ms = clock_ms as Ms;
        let timed = cfg!(feature = "policies")
            && matches!(
                layout::decode(word).phase,
                layout::Phase::HalfOpen { .. } | layout::Phase::Closed { ramping: true, .. }
            );
        if !timed {
            return Now { ms, phase_elapsed: None };
        }
        let stamp = self.stamp.load(Ordering::Acquire);
        let gen = layout::gen_of(word);
        let phase_elapsed = match layout::stamp_elapsed(stamp, gen, ms) {
            Some(e) => Some(e),
            // Only a freshly loaded word may re-stamp: a word seen earlier may belong to an
            // older cycle, and re-stamping for it would restart the current cycle's timer.
            None if !may_stamp => Some(0),
            None => {
                let _ = self.stamp.compare_exchange(
                    stamp,
                    layout::encode_stamp(gen, ms),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
                Some(0)
            }
        };
        Now { ms, phase_elapsed }
    }

    /// Applies `event` to the word, starting from `current`: a word just loaded (`fresh`) or a
    /// recently seen one to try as the first CAS guess. Returns the outcome and the word it was
    /// decided on (the stored one, if it stored).
    ///
    /// The decision is the transition function's: admissions and records go to its per-event
    /// functions ([`acquire`], [`record`], what [`transition`] dispatches them to) in one copy
    /// of the loop; manual control and rate trips, rare, to [`transition`] itself in another
    /// (`apply_rare`), so a build that never controls or trips carries only the first.
    #[inline(always)]
    pub(crate) fn apply(&self, event: Event, current: Word, fresh: bool) -> (Outcome, Word) {
        let call = match event {
            Event::Acquire => Call::Acquire,
            Event::Record { gen, kind, verdict } => Call::Record { gen, kind, verdict },
            Event::Trip { .. } | Event::Control(_) => return self.apply_rare(event, current, fresh),
        };
        self.apply_call(call, current, fresh, None)
    }

    /// An admission or a record on `current`, freshly loaded, with the clock already read after
    /// that load (`clock_ms`), where the transition function is known to ask for the time: an
    /// admission on an OPEN word whose period the OPEN fast path found over, a failed probe
    /// (which re-opens, stamped "now"). The loop's first decision takes this reading instead of
    /// answering [`Step::NeedsTime`] and reading the clock again. A lost race discards it, as any
    /// reading. (Given a time it does not need, the transition function decides as without it:
    /// the time is an input only where it asks for it.)
    #[inline(always)]
    pub(crate) fn apply_at(&self, event: Event, current: Word, clock_ms: u64) -> (Outcome, Word) {
        let call = match event {
            Event::Acquire => Call::Acquire,
            Event::Record { gen, kind, verdict } => Call::Record { gen, kind, verdict },
            Event::Trip { .. } | Event::Control(_) => return self.apply_rare(event, current, true),
        };
        self.apply_call(call, current, true, Some(clock_ms))
    }

    #[inline(never)]
    fn apply_call(&self, call: Call, current: Word, fresh: bool, reading: Option<u64>) -> (Outcome, Word) {
        // `black_box`: one copy of the loop around both decisions; without it the optimiser
        // copies the whole loop per event (~150 B of `.text` on thumbv7em for nothing).
        let decide = move |word, now, cfg: &ValidConfig| match core::hint::black_box(call) {
            Call::Acquire => acquire(word, now, cfg),
            Call::Record { gen, kind, verdict } => record(word, gen, kind, verdict, now, cfg),
        };
        self.apply_with_at(decide, current, fresh, reading)
    }

    /// [`apply`](Breaker::apply) for manual control and rate trips.
    #[cold]
    #[inline(never)]
    fn apply_rare(&self, event: Event, current: Word, fresh: bool) -> (Outcome, Word) {
        self.apply_with(|word, now, cfg| transition(word, event, now, cfg), current, fresh)
    }

    /// [`apply`](Breaker::apply) around any pure decision `decide(word, now, config)` with the
    /// transition function's contract (a restore's step, `restore.rs`, is the other one): a
    /// decision that is never used is never compiled in.
    #[inline]
    pub(crate) fn apply_with(
        &self,
        decide: impl Fn(Word, Option<Now>, &ValidConfig) -> Step,
        current: Word,
        fresh: bool,
    ) -> (Outcome, Word) {
        self.apply_with_at(decide, current, fresh, None)
    }

    /// [`apply_with`](Breaker::apply_with), with `reading`, a clock reading taken after
    /// `current` was loaded, if the caller has one (see
    /// [`apply_at`](Breaker::apply_at)).
    #[inline(always)]
    fn apply_with_at(
        &self,
        decide: impl Fn(Word, Option<Now>, &ValidConfig) -> Step,
        mut current: Word,
        mut fresh: bool,
        mut reading: Option<u64>,
    ) -> (Outcome, Word) {
        // One config per decision: every retry of the loop decides under it. By reference
        // (`initial` itself while the config was never replaced), not a copy.
        let mut copy = None;
        let cfg = self.config.read_into(&mut copy);
        // A reading handed in up front never re-stamps: it is taken for the time alone (a failed
        // probe's reopening, the probe's admission on an OPEN word), and a decision that needs
        // no phase timer must not restart one as a side effect. A failed probe of an older
        // cycle, on a HALF_OPEN word whose stamp is unknown (the clock went back), would
        // otherwise re-stamp the current cycle's timer at that moment, which a breaker reading
        // the time only when asked does not (the model checks found it).
        let mut now: Option<Now> = reading.map(|clock_ms| self.now_for(current, clock_ms, false));
        loop {
            match decide(current, now, cfg) {
                Step::NeedsTime => {
                    let clock_ms = self.clock.now().as_millis();
                    reading = Some(clock_ms);
                    now = Some(self.now_for(current, clock_ms, fresh));
                }
                Step::Done { next, outcome, change } => {
                    if next == current {
                        if fresh {
                            return (outcome, current);
                        }
                        current = self.word.load(Ordering::Acquire);
                        fresh = true;
                        now = None;
                        continue;
                    }
                    match self.word.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire)
                    {
                        Ok(_) => {
                            if let Some(change) = change {
                                if cfg!(feature = "policies") && change.stamp {
                                    if let Some(now) = now {
                                        self.stamp.store(
                                            layout::encode_stamp(change.gen, now.ms),
                                            Ordering::Release,
                                        );
                                    }
                                }
                                // The count shown while OPEN and HALF_OPEN, before anyone hears.
                                let failure_count =
                                    self.carry_failures(current, next, &change, cfg.failure_threshold);
                                self.observer.on_transition(&Transition {
                                    name: self.name,
                                    from: change.from,
                                    to: change.to,
                                    trigger: change.trigger,
                                    failure_count,
                                    threshold: cfg.failure_threshold,
                                    open_for: change.open_for_ms.map(|ms| Duration::from_millis(ms as u64)),
                                    open_duration: match change.to {
                                        crate::State::Open => Some(Duration::from_millis(
                                            cfg.open_ms(change.level, change.gen) as u64,
                                        )),
                                        _ => None,
                                    },
                                    backoff_level: change.level,
                                    at: reading.map(Timestamp::from_millis),
                                    generation: change.gen,
                                });
                            }
                            return (outcome, next);
                        }
                        Err(actual) => {
                            current = actual;
                            fresh = true;
                            now = None;
                        }
                    }
                }
            }
        }
    }
}
