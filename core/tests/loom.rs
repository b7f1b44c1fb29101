//! Loom models of the breaker's word: every interleaving of a few threads (bounded by
//! `LOOM_MAX_PREEMPTIONS`) is explored against the real CAS loop and transition function.
//!
//! Run with `ci/loom.sh`, or for one layout:
//!
//! ```text
//! RUSTFLAGS="--cfg breaker_loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p breaker-core --test loom --release
//! ```
//!
//! Every model records the transitions the observer reports and checks that, ordered by the
//! generation they entered, they form one unbroken chain from the state the model started in to
//! the state the breaker ends in: no transition reported twice, none missing.
//!
//! The `ManualClock` uses ordinary atomics that loom does not track. Loom runs its threads one at
//! a time on one OS thread, so clock reads are still deterministic for a given schedule; the
//! models only move the clock from one thread at a time.
//!
//! The file is empty unless built with `--cfg breaker_loom`.
#![cfg(breaker_loom)]

use core::time::Duration;

use breaker_core::limits::GENERATIONS;
use breaker_core::{Breaker, Config, ManualClock, Observer, State, Transition, Trigger, Verdict};
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// Recovery timeout used by every model.
const RECOVERY: Duration = Duration::from_millis(1_000);

/// Observer that keeps every reported transition.
struct Recorder {
    log: Mutex<Vec<Transition>>,
}

impl Observer for Recorder {
    fn on_transition(&self, t: &Transition) {
        self.log.lock().unwrap().push(*t);
    }
}

type TestBreaker = Breaker<ManualClock, Recorder>;

/// Runs `f` under loom; `LOOM_MAX_PREEMPTIONS` decides the preemption bound, defaulting to 2
/// so a bare `cargo test` under `--cfg breaker_loom` stays fast too.
fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

fn breaker(config: Config) -> Arc<TestBreaker> {
    Arc::new(Breaker::with_observer(
        "loom",
        config.recovery_timeout(RECOVERY).validate().unwrap(),
        ManualClock::new(),
        Recorder { log: Mutex::new(Vec::new()) },
    ))
}

/// Where a model starts checking from: the number of transitions reported so far, the state and
/// the generation.
#[derive(Clone, Copy)]
struct Mark {
    reported: usize,
    state: State,
    gen: u32,
}

fn mark(b: &TestBreaker) -> Mark {
    let s = b.snapshot();
    let log = b.observer().log.lock().unwrap();
    Mark { reported: log.len(), state: word_state(&log, &s), gen: s.generation }
}

/// The state the word is in: the state entered by the transition into the snapshot's
/// generation (an OPEN breaker past its open period *shows* as HALF_OPEN, ready to probe, while
/// its word is still OPEN), or the snapshot's state when no transition was reported yet.
fn word_state(log: &[Transition], s: &breaker_core::Snapshot) -> State {
    log.iter().rev().find(|t| t.generation == s.generation).map_or(s.state, |t| t.to)
}

/// `true` when a breaker whose word is in `state` may show `s`: the same state, or ready to
/// probe (HALF_OPEN with nothing in flight and no retry-after) for an OPEN word.
fn shows(state: State, s: &breaker_core::Snapshot) -> bool {
    s.state == state
        || (state == State::Open
            && s.state == State::HalfOpen
            && s.probes_in_flight == 0
            && s.retry_after.is_none())
}

/// The transitions reported since `m`, checked to be one chain from `m` to the breaker's current
/// state and generation (call once all threads are joined).
fn chain_since(b: &TestBreaker, m: Mark) -> Vec<(State, State, Trigger)> {
    let mut ts: Vec<Transition> = b.observer().log.lock().unwrap()[m.reported..].to_vec();
    let offset = |g: u32| (g + GENERATIONS - m.gen) % GENERATIONS;
    ts.sort_by_key(|t| offset(t.generation));
    let (mut state, mut gen) = (m.state, m.gen);
    for t in &ts {
        gen = (gen + 1) % GENERATIONS;
        assert_eq!(t.generation, gen, "generation skipped or reported twice: {ts:?}");
        assert_eq!(t.from, state, "transitions do not chain: {ts:?}");
        state = t.to;
    }
    let s = b.snapshot();
    assert!(
        gen == s.generation && shows(state, &s),
        "reported transitions ({state:?}, {gen}) do not end in the breaker's state {s:?}: {ts:?}"
    );
    ts.iter().map(|t| (t.from, t.to, t.trigger)).collect()
}

