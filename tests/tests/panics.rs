//! A panic inside `call`/`call_with` counts as a failure and keeps unwinding, on every path the
//! core takes: the permit-less hot path (no failures pending), the permit path (failures
//! pending, a half-open probe, a rate window); a dropped two-step permit stays "ignored".

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::Duration;

use breaker_core::{Breaker, Config, ManualClock, Observer, RateConfig, State, Verdict, Window};

#[derive(Default)]
struct Outcomes(Mutex<Vec<Verdict>>);

impl Observer for Outcomes {
    fn on_outcome(&self, _name: &'static str, verdict: Verdict) {
        self.0.lock().unwrap().push(verdict);
    }
}

fn panicking_call<O: Observer, P: breaker_core::Policy>(b: &Breaker<&ManualClock, O, P>, msg: &'static str) {
    let r = catch_unwind(AssertUnwindSafe(|| b.call(|| -> Result<(), ()> { panic!("{msg}") })));
    let payload = r.expect_err("the panic keeps unwinding");
    assert_eq!(payload.downcast_ref::<String>().map(String::as_str), Some(msg));
}

#[test]
fn panics_count_as_failures_on_the_hot_and_the_permit_path() {
    let clock = ManualClock::new();
    let config =
        Config::new().failure_threshold(2).recovery_timeout(Duration::from_secs(1)).validate().unwrap();
    let b = Breaker::with_observer("db", config, &clock, Outcomes::default());
    panicking_call(&b, "hot path"); // clean closed: the permit-less path
    assert_eq!((b.state(), b.failure_count()), (State::Closed, 1));
    panicking_call(&b, "permit path"); // one failure pending: the permit path
    assert_eq!(b.state(), State::Open);
    clock.advance(Duration::from_secs(1));
    panicking_call(&b, "probe"); // the half-open probe
    assert_eq!(b.state(), State::Open, "a panicking probe reopens");
    assert_eq!(*b.observer().0.lock().unwrap(), [Verdict::Failure; 3]);
}

#[test]
fn a_panicking_classifier_counts_as_a_failure() {
    let clock = ManualClock::new();
    let config = Config::new().failure_threshold(1).validate().unwrap();
    let b = Breaker::with_observer("db", config, &clock, Outcomes::default());
    let r = catch_unwind(AssertUnwindSafe(|| {
        b.call_with(|| Ok::<u8, ()>(1), |_: &Result<u8, ()>| panic!("classifier"))
    }));
    assert!(r.is_err());
    assert_eq!(b.state(), State::Open);
}

#[test]
fn panics_count_as_failures_in_a_rate_window() {
    let clock = ManualClock::new();
    let rule = RateConfig::new(50, 2).validate().unwrap();
    let b = Breaker::with_policy(
        "api",
        Config::new().validate().unwrap(),
        &clock,
        (),
        Window::<4>::count(4, rule).unwrap(),
    );
    assert!(b.call(|| Ok::<(), ()>(())).is_ok());
    panicking_call(&b, "window");
    assert_eq!(b.state(), State::Open, "1 failure in 2 calls reaches 50%");
}

#[test]
fn a_dropped_permit_is_still_ignored() {
    let clock = ManualClock::new();
    let config = Config::new().failure_threshold(1).validate().unwrap();
    let b = Breaker::with_observer("db", config, &clock, Outcomes::default());
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _permit = b.try_acquire().unwrap();
        panic!("holding a permit");
    }));
    assert!(r.is_err());
    assert_eq!((b.state(), b.failure_count()), (State::Closed, 0));
    assert_eq!(*b.observer().0.lock().unwrap(), [Verdict::Ignore]);
}
