//! The abandoned-call rule (issue 13, item 1): a permit dropped without a verdict after it has
//! been out at least `count_abandoned_after` counts as a failure; sooner, as neither. Both word
//! layouts (`ci/test.sh` runs the core's tests with `--cfg breaker_word32` too).
#![cfg(feature = "policies")]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use breaker_core::{call_async, Breaker, Config, ConfigError, ManualClock, RateConfig, State, Window};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn breaker(clock: &ManualClock, threshold: u32) -> Breaker<&ManualClock> {
    let config = Config::new().failure_threshold(threshold).count_abandoned_after(ms(2_000));
    Breaker::try_new("db", config, clock).unwrap()
}

#[test]
fn a_permit_dropped_after_the_limit_is_a_failure_and_before_it_neither() {
    let clock = ManualClock::new(); // reads 0 at the first admission: still a reading
    let b = breaker(&clock, 3);
    let early = b.try_acquire().unwrap();
    clock.advance(ms(1_999));
    drop(early);
    assert_eq!(b.failure_count(), 0, "1 999 ms: neither");
    let late = b.try_acquire().unwrap();
    clock.advance(ms(2_000));
    drop(late);
    assert_eq!(b.failure_count(), 1, "2 000 ms: a failure");
    // An explicit verdict is never overridden: a success after 10 s is a success.
    let slow_ok = b.try_acquire().unwrap();
    clock.advance(ms(10_000));
    slow_ok.success();
    assert_eq!(b.failure_count(), 0);
}

#[test]
fn callers_that_give_up_on_a_hung_dependency_open_the_breaker() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 3);
    // Three callers wait 2.5 s each for a dependency that never answers, then leave.
    let held: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    clock.advance(ms(2_500));
    drop(held);
    assert_eq!(b.state(), State::Open);
    assert!(b.try_acquire().is_err(), "rejected fast from now on");
}

#[test]
fn without_the_rule_a_dropped_permit_stays_neither() {
    let clock = ManualClock::new();
    let b = Breaker::try_new("db", Config::new().failure_threshold(1), &clock).unwrap();
    let p = b.try_acquire().unwrap();
    clock.advance(Duration::from_secs(3600));
    drop(p);
    assert_eq!((b.state(), b.failure_count()), (State::Closed, 0));
}

#[test]
fn an_abandoned_probe_reopens_and_a_quickly_dropped_one_gives_its_slot_back() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let _ = b.call(|| Err::<(), _>("down"));
    clock.advance(Duration::from_secs(60));
    let probe = b.try_acquire().unwrap();
    assert!(probe.is_probe());
    clock.advance(ms(10));
    drop(probe); // left at once: the slot comes back
    assert_eq!(b.state(), State::HalfOpen);
    let probe = b.try_acquire().unwrap();
    clock.advance(ms(5_000));
    drop(probe); // hung: the probe failed
    assert_eq!(b.state(), State::Open);
}

#[cfg(feature = "reconfigure")]
#[test]
fn a_permit_admitted_before_the_rule_was_set_is_not_timed() {
    let clock = ManualClock::new();
    clock.advance(ms(100_000));
    let b = Breaker::try_new("db", Config::new().failure_threshold(1), &clock).unwrap();
    let before = b.try_acquire().unwrap();
    b.update_config(|c| c.count_abandoned_after(ms(2_000))).unwrap();
    clock.advance(ms(5_000));
    drop(before); // its admission time is unknown: neither, never a guess
    assert_eq!(b.failure_count(), 0);
    let after = b.try_acquire().unwrap();
    clock.advance(ms(5_000));
    drop(after);
    assert_eq!(b.state(), State::Open);
    // And switched off again: late drops are neither once more.
    b.reset();
    b.reconfigure(Config::new().failure_threshold(1)).unwrap();
    let p = b.try_acquire().unwrap();
    clock.advance(ms(5_000));
    drop(p);
    assert_eq!((b.state(), b.failure_count()), (State::Closed, 0));
}

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// A future that never completes: a hung dependency.
struct Hung;
impl Future for Hung {
    type Output = Result<(), ()>;
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Pending
    }
}

#[test]
fn a_dropped_async_call_follows_the_rule() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    {
        let mut call = pin!(call_async(&b, Hung));
        assert!(call.as_mut().poll(&mut cx).is_pending()); // admitted on the first poll
        clock.advance(ms(500));
    } // the caller's own timeout fired after 0.5 s: neither
    assert_eq!(b.failure_count(), 0);
    {
        let mut call = pin!(call_async(&b, Hung));
        assert!(call.as_mut().poll(&mut cx).is_pending());
        clock.advance(ms(3_000));
    } // after 3 s: a failure
    assert_eq!(b.state(), State::Open);
    // A call never polled was never admitted: dropping it changes nothing.
    drop(call_async(&b, Hung));
}

#[test]
fn under_a_rate_policy_an_abandoned_call_is_a_failure_in_the_window_and_slow_past_the_threshold() {
    let clock = ManualClock::new();
    let rule = RateConfig::new(500, 2).slow_calls(ms(1_000), 500, false).validate().unwrap();
    let window: Window<4> = Window::count(4, rule).unwrap();
    let config = Config::new().count_abandoned_after(ms(2_000)).validate().unwrap();
    let b = Breaker::with_policy("pay", config, &clock, (), window);
    let p = b.try_acquire().unwrap();
    clock.advance(ms(2_500));
    drop(p);
    let w = b.snapshot().window.unwrap();
    assert_eq!((w.calls, w.failures, w.slow), (1, 1, 1));
    // Slow but given up before the rule's limit: neither, not a slow sample.
    let p = b.try_acquire().unwrap();
    clock.advance(ms(1_500));
    drop(p);
    let w = b.snapshot().window.unwrap();
    assert_eq!((w.calls, w.failures, w.slow), (1, 1, 1));
}

#[test]
fn the_rule_is_validated_and_survives_a_round_trip() {
    assert_eq!(
        Config::new().count_abandoned_after(Duration::ZERO).validate(),
        Err(ConfigError::Zero { field: "abandoned_after" })
    );
    assert_eq!(
        Config::new().count_abandoned_after(Duration::from_micros(1_500)).validate(),
        Err(ConfigError::SubMillisecond { field: "abandoned_after" })
    );
    let c = Config::new().count_abandoned_after(ms(2_000)).validate().unwrap();
    assert_eq!(c.abandoned_after(), Some(ms(2_000)));
    assert_eq!(Config::from(c).validate(), Ok(c));
}
