//! Listeners: every event exactly once, never under a lock, panics contained.
#![allow(clippy::std_instead_of_core)]

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use breaker_core::{CircuitOpen, ManualClock, State, Transition, Trigger};
use breaker_std::{Breaker, Keyed, Listener, Registry, Source};
use tracing::Level;

#[derive(Clone, Debug, PartialEq)]
enum Seen {
    Trans(State, State, Trigger),
    Rejected(State),
    Success,
    Failure,
    Ignored,
}

/// (breaker name, key, event)
type Log = Vec<(String, Option<String>, Seen)>;

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Log>>);

impl Recorder {
    fn push(&self, s: &Source<'_>, seen: Seen) {
        self.0.lock().unwrap().push((s.name().to_owned(), s.key().map(str::to_owned), seen));
    }
    fn seen(&self) -> Vec<Seen> {
        self.0.lock().unwrap().iter().map(|e| e.2.clone()).collect()
    }
}

impl Listener for Recorder {
    fn on_transition(&self, s: &Source<'_>, t: &Transition) {
        self.push(s, Seen::Trans(t.from, t.to, t.trigger));
    }
    fn on_rejected(&self, s: &Source<'_>, r: &CircuitOpen) {
        self.push(s, Seen::Rejected(r.state()));
    }
    fn on_success(&self, s: &Source<'_>) {
        self.push(s, Seen::Success);
    }
    fn on_failure(&self, s: &Source<'_>) {
        self.push(s, Seen::Failure);
    }
    fn on_ignored(&self, s: &Source<'_>) {
        self.push(s, Seen::Ignored);
    }
}

#[test]
fn every_event_once_in_order() {
    let clock = ManualClock::new();
    let rec = Recorder::default();
    let db = Breaker::builder("db").failure_threshold(2).clock(&clock).listener(rec.clone()).build().unwrap();
    db.call(|| Ok::<_, ()>(())).unwrap();
    let _ = db.call(|| Err::<(), _>("x"));
    let _ =
        db.call_with(|| Err::<(), _>("not counted"), breaker_std::classify::failures_where(|_: &_| false));
    let _ = db.call(|| Err::<(), _>("x"));
    let _ = db.call(|| Ok::<_, ()>(()));
    clock.advance(Duration::from_secs(60));
    db.call(|| Ok::<_, ()>(())).unwrap();
    db.force_open();
    db.force_closed();
    db.reset();
    drop(db.try_acquire().unwrap()); // a dropped permit: ignored
    use Seen::*;
    use State::*;
    assert_eq!(
        rec.seen(),
        [
            Success,
            Failure,
            Ignored,
            Trans(Closed, Open, Trigger::FailureThreshold),
            Failure,
            Rejected(Open),
            Trans(Open, HalfOpen, Trigger::RecoveryTimeout),
            Trans(HalfOpen, Closed, Trigger::ProbeSucceeded),
            Success,
            Trans(Closed, ForcedOpen, Trigger::ForceOpen),
            Trans(ForcedOpen, ForcedClosed, Trigger::ForceClosed),
            Trans(ForcedClosed, Closed, Trigger::Reset),
            Ignored,
        ]
    );
    assert!(rec.0.lock().unwrap().iter().all(|e| e.0 == "db" && e.1.is_none()));
}

