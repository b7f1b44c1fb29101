//! A threaded service on `breaker-std` only: a database breaker with "which errors count", a
//! rate-window breaker for an HTTP dependency, the decorator, a permit moved to another thread,
//! manual control, reconfiguration, save and restore, listeners and the health JSON.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breaker_std::classify::failures_where;
use breaker_std::{
    protect, Breaker, CallError, CircuitOpen, Config, ManualClock, Permit, RateConfig, Source, State,
    Transition, Verdict, Window,
};

#[derive(Debug, PartialEq)]
enum DbError {
    ConnectionLost,
    UniqueViolation,
}

#[test]
fn a_threaded_service_needs_breaker_std_only() {
    let clock: &'static ManualClock = Box::leak(Box::new(ManualClock::new()));
    let opened = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&opened);
    let db = Arc::new(
        Breaker::builder("database")
            .failure_threshold(2)
            .recovery_timeout(Duration::from_secs(60))
            .backoff(Duration::from_secs(600))
            .clock(clock)
            .on_transition(move |_: &Source<'_>, t: &Transition| {
                if t.to == State::Open {
                    seen.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build()
            .unwrap(),
    );

    // "Which errors count": a constraint violation is the caller's, a lost connection is not.
    let counts = failures_where(|e: &DbError| *e == DbError::ConnectionLost);
    let r = db.call_with(|| Err::<(), _>(DbError::UniqueViolation), counts);
    assert_eq!(r, Err(CallError::Inner(DbError::UniqueViolation)));
    assert_eq!(db.failure_count(), 0);

    // The decorator, on another thread, with an owned handle.
    let get_user =
        protect(Arc::clone(&db), |id: u32| if id == 0 { Err(DbError::ConnectionLost) } else { Ok(id) });
    let r = std::thread::spawn(move || (get_user(7), get_user(0))).join().unwrap();
    assert_eq!(r, (Ok(7), Err(CallError::Inner(DbError::ConnectionLost))));

    // A permit moved to a worker thread: the second failure opens the circuit.
    let permit = Permit::acquire(Arc::clone(&db)).unwrap();
    std::thread::spawn(move || permit.failure()).join().unwrap();
    assert_eq!((db.state(), opened.load(Ordering::Relaxed)), (State::Open, 1));
    let Err(CallError::Open(open)) = db.call(|| Ok::<_, DbError>(())) else { panic!("not rejected") };
    let open: CircuitOpen = open;
    assert_eq!((open.name(), open.retry_after()), ("database", Some(Duration::from_secs(60))));

    // The health JSON names the state the way the logs do.
    let health = serde_json::to_value(db.health()).unwrap();
    assert_eq!(health["circuit_breaker"], "open");

    // Save on the way down, restore on the way up.
    let saved = db.save();
    let restarted = Breaker::builder("database").failure_threshold(2).clock(clock).build().unwrap();
    restarted.restore(&saved).unwrap();
    assert_eq!(restarted.state(), State::Open);

    // Manual control and reconfiguration by the operator.
    restarted.force_closed();
    assert_eq!(restarted.state(), State::ForcedClosed);
    restarted.reset();
    restarted.reconfigure(Config::new().failure_threshold(1)).unwrap();
    let _ = restarted.call(|| Err::<(), _>(DbError::ConnectionLost));
    assert_eq!(restarted.state(), State::Open);
}

#[test]
fn a_rate_window_breaker_for_an_http_dependency() {
    let rule = RateConfig::new(500, 10).validate().unwrap(); // 50 % of at least 10 calls
    let api = Breaker::builder("payments")
        .policy(Window::<10>::count(10, rule).unwrap())
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let status_5xx = |r: &Result<u16, ()>| match r {
        Ok(s) if *s >= 500 => Verdict::Failure,
        Ok(_) => Verdict::Success,
        Err(()) => Verdict::Failure,
    };
    for i in 0..10u16 {
        let status = if i % 2 == 0 { 503 } else { 200 };
        let _ = api.call_with(|| Ok::<u16, ()>(status), status_5xx);
    }
    assert_eq!(api.state(), State::Open);
}

/// breaker-std's `serde` feature reaches the core's types: a saved state and a snapshot
/// serialize (and the saved state reads back) with breaker-std as the only breaker dependency.
/// Built on its own (`cargo test -p breaker-one-dep-std`, as ci/test.sh runs it), no other
/// crate of the workspace can have turned breaker-core's `serde` on.
#[test]
fn saved_states_and_snapshots_serialize_through_breaker_std() {
    let clock: &'static ManualClock = Box::leak(Box::new(ManualClock::new()));
    let db = Breaker::builder("database")
        .failure_threshold(1)
        .recovery_timeout(Duration::from_secs(60))
        .clock(clock)
        .build()
        .unwrap();
    let _ = db.call(|| Err::<(), _>(DbError::ConnectionLost));
    clock.advance(Duration::from_secs(15));

    // Saved on the way down as JSON, read back on the way up.
    let saved: breaker_std::SavedState = db.save();
    let json = serde_json::to_string(&saved).unwrap();
    let read: breaker_std::SavedState = serde_json::from_str(&json).unwrap();
    assert_eq!(read, saved);
    let restarted =
        Breaker::builder("database").failure_threshold(1).clock(ManualClock::new()).build().unwrap();
    restarted.restore(&read).unwrap();
    assert_eq!(restarted.state(), State::Open);

    // The snapshot, field names as in the core, the state as its name.
    let snapshot: breaker_std::Snapshot = db.snapshot();
    let json = serde_json::to_value(snapshot).unwrap();
    assert_eq!(json["name"], "database");
    assert_eq!(json["state"], "open");
    assert_eq!(json["failure_count"], 1);
    assert_eq!(json["retry_after"]["secs"], 45);
    // `State` on its own, both ways.
    assert_eq!(serde_json::to_value(State::HalfOpen).unwrap(), "half_open");
    assert_eq!(serde_json::from_str::<State>("\"forced_closed\"").unwrap(), State::ForcedClosed);
}
