//! The seed's API, idiomatically: named breaker, `call`, the classifier, the decorator, the
//! open error with `?`, panics, presets, recovery, manual control, clocks. All on `ManualClock`.
#![allow(clippy::std_instead_of_core)]

use std::error::Error;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breaker_core::{CallError, Clock, ManualClock, State, Verdict};
use breaker_std::{protect, Breaker, CoarseClock, MonotonicClock};

fn breaker(clock: &ManualClock, threshold: u32) -> Breaker<&ManualClock> {
    Breaker::builder("svc")
        .failure_threshold(threshold)
        .recovery_timeout(Duration::from_secs(30))
        .clock(clock)
        .build()
        .unwrap()
}

/// The seed's own test: `test_circuit_opens_on_failures`.
#[test]
fn seed_three_failures_open_and_the_next_call_is_rejected() {
    let clock = ManualClock::new();
    let breaker = Breaker::builder("svc").failure_threshold(3).clock(&clock).build().unwrap();
    let calls = AtomicU32::new(0);
    let failing_func = || -> Result<(), &'static str> {
        calls.fetch_add(1, Ordering::Relaxed);
        Err("Service down")
    };
    for _ in 0..3 {
        assert_eq!(breaker.call(failing_func), Err(CallError::Inner("Service down")));
    }
    assert_eq!(breaker.state(), State::Open);
    match breaker.call(failing_func) {
        Err(CallError::Open(open)) => {
            assert_eq!(open.name(), "svc");
            assert_eq!(open.state(), State::Open);
        }
        other => panic!("expected the open error, got {other:?}"),
    }
    assert_eq!(calls.load(Ordering::Relaxed), 3, "the rejected call did not run");
}

