//! Loom models of runtime reconfiguration and restore: every interleaving (bounded by
//! `LOOM_MAX_PREEMPTIONS`) of a config change or a restore with calls, trips and each other,
//! against the real config cell, CAS loop and transition function.
//!
//! ```text
//! RUSTFLAGS="--cfg breaker_loom" LOOM_MAX_PREEMPTIONS=3 \
//!     cargo test -p breaker-core --test loom_reconfigure --release
//! ```
//!
//! What is checked: a decision (a trip, a rejection) and a reader of `config()` only ever see one
//! of the configs that were published, never a mix of two; a change racing calls and a trip loses
//! no state (no failure, no transition); concurrent changes are each either applied or refused
//! as busy, never lost; a restore racing a call ends in the restored state, reported once. The
//! transitions the observer hears always form one chain from the state the model started in to
//! the state it ends in (as in `loom.rs`).
//!
//! The file is empty unless built with `--cfg breaker_loom` (and the default features).
#![cfg(all(breaker_loom, feature = "reconfigure", feature = "policies"))]

use core::time::Duration;

use breaker_core::limits::GENERATIONS;
use breaker_core::{
    Breaker, Config, ManualClock, Observer, ReconfigureError, State, Transition, Trigger, ValidConfig,
};
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

struct Recorder {
    log: Mutex<Vec<Transition>>,
}

impl Observer for Recorder {
    fn on_transition(&self, t: &Transition) {
        self.log.lock().unwrap().push(*t);
    }
}

type TestBreaker = Breaker<ManualClock, Recorder>;

fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

fn breaker(config: ValidConfig) -> Arc<TestBreaker> {
    Arc::new(Breaker::with_observer(
        "loom",
        config,
        ManualClock::new(),
        Recorder { log: Mutex::new(Vec::new()) },
    ))
}

fn valid(c: Config) -> ValidConfig {
    c.validate().unwrap()
}

/// The transitions reported, checked to chain from `(from, gen 0)` to the breaker's state.
fn chain(b: &TestBreaker, from: State) -> Vec<(State, State, Trigger)> {
    let mut ts: Vec<Transition> = b.observer().log.lock().unwrap().clone();
    ts.sort_by_key(|t| t.generation);
    let (mut state, mut gen) = (from, 0);
    for t in &ts {
        gen = (gen + 1) % GENERATIONS;
        assert_eq!((t.generation, t.from), (gen, state), "transitions do not chain: {ts:?}");
        state = t.to;
    }
    let s = b.snapshot();
    assert_eq!(
        (state, gen),
        (s.state, s.generation),
        "the chain does not end in the breaker's state: {ts:?}"
    );
    ts.iter().map(|t| (t.from, t.to, t.trigger)).collect()
}

/// Two changes of several fields at once racing a trip and a reader: the trip is decided under
/// one whole config (its threshold and its open duration belong together) and the reader sees one
/// of the three configs, never a mix. (With one change a reader cannot tear at all: the writer
/// writes the slot readers are not reading. The second change writes the slot the first
/// readers may still be in.)
#[test]
fn a_decision_never_sees_a_torn_config() {
    model(|| {
        let a = valid(Config::new().failure_threshold(1).recovery_timeout(ms(1_000)).half_open_probes(1));
        let b = valid(
            Config::new()
                .failure_threshold(2)
                .recovery_timeout(ms(2_000))
                .half_open_probes(3)
                .successes_to_close(2),
        );
        let c = valid(Config::new().failure_threshold(1).recovery_timeout(ms(3_000)).half_open_probes(2));
        // Built with another config and changed to `a` first: a breaker whose config was never
        // changed reads its initial copy, which no writer touches.
        let breaker = breaker(valid(Config::new()));
        breaker.reconfigure(a.into()).unwrap();
        let writer = {
            let breaker = breaker.clone();
            thread::spawn(move || {
                assert_eq!(breaker.reconfigure(b.into()), Ok(a));
                assert_eq!(breaker.reconfigure(c.into()), Ok(b));
            })
        };
        let reader = {
            let breaker = breaker.clone();
            thread::spawn(move || {
                let seen = breaker.config();
                assert!(seen == a || seen == b || seen == c, "a torn config: {seen:?}");
            })
        };
        // One failure: trips under `a` and `c` (threshold 1), is only counted under `b`.
        breaker.try_acquire().unwrap().failure();
        writer.join().unwrap();
        reader.join().unwrap();
        assert_eq!(breaker.config(), c);
        match breaker.state() {
            State::Open => {
                let t = breaker.observer().log.lock().unwrap()[0];
                let decided = (t.threshold, t.open_duration);
                assert!(
                    decided == (1, Some(ms(1_000))) || decided == (1, Some(ms(3_000))),
                    "torn: {decided:?}"
                );
                assert_eq!(
                    chain(&breaker, State::Closed),
                    [(State::Closed, State::Open, Trigger::FailureThreshold)]
                );
            }
            State::Closed => {
                assert_eq!(breaker.failure_count(), 1, "counted under `b`, not lost");
                assert!(chain(&breaker, State::Closed).is_empty());
            }
            other => panic!("{other:?}"),
        }
    });
}

