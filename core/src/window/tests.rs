//! Unit tests of the window as applied (the pure functions are tested in their own files).

use super::*;

fn rule(permille: u32, min: u32) -> RateRule {
    RateConfig::new(permille, min).validate().unwrap()
}

const FAIL: Sample = Sample { failed: true, slow: false };
const OK: Sample = Sample { failed: false, slow: false };

#[test]
fn count_window_trips_only_after_min_calls() {
    let w: Window<10> = Window::count(1, rule(500, 4)).unwrap();
    assert_eq!(w.record(0, FAIL, 0, &|| 0), None, "1 call < min 4");
    assert_eq!(w.record(0, FAIL, 0, &|| 0), None);
    assert_eq!(w.record(0, FAIL, 0, &|| 0), None);
    assert_eq!(w.record(0, FAIL, 0, &|| 0), Some(TripReason::FailureRate));
    let s = w.stats(0, 0).unwrap();
    assert_eq!((s.calls, s.failures), (4, 4));
}

#[test]
fn a_success_that_reaches_min_calls_trips() {
    // Resilience4j: 5 failures then successes, 50 % of at least 10 calls: open at call 10.
    let w: Window<100> = Window::count(1, rule(500, 10)).unwrap();
    for _ in 0..5 {
        assert_eq!(w.record(0, FAIL, 0, &|| 0), None);
    }
    for call in 6..=10 {
        let r = w.record(0, OK, 0, &|| 0);
        assert_eq!(r.is_some(), call == 10, "call {call}");
    }
}

#[test]
fn a_success_that_moves_the_window_is_evaluated() {
    // 2 buckets of 2 calls: [ok ok] [ok fail] -> the next success starts a bucket and drops the
    // first one, leaving [ok fail] [ok]: 1 in 3 >= 30 %.
    let w: Window<2> = Window::count(2, rule(300, 3)).unwrap();
    for s in [OK, OK, OK] {
        assert_eq!(w.record(0, s, 0, &|| 0), None);
    }
    assert_eq!(w.record(0, FAIL, 0, &|| 0), None, "[ok ok][ok fail]: 1 in 4 = 25 %");
    assert_eq!(w.record(0, OK, 0, &|| 0), Some(TripReason::FailureRate), "[ok fail][ok]: 1 in 3");
}

#[test]
fn a_time_window_is_evaluated_when_old_successes_expire() {
    let w: Window<2> = Window::time(Duration::from_millis(10), rule(500, 2)).unwrap();
    for _ in 0..3 {
        assert_eq!(w.record(0, OK, 1, &|| 1), None);
    }
    assert_eq!(w.record(0, FAIL, 15, &|| 15), None, "1 in 4");
    // Epoch 0's three successes leave the window: a success at 25 sees [fail] [ok].
    assert_eq!(w.record(0, OK, 25, &|| 25), Some(TripReason::FailureRate));
}

#[test]
fn filled_windows_skip_evaluating_successes() {
    let w: Window<4> = Window::count(5, rule(500, 2)).unwrap();
    w.record(0, OK, 0, &|| 0);
    w.record(0, OK, 0, &|| 0); // filled, 0 %
    let before = w.sync.load(Ordering::Relaxed);
    w.record(0, OK, 0, &|| 0);
    assert_eq!(w.sync.load(Ordering::Relaxed), before, "a success in a filled window is not summed");
    w.record(0, FAIL, 0, &|| 0);
    assert_eq!(w.sync.load(Ordering::Relaxed), before + 1, "a failure is");
}

#[test]
fn count_window_forgets_calls_older_than_the_window() {
    let w: Window<4> = Window::count(1, rule(1000, 4)).unwrap();
    for _ in 0..3 {
        w.record(0, FAIL, 0, &|| 0);
    }
    for _ in 0..4 {
        w.record(0, OK, 0, &|| 0);
    }
    let s = w.stats(0, 0).unwrap();
    assert_eq!((s.calls, s.failures), (4, 0), "the failures slid out");
}

