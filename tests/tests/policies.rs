//! Each policy as a user sees it, on the manual clock.

use std::time::Duration;

use breaker_core::{
    Breaker, CallError, Config, ManualClock, Observer, RateConfig, State, Transition, Trigger, ValidConfig,
    Verdict, Window,
};
use std::sync::Mutex;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn call<O: Observer, P: breaker_core::Policy>(
    b: &Breaker<&ManualClock, O, P>,
    ok: bool,
) -> Result<(), CallError<()>> {
    b.call(|| if ok { Ok(()) } else { Err(()) })
}

#[derive(Default)]
struct Log(Mutex<Vec<Transition>>);

impl Observer for Log {
    fn on_transition(&self, t: &Transition) {
        self.0.lock().unwrap().push(*t);
    }
}

fn plain() -> ValidConfig {
    Config::new().validate().unwrap()
}

/// Resilience4j's rule: the rates are evaluated after every recorded outcome once `min_calls`
/// calls are in, so the success at call 20 (1 failure in 20 calls = 5 %) opens the breaker.
/// (Until round 2, only a failure was evaluated, and this tripped at call 32.)
#[test]
fn count_window_100_calls_6_percent_failures_min_20_trips_at_call_20() {
    let clock = ManualClock::new();
    let rule = RateConfig::new(50, 20).validate().unwrap();
    let breaker = Breaker::with_policy("api", plain(), &clock, (), Window::<10>::count(10, rule).unwrap());
    let mut tripped_at = None;
    for n in 1..=100u32 {
        let r = call(&breaker, n % 16 != 0);
        if tripped_at.is_none() && breaker.state() == State::Open {
            tripped_at = Some(n);
        }
        if tripped_at.is_some_and(|t| n > t) {
            assert!(matches!(r, Err(CallError::Open(_))), "call {n} after the trip must be rejected");
        }
    }
    // 1 failure in 16 calls is 6.25 % but below 20 calls; at call 20, 1 failure in 20 calls.
    assert_eq!(tripped_at, Some(20));
}

#[test]
fn rate_mode_still_answers_state_failure_count_and_snapshot() {
    let clock = ManualClock::new();
    let rule = RateConfig::new(500, 10).validate().unwrap();
    let breaker = Breaker::with_policy("api", plain(), &clock, (), Window::<4>::count(5, rule).unwrap());
    for n in 0..8 {
        let _ = call(&breaker, n % 4 != 0);
    }
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.failure_count(), 2);
    let w = breaker.snapshot().window.expect("a rate breaker reports its window");
    assert_eq!((w.calls, w.failures), (8, 2));
    assert!((w.failure_rate - 0.25).abs() < 1e-6);
    assert_eq!(breaker.snapshot().failure_count, 2);
}

#[test]
fn time_window_bucket_width_is_chosen_and_old_failures_expire() {
    let clock = ManualClock::new();
    // The last 5 s in 500 ms buckets; 50 % of at least 4 calls.
    let rule = RateConfig::new(500, 4).validate().unwrap();
    let breaker =
        Breaker::with_policy("api", plain(), &clock, (), Window::<10>::time(ms(500), rule).unwrap());
    for _ in 0..3 {
        let _ = call(&breaker, false);
    }
    assert_eq!(breaker.state(), State::Closed, "3 calls < min_calls");
    clock.advance(ms(5_000)); // those failures leave the window
    for _ in 0..3 {
        let _ = call(&breaker, true);
    }
    let _ = call(&breaker, false);
    assert_eq!(breaker.state(), State::Closed, "1 failure in 4 recent calls");
    clock.advance(ms(600));
    let _ = call(&breaker, false);
    let _ = call(&breaker, false);
    assert_eq!(breaker.state(), State::Open, "3 of 6 calls in the last 5 s failed");
    let log = breaker.snapshot();
    assert_eq!((log.failure_count, log.window), (3, None), "open: the failures that opened it, no window");
}

