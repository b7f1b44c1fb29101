//! Recovery and health as a user sees them, on the manual clock: each ramp of gradual recovery
//! counts its own calls; a slow probe reopens after a slow-call-rate trip; `failure_count()`
//! and the snapshot keep the count that opened the breaker; a breaker whose open period is over
//! shows as ready to probe; a timeout that is too long says so. Layout-independent: CI runs
//! this file on both word layouts (`--cfg breaker_word32`).

use std::sync::Mutex;
use std::time::Duration;

use breaker_core::limits::MAX_RECOVERY_TIMEOUT_MS;
use breaker_core::{
    Breaker, CallError, Config, ConfigError, ManualClock, Observer, RateConfig, State, Transition, Trigger,
    Verdict, Window,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Records transitions and call outcomes, as a user's observer would.
#[derive(Default)]
struct Log {
    transitions: Mutex<Vec<Transition>>,
    outcomes: Mutex<Vec<Verdict>>,
}

impl Observer for Log {
    fn on_transition(&self, t: &Transition) {
        self.transitions.lock().unwrap().push(*t);
    }
    fn on_outcome(&self, _name: &'static str, verdict: Verdict) {
        self.outcomes.lock().unwrap().push(verdict);
    }
}

impl Log {
    fn last_transition(&self) -> (State, State, Trigger) {
        let t = *self.transitions.lock().unwrap().last().expect("a transition");
        (t.from, t.to, t.trigger)
    }
    fn last_outcome(&self) -> Verdict {
        *self.outcomes.lock().unwrap().last().expect("an outcome")
    }
}

/// Admitted calls (each succeeding) out of `n` attempts, the clock standing still.
fn admitted<O: Observer, P: breaker_core::Policy>(b: &Breaker<&ManualClock, O, P>, n: u32) -> u32 {
    (0..n).filter(|_| b.call(|| Ok::<_, ()>(())).is_ok()).count() as u32
}

#[test]
fn a_second_ramp_admits_its_own_share_from_its_first_call() {
    let clock = ManualClock::new();
    let config = Config::new().failure_threshold(1).recovery_timeout(ms(100)).gradual_recovery(ms(1_000), 10);
    let breaker = Breaker::try_new("ramp", config, &clock).unwrap();
    let trip_and_recover = || {
        assert!(matches!(breaker.call(|| Err::<(), _>("down")), Err(CallError::Inner(_))));
        clock.advance(ms(100));
        breaker.call(|| Ok::<_, ()>(())).expect("the probe passes and closes");
        assert_eq!(breaker.snapshot().recovering, Some(0.1));
    };

    // First ramp: 5 calls at 10 % admit ⌊5 · 0.1⌋ = 0; then the ramp runs out.
    trip_and_recover();
    assert_eq!(admitted(&breaker, 5), 0);
    clock.advance(ms(1_000));
    assert_eq!(admitted(&breaker, 1), 1, "the first ramp is over");
    assert_eq!(breaker.snapshot().recovering, None);

    // Second ramp: it starts its own count, so its first 5 calls admit 0 as well (the first
    // ramp's 5 calls used to carry over and let the 5th call through), its first 10 exactly 1,
    // its first 30 exactly 3.
    trip_and_recover();
    assert_eq!(admitted(&breaker, 5), 0);
    assert_eq!(admitted(&breaker, 5), 1);
    assert_eq!(admitted(&breaker, 20), 2);
}

/// After a slow-call-rate trip, a probe that is still slow reopens the breaker, whether or not
/// slow calls also count as failures (Resilience4j evaluates its probes' slowness too); a fast
/// probe then closes it.
fn slow_probe_after_a_slow_call_rate_trip(as_failure: bool) {
    let clock = ManualClock::new();
    // Trip on 50 % slow calls (>= 100 ms) of at least 4; failures alone would need 100 %.
    let rule = RateConfig::new(1_000, 4).slow_calls(ms(100), 500, as_failure).validate().unwrap();
    let window = Window::<4>::count(5, rule).unwrap();
    let config = Config::new().recovery_timeout(ms(1_000)).validate().unwrap();
    let breaker = Breaker::with_policy("search", config, &clock, Log::default(), window);
    let fast = || breaker.call(|| Ok::<_, ()>("fast"));
    let slow = || {
        breaker.call(|| {
            clock.advance(ms(150));
            Ok::<_, ()>("slow")
        })
    };
    let log = breaker.observer();

    for ok in [fast(), fast(), slow(), slow()] {
        assert!(ok.is_ok());
    }
    assert_eq!(log.last_transition(), (State::Closed, State::Open, Trigger::SlowCallRate));

    // The open period passes; the probe answers, but slowly.
    clock.advance(ms(1_000));
    assert_eq!(slow(), Ok("slow"), "the caller gets the probe's answer");
    assert_eq!(breaker.state(), State::Open, "a slow probe must not close the breaker");
    assert_eq!(log.last_transition(), (State::HalfOpen, State::Open, Trigger::ProbeFailed));
    // The observer hears the call's own outcome: a failure only if slow calls count as ones.
    let expected = if as_failure { Verdict::Failure } else { Verdict::Success };
    assert_eq!(log.last_outcome(), expected);
    assert!(matches!(fast(), Err(CallError::Open(_))), "open again for a whole period");

    // Once the dependency is fast again, a probe closes the breaker.
    clock.advance(ms(1_000));
    assert_eq!(fast(), Ok("fast"));
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(log.last_transition(), (State::HalfOpen, State::Closed, Trigger::ProbeSucceeded));
}

#[test]
fn a_slow_probe_reopens_after_a_slow_call_rate_trip() {
    slow_probe_after_a_slow_call_rate_trip(false);
}

#[test]
fn a_slow_probe_reopens_after_a_slow_call_rate_trip_when_slow_calls_are_failures() {
    slow_probe_after_a_slow_call_rate_trip(true);
}

#[test]
fn a_recovery_timeout_of_duration_max_is_too_long_not_sub_millisecond() {
    let err = Breaker::try_new("db", Config::new().recovery_timeout(Duration::MAX), ManualClock::new())
        .unwrap_err();
    assert_eq!(
        err,
        ConfigError::TooLarge { field: "recovery_timeout", value: u64::MAX, max: MAX_RECOVERY_TIMEOUT_MS }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "invalid breaker config: `recovery_timeout` must be at most {MAX_RECOVERY_TIMEOUT_MS} ms, got \
             {} ms or more",
            u64::MAX
        )
    );
    // The smallest mistake of the other kind still says so.
    let err = Config::new().recovery_timeout(Duration::from_micros(1_500)).validate().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid breaker config: `recovery_timeout` must be whole milliseconds (the breaker's resolution is 1 ms)"
    );
}

