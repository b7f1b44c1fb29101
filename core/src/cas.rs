//! The compare-and-swap loop: the only code that writes the word.
//!
//! It loads (or is handed) the current word, asks the pure [`transition`] function what to do,
//! and stores the answer with `compare_exchange_weak`; on a lost race it re-runs the function on
//! the word that won. The thread whose CAS succeeds is the one that reports the transition, so
//! every transition is reported exactly once.
//!
//! Invariants kept here:
//! - The clock is read only when the transition function asks for it, and always *after* the
//!   word it is compared with was loaded. A reading taken before a concurrent re-open would look
//!   like a clock going backwards (an early probe), so a lost race discards the reading.
//! - "Nothing to do" is trusted only on a freshly loaded word: a permit's snapshot word is used
//!   as the first CAS guess (saving a load), never as proof that nothing changed.
//! - Orderings: loads are `Acquire`, successful CASes `AcqRel`, so a transition and everything
//!   its maker did before it happen-before whoever observes the new word.

use crate::layout::Word;
use crate::observer::{Observer, Transition};
use crate::sync::Ordering;
use crate::transition::{transition, Event, Outcome, Step};
use crate::{Breaker, Clock, Timestamp};
use core::time::Duration;

impl<C: Clock, O: Observer> Breaker<C, O> {
    /// Applies `event` to the word; `guess` is a recently seen word to try first. Returns the
    /// outcome and the word it was decided on (the stored one, if it stored).
    #[inline]
    pub(crate) fn apply(&self, event: Event, guess: Option<Word>) -> (Outcome, Word) {
        let (mut current, mut fresh) = match guess {
            Some(word) => (word, false),
            None => (self.word.load(Ordering::Acquire), true),
        };
        let mut now: Option<u64> = None;
        loop {
            match transition(current, event, now, &self.config) {
                Step::NeedsTime => now = Some(self.clock.now().as_millis()),
                Step::Done {
                    next,
                    outcome,
                    change,
                } => {
                    if next == current {
                        if fresh {
                            return (outcome, current);
                        }
                        current = self.word.load(Ordering::Acquire);
                        fresh = true;
                        now = None;
                        continue;
                    }
                    match self.word.compare_exchange_weak(
                        current,
                        next,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => {
                            if let Some(change) = change {
                                self.observer.on_transition(&Transition {
                                    name: self.name,
                                    from: change.from,
                                    to: change.to,
                                    trigger: change.trigger,
                                    failure_count: change.failure_count,
                                    threshold: self.config.failure_threshold,
                                    open_for: change.open_for_ms.map(Duration::from_millis),
                                    at: now.map(Timestamp::from_millis),
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