#[test]
fn closures_for_each_kind() {
    let counts: Arc<[AtomicU32; 5]> = Arc::new(Default::default());
    let c = |i: usize| {
        let counts = Arc::clone(&counts);
        move || {
            counts[i].fetch_add(1, Ordering::Relaxed);
        }
    };
    let (t, r, s, f, i) = (c(0), c(1), c(2), c(3), c(4));
    let db = Breaker::builder("db")
        .failure_threshold(1)
        .on_transition(move |_: &Source<'_>, _: &Transition| t())
        .on_rejected(move |_: &Source<'_>, _: &CircuitOpen| r())
        .on_success(move |_: &Source<'_>| s())
        .on_failure(move |_: &Source<'_>| f())
        .on_ignored(move |_: &Source<'_>| i())
        .build()
        .unwrap();
    db.call(|| Ok::<_, ()>(())).unwrap();
    let _ = db.call_with(|| Err::<(), _>(()), breaker_std::classify::failures_where(|_: &()| false));
    let _ = db.call(|| Err::<(), _>(()));
    let _ = db.call(|| Ok::<_, ()>(()));
    let got: Vec<u32> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    assert_eq!(got, [1, 1, 1, 1, 1]);
}

#[test]
fn exactly_once_under_concurrency() {
    let successes = Arc::new(AtomicU32::new(0));
    let failures = Arc::new(AtomicU32::new(0));
    let opens = Arc::new(AtomicU32::new(0));
    let (s, f, o) = (Arc::clone(&successes), Arc::clone(&failures), Arc::clone(&opens));
    let db = Arc::new(
        Breaker::builder("db")
            .failure_threshold(u16::MAX.into())
            .on_success(move |_: &Source<'_>| {
                s.fetch_add(1, Ordering::Relaxed);
            })
            .on_failure(move |_: &Source<'_>| {
                f.fetch_add(1, Ordering::Relaxed);
            })
            .on_transition(move |_: &Source<'_>, t: &Transition| {
                if t.to == State::Open {
                    o.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build()
            .unwrap(),
    );
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let db = Arc::clone(&db);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                for n in 0..1_000 {
                    let _ = db.call(|| if (n + i) % 3 == 0 { Err(()) } else { Ok(()) });
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let total = successes.load(Ordering::Relaxed) + failures.load(Ordering::Relaxed);
    assert_eq!(total, 4_000, "one outcome event per call");
    assert_eq!(opens.load(Ordering::Relaxed), 0);

    // Now many threads race to trip a low-threshold breaker: one opening, reported once.
    let opens = Arc::new(AtomicU32::new(0));
    let o = Arc::clone(&opens);
    let db = Arc::new(
        Breaker::builder("race")
            .failure_threshold(3)
            .on_transition(move |_: &Source<'_>, t: &Transition| {
                if t.to == State::Open {
                    o.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build()
            .unwrap(),
    );
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let db = Arc::clone(&db);
            thread::spawn(move || {
                for _ in 0..100 {
                    let _ = db.call(|| Err::<(), _>(()));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(opens.load(Ordering::Relaxed), 1);
}

#[test]
fn listeners_run_with_no_lock_held() {
    // Each listener re-enters the registry and the keyed family that called it: with a lock
    // held across the call, this would deadlock (std's RwLock is not reentrant for writers).
    let registry: Arc<Registry> = Arc::new(Registry::new());
    let slot: Arc<Mutex<Option<Arc<Keyed<String>>>>> = Arc::default();
    let calls = Arc::new(AtomicU32::new(0));
    let (r, s, c) = (Arc::clone(&registry), Arc::clone(&slot), Arc::clone(&calls));
    let api = Arc::new(
        Keyed::<String>::builder("api")
            .failure_threshold(1)
            .on_transition(move |src: &Source<'_>, _: &Transition| {
                // Creates a breaker (write lock) and reads health (read lock) of the registry.
                let b = r.breaker("from-listener").unwrap();
                b.call(|| Ok::<_, ()>(())).unwrap();
                let _ = r.health();
                // Creates another key (write lock) in the family that is notifying.
                let family = s.lock().unwrap().clone().unwrap();
                if src.key() == Some("/a") {
                    let _ = family.breaker("/b").unwrap().call(|| Ok::<_, ()>(()));
                }
                let _ = family.health();
                c.fetch_add(1, Ordering::Relaxed);
            })
            .build()
            .unwrap(),
    );
    *slot.lock().unwrap() = Some(Arc::clone(&api));
    let _ = api.breaker("/a").unwrap().call(|| Err::<(), _>("503"));
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(api.len(), 2);
    assert!(registry.get("from-listener").is_ok());
}

#[test]
fn a_panicking_listener_cannot_corrupt_the_breaker() {
    let clock = ManualClock::new();
    let after = Recorder::default();
    let ((), events) = common::capture(|| {
        let db = Breaker::builder("fragile")
            .failure_threshold(2)
            .clock(&clock)
            .on_transition(|_: &Source<'_>, _: &Transition| panic!("listener bug"))
            .on_failure(|_: &Source<'_>| panic!("listener bug"))
            .on_rejected(|_: &Source<'_>, _: &CircuitOpen| panic!("listener bug"))
            .on_success(|_: &Source<'_>| panic!("listener bug"))
            .listener(after.clone())
            .build()
            .unwrap();
        let _ = db.call(|| Err::<(), _>("x"));
        let _ = db.call(|| Err::<(), _>("x"));
        assert_eq!(db.state(), State::Open);
        assert!(db.call(|| Ok::<_, ()>(())).unwrap_err().is_open());
        clock.advance(Duration::from_secs(60));
        assert_eq!(db.call(|| Ok::<_, ()>(7)), Ok(7));
        assert_eq!(db.state(), State::Closed);
        // The breaker keeps working normally afterwards.
        let _ = db.call(|| Err::<(), _>("x"));
        assert_eq!(db.failure_count(), 1);
    });
    // The listener after the panicking ones saw every event.
    use Seen::*;
    assert_eq!(
        after.seen(),
        [
            Failure,
            Trans(State::Closed, State::Open, Trigger::FailureThreshold),
            Failure,
            Rejected(State::Open),
            Trans(State::Open, State::HalfOpen, Trigger::RecoveryTimeout),
            Trans(State::HalfOpen, State::Closed, Trigger::ProbeSucceeded),
            Success,
            Failure,
        ]
    );
    let warnings =
        events.iter().filter(|e| e.level == Level::WARN && e.message.contains("listener panicked")).count();
    // 3 failures + 3 transitions + 1 rejection + 1 success with a panicking listener each.
    assert_eq!(warnings, 8);
}

#[test]
fn keyed_events_carry_the_key() {
    let rec = Recorder::default();
    let api = Keyed::<String>::builder("api").listener(rec.clone()).build().unwrap();
    api.breaker("/users").unwrap().call(|| Ok::<_, ()>(())).unwrap();
    let e = rec.0.lock().unwrap()[0].clone();
    assert_eq!((e.0.as_str(), e.1.as_deref(), e.2), ("api", Some("/users"), Seen::Success));
}

#[test]
fn registry_listeners_see_every_breaker() {
    let rec = Recorder::default();
    let registry = Registry::builder().listener(rec.clone()).build().unwrap();
    registry.breaker("a").unwrap().call(|| Ok::<_, ()>(())).unwrap();
    let _ = registry.breaker("b").unwrap().call(|| Err::<(), _>(()));
    let names: Vec<_> = rec.0.lock().unwrap().iter().map(|e| e.0.clone()).collect();
    assert_eq!(names, ["a", "b"]);
}