/// The OPEN rejection fast path reads only the open timing (timeout, cap, jitter): racing two
/// changes of all of them, a rejection says the retry-after of one config, never a mix.
#[test]
fn a_rejection_never_sees_a_torn_open_timing() {
    model(|| {
        let a = valid(Config::new().failure_threshold(1).recovery_timeout(ms(1_000)));
        let b = valid(
            Config::new()
                .failure_threshold(1)
                .recovery_timeout(ms(2_000))
                .backoff(ms(8_000))
                .jitter(ms(500), 7),
        );
        let c = valid(Config::new().failure_threshold(1).recovery_timeout(ms(3_000)).jitter(ms(300), 9));
        // Generation 1's open duration under each: the timeout plus that cycle's jitter.
        let open_for = |config| {
            let probe = breaker(config);
            probe.try_acquire().unwrap().failure();
            probe.try_acquire().unwrap_err().retry_after().unwrap()
        };
        let (under_a, under_b, under_c) = (open_for(a), open_for(b), open_for(c));
        assert!(under_b > ms(2_000) && under_c > ms(3_000), "the jitter is visible");
        let breaker = breaker(valid(Config::new().failure_threshold(1)));
        breaker.reconfigure(a.into()).unwrap(); // not the initial copy (see above)
        breaker.try_acquire().unwrap().failure();
        let writer = {
            let breaker = breaker.clone();
            thread::spawn(move || {
                breaker.reconfigure(b.into()).unwrap();
                breaker.reconfigure(c.into()).unwrap();
            })
        };
        // In a thread of its own: loom explores a spawned thread's loads against the writer's
        // stores more thoroughly than the model's main thread's.
        let rejected = {
            let breaker = breaker.clone();
            thread::spawn(move || breaker.try_acquire().unwrap_err().retry_after().unwrap())
        };
        let retry = rejected.join().unwrap();
        assert!([under_a, under_b, under_c].contains(&retry), "a torn open timing: {retry:?}");
        writer.join().unwrap();
        assert_eq!(breaker.try_acquire().unwrap_err().retry_after(), Some(under_c));
    });
}

/// A change racing calls on a breaker with a failure pending and the failure that trips it
/// under the old threshold: no failure and no transition is lost, whichever goes first.
#[test]
fn a_change_racing_a_trip_loses_no_state() {
    model(|| {
        let old = valid(Config::new().failure_threshold(2).recovery_timeout(ms(1_000)));
        let breaker = breaker(old);
        breaker.try_acquire().unwrap().failure();
        let writer = {
            let breaker = breaker.clone();
            thread::spawn(move || breaker.update_config(|c| c.failure_threshold(3)).unwrap())
        };
        let caller = {
            let breaker = breaker.clone();
            thread::spawn(move || {
                if let Ok(p) = breaker.try_acquire() {
                    p.failure();
                }
            })
        };
        assert_eq!(writer.join().unwrap(), old);
        caller.join().unwrap();
        assert_eq!(breaker.config().failure_threshold(), 3);
        match breaker.state() {
            State::Open => {
                let t = breaker.observer().log.lock().unwrap()[0];
                assert_eq!((t.threshold, t.failure_count), (2, 2));
                assert_eq!(
                    chain(&breaker, State::Closed),
                    [(State::Closed, State::Open, Trigger::FailureThreshold)]
                );
            }
            State::Closed => {
                assert_eq!(breaker.failure_count(), 2, "both failures kept");
                assert!(chain(&breaker, State::Closed).is_empty());
                // The next failure trips under the new threshold.
                breaker.try_acquire().unwrap().failure();
                assert_eq!(breaker.state(), State::Open);
            }
            other => panic!("{other:?}"),
        }
    });
}

