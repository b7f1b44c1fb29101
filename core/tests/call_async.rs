//! The core's `call_async` on a hand-driven executor: laziness, rejection without polling,
//! one verdict per call, classifiers, cancellation (a dropped call counts as neither and gives
//! back its probe slot), timeouts and panics. Runs on both word layouts (ci/test.sh).

use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use breaker_core::classify::failures_where;
use breaker_core::{call_async, Breaker, CallError, Config, ManualClock, State, Verdict};

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// A context whose waker does nothing: the tests poll by hand.
fn cx() -> Context<'static> {
    static WAKER: OnceLock<Waker> = OnceLock::new();
    Context::from_waker(WAKER.get_or_init(|| Waker::from(Arc::new(Noop))))
}

/// Pending `pending` times, then `result`; counts its polls.
struct Steps<'p, T> {
    pending: u32,
    result: Option<T>,
    polls: &'p Cell<u32>,
}

impl<T: Unpin> Future for Steps<'_, T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<T> {
        self.polls.set(self.polls.get() + 1);
        if self.pending > 0 {
            self.pending -= 1;
            return Poll::Pending;
        }
        Poll::Ready(self.result.take().expect("polled after it finished"))
    }
}

fn steps<T>(pending: u32, result: T, polls: &Cell<u32>) -> Steps<'_, T> {
    Steps { pending, result: Some(result), polls }
}

fn breaker(threshold: u32, clock: &ManualClock) -> Breaker<&ManualClock> {
    let config = Config::new().failure_threshold(threshold).recovery_timeout(Duration::from_secs(10));
    Breaker::try_new("dep", config, clock).unwrap()
}

/// Trips `b` and lets its open period pass, so the next admission is the half-open probe.
fn to_probe(b: &Breaker<&ManualClock>, clock: &ManualClock) {
    b.force_open();
    b.reset();
    for _ in 0..b.config().failure_threshold() {
        let _ = b.call(|| Err::<(), _>("down"));
    }
    assert_eq!(b.state(), State::Open);
    clock.advance(Duration::from_secs(10));
}

#[test]
fn lazy_until_polled_and_one_verdict_after_many_polls() {
    let clock = ManualClock::new();
    let b = breaker(1, &clock);
    let polls = Cell::new(0);
    let mut call = pin!(call_async(&b, steps(3, Err::<(), _>("refused"), &polls)));
    assert!(!call.is_admitted());
    assert_eq!(polls.get(), 0);
    for _ in 0..3 {
        assert!(call.as_mut().poll(&mut cx()).is_pending());
        assert!(call.is_admitted());
        assert_eq!(b.state(), State::Closed, "no verdict while the call runs");
    }
    assert_eq!(call.as_mut().poll(&mut cx()), Poll::Ready(Err(CallError::Inner("refused"))));
    assert_eq!(polls.get(), 4);
    assert!(!call.is_admitted());
    assert_eq!(b.state(), State::Open, "the one failure counted once");
}