#[test]
fn open_error_carries_name_and_retry_after_and_works_with_question_mark() {
    let clock = ManualClock::new();
    let db = breaker(&clock, 1);
    let _ = db.call(|| Err::<(), _>("down"));
    clock.advance(Duration::from_secs(12));

    fn fetch(db: &Breaker<&ManualClock>) -> Result<u32, Box<dyn Error>> {
        Ok(db.call(|| "7".parse::<u32>())?)
    }
    let err = fetch(&db).unwrap_err();
    assert_eq!(err.to_string(), "circuit breaker 'svc' is open; retry in 18s");
    let open = match db.call(|| Ok::<_, ()>(())) {
        Err(CallError::Open(open)) => open,
        other => panic!("{other:?}"),
    };
    assert_eq!(open.retry_after(), Some(Duration::from_secs(18)));
    // The open error alone is a std error too.
    let boxed: Box<dyn Error + Send + Sync> = Box::new(open);
    assert!(boxed.to_string().contains("'svc'"));

    // `?` from the open error into the caller's own error type.
    #[derive(Debug)]
    enum AppError {
        Unavailable(#[allow(dead_code)] breaker_std::CircuitOpen),
    }
    impl From<breaker_std::CircuitOpen> for AppError {
        fn from(e: breaker_std::CircuitOpen) -> Self {
            AppError::Unavailable(e)
        }
    }
    fn guarded(db: &Breaker<&ManualClock>) -> Result<(), AppError> {
        let permit = db.try_acquire()?;
        permit.success();
        Ok(())
    }
    assert!(matches!(guarded(&db), Err(AppError::Unavailable(_))));
}

#[test]
fn expected_exception_only_counts_named_errors() {
    #[derive(Debug, PartialEq)]
    enum DbError {
        ConnectionLost,
        UniqueViolation,
    }
    let clock = ManualClock::new();
    let db = breaker(&clock, 2);
    let expected = breaker_std::classify::failures_where(|e: &DbError| *e == DbError::ConnectionLost);
    for _ in 0..5 {
        let r = db.call_with(|| Err::<(), _>(DbError::UniqueViolation), expected);
        assert_eq!(r, Err(CallError::Inner(DbError::UniqueViolation)));
    }
    assert_eq!((db.state(), db.failure_count()), (State::Closed, 0));
    let _ = db.call_with(|| Err::<(), _>(DbError::ConnectionLost), expected);
    let _ = db.call_with(|| Err::<(), _>(DbError::ConnectionLost), expected);
    assert_eq!(db.state(), State::Open);
}

#[test]
fn classifier_sees_the_whole_result() {
    let clock = ManualClock::new();
    let api = breaker(&clock, 2);
    let classify = |r: &Result<u16, ()>| match r {
        Ok(s) if *s >= 500 => Verdict::Failure,
        Ok(_) => Verdict::Success,
        Err(_) => Verdict::Ignore,
    };
    assert_eq!(api.call_with(|| Ok(503), classify), Ok(503));
    assert_eq!(api.call_with(|| Err(()), classify), Err(CallError::Inner(())));
    assert_eq!(api.failure_count(), 1);
    assert_eq!(api.call_with(|| Ok(503), classify), Ok(503));
    assert_eq!(api.state(), State::Open);
}

#[test]
fn success_clears_pending_failures() {
    let clock = ManualClock::new();
    let db = breaker(&clock, 3);
    let _ = db.call(|| Err::<(), _>("x"));
    let _ = db.call(|| Err::<(), _>("x"));
    assert_eq!(db.failure_count(), 2);
    assert_eq!(db.call(|| Ok::<_, ()>(1)), Ok(1));
    assert_eq!(db.failure_count(), 0);
}

#[test]
fn decorator_protects_a_function() {
    let clock = ManualClock::new();
    let api = breaker(&clock, 2);
    let calls = AtomicU32::new(0);
    let fetch_data = breaker_std::protect(&api, |path: &str| {
        calls.fetch_add(1, Ordering::Relaxed);
        if path == "/data" {
            Ok(path.len())
        } else {
            Err("503")
        }
    });
    assert_eq!(fetch_data("/data"), Ok(5));
    assert_eq!(fetch_data("/x"), Err(CallError::Inner("503")));
    assert_eq!(fetch_data("/x"), Err(CallError::Inner("503")));
    assert!(fetch_data("/data").unwrap_err().is_open());
    assert_eq!(calls.load(Ordering::Relaxed), 3);
}

#[test]
fn decorator_over_an_arc_moves_to_threads() {
    let db = Arc::new(Breaker::builder("db").build().unwrap());
    let get = protect(Arc::clone(&db), |(a, b): (u32, u32)| Ok::<_, ()>(a + b));
    let h = std::thread::spawn(move || get((2, 3)));
    assert_eq!(h.join().unwrap(), Ok(5));
    let nothing = protect(&*db, |()| Ok::<_, ()>("no arguments"));
    assert_eq!(nothing(()), Ok("no arguments"));
}

#[test]
fn a_panic_counts_as_a_failure_and_keeps_unwinding() {
    let clock = ManualClock::new();
    let db = breaker(&clock, 2);
    for i in 0..2 {
        let r = catch_unwind(AssertUnwindSafe(|| db.call(|| -> Result<(), ()> { panic!("boom {i}") })));
        let payload = r.expect_err("the panic continues");
        assert_eq!(payload.downcast_ref::<String>().map(String::as_str), Some(&*format!("boom {i}")));
    }
    assert_eq!(db.state(), State::Open);
}

#[test]
fn a_panicking_classifier_counts_as_a_failure() {
    let clock = ManualClock::new();
    let db = breaker(&clock, 1);
    let r = catch_unwind(AssertUnwindSafe(|| {
        db.call_with(|| Ok::<_, ()>(1), |_: &Result<i32, ()>| panic!("bad classifier"))
    }));
    assert!(r.is_err());
    assert_eq!(db.state(), State::Open);
}

#[test]
fn a_panicking_probe_reopens() {
    let clock = ManualClock::new();
    let db = breaker(&clock, 1);
    let _ = db.call(|| Err::<(), _>("down"));
    clock.advance(Duration::from_secs(30));
    let r = catch_unwind(AssertUnwindSafe(|| db.call(|| -> Result<(), ()> { panic!("probe") })));
    assert!(r.is_err());
    assert_eq!(db.state(), State::Open, "the probe's panic reopened the circuit");
}

#[test]
fn recovery_after_the_timeout_with_one_probe() {
    let clock = ManualClock::new();
    let db = breaker(&clock, 1);
    let _ = db.call(|| Err::<(), _>("down"));
    clock.advance(Duration::from_millis(29_999));
    assert!(db.call(|| Ok::<_, ()>(())).unwrap_err().is_open());
    clock.advance(Duration::from_millis(1));
    // The probe: while it runs, other calls are rejected.
    let r = db.call(|| {
        assert_eq!(db.state(), State::HalfOpen);
        let other = db.call(|| Ok::<_, ()>(()));
        match other {
            Err(CallError::Open(o)) => assert_eq!(o.state(), State::HalfOpen),
            other => panic!("{other:?}"),
        }
        Ok::<_, ()>("recovered")
    });
    assert_eq!(r, Ok("recovered"));
    assert_eq!(db.state(), State::Closed);
}

#[test]
fn manual_control_per_breaker() {
    let clock = ManualClock::new();
    let db = breaker(&clock, 1);
    db.force_open();
    assert_eq!(db.state(), State::ForcedOpen);
    assert!(db.call(|| Ok::<_, ()>(())).unwrap_err().is_open());
    db.force_closed();
    assert_eq!(db.state(), State::ForcedClosed);
    for _ in 0..10 {
        let _ = db.call(|| Err::<(), _>("ignored while forced closed"));
    }
    assert_eq!(db.state(), State::ForcedClosed);
    db.reset();
    assert_eq!((db.state(), db.failure_count()), (State::Closed, 0));
}

#[test]
fn snapshot_and_health() {
    let clock = ManualClock::new();
    let db = breaker(&clock, 2);
    let _ = db.call(|| Err::<(), _>("x"));
    let h = db.health();
    assert_eq!((&*h.name, h.key.as_deref()), ("svc", None));
    assert_eq!((h.state, h.failure_count, h.failure_threshold), (State::Closed, 1, 2));
    assert_eq!(h.recovery_timeout, Duration::from_secs(30));
    let _ = db.call(|| Err::<(), _>("x"));
    clock.advance(Duration::from_secs(10));
    let h = db.health();
    assert_eq!((h.state, h.retry_after), (State::Open, Some(Duration::from_secs(20))));
    assert_eq!(db.snapshot().state, State::Open);
}

#[test]
fn config_errors_are_reported() {
    let err = Breaker::builder("x").failure_threshold(0).build().unwrap_err();
    assert_eq!(err.field(), "failure_threshold");
    let err = Breaker::new("x", breaker_core::Config::new().recovery_timeout(Duration::ZERO)).unwrap_err();
    assert_eq!(err.field(), "recovery_timeout");
}

#[test]
fn std_clocks_are_monotonic_and_in_milliseconds() {
    let m = MonotonicClock::new();
    let c = CoarseClock::new();
    let (m0, c0) = (m.now(), c.now());
    std::thread::sleep(Duration::from_millis(30));
    let (m1, c1) = (m.now(), c.now());
    assert!(m1 >= m0 && c1 >= c0);
    let dm = m1.as_millis() - m0.as_millis();
    let dc = c1.as_millis() - c0.as_millis();
    assert!((30..1_000).contains(&dm), "monotonic advanced {dm} ms");
    // Coarse: within a kernel tick (at most 10 ms) of the truth.
    assert!((20..1_000).contains(&dc), "coarse advanced {dc} ms");
}

#[test]
fn real_time_breaker_recovers_on_the_coarse_clock() {
    let b = Breaker::builder("coarse")
        .failure_threshold(1)
        .recovery_timeout(Duration::from_millis(50))
        .clock(CoarseClock::new())
        .build()
        .unwrap();
    let _ = b.call(|| Err::<(), _>("down"));
    assert!(b.call(|| Ok::<_, ()>(())).is_err());
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(b.call(|| Ok::<_, ()>(1)), Ok(1));
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn rate_policy_through_the_adapter() {
    use breaker_core::{RateConfig, Window};
    let clock = ManualClock::new();
    let rule = RateConfig::new(500, 4).validate().unwrap();
    let api =
        Breaker::builder("rate").clock(&clock).policy(Window::<4>::count(5, rule).unwrap()).build().unwrap();
    for ok in [true, false, true, false] {
        let _ = api.call(|| if ok { Ok(()) } else { Err("503") });
    }
    assert_eq!(api.state(), State::Open);
}

#[test]
fn an_owned_permit_goes_through_the_hooks() {
    let seen = Arc::new(AtomicU32::new(0));
    let s = Arc::clone(&seen);
    let db = Breaker::builder("db")
        .on_failure(move |_: &breaker_std::Source<'_>| {
            s.fetch_add(1, Ordering::Relaxed);
        })
        .build()
        .unwrap();
    let db = Arc::new(db);
    let permit = breaker_std::Permit::acquire(Arc::clone(&db)).unwrap();
    std::thread::spawn(move || permit.failure()).join().unwrap();
    assert_eq!(seen.load(Ordering::Relaxed), 1);
}