/// The same race through `call`, whose closed-state record reads the failure threshold from its
/// own word in the config cell (one relaxed load, stored by the writer before it publishes the
/// version) and decides on it without the rest of the config: a lowered threshold either
/// trips the breaker on this failure, under the new config, or finds the failure kept and the
/// next one trips; never a trip reported under a threshold the config never had, never a
/// failure lost.
#[test]
fn a_lowered_threshold_racing_a_failing_call_loses_no_state() {
    model(|| {
        let old = valid(Config::new().failure_threshold(3).recovery_timeout(ms(1_000)));
        let breaker = breaker(old);
        let _ = breaker.call(|| Err::<(), _>(()));
        assert_eq!(breaker.failure_count(), 1);
        let writer = {
            let breaker = breaker.clone();
            thread::spawn(move || breaker.update_config(|c| c.failure_threshold(2)).unwrap())
        };
        let caller = {
            let breaker = breaker.clone();
            thread::spawn(move || {
                let _ = breaker.call(|| Err::<(), _>(()));
            })
        };
        assert_eq!(writer.join().unwrap(), old);
        caller.join().unwrap();
        assert_eq!(breaker.config().failure_threshold(), 2);
        match breaker.state() {
            State::Open => {
                let t = breaker.observer().log.lock().unwrap()[0];
                assert_eq!((t.threshold, t.failure_count), (2, 2));
                assert_eq!(
                    chain(&breaker, State::Closed),
                    [(State::Closed, State::Open, Trigger::FailureThreshold)]
                );
            }
            State::Closed => {
                assert_eq!(breaker.failure_count(), 2, "both failures kept");
                assert!(chain(&breaker, State::Closed).is_empty());
                // At the new threshold already: the next failure trips.
                let _ = breaker.call(|| Err::<(), _>(()));
                assert_eq!(breaker.state(), State::Open);
            }
            other => panic!("{other:?}"),
        }
    });
}

/// Two changes of different fields at once: each is applied, or refused as busy (and then
/// not applied); an applied change is never overwritten by the other (read-modify-write).
#[test]
fn concurrent_changes_are_applied_or_refused_never_lost() {
    model(|| {
        let breaker = breaker(valid(Config::new().failure_threshold(5).recovery_timeout(ms(1_000))));
        let threshold = {
            let breaker = breaker.clone();
            thread::spawn(move || breaker.update_config(|c| c.failure_threshold(7)))
        };
        let timeout = {
            let breaker = breaker.clone();
            thread::spawn(move || breaker.update_config(|c| c.recovery_timeout(ms(3_000))))
        };
        let (threshold, timeout) = (threshold.join().unwrap(), timeout.join().unwrap());
        let busy = Err(ReconfigureError::Busy);
        assert!(!(threshold == busy && timeout == busy), "one of them always gets through");
        let c = breaker.config();
        assert_eq!(c.failure_threshold() == 7, threshold.is_ok(), "{threshold:?} {c:?}");
        assert_eq!(c.recovery_timeout() == ms(3_000), timeout.is_ok(), "{timeout:?} {c:?}");
        assert!(breaker.observer().log.lock().unwrap().is_empty());
    });
}

/// A restore racing a call that trips the breaker: it always ends in the restored OPEN period
/// (the permit from before the restore is stale; a trip before it is overwritten in place), and
/// exactly one transition into OPEN is reported.
#[test]
fn a_restore_racing_a_call_ends_restored() {
    model(|| {
        let config = valid(Config::new().failure_threshold(1).recovery_timeout(ms(1_000)));
        let saved = {
            let before = Breaker::new("loom", config, ManualClock::new());
            before.try_acquire().unwrap().failure();
            before.clock().advance(ms(600));
            before.save()
        };
        let breaker = breaker(config);
        let restorer = {
            let breaker = breaker.clone();
            thread::spawn(move || breaker.restore(&saved).unwrap())
        };
        let tripped = Arc::new(AtomicBool::new(false));
        let caller = {
            let (breaker, tripped) = (breaker.clone(), tripped.clone());
            thread::spawn(move || {
                if let Ok(p) = breaker.try_acquire() {
                    p.failure();
                    tripped.store(true, Ordering::SeqCst);
                }
            })
        };
        restorer.join().unwrap();
        caller.join().unwrap();
        assert_eq!(breaker.try_acquire().unwrap_err().retry_after(), Some(ms(400)));
        let chain = chain(&breaker, State::Closed);
        assert!(
            chain == [(State::Closed, State::Open, Trigger::Restore)]
                || chain == [(State::Closed, State::Open, Trigger::FailureThreshold)],
            "{chain:?}"
        );
        if !tripped.load(Ordering::SeqCst) {
            assert_eq!(chain, [(State::Closed, State::Open, Trigger::Restore)]);
        }
    });
}