#[test]
fn rejected_without_polling_the_inner_future() {
    let clock = ManualClock::new();
    let b = breaker(1, &clock);
    let _ = b.call(|| Err::<(), _>("down"));
    let polls = Cell::new(0);
    let call = pin!(call_async(&b, steps(0, Ok::<u8, ()>(1), &polls)));
    match call.poll(&mut cx()) {
        Poll::Ready(Err(CallError::Open(open))) => {
            assert_eq!(open.name(), "dep");
            assert_eq!(open.retry_after(), Some(Duration::from_secs(10)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(polls.get(), 0);
}

#[test]
fn a_dropped_call_counts_as_neither() {
    let clock = ManualClock::new();
    let b = breaker(2, &clock);
    let _ = b.call(|| Err::<(), _>("down"));
    assert_eq!(b.failure_count(), 1);
    let polls = Cell::new(0);
    {
        let mut call = Box::pin(call_async(&b, steps(u32::MAX, Ok::<(), ()>(()), &polls)));
        assert!(call.as_mut().poll(&mut cx()).is_pending());
    }
    assert_eq!(b.failure_count(), 1, "not a success (it would clear the count), not a failure");
    assert_eq!(b.state(), State::Closed);
    // A call never polled is dropped without any effect either.
    drop(call_async(&b, async { Err::<(), ()>(()) }));
    assert_eq!(b.failure_count(), 1);
}

#[test]
fn a_dropped_probe_gives_its_slot_back() {
    let clock = ManualClock::new();
    let b = breaker(1, &clock);
    to_probe(&b, &clock);
    let polls = Cell::new(0);
    {
        let mut probe = Box::pin(call_async(&b, steps(u32::MAX, Ok::<(), ()>(()), &polls)));
        assert!(probe.as_mut().poll(&mut cx()).is_pending());
        assert_eq!(b.state(), State::HalfOpen);
        let mut second = Box::pin(call_async(&b, async { Ok::<(), ()>(()) }));
        assert!(matches!(second.as_mut().poll(&mut cx()), Poll::Ready(Err(CallError::Open(_)))));
    }
    // The slot is free: the next call is the probe, and its success closes the breaker.
    assert_eq!(b.state(), State::HalfOpen);
    let probe = pin!(call_async(&b, async { Ok::<u8, ()>(7) }));
    assert_eq!(probe.poll(&mut cx()), Poll::Ready(Ok(7)));
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn the_classifier_decides() {
    let clock = ManualClock::new();
    let b = breaker(1, &clock);
    // An error that is the caller's: neither.
    let call =
        pin!(call_async(&b, async { Err::<(), u16>(404) }).classify(failures_where(|s: &u16| *s >= 500)));
    assert_eq!(call.poll(&mut cx()), Poll::Ready(Err(CallError::Inner(404))));
    assert_eq!((b.state(), b.failure_count()), (State::Closed, 0));
    // An `Ok` that is a failure.
    let by_status = |r: &Result<u16, ()>| {
        if matches!(r, Ok(s) if *s < 500) {
            Verdict::Success
        } else {
            Verdict::Failure
        }
    };
    let call = pin!(call_async(&b, async { Ok::<u16, ()>(503) }).classify(by_status));
    assert_eq!(call.poll(&mut cx()), Poll::Ready(Ok(503)));
    assert_eq!(b.state(), State::Open);
    // A probe the classifier ignores gives its slot back, like a dropped one.
    clock.advance(Duration::from_secs(10));
    let call =
        pin!(call_async(&b, async { Err::<(), u16>(404) }).classify(failures_where(|s: &u16| *s >= 500)));
    assert!(call.poll(&mut cx()).is_ready());
    assert_eq!(b.state(), State::HalfOpen);
    assert!(b.try_acquire().is_ok(), "the ignored probe's slot is free");
}

#[test]
fn a_timed_out_call_is_a_failure() {
    let clock = ManualClock::new();
    let b = breaker(1, &clock);
    let polls = Cell::new(0);
    let mut call = Box::pin(call_async(&b, steps(u32::MAX, Ok::<(), ()>(()), &polls)));
    assert!(!call.as_mut().time_out(Duration::from_secs(1)), "not admitted yet: nothing to count");
    let mut call = Box::pin(call_async(&b, steps(u32::MAX, Ok::<(), ()>(()), &polls)));
    assert!(call.as_mut().poll(&mut cx()).is_pending());
    assert!(call.as_mut().time_out(Duration::from_secs(1)));
    assert!(!call.as_mut().time_out(Duration::from_secs(1)), "counted once");
    drop(call);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn a_panicking_call_is_a_failure_and_keeps_unwinding() {
    let clock = ManualClock::new();
    let b = breaker(1, &clock);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let call = pin!(call_async(&b, async {
            if b.state() == State::Closed {
                panic!("driver bug");
            }
            Ok::<(), ()>(())
        }));
        let _ = call.poll(&mut cx());
    }));
    assert!(r.is_err());
    assert_eq!(b.state(), State::Open);
    // A panicking classifier too.
    clock.advance(Duration::from_secs(10));
    let r = catch_unwind(AssertUnwindSafe(|| {
        let call = pin!(call_async(&b, async { Ok::<(), ()>(()) })
            .classify(|_: &Result<(), ()>| -> Verdict { panic!("classifier bug") }));
        let _ = call.poll(&mut cx());
    }));
    assert!(r.is_err());
    assert_eq!(b.state(), State::Open, "the probe failed");
}

#[test]
#[should_panic(expected = "polled after it resolved")]
fn polling_after_completion_panics() {
    let clock = ManualClock::new();
    let b = breaker(1, &clock);
    let mut call = pin!(call_async(&b, async { Ok::<(), ()>(()) }));
    assert!(call.as_mut().poll(&mut cx()).is_ready());
    let _ = call.as_mut().poll(&mut cx());
}

#[test]
fn debug_names_the_breaker() {
    let clock = ManualClock::new();
    let b = breaker(1, &clock);
    let call = call_async(&b, async { Ok::<(), ()>(()) });
    assert_eq!(format!("{call:?}"), r#"CallAsync { breaker: "dep", admitted: false, .. }"#);
}