/// Trips a breaker with `failure_threshold(1)` at the clock's current reading.
fn trip(b: &TestBreaker) {
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), State::Open);
}

/// Trips a `failure_threshold(1)` breaker and lets its recovery timeout pass: the next acquire
/// is the first probe.
fn open_and_time_out(b: &TestBreaker) {
    trip(b);
    b.clock().advance(RECOVERY);
}

/// Model 1: concurrent failures at the threshold open the circuit exactly once.
#[test]
fn concurrent_failures_at_threshold_open_exactly_once() {
    model(|| {
        let b = breaker(Config::new().failure_threshold(2));
        let m = mark(&b);
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || {
                    if let Ok(p) = b.try_acquire() {
                        p.failure();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(b.state(), State::Open);
        assert_eq!(chain_since(&b, m), [(State::Closed, State::Open, Trigger::FailureThreshold)]);
        let t = b.observer().log.lock().unwrap()[m.reported];
        assert_eq!((t.failure_count, t.threshold), (2, 2));
    });
}

/// Model 2: HALF_OPEN never has more probes out than configured, and dropped or ignored probes
/// give their slots back.
#[test]
fn half_open_admits_at_most_the_configured_probes() {
    model(|| {
        let b = breaker(Config::new().failure_threshold(1).half_open_probes(2).successes_to_close(2));
        open_and_time_out(&b);
        // The first acquire after the timeout is the first probe; dropping it gives its slot back.
        let first = b.try_acquire().unwrap();
        assert!(first.is_probe());
        drop(first);
        let s = b.snapshot();
        assert_eq!((s.state, s.probes_in_flight), (State::HalfOpen, 0));
        let m = mark(&b);

        let held = Arc::new(AtomicUsize::new(0));
        let admitted = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let (b, held, admitted) = (b.clone(), held.clone(), admitted.clone());
                thread::spawn(move || {
                    if let Ok(p) = b.try_acquire() {
                        assert!(p.is_probe());
                        // Counted only while the slot is certainly taken: after admission, and
                        // until just before the permit gives it back.
                        let now_held = held.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(now_held <= 2, "{now_held} probes out with half_open_probes(2)");
                        admitted.fetch_add(1, Ordering::SeqCst);
                        held.fetch_sub(1, Ordering::SeqCst);
                        if i == 0 {
                            p.ignore();
                        } else {
                            drop(p);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let n = admitted.load(Ordering::SeqCst);
        assert!((2..=3).contains(&n), "{n} admitted");
        // Every slot came back and nothing changed state.
        let s = b.snapshot();
        assert_eq!((s.state, s.probes_in_flight, s.probe_successes), (State::HalfOpen, 0, 0));
        assert!(chain_since(&b, m).is_empty());
        let p1 = b.try_acquire().expect("slot 1 was given back");
        let p2 = b.try_acquire().expect("slot 2 was given back");
        assert!(b.try_acquire().is_err());
        drop((p1, p2));
    });
}

/// Model 2b: only one of two racing callers turns a timed-out OPEN into HALF_OPEN, and the
/// transition is reported once.
#[test]
fn recovery_timeout_race_admits_one_probe_and_reports_once() {
    model(|| {
        let b = breaker(Config::new().failure_threshold(1).half_open_probes(1));
        open_and_time_out(&b);
        let m = mark(&b);
        let admitted = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (b, admitted) = (b.clone(), admitted.clone());
                thread::spawn(move || {
                    // Hold the permit to the end so the slot cannot be reused.
                    let p = b.try_acquire().ok();
                    if p.is_some() {
                        admitted.fetch_add(1, Ordering::SeqCst);
                    }
                    p.map(|p| p.into_ticket())
                })
            })
            .collect();
        let tickets: Vec<_> = handles.into_iter().filter_map(|h| h.join().unwrap()).collect();
        assert_eq!(admitted.load(Ordering::SeqCst), 1);
        assert_eq!(tickets.len(), 1);
        assert_eq!(chain_since(&b, m), [(State::Open, State::HalfOpen, Trigger::RecoveryTimeout)]);
        for t in tickets {
            b.settle(t, Verdict::Success);
        }
        assert_eq!(b.state(), State::Closed);
    });
}

/// Model 3: a permit from an earlier generation finishing after a reset does not count in the
/// new cycle.
#[test]
fn stale_permit_after_reset_does_not_count() {
    model(|| {
        let b = breaker(Config::new().failure_threshold(2));
        b.try_acquire().unwrap().failure();
        // A permit admitted with one failure pending: its failure would trip generation 0.
        let stale = b.try_acquire_ticket().unwrap();
        let m = mark(&b);

        let a = {
            let b = b.clone();
            thread::spawn(move || b.settle(stale, Verdict::Failure))
        };
        let r = {
            let b = b.clone();
            thread::spawn(move || {
                b.reset();
                // One failure in the new cycle: with the stale one it would reach the threshold.
                b.try_acquire().unwrap().failure();
            })
        };
        a.join().unwrap();
        r.join().unwrap();
        assert_eq!((b.state(), b.failure_count()), (State::Closed, 1));
        let chain = chain_since(&b, m);
        assert!(
            chain == [(State::Closed, State::Closed, Trigger::Reset)]
                || chain
                    == [
                        (State::Closed, State::Open, Trigger::FailureThreshold),
                        (State::Open, State::Closed, Trigger::Reset),
                    ],
            "{chain:?}"
        );
    });
}

/// Model 3b: a closed-state permit held across a whole OPEN → HALF_OPEN → CLOSED cycle does not
/// count in the new CLOSED generation.
#[test]
fn stale_permit_across_a_full_cycle_does_not_count() {
    model(|| {
        let b = breaker(Config::new().failure_threshold(2));
        b.try_acquire().unwrap().failure();
        let stale = b.try_acquire_ticket().unwrap();
        let m = mark(&b);

        let a = {
            let b = b.clone();
            thread::spawn(move || b.settle(stale, Verdict::Failure))
        };
        let cycler = {
            let b = b.clone();
            thread::spawn(move || {
                // Trips generation 0 unless the stale permit got there first.
                if let Ok(p) = b.try_acquire() {
                    p.failure();
                }
                assert_eq!(b.state(), State::Open);
                b.clock().advance(RECOVERY);
                let probe = b.try_acquire().expect("recovery timeout passed");
                assert!(probe.is_probe());
                probe.success();
                assert_eq!(b.state(), State::Closed);
            })
        };
        a.join().unwrap();
        cycler.join().unwrap();
        assert_eq!((b.state(), b.failure_count()), (State::Closed, 0));
        assert_eq!(
            chain_since(&b, m),
            [
                (State::Closed, State::Open, Trigger::FailureThreshold),
                (State::Open, State::HalfOpen, Trigger::RecoveryTimeout),
                (State::HalfOpen, State::Closed, Trigger::ProbeSucceeded),
            ]
        );
    });
}

/// Model 4: a probe success racing a probe failure; `successes_to_close` 1 and 2.
#[test]
fn half_open_success_racing_failure() {
    for successes_to_close in [1, 2] {
        model(move || {
            let b = breaker(
                Config::new().failure_threshold(1).half_open_probes(2).successes_to_close(successes_to_close),
            );
            open_and_time_out(&b);
            let good = b.try_acquire_ticket().unwrap();
            let bad = b.try_acquire_ticket().unwrap();
            assert!(good.is_probe() && bad.is_probe());
            let m = mark(&b);
            assert_eq!(m.state, State::HalfOpen);

            let failed_first = Arc::new(AtomicBool::new(false));
            let s = {
                let b = b.clone();
                thread::spawn(move || b.settle(good, Verdict::Success))
            };
            let f = {
                let (b, failed_first) = (b.clone(), failed_first.clone());
                thread::spawn(move || {
                    b.settle(bad, Verdict::Failure);
                    // Whether the failure found the cycle still open for probes.
                    failed_first.store(b.state() == State::Open, Ordering::SeqCst);
                })
            };
            s.join().unwrap();
            f.join().unwrap();

            let chain = chain_since(&b, m);
            let reopened = [(State::HalfOpen, State::Open, Trigger::ProbeFailed)];
            let closed = [(State::HalfOpen, State::Closed, Trigger::ProbeSucceeded)];
            if successes_to_close == 2 {
                // One success is not enough: the failure always reopens.
                assert_eq!(chain, reopened);
            } else {
                assert!(chain == reopened || chain == closed, "{chain:?}");
            }
            match b.state() {
                State::Open => {
                    // The threshold (1) that opened it, plus the failed probe.
                    let t = b.observer().log.lock().unwrap()[m.reported];
                    assert_eq!((t.failure_count, b.failure_count()), (2, 2));
                    assert!(b.try_acquire().is_err(), "reopened with a fresh timestamp");
                }
                State::Closed => {
                    assert!(!failed_first.load(Ordering::SeqCst));
                    assert_eq!(b.failure_count(), 0);
                }
                other => panic!("illegal end state {other:?}"),
            }
        });
    }
}

/// Model 5: `force_open` racing calls: nothing is admitted once `force_open` has returned (to a
/// thread that knows it has), the end state is FORCED_OPEN, each transition reported once.
#[test]
fn force_open_racing_calls() {
    model(|| {
        let b = breaker(Config::new().failure_threshold(2));
        let m = mark(&b);
        let forced = Arc::new(AtomicBool::new(false));

        let f = {
            let (b, forced) = (b.clone(), forced.clone());
            thread::spawn(move || {
                b.force_open();
                assert!(b.try_acquire().is_err());
                forced.store(true, Ordering::Release);
            })
        };
        let w = {
            let (b, forced) = (b.clone(), forced.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    let after_force = forced.load(Ordering::Acquire);
                    match b.try_acquire() {
                        Ok(p) => {
                            assert!(!after_force, "admitted after force_open returned");
                            p.failure();
                        }
                        Err(e) => assert!(e.state().rejects_calls()),
                    }
                }
            })
        };
        f.join().unwrap();
        w.join().unwrap();

        assert_eq!(b.state(), State::ForcedOpen);
        assert!(b.try_acquire().is_err());
        let chain = chain_since(&b, m);
        assert!(
            chain == [(State::Closed, State::ForcedOpen, Trigger::ForceOpen)]
                || chain
                    == [
                        (State::Closed, State::Open, Trigger::FailureThreshold),
                        (State::Open, State::ForcedOpen, Trigger::ForceOpen),
                    ],
            "{chain:?}"
        );
    });
}

/// Model 6: `reset` racing a half-open probe's verdict: the probe never reopens (or closes) the
/// fresh generation, and the breaker ends CLOSED with nothing counted.
#[test]
fn reset_racing_a_probe_verdict() {
    for verdict in [Verdict::Failure, Verdict::Success] {
        model(move || {
            let b = breaker(Config::new().failure_threshold(1));
            open_and_time_out(&b);
            let probe = b.try_acquire_ticket().unwrap();
            assert!(probe.is_probe());
            let m = mark(&b);

            let p = {
                let b = b.clone();
                thread::spawn(move || b.settle(probe, verdict))
            };
            let r = {
                let b = b.clone();
                thread::spawn(move || b.reset())
            };
            p.join().unwrap();
            r.join().unwrap();

            assert_eq!((b.state(), b.failure_count()), (State::Closed, 0));
            let chain = chain_since(&b, m);
            let reset_first = [(State::HalfOpen, State::Closed, Trigger::Reset)];
            let probe_first = match verdict {
                Verdict::Failure => [
                    (State::HalfOpen, State::Open, Trigger::ProbeFailed),
                    (State::Open, State::Closed, Trigger::Reset),
                ],
                _ => [
                    (State::HalfOpen, State::Closed, Trigger::ProbeSucceeded),
                    (State::Closed, State::Closed, Trigger::Reset),
                ],
            };
            assert!(chain == reset_first || chain == probe_first, "{verdict:?}: {chain:?}");
            // The fresh generation's failure counting is untouched: one failure trips it.
            b.try_acquire().unwrap().failure();
            assert_eq!(b.state(), State::Open);
        });
    }
}

/// Model 7: a probe from an earlier half-open cycle given back (dropped) while a newer half-open
/// cycle runs must not free a slot in the newer cycle.
#[test]
fn stale_probe_drop_does_not_free_a_newer_slot() {
    model(|| {
        let b = breaker(Config::new().failure_threshold(1).half_open_probes(1));
        open_and_time_out(&b);
        let old_probe = b.try_acquire_ticket().unwrap();
        assert!(old_probe.is_probe());
        let m = mark(&b);

        let dropper = {
            let b = b.clone();
            thread::spawn(move || b.settle(old_probe, Verdict::Ignore))
        };
        let cycler = {
            let b = b.clone();
            thread::spawn(move || {
                b.reset();
                b.try_acquire().unwrap().failure();
                b.clock().advance(RECOVERY);
                let probe = b.try_acquire().expect("recovery timeout passed");
                assert!(probe.is_probe());
                // The only slot of this cycle is taken, whatever the old probe does.
                assert!(b.try_acquire().is_err(), "second probe with half_open_probes(1)");
                probe.into_ticket()
            })
        };
        dropper.join().unwrap();
        let probe = cycler.join().unwrap();
        let s = b.snapshot();
        assert_eq!((s.state, s.probes_in_flight), (State::HalfOpen, 1));
        assert!(b.try_acquire().is_err());
        let chain = chain_since(&b, m);
        assert_eq!(
            chain,
            [
                (State::HalfOpen, State::Closed, Trigger::Reset),
                (State::Closed, State::Open, Trigger::FailureThreshold),
                (State::Open, State::HalfOpen, Trigger::RecoveryTimeout),
            ]
        );
        b.settle(probe, Verdict::Success);
        assert_eq!(b.state(), State::Closed);
    });
}

/// Model 8: in CLOSED, a success from a permit admitted with failures pending racing a failure:
/// either the success cleared the count first (CLOSED, one failure) or the failure tripped first
/// (OPEN, reported once); never a lost update.
#[test]
fn closed_success_racing_failure() {
    model(|| {
        let b = breaker(Config::new().failure_threshold(2));
        b.try_acquire().unwrap().failure();
        let m = mark(&b);

        let s = {
            let b = b.clone();
            thread::spawn(move || {
                if let Ok(p) = b.try_acquire() {
                    p.success();
                }
            })
        };
        let f = {
            let b = b.clone();
            thread::spawn(move || {
                if let Ok(p) = b.try_acquire() {
                    p.failure();
                }
            })
        };
        s.join().unwrap();
        f.join().unwrap();

        let chain = chain_since(&b, m);
        match (b.state(), b.failure_count()) {
            (State::Closed, 1) => assert!(chain.is_empty(), "{chain:?}"),
            // Open, showing the count that opened it.
            (State::Open, 2) => assert_eq!(chain, [(State::Closed, State::Open, Trigger::FailureThreshold)]),
            other => panic!("illegal end state {other:?}, {chain:?}"),
        }
    });
}

/// Model 9: a clock reading taken before a lost CAS race is not reused. The caller that loses to
/// a probe that moves the clock on and fails (reopening at the later time) must compare the new
/// opening time with a fresh reading; a stale, earlier reading would look like a clock that went
/// backwards and admit an early second probe.
#[test]
fn lost_race_rereads_the_clock() {
    model(|| {
        let b = breaker(Config::new().failure_threshold(1).half_open_probes(1));
        open_and_time_out(&b);
        let m = mark(&b);

        let late = {
            let b = b.clone();
            thread::spawn(move || b.try_acquire().ok().map(|p| p.into_ticket()))
        };
        let prober = {
            let b = b.clone();
            thread::spawn(move || match b.try_acquire() {
                Ok(p) => {
                    b.clock().advance(Duration::from_millis(500));
                    p.failure();
                    true
                }
                Err(_) => false,
            })
        };
        let late = late.join().unwrap();
        let probed = prober.join().unwrap();
        assert!(!(probed && late.is_some()), "a second probe admitted right after the first failed");
        let chain = chain_since(&b, m);
        if probed {
            assert_eq!(
                chain,
                [
                    (State::Open, State::HalfOpen, Trigger::RecoveryTimeout),
                    (State::HalfOpen, State::Open, Trigger::ProbeFailed),
                ]
            );
            let t = b.observer().log.lock().unwrap()[m.reported + 1];
            assert_eq!(t.at.map(|at| at.as_millis()), Some(1_500));
        } else {
            assert!(late.is_some());
            assert_eq!(chain, [(State::Open, State::HalfOpen, Trigger::RecoveryTimeout)]);
        }
    });
}

/// Model 10: callers racing through a ramp share its admission counter without a lost update
/// (at 50 % exactly one of the ramp's first two calls passes), and a second ramp counts from 0,
/// not from where the first stopped (its third call is then shed: ⌊3 · 0.5⌋ = 1).
#[test]
fn racing_ramp_calls_share_one_count_per_ramp() {
    model(|| {
        let b =
            breaker(Config::new().failure_threshold(1).gradual_recovery(Duration::from_millis(1_000), 50));
        let recover = |b: &TestBreaker| {
            open_and_time_out(b);
            b.try_acquire().unwrap().success(); // the probe closes: a ramp begins at 50 %
        };
        // First ramp: one call, shed; then the ramp runs out and a failure trips again.
        recover(&b);
        assert!(b.try_acquire().is_err());
        b.clock().advance(Duration::from_millis(1_000));
        trip(&b);
        b.clock().advance(RECOVERY);
        b.try_acquire().unwrap().success();

        let admitted = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (b, admitted) = (b.clone(), admitted.clone());
                thread::spawn(move || {
                    if let Ok(p) = b.try_acquire() {
                        admitted.fetch_add(1, Ordering::SeqCst);
                        drop(p);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(admitted.load(Ordering::SeqCst), 1, "calls 0 and 1 of the ramp: one passes");
        assert!(b.try_acquire().is_err(), "call 2 of this ramp is shed");
    });
}

/// Model 11: the count shown while OPEN and HALF_OPEN, with two probes failing at once. Each
/// caller sees the count that opened the breaker, or that plus the failed probe, never 0 or a
/// lost count, and the reopening reports threshold + 1 whichever interleaving stored last.
#[test]
fn failed_probes_racing_keep_the_count_that_opened_the_breaker() {
    model(|| {
        let b = breaker(Config::new().failure_threshold(2).half_open_probes(2));
        for _ in 0..2 {
            b.try_acquire().unwrap().failure();
        }
        assert_eq!((b.state(), b.failure_count()), (State::Open, 2));
        b.clock().advance(RECOVERY);
        let m = mark(&b);

        let handles: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || {
                    if let Ok(p) = b.try_acquire() {
                        let seen = b.failure_count();
                        assert!(seen == 2 || seen == 3, "while probing: {seen}");
                        p.failure();
                    }
                    let seen = b.failure_count();
                    assert!(seen == 2 || seen == 3, "after: {seen}");
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let chain = chain_since(&b, m);
        assert_eq!(
            chain,
            [
                (State::Open, State::HalfOpen, Trigger::RecoveryTimeout),
                (State::HalfOpen, State::Open, Trigger::ProbeFailed),
            ]
        );
        // (Observers may hear the two transitions in either order.)
        let log = b.observer().log.lock().unwrap();
        let reopened = log[m.reported..].iter().find(|t| t.trigger == Trigger::ProbeFailed).unwrap();
        assert_eq!((reopened.failure_count, b.failure_count()), (3, 3));
    });
}