/// While OPEN and HALF_OPEN a breaker shows the failures that opened it, plus one per failed
/// probe since it last closed (the seed's `_failure_count`), not 0.
#[test]
fn failure_count_and_snapshot_keep_the_count_while_open_and_half_open() {
    let clock = ManualClock::new();
    let config = Config::new()
        .failure_threshold(3)
        .recovery_timeout(ms(1_000))
        .half_open_probes(2)
        .successes_to_close(2)
        .validate()
        .unwrap();
    let breaker = Breaker::with_observer("database", config, &clock, Log::default());
    let shows = |state, failures| {
        let s = breaker.snapshot();
        assert_eq!((breaker.state(), breaker.failure_count()), (state, failures));
        assert_eq!((s.state, s.failure_count), (state, failures));
    };
    for _ in 0..3 {
        let _ = breaker.call(|| Err::<(), _>("connection refused"));
    }
    shows(State::Open, 3);
    assert_eq!(breaker.snapshot().retry_after, Some(ms(1_000)));

    // HALF_OPEN with a probe in flight: still the count that opened it.
    clock.advance(ms(1_000));
    let probe = breaker.try_acquire().unwrap();
    assert!(probe.is_probe());
    shows(State::HalfOpen, 3);
    assert_eq!(breaker.snapshot().probes_in_flight, 1);
    // The probe fails: one more, reported on the transition as well.
    probe.failure();
    shows(State::Open, 4);
    let reopened = *breaker.observer().transitions.lock().unwrap().last().unwrap();
    assert_eq!((reopened.trigger, reopened.failure_count), (Trigger::ProbeFailed, 4));

    // Another failed recovery: 5. Then two good probes close it and the count is over.
    clock.advance(ms(1_000));
    let _ = breaker.call(|| Err::<(), _>("still refused"));
    shows(State::Open, 5);
    clock.advance(ms(1_000));
    for _ in 0..2 {
        breaker.call(|| Ok::<_, ()>(())).unwrap();
    }
    shows(State::Closed, 0);

    // The next outage starts from its own threshold.
    for _ in 0..3 {
        let _ = breaker.call(|| Err::<(), _>("refused again"));
    }
    shows(State::Open, 3);
    // Manual control: a forced-open breaker shows 0 (no failure put it there), and the
    // transition reports the count it interrupted.
    breaker.force_open();
    shows(State::ForcedOpen, 0);
    let forced = *breaker.observer().transitions.lock().unwrap().last().unwrap();
    assert_eq!((forced.trigger, forced.failure_count), (Trigger::ForceOpen, 3));
}

