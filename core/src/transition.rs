//! The pure transition function: `(word, event, now) -> (word, outcome)`.
//!
//! No atomics, no clock, no side effects: the CAS loop in `cas.rs` feeds it the loaded word and
//! stores what it returns. Everything the breaker decides is decided here, so this file is tested
//! exhaustively on its own (every state × every event) without threads.
//!
//! Time is asked for, not assumed: when the decision needs the clock and `now` is `None`, the
//! function answers [`Step::NeedsTime`] and the loop reads the clock and asks again. That keeps
//! clock reads off the paths that do not need them (a closed-state success or a non-tripping
//! failure).
//!
//! # Semantics
//!
//! - CLOSED counts consecutive failures of permits from its own generation; the failure that
//!   reaches the threshold opens the circuit and stamps the time.
//! - A success from a permit admitted while CLOSED had no failures ("clean") changes nothing:
//!   the whole call is linearized at its admission, where there was nothing to clear. This is
//!   what makes the common path one load and no store. A success from a permit admitted while
//!   failures were pending clears them (if the generation is unchanged).
//! - OPEN rejects until `recovery_timeout` has passed since it opened; the first call after that
//!   becomes the first half-open probe.
//! - HALF_OPEN admits up to `half_open_probes` permits per cycle; a success consumes its slot, an
//!   ignored or dropped probe gives it back; `successes_to_close` successes close the circuit,
//!   any failure reopens it.
//! - A permit from an earlier generation changes nothing ("stale").
//! - Manual control: force open and disable (force closed) hold until a reset; reset always
//!   starts a fresh CLOSED generation.

use crate::layout::{self, Decoded, Phase, Word};
use crate::observer::{Trigger, Verdict};
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
    Disabled,
}

/// Manual control.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Control {
    ForceOpen,
    Disable,
    Reset,
}

/// An input to the state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Event {
    /// A caller asks to make a call.
    Acquire,
    /// A permit reports.
    Record {
        gen: u32,
        kind: Admission,
        verdict: Verdict,
    },
    /// Manual control.
    Control(Control),
}

/// What the event produced for its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Go ahead; report back with this generation and kind.
    Admitted { gen: u32, kind: Admission },
    /// Do not call.
    Rejected {
        state: State,
        retry_after_ms: Option<u64>,
    },
    /// The verdict was taken into account (`applied`) or belonged to an earlier cycle.
    Recorded { applied: bool },
    /// A control event was carried out (or was already in effect).
    Controlled,
}

/// A state change, for the observer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) from: State,
    pub(crate) to: State,
    pub(crate) trigger: Trigger,
    pub(crate) failure_count: u32,
    pub(crate) open_for_ms: Option<u64>,
    pub(crate) gen: u32,
}

/// The function's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Call again with `now`.
    NeedsTime,
    /// The next word (equal to the input when nothing changes), the outcome, and the change to
    /// report if the next word is stored.
    Done {
        next: Word,
        outcome: Outcome,
        change: Option<Change>,
    },
}

/// The public state a phase maps to.
pub(crate) const fn state_of(phase: Phase) -> State {
    match phase {
        Phase::Closed { .. } => State::Closed,
        Phase::Open { .. } => State::Open,
        Phase::HalfOpen { .. } => State::HalfOpen,
        Phase::ForcedOpen => State::ForcedOpen,
        Phase::Disabled => State::Disabled,
    }
}

const fn unchanged(word: Word, outcome: Outcome) -> Step {
    Step::Done {
        next: word,
        outcome,
        change: None,
    }
}

const STALE: Outcome = Outcome::Recorded { applied: false };
const APPLIED: Outcome = Outcome::Recorded { applied: true };