#[test]
fn count_window_buckets_take_exactly_calls_per_bucket() {
    let w: Window<3> = Window::count(4, rule(1000, 12)).unwrap();
    for n in 1..=30u32 {
        w.record(0, OK, 0, &|| 0);
        // The last two full buckets plus the current one.
        let want = if n <= 12 { n } else { 8 + (n - 1) % 4 + 1 };
        assert_eq!(w.stats(0, 0).unwrap().calls, want, "after {n} calls");
    }
}

#[test]
fn count_epochs_wrap_without_losing_the_window() {
    // Through many wraps of the count epoch (B × 2^EPOCH_BITS buckets), the window is always
    // exactly the last 3 calls.
    let w: Window<3> = Window::count(1, rule(1000, 3)).unwrap();
    let wrap = 3u64 << buckets::EPOCH_BITS;
    // Under Miri only the first wrap (it runs a thousand times slower).
    let n_max = if cfg!(miri) { wrap + 5 } else { 2 * wrap + 5 };
    for n in 0..n_max {
        let s = if n % 3 == 0 { FAIL } else { OK };
        w.record(0, s, 0, &|| 0);
        if n >= 2 {
            let st = w.stats(0, 0).unwrap();
            assert_eq!((st.calls, st.failures), (3, 1), "after {n}");
        }
    }
}

#[test]
fn time_window_expires_buckets_by_time() {
    let w: Window<3> = Window::time(Duration::from_millis(100), rule(500, 1)).unwrap();
    assert_eq!(w.record(0, FAIL, 50, &|| 50), Some(TripReason::FailureRate));
    assert_eq!(w.stats(0, 250).unwrap().failures, 1, "epoch 0 is still in [0, 2]");
    assert_eq!(w.stats(0, 300).unwrap().failures, 0, "epoch 0 left the window");
}

#[test]
fn another_generation_starts_empty() {
    let w: Window<4> = Window::time(Duration::from_millis(10), rule(500, 1)).unwrap();
    w.record(3, FAIL, 0, &|| 0);
    assert_eq!(w.stats(4, 0).unwrap().calls, 0);
    w.record(4, OK, 0, &|| 0);
    let s = w.stats(4, 0).unwrap();
    assert_eq!((s.calls, s.failures), (1, 0));
}

#[test]
fn cycle_step_switches_on_any_other_generation() {
    assert_eq!(cycle_step(0, 0), Cycle::Switch { next: 1 });
    assert_eq!(cycle_step(1, 0), Cycle::Same);
    assert_eq!(cycle_step(1, 1), Cycle::Switch { next: 2 });
    assert_eq!(cycle_step(2, 0), Cycle::Switch { next: 1 }, "an earlier-looking cycle is a new one too");
    assert_eq!(cycle_step(GEN_MASK + 1, GEN_MASK), Cycle::Same);
}

#[test]
fn slow_calls_trip_on_their_own_rate() {
    let r = RateConfig::new(1000, 2).slow_calls(Duration::from_millis(5), 500, false).validate().unwrap();
    let w: Window<4> = Window::count(1, r).unwrap();
    assert_eq!(w.record(0, OK, 0, &|| 0), None);
    assert_eq!(w.record(0, Sample { failed: false, slow: true }, 0, &|| 0), Some(TripReason::SlowCallRate));
}

#[test]
fn adaptive_threshold_learns_the_baseline() {
    // floor 10 %, 3×, alpha 1/2, learn from buckets of >= 10 calls.
    let r = RateConfig::new(1000, 10).adaptive(100, 300, 1, 10).validate().unwrap();
    let w: Window<2> = Window::count(100, r).unwrap();
    assert_eq!(w.stats(0, 0).unwrap().trip_rate, 0.1);
    // Ten buckets at a steady 20 % failure rate.
    for i in 0..1_000u32 {
        w.record(0, Sample { failed: i % 5 == 0, slow: false }, 0, &|| 0);
    }
    let s = w.stats(0, 0).unwrap();
    let baseline = s.baseline.unwrap();
    assert!((baseline - 0.2).abs() < 0.02, "baseline {baseline}");
    assert!((s.trip_rate - 0.6).abs() < 0.06, "trip rate {}", s.trip_rate);
}