/// With a rate policy the count that opened the breaker is the window's failures at the trip.
#[test]
fn a_rate_trip_shows_the_windows_failures_while_open() {
    let clock = ManualClock::new();
    let rule = RateConfig::new(500, 4).validate().unwrap();
    let window = Window::<4>::count(5, rule).unwrap();
    let config = Config::new().recovery_timeout(ms(1_000)).validate().unwrap();
    let breaker = Breaker::with_policy("api", config, &clock, (), window);
    for ok in [true, false, true, false] {
        let _ = breaker.call(|| if ok { Ok(()) } else { Err(()) });
    }
    assert_eq!((breaker.state(), breaker.failure_count()), (State::Open, 2));
    clock.advance(ms(1_000));
    let _ = breaker.call(|| Err::<(), _>(())); // a failed probe
    assert_eq!((breaker.state(), breaker.failure_count()), (State::Open, 3));
}

/// A breaker whose open period is over, and that no call has touched, is ready to probe: it
/// shows as HALF_OPEN with nothing in flight and no retry-after (not `open` with a retry-after
/// of zero forever), and reading it changes nothing.
#[test]
fn an_untouched_breaker_past_its_open_period_shows_as_ready_to_probe() {
    let clock = ManualClock::new();
    let config = Config::new().failure_threshold(1).recovery_timeout(ms(1_000)).validate().unwrap();
    let breaker = Breaker::with_observer("kafka", config, &clock, Log::default());
    let _ = breaker.call(|| Err::<(), _>("broker down"));
    clock.advance(ms(999));
    let open = breaker.snapshot();
    assert_eq!((open.state, open.retry_after), (State::Open, Some(ms(1))));

    clock.advance(ms(1));
    for _ in 0..3 {
        // A pure read: asking again and again shows the same and moves nothing.
        let s = breaker.snapshot();
        assert_eq!(breaker.state(), State::HalfOpen);
        assert_eq!((s.state, s.probes_in_flight, s.probe_successes), (State::HalfOpen, 0, 0));
        assert_eq!((s.retry_after, s.failure_count, s.generation), (None, 1, open.generation));
        clock.advance(ms(10_000));
    }
    assert_eq!(breaker.observer().transitions.lock().unwrap().len(), 1, "only the trip so far");

    // The next call is the probe; the transition is reported now, with the time spent open.
    breaker.call(|| Ok::<_, ()>(())).unwrap();
    let log = breaker.observer().transitions.lock().unwrap();
    let half_open = log[1];
    assert_eq!((half_open.to, half_open.trigger), (State::HalfOpen, Trigger::RecoveryTimeout));
    assert_eq!((half_open.open_for, half_open.failure_count), (Some(ms(31_000)), 1));
    assert_eq!((log[2].to, breaker.state()), (State::Closed, State::Closed));
}
