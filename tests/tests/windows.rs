//! The rate windows' semantics as a user sees them, one test per behaviour that round 2 fixed
//! (issue "Core round 2", *Why* 1 and 2), checked against Resilience4j's documented rules.

use std::time::Duration;

use breaker_core::limits::{BUCKET_CAPACITY, MAX_COUNT_BUCKETS};
use breaker_core::{Breaker, CallError, Config, ConfigError, ManualClock, RateConfig, State, Window};

fn call<P: breaker_core::Policy>(b: &Breaker<&ManualClock, (), P>, ok: bool) -> Result<(), CallError<()>> {
    b.call(|| if ok { Ok(()) } else { Err(()) })
}

fn config() -> breaker_core::ValidConfig {
    Config::new().validate().unwrap()
}

/// Why 1: `Window::<100>::count(1, RateConfig::new(500, 10))`, 5 failures then successes.
/// Resilience4j evaluates the rates after every recorded outcome once `minimumNumberOfCalls`
/// calls are in: the success at call 10 (5 in 10 = 50 %) opens it.
#[test]
fn a_success_that_brings_the_window_to_min_calls_at_the_threshold_opens_it() {
    let clock = ManualClock::new();
    let rule = RateConfig::new(500, 10).validate().unwrap();
    let b = Breaker::with_policy("api", config(), &clock, (), Window::<100>::count(1, rule).unwrap());
    for _ in 0..5 {
        assert!(matches!(call(&b, false), Err(CallError::Inner(()))));
    }
    for n in 6..=9 {
        assert_eq!(call(&b, true), Ok(()), "call {n}");
        assert_eq!(b.state(), State::Closed, "call {n}: {n} calls < min_calls");
    }
    assert_eq!(call(&b, true), Ok(()), "call 10 runs");
    assert_eq!(b.state(), State::Open, "and its success completes 10 calls at 50 %");
    assert!(matches!(call(&b, true), Err(CallError::Open(_))));
}

/// Why 1, second case: failures at calls 16, 32, …; 5 % over at least 20 calls. Resilience4j
/// opens at call 20.
#[test]
fn failures_every_16th_call_at_5_percent_open_at_call_20() {
    for buckets_of_ten in [false, true] {
        let clock = ManualClock::new();
        let rule = RateConfig::new(50, 20).validate().unwrap();
        let tripped = if buckets_of_ten {
            let b = Breaker::with_policy("api", config(), &clock, (), Window::<10>::count(10, rule).unwrap());
            (1..=100u32).find(|&n| {
                let _ = call(&b, n % 16 != 0);
                b.state() == State::Open
            })
        } else {
            let b = Breaker::with_policy("api", config(), &clock, (), Window::<100>::count(1, rule).unwrap());
            (1..=100u32).find(|&n| {
                let _ = call(&b, n % 16 != 0);
                b.state() == State::Open
            })
        };
        assert_eq!(tripped, Some(20), "buckets of ten: {buckets_of_ten}");
    }
}

/// A time window: old successes leaving the window let the next success open the breaker
/// (Resilience4j moves the window before evaluating).
#[test]
fn a_success_after_old_successes_expire_opens_a_time_window() {
    let clock = ManualClock::new();
    let rule = RateConfig::new(500, 2).validate().unwrap();
    let window: Window<2> = Window::time(Duration::from_secs(1), rule).unwrap();
    let b = Breaker::with_policy("api", config(), &clock, (), window);
    for _ in 0..3 {
        assert_eq!(call(&b, true), Ok(()));
    }
    clock.advance(Duration::from_millis(1_500));
    let _ = call(&b, false); // 1 in 4
    assert_eq!(b.state(), State::Closed);
    clock.advance(Duration::from_secs(1)); // the three successes leave the window
    assert_eq!(call(&b, true), Ok(()));
    assert_eq!(b.state(), State::Open, "[failure] [success]: 50 %");
}

/// Why 2: `min_calls` above what the window can hold was accepted, and such a breaker could
/// never trip (`Window::<10>::count(1, RateConfig::new(500, 20))`, 50 straight failures, closed
/// forever). It is now a `ConfigError` naming the field and the limit. (Resilience4j silently
/// lowers `minimumNumberOfCalls` to the window size for count windows; we refuse instead:
/// nothing the user gave is silently changed.)
#[test]
fn min_calls_above_the_window_capacity_is_a_config_error() {
    let rule = RateConfig::new(500, 20).validate().unwrap();
    let err = Window::<10>::count(1, rule).err().unwrap();
    assert_eq!(err, ConfigError::TooLarge { field: "min_calls", value: 20, max: 10 });
    assert!(err.to_string().contains("min_calls"), "{err}");
    // The largest accepted value trips on the first full window of failures.
    let clock = ManualClock::new();
    let rule = RateConfig::new(500, 10).validate().unwrap();
    let b = Breaker::with_policy("api", config(), &clock, (), Window::<10>::count(1, rule).unwrap());
    let opened_at = (1..=50u32).find(|_| {
        let _ = call(&b, false);
        b.state() == State::Open
    });
    assert_eq!(opened_at, Some(10));
    // Time windows: at most B × BUCKET_CAPACITY calls.
    let too_many = RateConfig::new(500, 4 * BUCKET_CAPACITY + 1).validate().unwrap();
    assert_eq!(
        Window::<4>::time(Duration::from_secs(1), too_many).err(),
        Some(ConfigError::TooLarge {
            field: "min_calls",
            value: 4 * u64::from(BUCKET_CAPACITY) + 1,
            max: 4 * u64::from(BUCKET_CAPACITY)
        })
    );
}

/// "The last N calls" is exact for N up to MAX_COUNT_BUCKETS, on both layouts.
#[test]
fn the_last_n_calls_are_exact() {
    let clock = ManualClock::new();
    let rule = RateConfig::new(1000, 1).validate().unwrap();
    let b = Breaker::with_policy("api", config(), &clock, (), Window::<1000>::count(1, rule).unwrap());
    for n in 1..=5_000u32 {
        // Every 7th call fails: never the 100 % that trips.
        let _ = call(&b, n % 7 != 0);
        let w = b.snapshot().window.unwrap();
        let start = n.saturating_sub(1000);
        let want = (start + 1..=n).filter(|k| k % 7 == 0).count() as u32;
        assert_eq!((w.calls, w.failures), (n.min(1000), want), "after {n} calls");
    }
    assert_eq!(b.state(), State::Closed);
}

/// The largest exact count window, `MAX_COUNT_BUCKETS` calls (512 KiB on the 64-bit layout).
#[test]
fn the_largest_count_window_is_exact_too() {
    let clock = ManualClock::new();
    let rule = RateConfig::new(1000, 1).validate().unwrap();
    let window = Window::<MAX_COUNT_BUCKETS>::count(1, rule).unwrap();
    let b = Box::new(Breaker::with_policy("big", config(), &clock, (), window));
    let n = MAX_COUNT_BUCKETS as u32 + 10_000;
    for k in 1..=n {
        let _ = call(&b, k % 3 != 0);
    }
    let w = b.snapshot().window.unwrap();
    let want = (n - MAX_COUNT_BUCKETS as u32 + 1..=n).filter(|k| k % 3 == 0).count() as u32;
    assert_eq!((w.calls, w.failures), (MAX_COUNT_BUCKETS as u32, want));
}