#[test]
fn slow_calls_trip_on_slow_rate_and_optionally_count_as_failures() {
    let clock = ManualClock::new();
    let rule = RateConfig::new(1000, 4).slow_calls(ms(100), 500, false).validate().unwrap();
    let breaker =
        Breaker::with_policy("db", plain(), &clock, Log::default(), Window::<8>::count(1, rule).unwrap());
    for slow in [false, true, false, true] {
        let permit = breaker.try_acquire().unwrap();
        clock.advance(if slow { ms(150) } else { ms(10) });
        permit.success();
    }
    assert_eq!(breaker.state(), State::Open);
    let t = breaker.observer().0.lock().unwrap()[0];
    assert_eq!((t.to, t.trigger), (State::Open, Trigger::SlowCallRate));

    let rule = RateConfig::new(500, 2).slow_calls(ms(100), 1000, true).validate().unwrap();
    let breaker =
        Breaker::with_policy("db", plain(), &clock, Log::default(), Window::<8>::count(1, rule).unwrap());
    let fast = breaker.try_acquire().unwrap();
    fast.success();
    let slow = breaker.try_acquire().unwrap();
    clock.advance(ms(100));
    slow.success(); // a slow success counts as a failure: 1 of 2
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.observer().0.lock().unwrap()[0].trigger, Trigger::FailureRate);
}

#[test]
fn backoff_doubles_open_time_up_to_cap_and_resets_on_close() {
    let clock = ManualClock::new();
    let config =
        Config::new().failure_threshold(1).recovery_timeout(ms(100)).backoff(ms(500)).validate().unwrap();
    let breaker = Breaker::with_observer("api", config, &clock, Log::default());
    let _ = call(&breaker, false);
    let mut waits = vec![];
    for _ in 0..5 {
        let wait = breaker.try_acquire().unwrap_err().retry_after().unwrap();
        waits.push(wait.as_millis());
        clock.advance(wait);
        let _ = call(&breaker, false); // the probe fails
    }
    assert_eq!(waits, [100, 200, 400, 500, 500]);
    assert_eq!(breaker.snapshot().backoff_level, 3);
    clock.advance(ms(500));
    assert!(call(&breaker, true).is_ok(), "a successful probe closes");
    let _ = call(&breaker, false);
    assert_eq!(breaker.try_acquire().unwrap_err().retry_after(), Some(ms(100)), "backoff reset on close");
    let opens: Vec<_> = breaker.observer().0.lock().unwrap().iter().filter_map(|t| t.open_duration).collect();
    assert_eq!(opens, [ms(100), ms(200), ms(400), ms(500), ms(500), ms(500), ms(100)]);
}

#[test]
fn jitter_comes_from_the_callers_seed_and_stays_within_bounds() {
    let open_for = |seed| {
        let clock = ManualClock::new();
        let config = Config::new().failure_threshold(1).recovery_timeout(ms(1_000)).jitter(ms(1_000), seed);
        let breaker = Breaker::try_new("api", config, &clock).unwrap();
        let mut waits = vec![];
        for _ in 0..8 {
            let _ = call(&breaker, false);
            waits.push(breaker.try_acquire().unwrap_err().retry_after().unwrap().as_millis());
            breaker.reset();
        }
        waits
    };
    let a = open_for(1);
    assert!(a.iter().all(|w| (1_000..=2_000).contains(w)), "{a:?}");
    assert_eq!(a, open_for(1), "same seed, same jitter");
    assert_ne!(a, open_for(2), "another seed spreads differently");
}