#[test]
fn config_errors_name_the_field() {
    assert_eq!(RateConfig::new(0, 1).validate(), Err(ConfigError::Zero { field: "failure_permille" }));
    assert_eq!(
        RateConfig::new(1001, 1).validate(),
        Err(ConfigError::TooLarge { field: "failure_permille", value: 1001, max: 1000 })
    );
    assert_eq!(RateConfig::new(1, 0).validate(), Err(ConfigError::Zero { field: "min_calls" }));
    let slow = |d, p| RateConfig::new(1, 1).slow_calls(d, p, false).validate();
    assert_eq!(slow(Duration::ZERO, 1), Err(ConfigError::Zero { field: "slow_call_threshold" }));
    assert_eq!(
        slow(Duration::from_micros(1), 1),
        Err(ConfigError::SubMillisecond { field: "slow_call_threshold" })
    );
    assert_eq!(slow(Duration::from_millis(1), 0), Err(ConfigError::Zero { field: "slow_call_permille" }));
    let ad = |f, m, a, b| RateConfig::new(1, 1).adaptive(f, m, a, b).validate();
    assert_eq!(ad(0, 100, 1, 1), Err(ConfigError::Zero { field: "adaptive_floor_permille" }));
    assert_eq!(
        ad(1, 99, 1, 1),
        Err(ConfigError::TooSmall { field: "adaptive_multiplier_percent", value: 99, min: 100 })
    );
    assert_eq!(ad(1, 100, 0, 1), Err(ConfigError::Zero { field: "adaptive_alpha_shift" }));
    assert_eq!(
        ad(1, 100, 17, 1),
        Err(ConfigError::TooLarge { field: "adaptive_alpha_shift", value: 17, max: 16 })
    );
    assert_eq!(ad(1, 100, 1, 0), Err(ConfigError::Zero { field: "adaptive_min_bucket_calls" }));
    let r = rule(1, 1);
    assert_eq!(Window::<2>::time(Duration::ZERO, r).err(), Some(ConfigError::Zero { field: "bucket_width" }));
    assert_eq!(
        Window::<2>::time(Duration::MAX, r).err(),
        Some(ConfigError::TooLarge { field: "bucket_width", value: u64::MAX, max: u32::MAX as u64 })
    );
    assert_eq!(
        Window::<2>::count(BUCKET_CAPACITY + 1, r).err(),
        Some(ConfigError::TooLarge {
            field: "calls_per_bucket",
            value: BUCKET_CAPACITY as u64 + 1,
            max: BUCKET_CAPACITY as u64
        })
    );
}

#[test]
fn cross_field_constraints_are_errors() {
    // min_calls above what the window can ever hold: refused (it could never trip).
    let r = rule(500, 20);
    assert_eq!(
        Window::<10>::count(1, r).err(),
        Some(ConfigError::TooLarge { field: "min_calls", value: 20, max: 10 })
    );
    assert!(Window::<10>::count(2, r).is_ok());
    let big = rule(500, 2 * BUCKET_CAPACITY + 1);
    assert_eq!(
        Window::<2>::time(Duration::from_secs(1), big).err(),
        Some(ConfigError::TooLarge {
            field: "min_calls",
            value: 2 * BUCKET_CAPACITY as u64 + 1,
            max: 2 * BUCKET_CAPACITY as u64
        })
    );
    // A count window is one order over all calls: no stripes.
    assert_eq!(
        Window::<2, 4>::count(1, rule(500, 1)).err(),
        Some(ConfigError::TooLarge { field: "stripes", value: 4, max: 1 })
    );
    assert!(Window::<2, 4>::time(Duration::from_secs(1), rule(500, 1)).is_ok());
    // An adaptive threshold that can never learn.
    let ad = RateConfig::new(500, 1).adaptive(100, 300, 3, 11).validate().unwrap();
    assert_eq!(
        Window::<2>::count(10, ad).err(),
        Some(ConfigError::TooLarge { field: "adaptive_min_bucket_calls", value: 11, max: 10 })
    );
}

