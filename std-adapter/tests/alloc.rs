//! No allocation per call on any path: closed success, closed failure, open rejection,
//! half-open probe (success and failure), with listeners attached, for a named breaker and a
//! keyed family's existing key. A counting global allocator, in its own test binary with a
//! single test so nothing else allocates meanwhile.
#![allow(clippy::std_instead_of_core)]

use std::alloc::System;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breaker_core::{CircuitOpen, ManualClock, State, Transition};
use breaker_std::{Breaker, Keyed, Source};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations made while `f` runs: the fewest over five runs. The allocator is global, so a
/// rare allocation by another thread (the test harness) can land in a run; an allocation per
/// call would show in every run.
fn allocations(f: impl Fn()) -> usize {
    (0..5)
        .map(|_| {
            let region = Region::new(GLOBAL);
            f();
            region.change().allocations
        })
        .min()
        .unwrap_or(usize::MAX)
}

#[test]
fn no_allocation_per_call_on_any_path() {
    static CLOCK: ManualClock = ManualClock::new();
    let events = Arc::new(AtomicU64::new(0));
    let e = [0; 5].map(|_| Arc::clone(&events));
    let [e0, e1, e2, e3, e4] = e;
    let db = Breaker::builder("alloc")
        .failure_threshold(3)
        .recovery_timeout(Duration::from_secs(10))
        .clock(&CLOCK)
        .on_transition(move |_: &Source<'_>, _: &Transition| {
            e0.fetch_add(1, Ordering::Relaxed);
        })
        .on_rejected(move |_: &Source<'_>, _: &CircuitOpen| {
            e1.fetch_add(1, Ordering::Relaxed);
        })
        .on_success(move |_: &Source<'_>| {
            e2.fetch_add(1, Ordering::Relaxed);
        })
        .on_failure(move |_: &Source<'_>| {
            e3.fetch_add(1, Ordering::Relaxed);
        })
        .on_ignored(move |_: &Source<'_>| {
            e4.fetch_add(1, Ordering::Relaxed);
        })
        .build()
        .unwrap();

    let cycle = |db: &Breaker<&ManualClock>| {
        // closed success, closed failure (below the threshold), success clearing failures
        db.call(|| Ok::<_, u32>(1)).unwrap();
        let _ = db.call(|| Err::<u32, _>(7));
        db.call(|| Ok::<_, u32>(1)).unwrap();
        // trip, then open rejections
        for _ in 0..3 {
            let _ = db.call(|| Err::<u32, _>(7));
        }
        assert_eq!(db.state(), State::Open);
        for _ in 0..3 {
            assert!(db.call(|| Ok::<_, u32>(1)).unwrap_err().is_open());
        }
        // half-open probe that fails, then one that succeeds
        CLOCK.advance(Duration::from_secs(10));
        let _ = db.call(|| Err::<u32, _>(7));
        assert_eq!(db.state(), State::Open);
        CLOCK.advance(Duration::from_secs(10));
        db.call(|| Ok::<_, u32>(1)).unwrap();
        assert_eq!(db.state(), State::Closed);
        // ignored, manual control
        let _ = db.call_with(|| Err::<u32, _>(7), breaker_std::classify::failures_where(|_: &_| false));
        db.force_open();
        let _ = db.call(|| Ok::<_, u32>(1));
        db.reset();
    };

    // Warm-up: lazily initialized statics (tracing callsites, metric handles) allocate once.
    cycle(&db);
    let n = allocations(|| {
        for _ in 0..100 {
            cycle(&db);
        }
    });
    assert_eq!(n, 0, "allocations in 100 full cycles");
    assert!(events.load(Ordering::Relaxed) > 1_000);

    // One path at a time, for a clear failure message.
    let paths: [(&str, &dyn Fn()); 3] = [
        ("closed success", &|| {
            db.call(|| Ok::<_, u32>(1)).unwrap();
        }),
        ("closed failure", &|| {
            let _ = db.call(|| Err::<u32, _>(7));
            db.call(|| Ok::<_, u32>(1)).unwrap();
        }),
        ("open reject", &|| {
            db.force_open();
            let _ = db.call(|| Ok::<_, u32>(1));
            db.reset();
        }),
    ];
    for (name, path) in paths {
        path();
        assert_eq!(allocations(|| (0..1_000).for_each(|_| path())), 0, "{name}");
    }

    // A keyed family: an existing key costs no allocation either.
    let api = Keyed::<String>::builder("alloc-api").failure_threshold(3).clock(&CLOCK).build().unwrap();
    api.breaker("/users").unwrap().call(|| Ok::<_, u32>(1)).unwrap();
    let _ = api.breaker("/users").unwrap().call(|| Err::<u32, _>(1));
    let n = allocations(|| {
        for _ in 0..1_000 {
            api.breaker("/users").unwrap().call(|| Ok::<_, u32>(1)).unwrap();
            let _ = api.breaker("/users").unwrap().call(|| Err::<u32, _>(1));
        }
    });
    assert_eq!(n, 0, "keyed family, existing key");
}