#[test]
fn stuck_probe_reopens_after_the_probe_timeout() {
    let clock = ManualClock::new();
    let config = Config::new()
        .failure_threshold(1)
        .recovery_timeout(ms(1_000))
        .backoff(ms(4_000))
        .probe_timeout(ms(5_000))
        .validate()
        .unwrap();
    let breaker = Breaker::with_observer("db", config, &clock, Log::default());
    let _ = call(&breaker, false);
    clock.advance(ms(1_000));
    // The probe's task is killed: its ticket is never settled.
    let leaked = breaker.try_acquire().unwrap().into_ticket();
    clock.advance(ms(4_999));
    assert_eq!(breaker.try_acquire().unwrap_err().state(), State::HalfOpen);
    clock.advance(ms(1));
    let open = breaker.try_acquire().unwrap_err();
    assert_eq!(
        (open.state(), open.retry_after()),
        (State::Open, Some(ms(2_000))),
        "reopened one backoff level up"
    );
    assert_eq!(breaker.observer().0.lock().unwrap().last().unwrap().trigger, Trigger::ProbeTimeout);
    // The stuck probe finally answers: stale, changes nothing.
    breaker.settle(leaked, Verdict::Success);
    assert_eq!(breaker.state(), State::Open);
    clock.advance(ms(2_000));
    assert!(call(&breaker, true).is_ok());
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn gradual_recovery_admits_a_rising_share_deterministically() {
    let clock = ManualClock::new();
    let config = Config::new()
        .failure_threshold(1)
        .recovery_timeout(ms(100))
        .gradual_recovery(ms(1_000), 10)
        .validate()
        .unwrap();
    let breaker = Breaker::new("db", config, &clock);
    let _ = call(&breaker, false);
    clock.advance(ms(100));
    assert!(call(&breaker, true).is_ok(), "the probe closes the breaker");
    assert_eq!(breaker.state(), State::Closed);
    let mut admitted_per_step = vec![];
    for step in 0..10 {
        let share = breaker.snapshot().recovering.unwrap();
        assert!((share - (0.1 + 0.09 * step as f32)).abs() < 1e-4, "share {share} at step {step}");
        let admitted = (0..100)
            .filter(|_| match call(&breaker, true) {
                Ok(()) => true,
                Err(CallError::Open(open)) => {
                    assert_eq!(open.state(), State::Closed, "shed calls get the usual open error");
                    false
                }
                Err(e) => panic!("{e:?}"),
            })
            .count();
        admitted_per_step.push(admitted);
        clock.advance(ms(100));
    }
    assert_eq!(admitted_per_step, [10, 19, 28, 37, 46, 55, 64, 73, 82, 91]);
    // The ramp is over: everything passes again, on the hot path.
    assert!((0..100).all(|_| call(&breaker, true).is_ok()));
    assert_eq!(breaker.snapshot().recovering, None);
}

#[test]
fn adaptive_threshold_tolerates_a_noisy_service_but_trips_a_clean_one() {
    // Floor 10 %, 3× baseline, alpha 1/8; windows of 10 buckets of 100 calls.
    let rule = RateConfig::new(1000, 100).adaptive(100, 300, 3, 50).validate().unwrap();
    let run = |normal_every: u32, then_every: u32| {
        let clock = ManualClock::new();
        let b = Breaker::with_policy("svc", plain(), &clock, (), Window::<10>::count(100, rule).unwrap());
        // 5 000 calls of normal traffic teach the baseline.
        for n in 0..5_000u32 {
            let _ = call(&b, normal_every == 0 || n % normal_every != 0);
        }
        assert_eq!(b.state(), State::Closed, "normal traffic never trips");
        let learned = b.snapshot().window.unwrap();
        for n in 0..2_000u32 {
            let _ = call(&b, n % then_every != 0);
            if b.state() == State::Open {
                return (true, learned);
            }
        }
        (false, learned)
    };
    // A service with a normal 5 % error rate learns a 15 % threshold: a rise to 12.5 % is noise.
    let (tripped, learned) = run(20, 8);
    assert!(!tripped, "noisy service tripped: {learned:?}");
    assert!((learned.baseline.unwrap() - 0.05).abs() < 0.005, "{learned:?}");
    assert!((learned.trip_rate - 0.15).abs() < 0.015, "{learned:?}");
    // A clean service (baseline 0) trips at the 10 % floor on the same 12.5 %.
    let (tripped, learned) = run(0, 8);
    assert_eq!((learned.baseline, learned.trip_rate), (Some(0.0), 0.1));
    assert!(tripped, "clean service did not trip: {learned:?}");
}