/// The transition function. `now` is the clock reading in ms, when the caller has one.
#[inline]
pub(crate) fn transition(word: Word, event: Event, now: Option<u64>, cfg: &ValidConfig) -> Step {
    let Decoded { gen, phase } = layout::decode(word);
    let from = state_of(phase);
    let failures_now = match phase {
        Phase::Closed { failures } => failures,
        _ => 0,
    };

    // Builds a step into `phase` in the next generation, reporting the change.
    let enter = |to: Phase,
                 outcome: Outcome,
                 trigger: Trigger,
                 failure_count: u32,
                 open_for_ms: Option<u64>| {
        let gen = layout::next_gen(gen);
        Step::Done {
            next: layout::encode(Decoded { gen, phase: to }),
            outcome,
            change: Some(Change {
                from,
                to: state_of(to),
                trigger,
                failure_count,
                open_for_ms,
                gen,
            }),
        }
    };

    match event {
        Event::Control(control) => {
            return match (control, phase) {
                (Control::ForceOpen, Phase::ForcedOpen) | (Control::Disable, Phase::Disabled) => {
                    unchanged(word, Outcome::Controlled)
                }
                (Control::ForceOpen, _) => enter(
                    Phase::ForcedOpen,
                    Outcome::Controlled,
                    Trigger::ForceOpen,
                    failures_now,
                    None,
                ),
                (Control::Disable, _) => enter(
                    Phase::Disabled,
                    Outcome::Controlled,
                    Trigger::Disable,
                    failures_now,
                    None,
                ),
                (Control::Reset, _) => enter(
                    Phase::Closed { failures: 0 },
                    Outcome::Controlled,
                    Trigger::Reset,
                    failures_now,
                    None,
                ),
            };
        }
        // The linearization rule for clean successes, and "ignore" for non-probes: no effect,
        // whatever the word is now. (The permit short-circuits these before loading the word.)
        Event::Record {
            kind: Admission::Closed { clean: true },
            verdict: Verdict::Success,
            ..
        }
        | Event::Record {
            kind: Admission::Closed { .. } | Admission::Disabled,
            verdict: Verdict::Ignore,
            ..
        }
        | Event::Record {
            kind: Admission::Disabled,
            ..
        } => return unchanged(word, APPLIED),
        Event::Record { .. } | Event::Acquire => {}
    }

    match (phase, event) {
        (Phase::Closed { .. }, Event::Acquire) => unchanged(
            word,
            Outcome::Admitted {
                gen,
                kind: Admission::Closed {
                    clean: layout::is_clean_closed(word),
                },
            },
        ),
        (
            Phase::Closed { failures },
            Event::Record {
                gen: g,
                kind: Admission::Closed { .. },
                verdict,
            },
        ) if g == gen => match verdict {
            Verdict::Success if failures == 0 => unchanged(word, APPLIED),
            Verdict::Success => Step::Done {
                next: layout::encode(Decoded {
                    gen,
                    phase: Phase::Closed { failures: 0 },
                }),
                outcome: APPLIED,
                change: None,
            },
            Verdict::Failure if failures + 1 >= cfg.failure_threshold => match now {
                None => Step::NeedsTime,
                Some(now) => enter(
                    Phase::Open {
                        opened_at: layout::stamp(now),
                    },
                    APPLIED,
                    Trigger::FailureThreshold,
                    failures + 1,
                    None,
                ),
            },
            Verdict::Failure => Step::Done {
                next: layout::encode(Decoded {
                    gen,
                    phase: Phase::Closed {
                        failures: failures + 1,
                    },
                }),
                outcome: APPLIED,
                change: None,
            },
            Verdict::Ignore => unchanged(word, APPLIED),
        },
        (Phase::Open { opened_at }, Event::Acquire) => match now {
            None => Step::NeedsTime,
            Some(now) => {
                let elapsed = layout::elapsed_since(opened_at, now);
                if elapsed >= cfg.recovery_timeout_ms {
                    let gen = layout::next_gen(gen);
                    enter(
                        Phase::HalfOpen {
                            issued: 1,
                            successes: 0,
                        },
                        Outcome::Admitted {
                            gen,
                            kind: Admission::Probe,
                        },
                        Trigger::RecoveryTimeout,
                        0,
                        Some(elapsed),
                    )
                } else {
                    unchanged(
                        word,
                        Outcome::Rejected {
                            state: State::Open,
                            retry_after_ms: Some(cfg.recovery_timeout_ms - elapsed),
                        },
                    )
                }
            }
        },
        (Phase::HalfOpen { issued, successes }, Event::Acquire) => {
            if issued < cfg.half_open_probes {
                Step::Done {
                    next: layout::encode(Decoded {
                        gen,
                        phase: Phase::HalfOpen {
                            issued: issued + 1,
                            successes,
                        },
                    }),
                    outcome: Outcome::Admitted {
                        gen,
                        kind: Admission::Probe,
                    },
                    change: None,
                }
            } else {
                unchanged(
                    word,
                    Outcome::Rejected {
                        state: State::HalfOpen,
                        retry_after_ms: None,
                    },
                )
            }
        }
        (
            Phase::HalfOpen { issued, successes },
            Event::Record {
                gen: g,
                kind: Admission::Probe,
                verdict,
            },
        ) if g == gen => {
            match verdict {
                Verdict::Success if successes + 1 >= cfg.successes_to_close => enter(
                    Phase::Closed { failures: 0 },
                    APPLIED,
                    Trigger::ProbeSucceeded,
                    0,
                    None,
                ),
                Verdict::Success => Step::Done {
                    next: layout::encode(Decoded {
                        gen,
                        phase: Phase::HalfOpen {
                            issued,
                            successes: successes + 1,
                        },
                    }),
                    outcome: APPLIED,
                    change: None,
                },
                Verdict::Failure => match now {
                    None => Step::NeedsTime,
                    Some(now) => enter(
                        Phase::Open {
                            opened_at: layout::stamp(now),
                        },
                        APPLIED,
                        Trigger::ProbeFailed,
                        1,
                        None,
                    ),
                },
                // Give the slot back. `issued` counts this probe, so it is at least 1; the
                // saturating form keeps the function total on words it never produces.
                Verdict::Ignore => Step::Done {
                    next: layout::encode(Decoded {
                        gen,
                        phase: Phase::HalfOpen {
                            issued: issued.saturating_sub(1),
                            successes,
                        },
                    }),
                    outcome: APPLIED,
                    change: None,
                },
            }
        }
        (Phase::ForcedOpen, Event::Acquire) => unchanged(
            word,
            Outcome::Rejected {
                state: State::ForcedOpen,
                retry_after_ms: None,
            },
        ),
        (Phase::Disabled, Event::Acquire) => unchanged(
            word,
            Outcome::Admitted {
                gen,
                kind: Admission::Disabled,
            },
        ),
        // Every other record: a permit from another generation, or (after generation wrap-around)
        // of a kind this phase never issues. It belongs to an earlier cycle.
        (_, Event::Record { .. }) => unchanged(word, STALE),
        (_, Event::Control(_)) => unchanged(word, Outcome::Controlled), // handled above
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    /// Runs the function, supplying `now` only when asked (and checking it is asked only once).
    fn run(word: Word, event: Event, now: u64) -> (Word, Outcome, Option<Change>) {
        match transition(word, event, None, &cfg()) {
            Step::Done {
                next,
                outcome,
                change,
            } => {
                // Supplying time must not change a decision that did not need it.
                assert_eq!(
                    transition(word, event, Some(now), &cfg()),
                    Step::Done {
                        next,
                        outcome,
                        change
                    }
                );
                (next, outcome, change)
            }
            Step::NeedsTime => match transition(word, event, Some(now), &cfg()) {
                Step::Done {
                    next,
                    outcome,
                    change,
                } => (next, outcome, change),
                Step::NeedsTime => panic!("asked for time twice"),
            },
        }
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
        let clean = w(G, Phase::Closed { failures: 0 });
        assert_eq!(
            run(clean, Event::Acquire, 0),
            (
                clean,
                Outcome::Admitted {
                    gen: G,
                    kind: CLEAN
                },
                None
            )
        );
        let dirty = w(G, Phase::Closed { failures: 2 });
        assert_eq!(
            run(dirty, Event::Acquire, 0),
            (
                dirty,
                Outcome::Admitted {
                    gen: G,
                    kind: CLOSED
                },
                None
            )
        );
    }

    #[test]
    fn closed_failure_counts_then_trips_at_threshold_with_time() {
        let w0 = w(G, Phase::Closed { failures: 0 });
        let (w1, o, c) = run(w0, rec(G, CLEAN, Verdict::Failure), 10);
        assert_eq!(
            (w1, o, c),
            (w(G, Phase::Closed { failures: 1 }), APPLIED, None)
        );
        // No time is needed below the threshold.
        assert!(matches!(
            transition(w1, rec(G, CLOSED, Verdict::Failure), None, &cfg()),
            Step::Done { .. }
        ));
        let w2 = w(G, Phase::Closed { failures: 2 });
        assert_eq!(
            transition(w2, rec(G, CLOSED, Verdict::Failure), None, &cfg()),
            Step::NeedsTime
        );
        let (w3, o, c) = run(w2, rec(G, CLOSED, Verdict::Failure), 1_234);
        assert_eq!(w3, w(G + 1, Phase::Open { opened_at: 1_234 }));
        assert_eq!(o, APPLIED);
        let c = c.unwrap();
        assert_eq!(
            (c.from, c.to, c.trigger, c.failure_count, c.gen),
            (
                State::Closed,
                State::Open,
                Trigger::FailureThreshold,
                3,
                G + 1
            )
        );
    }

    #[test]
    fn closed_success_clears_pending_failures_but_clean_success_is_a_no_op() {
        let dirty = w(G, Phase::Closed { failures: 2 });
        assert_eq!(
            run(dirty, rec(G, CLOSED, Verdict::Success), 0),
            (w(G, Phase::Closed { failures: 0 }), APPLIED, None)
        );
        // A permit admitted clean does not clear failures recorded while it ran.
        assert_eq!(
            run(dirty, rec(G, CLEAN, Verdict::Success), 0),
            (dirty, APPLIED, None)
        );
        let clean = w(G, Phase::Closed { failures: 0 });
        assert_eq!(
            run(clean, rec(G, CLOSED, Verdict::Success), 0),
            (clean, APPLIED, None)
        );
    }

    #[test]
    fn closed_ignore_changes_nothing() {
        let dirty = w(G, Phase::Closed { failures: 2 });
        assert_eq!(
            run(dirty, rec(G, CLOSED, Verdict::Ignore), 0),
            (dirty, APPLIED, None)
        );
        assert_eq!(
            run(dirty, rec(G, CLEAN, Verdict::Ignore), 0),
            (dirty, APPLIED, None)
        );
    }

    #[test]
    fn closed_ignores_stale_generations_and_foreign_kinds() {
        let dirty = w(G, Phase::Closed { failures: 2 });
        for event in [
            rec(G - 1, CLOSED, Verdict::Failure),
            rec(G - 1, CLOSED, Verdict::Success),
            rec(G, Admission::Probe, Verdict::Failure),
            rec(G, Admission::Probe, Verdict::Success),
            rec(G, Admission::Probe, Verdict::Ignore),
        ] {
            assert_eq!(run(dirty, event, 0), (dirty, STALE, None), "{event:?}");
        }
    }

    // ---- OPEN ----

    #[test]
    fn open_rejects_with_retry_after_until_timeout_then_admits_first_probe() {
        let open = w(G, Phase::Open { opened_at: 100 });
        assert_eq!(
            transition(open, Event::Acquire, None, &cfg()),
            Step::NeedsTime
        );
        assert_eq!(
            run(open, Event::Acquire, 100),
            (
                open,
                Outcome::Rejected {
                    state: State::Open,
                    retry_after_ms: Some(1_000)
                },
                None
            )
        );
        assert_eq!(
            run(open, Event::Acquire, 1_099),
            (
                open,
                Outcome::Rejected {
                    state: State::Open,
                    retry_after_ms: Some(1)
                },
                None
            )
        );
        let (next, o, c) = run(open, Event::Acquire, 1_100);
        assert_eq!(
            next,
            w(
                G + 1,
                Phase::HalfOpen {
                    issued: 1,
                    successes: 0
                }
            )
        );
        assert_eq!(
            o,
            Outcome::Admitted {
                gen: G + 1,
                kind: Admission::Probe
            }
        );
        let c = c.unwrap();
        assert_eq!(
            (c.from, c.to, c.trigger, c.open_for_ms),
            (
                State::Open,
                State::HalfOpen,
                Trigger::RecoveryTimeout,
                Some(1_000)
            )
        );
    }

    #[test]
    fn open_timeout_survives_timestamp_wrap_around() {
        let opened = TIME_MODULUS - 300;
        let open = w(
            G,
            Phase::Open {
                opened_at: layout::stamp(opened),
            },
        );
        assert!(matches!(
            run(open, Event::Acquire, opened + 999).1,
            Outcome::Rejected {
                retry_after_ms: Some(1),
                ..
            }
        ));
        assert!(matches!(
            run(open, Event::Acquire, opened + 1_000).1,
            Outcome::Admitted { .. }
        ));
    }

    #[test]
    fn open_with_clock_stepped_back_admits_a_probe_rather_than_sticking() {
        let open = w(G, Phase::Open { opened_at: 5_000 });
        assert!(matches!(
            run(open, Event::Acquire, 4_000).1,
            Outcome::Admitted {
                kind: Admission::Probe,
                ..
            }
        ));
    }

    #[test]
    fn open_ignores_every_record() {
        let open = w(G, Phase::Open { opened_at: 0 });
        for gen in [G - 1, G] {
            for kind in [CLOSED, CLEAN, Admission::Probe] {
                for verdict in [Verdict::Success, Verdict::Failure] {
                    let e = rec(gen, kind, verdict);
                    let expected = if kind == CLEAN && verdict == Verdict::Success {
                        APPLIED
                    } else {
                        STALE
                    };
                    assert_eq!(run(open, e, 50), (open, expected, None), "{e:?}");
                }
            }
        }
    }

    // ---- HALF_OPEN ----

    #[test]
    fn half_open_admits_up_to_the_probe_limit() {
        let h1 = w(
            G,
            Phase::HalfOpen {
                issued: 1,
                successes: 0,
            },
        );
        let (h2, o, c) = run(h1, Event::Acquire, 0);
        assert_eq!(
            (h2, o, c),
            (
                w(
                    G,
                    Phase::HalfOpen {
                        issued: 2,
                        successes: 0
                    }
                ),
                Outcome::Admitted {
                    gen: G,
                    kind: Admission::Probe
                },
                None
            )
        );
        assert_eq!(
            run(h2, Event::Acquire, 0),
            (
                h2,
                Outcome::Rejected {
                    state: State::HalfOpen,
                    retry_after_ms: None
                },
                None
            )
        );
    }

    #[test]
    fn half_open_successes_close_after_enough() {
        let h = w(
            G,
            Phase::HalfOpen {
                issued: 2,
                successes: 0,
            },
        );
        let (h1, o, c) = run(h, rec(G, Admission::Probe, Verdict::Success), 0);
        assert_eq!(
            (h1, o, c),
            (
                w(
                    G,
                    Phase::HalfOpen {
                        issued: 2,
                        successes: 1
                    }
                ),
                APPLIED,
                None
            )
        );
        // A success keeps its slot: with both probes issued, no third is admitted.
        assert!(matches!(
            run(h1, Event::Acquire, 0).1,
            Outcome::Rejected { .. }
        ));
        let (closed, o, c) = run(h1, rec(G, Admission::Probe, Verdict::Success), 0);
        assert_eq!(
            (closed, o),
            (w(G + 1, Phase::Closed { failures: 0 }), APPLIED)
        );
        let c = c.unwrap();
        assert_eq!(
            (c.from, c.to, c.trigger),
            (State::HalfOpen, State::Closed, Trigger::ProbeSucceeded)
        );
    }

    #[test]
    fn half_open_failure_reopens_with_fresh_timestamp() {
        let h = w(
            G,
            Phase::HalfOpen {
                issued: 2,
                successes: 1,
            },
        );
        assert_eq!(
            transition(h, rec(G, Admission::Probe, Verdict::Failure), None, &cfg()),
            Step::NeedsTime
        );
        let (open, o, c) = run(h, rec(G, Admission::Probe, Verdict::Failure), 7_777);
        assert_eq!(
            (open, o),
            (w(G + 1, Phase::Open { opened_at: 7_777 }), APPLIED)
        );
        let c = c.unwrap();
        assert_eq!(
            (c.from, c.to, c.trigger, c.failure_count),
            (State::HalfOpen, State::Open, Trigger::ProbeFailed, 1)
        );
    }

    #[test]
    fn half_open_ignore_returns_the_slot() {
        let h = w(
            G,
            Phase::HalfOpen {
                issued: 2,
                successes: 1,
            },
        );
        assert_eq!(
            run(h, rec(G, Admission::Probe, Verdict::Ignore), 0),
            (
                w(
                    G,
                    Phase::HalfOpen {
                        issued: 1,
                        successes: 1
                    }
                ),
                APPLIED,
                None
            )
        );
        // Total on words the machine never produces.
        let h0 = w(
            G,
            Phase::HalfOpen {
                issued: 0,
                successes: 0,
            },
        );
        assert_eq!(run(h0, rec(G, Admission::Probe, Verdict::Ignore), 0).0, h0);
    }

    #[test]
    fn half_open_ignores_stale_and_closed_permits() {
        let h = w(
            G,
            Phase::HalfOpen {
                issued: 1,
                successes: 0,
            },
        );
        for e in [
            rec(G - 1, Admission::Probe, Verdict::Failure),
            rec(G - 1, Admission::Probe, Verdict::Success),
            rec(G - 2, CLOSED, Verdict::Failure),
            rec(G, CLOSED, Verdict::Failure),
            rec(G, CLOSED, Verdict::Success),
        ] {
            assert_eq!(run(h, e, 0), (h, STALE, None), "{e:?}");
        }
    }

    // ---- manual control ----

    #[test]
    fn forced_open_rejects_without_retry_after_and_ignores_records() {
        let f = w(G, Phase::ForcedOpen);
        assert_eq!(
            run(f, Event::Acquire, 0),
            (
                f,
                Outcome::Rejected {
                    state: State::ForcedOpen,
                    retry_after_ms: None
                },
                None
            )
        );
        assert_eq!(
            run(f, rec(G, Admission::Probe, Verdict::Failure), 0),
            (f, STALE, None)
        );
        assert_eq!(
            run(f, Event::Control(Control::ForceOpen), 0),
            (f, Outcome::Controlled, None)
        );
    }

    #[test]
    fn disabled_admits_everything_and_records_nothing() {
        let d = w(G, Phase::Disabled);
        assert_eq!(
            run(d, Event::Acquire, 0),
            (
                d,
                Outcome::Admitted {
                    gen: G,
                    kind: Admission::Disabled
                },
                None
            )
        );
        for v in [Verdict::Success, Verdict::Failure, Verdict::Ignore] {
            assert_eq!(
                run(d, rec(G, Admission::Disabled, v), 0),
                (d, APPLIED, None)
            );
            assert_eq!(run(d, rec(G, CLOSED, Verdict::Failure), 0).0, d);
        }
        assert_eq!(
            run(d, Event::Control(Control::Disable), 0),
            (d, Outcome::Controlled, None)
        );
    }

    #[test]
    fn every_state_accepts_every_control() {
        let phases = [
            Phase::Closed { failures: 2 },
            Phase::Open { opened_at: 3 },
            Phase::HalfOpen {
                issued: 1,
                successes: 0,
            },
            Phase::ForcedOpen,
            Phase::Disabled,
        ];
        for phase in phases {
            let word = w(G, phase);
            for (control, to, trigger) in [
                (Control::ForceOpen, Phase::ForcedOpen, Trigger::ForceOpen),
                (Control::Disable, Phase::Disabled, Trigger::Disable),
                (
                    Control::Reset,
                    Phase::Closed { failures: 0 },
                    Trigger::Reset,
                ),
            ] {
                let (next, o, c) = run(word, Event::Control(control), 0);
                assert_eq!(o, Outcome::Controlled);
                if phase == to && control != Control::Reset {
                    assert_eq!((next, c), (word, None));
                } else {
                    assert_eq!(next, w(G + 1, to), "{phase:?} {control:?}");
                    let c = c.unwrap();
                    assert_eq!(
                        (c.from, c.to, c.trigger),
                        (state_of(phase), state_of(to), trigger)
                    );
                    let expected_failures = if let Phase::Closed { failures } = phase {
                        failures
                    } else {
                        0
                    };
                    assert_eq!(c.failure_count, expected_failures);
                }
            }
        }
    }

    #[test]
    fn generation_wraps_through_transitions() {
        let closed = w(GENERATIONS - 1, Phase::Closed { failures: 2 });
        let (open, _, c) = run(closed, rec(GENERATIONS - 1, CLOSED, Verdict::Failure), 0);
        assert_eq!(open, w(0, Phase::Open { opened_at: 0 }));
        assert_eq!(c.unwrap().gen, 0);
    }

    /// Every (state, event) pair, including stale and foreign permits, yields a decodable word
    /// whose counters stay within their limits, and never asks for time twice.
    #[test]
    fn exhaustive_pairs_stay_within_limits() {
        let config = cfg();
        let mut phases = std::vec::Vec::new();
        for failures in 0..config.failure_threshold {
            phases.push(Phase::Closed { failures });
        }
        phases.push(Phase::Open { opened_at: 10 });
        for issued in 0..=config.half_open_probes {
            for successes in 0..config.successes_to_close {
                phases.push(Phase::HalfOpen { issued, successes });
            }
        }
        phases.push(Phase::ForcedOpen);
        phases.push(Phase::Disabled);
        let mut events = std::vec::Vec::new();
        events.push(Event::Acquire);
        for c in [Control::ForceOpen, Control::Disable, Control::Reset] {
            events.push(Event::Control(c));
        }
        for gen in [G - 1, G] {
            for kind in [CLOSED, CLEAN, Admission::Probe, Admission::Disabled] {
                for verdict in [Verdict::Success, Verdict::Failure, Verdict::Ignore] {
                    events.push(rec(gen, kind, verdict));
                }
            }
        }
        let mut pairs = 0;
        for &phase in &phases {
            for &event in &events {
                for now in [0, 10, 1_009, 1_010, 50_000] {
                    let (next, _, change) = run(w(G, phase), event, now);
                    let d = layout::decode(next);
                    match d.phase {
                        Phase::Closed { failures } => assert!(failures < config.failure_threshold),
                        Phase::HalfOpen { issued, successes } => {
                            assert!(
                                issued <= config.half_open_probes
                                    && successes < config.successes_to_close
                            )
                        }
                        _ => {}
                    }
                    // The generation moves exactly when a change is reported.
                    assert_eq!(change.is_some(), d.gen != G, "{phase:?} {event:?}");
                    pairs += 1;
                }
            }
        }
        assert!(pairs > 1_000);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::layout::{encode, GENERATIONS, TIME_MODULUS};
    use crate::Config;
    use core::time::Duration;
    use proptest::prelude::*;

    fn config() -> impl Strategy<Value = ValidConfig> {
        (1u32..6, 1u64..5_000, 1u32..4, 1u32..4).prop_filter_map("successes <= probes", |(t, ms, p, s)| {
            Config::new()
                .failure_threshold(t)
                .recovery_timeout(Duration::from_millis(ms))
                .half_open_probes(p)
                .successes_to_close(s)
                .validate()
                .ok()
        })
    }

    /// Words the machine can produce under `cfg`.
    fn reachable(cfg: ValidConfig) -> impl Strategy<Value = Word> {
        let phase = prop_oneof![
            (0..cfg.failure_threshold).prop_map(|failures| Phase::Closed { failures }),
            (0..TIME_MODULUS).prop_map(|opened_at| Phase::Open { opened_at }),
            (0..=cfg.half_open_probes, 0..cfg.successes_to_close)
                .prop_map(|(issued, successes)| Phase::HalfOpen { issued, successes }),
            Just(Phase::ForcedOpen),
            Just(Phase::Disabled),
        ];
        (0..GENERATIONS, phase).prop_map(|(gen, phase)| encode(Decoded { gen, phase }))
    }

    fn event() -> impl Strategy<Value = Event> {
        let kind = prop_oneof![
            any::<bool>().prop_map(|clean| Admission::Closed { clean }),
            Just(Admission::Probe),
            Just(Admission::Disabled),
        ];
        let verdict = prop_oneof![Just(Verdict::Success), Just(Verdict::Failure), Just(Verdict::Ignore)];
        prop_oneof![
            Just(Event::Acquire),
            (0..GENERATIONS, kind, verdict).prop_map(|(gen, kind, verdict)| Event::Record { gen, kind, verdict }),
            prop_oneof![Just(Control::ForceOpen), Just(Control::Disable), Just(Control::Reset)].prop_map(Event::Control),
        ]
    }

    proptest! {
        // PROPTEST_CASES overrides the count (ci/miri.sh shrinks it under Miri).
        #![proptest_config(ProptestConfig::default())]

        #[test]
        fn transition_is_total_and_keeps_invariants(
            (cfg, word) in config().prop_flat_map(|c| (Just(c), reachable(c))),
            event in event(),
            now in any::<u64>(),
        ) {
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
                Phase::Closed { failures } => prop_assert!(failures < cfg.failure_threshold),
                Phase::HalfOpen { issued, successes } => {
                    prop_assert!(issued <= cfg.half_open_probes);
                    prop_assert!(successes < cfg.successes_to_close);
                }
                _ => {}
            }
            // The generation moves exactly when a transition is reported, by one.
            prop_assert_eq!(change.is_some(), after.gen != before.gen);
            if change.is_some() {
                prop_assert_eq!(after.gen, layout::next_gen(before.gen));
            }
            match outcome {
                Outcome::Rejected { .. } => prop_assert_eq!(next, word),
                Outcome::Admitted { gen, kind: Admission::Probe } => {
                    prop_assert_eq!(gen, after.gen);
                    let half_open = matches!(after.phase, Phase::HalfOpen { .. });
                    prop_assert!(half_open, "probe admitted outside HALF_OPEN");
                }
                Outcome::Recorded { applied: false } => prop_assert_eq!(next, word),
                _ => {}
            }
        }
    }
}
