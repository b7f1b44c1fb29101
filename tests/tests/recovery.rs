//! Recovery and health as a user sees them, on the manual clock: each ramp of gradual recovery
//! counts its own calls; a slow probe reopens after a slow-call-rate trip; `failure_count()`
//! and the snapshot keep the count that opened the breaker; a breaker whose open period is over
//! shows as ready to probe; a timeout that is too long says so. Layout-independent: CI runs
//! this file on both word layouts (`--cfg breaker_word32`).

use std::sync::Mutex;
use std::time::Duration;

use breaker_core::{
    Breaker, CallError, Config, ConfigError, ManualClock, Observer, RateConfig, State, Transition, Trigger,
    Verdict, Window, MAX_RECOVERY_TIMEOUT_MS,
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
