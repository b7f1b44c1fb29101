//! Loom models for the policies: concurrent window updates, window rollover racing with
//! recording, rate trips, and concurrent backoff transitions.
//!
//! Run with `ci/loom.sh` (both word layouts).
#![cfg(all(breaker_loom, feature = "policies"))]

use core::time::Duration;

use breaker_core::{
    Breaker, Config, ManualClock, Observer, Policy, RateConfig, Sample, State, Transition, Window,
};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

#[derive(Default)]
struct Opens(AtomicUsize);

impl Observer for Opens {
    fn on_transition(&self, t: &Transition) {
        if t.to == State::Open {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn fail() -> Sample {
    Sample::new(true, false)
}

/// Two calls recorded concurrently into the same bucket: neither is lost nor counted twice.
#[test]
fn concurrent_records_in_one_bucket_are_all_counted() {
    loom::model(|| {
        let rule = RateConfig::new(1000, 100).validate().unwrap();
        let w = Arc::new(Window::<2>::time(Duration::from_millis(10), rule).unwrap());
        let w2 = w.clone();
        let t = thread::spawn(move || {
            w2.record(0, fail(), 5, &|| 5);
        });
        w.record(0, Sample::default(), 7, &|| 7);
        t.join().unwrap();
        let s = w.stats(0, 9).unwrap();
        assert_eq!((s.calls, s.failures), (2, 1));
    });
}

/// A rollover (a call for a newer epoch recycling the slot) racing with a call for the old
/// epoch: the newer bucket ends with exactly its own call, the old call is either counted in the
/// old bucket before the recycle or dropped as out of the window, never merged into the new one.
#[test]
fn rollover_racing_with_recording() {
    loom::model(|| {
        let rule = RateConfig::new(1000, 100).validate().unwrap();
        // 2 buckets of 10 ms: epochs 0 and 2 share slot 0.
        let w = Arc::new(Window::<2>::time(Duration::from_millis(10), rule).unwrap());
        let w2 = w.clone();
        let old = thread::spawn(move || {
            w2.record(0, fail(), 1, &|| 1); // epoch 0
        });
        w.record(0, Sample::default(), 21, &|| 21); // epoch 2
        old.join().unwrap();
        let now = w.stats(0, 21).unwrap();
        assert_eq!((now.calls, now.failures), (1, 0), "epoch 2's window holds only its own call");
    });
}

/// Concurrent failures crossing a rate threshold: exactly one open transition.
#[test]
fn concurrent_rate_trips_open_once() {
    loom::model(|| {
        let rule = RateConfig::new(500, 2).validate().unwrap();
        let window = Window::<4>::count(1, rule).unwrap();
        let config = Config::new().validate().unwrap();
        let b = Arc::new(Breaker::with_policy("w", config, ManualClock::new(), Opens::default(), window));
        let p1 = b.try_acquire().unwrap().into_ticket();
        let p2 = b.try_acquire().unwrap().into_ticket();
        let b2 = b.clone();
        let t = thread::spawn(move || b2.settle(p2, breaker_core::Verdict::Failure));
        b.settle(p1, breaker_core::Verdict::Failure);
        t.join().unwrap();
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.observer().0.load(Ordering::SeqCst), 1);
    });
}

/// Two probes fail concurrently: one reopen, and the backoff level climbs once, not twice.
#[test]
fn concurrent_probe_failures_raise_backoff_once() {
    loom::model(|| {
        let config = Config::new()
            .failure_threshold(1)
            .recovery_timeout(Duration::from_millis(10))
            .backoff(Duration::from_millis(1_000))
            .half_open_probes(2)
            .validate()
            .unwrap();
        let b = Arc::new(Breaker::with_observer("b", config, ManualClock::new(), Opens::default()));
        b.try_acquire().unwrap().failure();
        b.clock().advance(Duration::from_millis(10));
        let p1 = b.try_acquire().unwrap().into_ticket();
        let p2 = b.try_acquire().unwrap().into_ticket();
        let b2 = b.clone();
        let t = thread::spawn(move || b2.settle(p2, breaker_core::Verdict::Failure));
        b.settle(p1, breaker_core::Verdict::Failure);
        t.join().unwrap();
        let s = b.snapshot();
        assert_eq!((s.state, s.backoff_level), (State::Open, 1));
        assert_eq!(s.retry_after, Some(Duration::from_millis(20)));
        assert_eq!(b.observer().0.load(Ordering::SeqCst), 2, "the first trip and one reopen");
    });
}

/// A stuck-probe reopen racing with the stuck probe finally failing: one reopen, one level.
#[test]
fn probe_timeout_racing_with_late_probe_failure() {
    loom::model(|| {
        let config = Config::new()
            .failure_threshold(1)
            .recovery_timeout(Duration::from_millis(10))
            .backoff(Duration::from_millis(1_000))
            .probe_timeout(Duration::from_millis(50))
            .validate()
            .unwrap();
        let b = Arc::new(Breaker::with_observer("b", config, ManualClock::new(), Opens::default()));
        b.try_acquire().unwrap().failure();
        b.clock().advance(Duration::from_millis(10));
        let stuck = b.try_acquire().unwrap().into_ticket();
        b.clock().advance(Duration::from_millis(50));
        let b2 = b.clone();
        let t = thread::spawn(move || b2.settle(stuck, breaker_core::Verdict::Failure));
        let _ = b.try_acquire(); // may reopen on timeout, or see the reopened breaker
        t.join().unwrap();
        let s = b.snapshot();
        assert_eq!((s.state, s.backoff_level), (State::Open, 1));
        assert_eq!(b.observer().0.load(Ordering::SeqCst), 2);
    });
}

/// A success that brings the window to `min_calls` racing with a failure: the rate (1 in 2 =
/// 50 %) is at the threshold once both are in, so the breaker opens, exactly once, whichever
/// evaluates last.
#[test]
fn a_success_reaching_min_calls_racing_a_failure_trips_once() {
    loom::model(|| {
        let rule = RateConfig::new(500, 2).validate().unwrap();
        let window = Window::<4>::count(1, rule).unwrap();
        let config = Config::new().validate().unwrap();
        let b = Arc::new(Breaker::with_policy("w", config, ManualClock::new(), Opens::default(), window));
        let ok = b.try_acquire().unwrap().into_ticket();
        let fail = b.try_acquire().unwrap().into_ticket();
        let b2 = b.clone();
        let t = thread::spawn(move || b2.settle(fail, breaker_core::Verdict::Failure));
        b.settle(ok, breaker_core::Verdict::Success);
        t.join().unwrap();
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.observer().0.load(Ordering::SeqCst), 1);
    });
}

/// Two calls filling a count window's bucket and moving its head at once: both are counted,
/// each in its own bucket of one call, and the head moves once per bucket.
#[test]
fn count_window_head_moves_once_per_full_bucket() {
    loom::model(|| {
        let rule = RateConfig::new(1000, 3).validate().unwrap();
        let w = Arc::new(Window::<3>::count(1, rule).unwrap());
        w.record(0, Sample::default(), 0, &|| 0);
        let w2 = w.clone();
        let t = thread::spawn(move || {
            w2.record(0, fail(), 0, &|| 0);
        });
        w.record(0, Sample::default(), 0, &|| 0);
        t.join().unwrap();
        let s = w.stats(0, 0).unwrap();
        assert_eq!((s.calls, s.failures), (3, 1));
        // One more call: exactly the last three calls remain.
        w.record(0, Sample::default(), 0, &|| 0);
        assert_eq!(w.stats(0, 0).unwrap().calls, 3);
    });
}
