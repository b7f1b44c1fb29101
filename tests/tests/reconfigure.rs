//! Runtime reconfiguration as a user sees it: a live breaker's config changes while it keeps
//! its state. Pending failures are kept against a new threshold; an OPEN breaker keeps the
//! moment it opened and uses the new timeout from the next call; an invalid change is refused
//! with the config error and the old config stays; a `static` breaker can be reconfigured;
//! concurrent changes of different fields are all kept while calls go on. Layout-independent:
//! CI runs this file on both word layouts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use breaker_core::{
    Breaker, CallError, Config, ManualClock, Observer, ReconfigureError, State, Trigger, ValidConfig,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

use breaker_tests::TransitionLog as Log;

fn fail<C: breaker_core::Clock, O: Observer>(b: &Breaker<C, O>) {
    assert!(matches!(b.call(|| Err::<(), _>("down")), Err(CallError::Inner(_))));
}

fn retry_after<C: breaker_core::Clock, O: Observer>(b: &Breaker<C, O>) -> Option<Duration> {
    match b.call(|| Ok::<_, ()>(())) {
        Err(CallError::Open(open)) => open.retry_after(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn a_lower_threshold_keeps_pending_failures_and_trips_on_the_next_one() {
    let clock = ManualClock::new();
    let config = Config::new().failure_threshold(10).validate().unwrap();
    let breaker = Breaker::with_observer("db", config, &clock, Log::default());
    for _ in 0..4 {
        fail(&breaker);
    }
    let old = breaker.update_config(|c| c.failure_threshold(3)).unwrap();
    assert_eq!(old.failure_threshold(), 10);
    assert_eq!(
        (breaker.state(), breaker.failure_count()),
        (State::Closed, 4),
        "nothing lost, nothing tripped"
    );
    assert!(breaker.call(|| Ok::<_, ()>(())).is_ok(), "still admits");
    // That success cleared the pending count, as a success always does: three more to trip.
    fail(&breaker);
    fail(&breaker);
    assert_eq!(breaker.state(), State::Closed);
    fail(&breaker);
    assert_eq!(breaker.state(), State::Open);
    let t = breaker.observer().last();
    assert_eq!((t.trigger, t.threshold), (Trigger::FailureThreshold, 3));

    // Pending failures at or above a lowered threshold: the very next failure trips.
    breaker.reset();
    breaker.reconfigure(Config::new().failure_threshold(10)).unwrap();
    for _ in 0..4 {
        fail(&breaker);
    }
    breaker.reconfigure(Config::new().failure_threshold(2)).unwrap();
    assert_eq!(breaker.state(), State::Closed);
    fail(&breaker);
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn a_higher_threshold_needs_the_extra_failures() {
    let clock = ManualClock::new();
    let breaker = Breaker::try_new("db", Config::new().failure_threshold(3), &clock).unwrap();
    fail(&breaker);
    fail(&breaker);
    breaker.update_config(|c| c.failure_threshold(5)).unwrap();
    fail(&breaker);
    fail(&breaker);
    assert_eq!((breaker.state(), breaker.failure_count()), (State::Closed, 4));
    fail(&breaker);
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn an_open_breaker_keeps_its_open_time_and_uses_the_new_timeout_from_the_next_call() {
    let clock = ManualClock::new();
    let config = Config::new().failure_threshold(1).recovery_timeout(ms(60_000));
    let breaker = Breaker::try_new("db", config, &clock).unwrap();
    fail(&breaker);
    clock.advance(ms(10_000));
    assert_eq!(retry_after(&breaker), Some(ms(50_000)));

    // Longer: this open period is measured from the trip, 10 s ago.
    breaker.update_config(|c| c.recovery_timeout(ms(120_000))).unwrap();
    assert_eq!(retry_after(&breaker), Some(ms(110_000)));
    assert_eq!(breaker.snapshot().retry_after, Some(ms(110_000)));

    // Shorter than the time already spent open: the next call is the probe.
    breaker.update_config(|c| c.recovery_timeout(ms(5_000))).unwrap();
    let probe = breaker.try_acquire().expect("the open period is over under the new timeout");
    assert!(probe.is_probe());
    probe.failure();
    assert_eq!(retry_after(&breaker), Some(ms(5_000)), "the next period is the new timeout");
}

#[test]
fn backoff_changes_apply_to_the_current_level() {
    let clock = ManualClock::new();
    let config = Config::new().failure_threshold(1).recovery_timeout(ms(1_000)).backoff(ms(60_000));
    let breaker = Breaker::try_new("api", config, &clock).unwrap();
    fail(&breaker);
    for open_for in [1_000, 2_000] {
        clock.advance(ms(open_for));
        fail(&breaker);
    }
    assert_eq!((breaker.snapshot().backoff_level, retry_after(&breaker)), (2, Some(ms(4_000))));
    // A lower cap takes effect on the period in progress, at the level it is at.
    breaker.update_config(|c| c.backoff(ms(3_000))).unwrap();
    assert_eq!((breaker.snapshot().backoff_level, retry_after(&breaker)), (2, Some(ms(3_000))));
    // Backoff off altogether (cap = timeout): open for the timeout.
    breaker.update_config(|c| c.backoff(ms(1_000))).unwrap();
    assert_eq!(retry_after(&breaker), Some(ms(1_000)));
}

#[test]
fn probe_limits_change_for_a_half_open_breaker() {
    let clock = ManualClock::new();
    let config = Config::new().failure_threshold(1).recovery_timeout(ms(1_000)).half_open_probes(1);
    let breaker = Breaker::try_new("db", config, &clock).unwrap();
    fail(&breaker);
    clock.advance(ms(1_000));
    let first = breaker.try_acquire().unwrap();
    assert!(breaker.try_acquire().is_err(), "one probe only");
    breaker.update_config(|c| c.half_open_probes(3).successes_to_close(2)).unwrap();
    let second = breaker.try_acquire().expect("more probes now");
    let third = breaker.try_acquire().expect("more probes now");
    assert!(breaker.try_acquire().is_err());
    first.success();
    assert_eq!(breaker.state(), State::HalfOpen, "two successes to close now");
    second.success();
    assert_eq!(breaker.state(), State::Closed);
    third.success(); // from the half-open cycle that closed: stale
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn an_invalid_change_is_refused_and_the_old_config_stays() {
    let clock = ManualClock::new();
    let config = Config::new().failure_threshold(2).recovery_timeout(ms(30_000));
    let breaker = Breaker::try_new("db", config, &clock).unwrap();
    fail(&breaker);
    let before = breaker.config();
    let invalid = [
        Config::from(before).failure_threshold(0),
        Config::from(before).half_open_probes(1).successes_to_close(2),
        Config::from(before).recovery_timeout(Duration::MAX),
        Config::from(before).recovery_timeout(ms(10_000)).backoff(ms(5_000)),
    ];
    for change in invalid {
        let expected = change.validate().unwrap_err();
        assert_eq!(breaker.reconfigure(change), Err(ReconfigureError::Invalid(expected)));
        assert_eq!(breaker.update_config(|_| change), Err(ReconfigureError::Invalid(expected)));
        assert_eq!(breaker.config(), before);
        let shown = ReconfigureError::Invalid(expected).to_string();
        assert!(shown.contains(expected.field()), "{shown}");
    }
    assert_eq!((breaker.state(), breaker.failure_count()), (State::Closed, 1));
    fail(&breaker);
    assert_eq!(breaker.state(), State::Open, "the old threshold of 2 still applies");
}

#[test]
fn a_validated_config_round_trips_and_an_equal_change_is_a_no_op() {
    let clock = ManualClock::new();
    let config = Config::new()
        .failure_threshold(4)
        .recovery_timeout(ms(2_000))
        .backoff(ms(16_000))
        .jitter(ms(100), 42)
        .probe_timeout(ms(500))
        .gradual_recovery(ms(10_000), 20);
    let breaker = Breaker::try_new("db", config, &clock).unwrap();
    let v = breaker.config();
    assert_eq!(Config::from(v).validate(), Ok(v));
    assert_eq!(breaker.update_config(|c| c), Ok(v));
    assert_eq!(breaker.config(), v);
}

const STATIC_CONFIG: ValidConfig = match Config::new().failure_threshold(5).validate() {
    Ok(c) => c,
    Err(_) => panic!("invalid config"),
};
static STATIC_CLOCK: ManualClock = ManualClock::new();
static PUMP: Breaker<&ManualClock> = Breaker::new("pump", STATIC_CONFIG, &STATIC_CLOCK);

#[test]
fn a_static_breaker_is_reconfigured_and_restored() {
    fail(&PUMP);
    fail(&PUMP);
    PUMP.update_config(|c| c.failure_threshold(3).recovery_timeout(ms(2_000))).unwrap();
    assert_eq!(PUMP.config().failure_threshold(), 3);
    let saved = PUMP.save();
    assert_eq!(saved.failure_count(), 2);
    fail(&PUMP);
    assert_eq!(retry_after(&PUMP), Some(ms(2_000)));
    // Restored under the new config: the saved count (2) is below the threshold (3).
    PUMP.restore(&saved).unwrap();
    assert_eq!((PUMP.state(), PUMP.failure_count()), (State::Closed, 2));
    PUMP.reconfigure(Config::from(STATIC_CONFIG)).unwrap();
    assert_eq!(PUMP.config(), STATIC_CONFIG);
}

/// Threads change different fields with `update_config` while others call: every change is
/// kept (a change that raced another is recomputed on it), calls never fail for it, and each
/// config a call saw was one that some writer published.
#[test]
fn concurrent_changes_are_all_kept_while_calls_go_on() {
    let clock = ManualClock::new();
    let config = Config::new().failure_threshold(1_000).half_open_probes(100);
    let breaker = Breaker::try_new("db", config, &clock).unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    assert!(breaker.call(|| Ok::<_, ()>(())).is_ok());
                    let c = breaker.config();
                    // Threshold and probes move together in the writers below.
                    assert_eq!(c.failure_threshold() % 100, c.half_open_probes() % 100, "{c:?}");
                }
            });
        }
        let writers: Vec<_> = [0u64, 1]
            .into_iter()
            .map(|who| {
                let breaker = &breaker;
                s.spawn(move || {
                    for i in 1..=200u32 {
                        loop {
                            let r = breaker.update_config(|c| {
                                let v = c.validate().unwrap();
                                if who == 0 {
                                    let n = v.failure_threshold() + 1;
                                    c.failure_threshold(n)
                                        .half_open_probes(n % 100 + 100)
                                        .successes_to_close(1)
                                } else {
                                    c.recovery_timeout(ms(1_000 + u64::from(i)))
                                }
                            });
                            match r {
                                Ok(_) => break,
                                Err(ReconfigureError::Busy) => std::thread::yield_now(),
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
    });
    let c = breaker.config();
    assert_eq!((c.failure_threshold(), c.recovery_timeout()), (1_200, ms(1_200)));
}