#[test]
fn a_time_window_jumps_only_on_a_fresh_reading() {
    let w: Window<4> = Window::time(Duration::from_millis(1), rule(1000, 4)).unwrap();
    let t = 3 * JUMP_EPOCHS;
    for i in 0..3 {
        w.record(0, OK, t + i, &|| t + i);
    }
    // An old reading, but the clock has not gone back: a late call, dropped.
    assert_eq!(w.record(0, OK, 5, &|| t + 3), None);
    assert_eq!(w.stats(0, t + 3).unwrap().calls, 3);
    // The clock itself went back by more than the bound: a jump, the window restarts.
    w.record(0, OK, 5, &|| 5);
    assert_eq!(w.stats(0, 5).unwrap().calls, 1);
}

#[test]
fn a_quiet_period_never_blinds_a_time_window() {
    let w: Window<4> = Window::time(Duration::from_millis(10), rule(500, 1)).unwrap();
    for t in [0, 10, 20, 30] {
        w.record(0, OK, t, &|| t);
    }
    // Silence for a whole epoch-tag range and a bit: the old tags would alias the new ones.
    let mut t = 30;
    for gap in [buckets::EPOCH_MASK + 1, buckets::EPOCH_MASK + 2, 3 * (buckets::EPOCH_MASK + 1) + 1] {
        t += gap * 10;
        w.record(0, FAIL, t, &|| t);
        let s = w.stats(0, t).unwrap();
        assert_eq!((s.calls, s.failures), (1, 1), "after a gap of {gap} epochs");
        for _ in 0..3 {
            t += 10;
            w.record(0, OK, t, &|| t);
        }
    }
}

#[test]
fn every_new_cycle_starts_empty_however_many_cycles_pass() {
    let w: Window<4> = Window::count(1, rule(500, 1)).unwrap();
    // Cycles advance by three generations (closed, open, half-open); the bucket keeps only a
    // few generation bits, so tags wrap many times here.
    for cycle in 0..40u32 {
        let gen = (cycle * 3) % crate::limits::GENERATIONS;
        assert_eq!(w.record(gen, FAIL, 0, &|| 0), Some(TripReason::FailureRate), "cycle {cycle}");
        let s = w.stats(gen, 0).unwrap();
        assert_eq!((s.calls, s.failures), (1, 1), "cycle {cycle}");
    }
}

#[test]
fn an_exact_count_window_evaluates_a_success_only_when_a_failure_slides_out() {
    let w: Window<4> = Window::count(1, rule(500, 4)).unwrap();
    for s in [FAIL, OK, OK, OK] {
        assert_eq!(w.record(0, s, 0, &|| 0), None);
    }
    let before = w.sync.load(Ordering::Relaxed);
    assert_eq!(w.record(0, OK, 0, &|| 0), None, "the failure slides out: [ok ok ok ok]");
    assert_eq!(w.sync.load(Ordering::Relaxed), before + 1, "evaluated");
    for _ in 0..10 {
        assert_eq!(w.record(0, OK, 0, &|| 0), None);
    }
    assert_eq!(w.sync.load(Ordering::Relaxed), before + 1, "successes sliding out: not evaluated");
    // A failure, then successes: when the window is [fail ok ok ok] -> 25 %; 2 failures -> 50 %.
    assert_eq!(w.record(0, FAIL, 0, &|| 0), None);
    assert_eq!(w.record(0, FAIL, 0, &|| 0), Some(TripReason::FailureRate));
}
