//! Clock sources for `breaker-std`, measured side by side.
//!
//! Run with `cargo bench -p breaker-benches --bench clocks`.
//!
//! Group `clocks` (single thread), one reading per iteration, converted to the milliseconds a
//! breaker needs where the source does not give them directly:
//!
//! - `std_instant_now`: `std::time::Instant::now()` (on Linux: vDSO `CLOCK_MONOTONIC`).
//! - `std_instant_elapsed_ms`: milliseconds since a start `Instant`, what `MonotonicClock` does.
//! - `rustix_monotonic_coarse_ms`: `clock_gettime(CLOCK_MONOTONIC_COARSE)` via rustix (vDSO, no
//!   hardware counter read; resolution one kernel tick), in ms.
//! - `quanta_now`: `quanta::Instant::now()` (TSC read and scaling).
//! - `quanta_recent`: `quanta::Instant::recent()` with quanta's upkeep thread running (one load).
//! - `breaker_std_monotonic` / `breaker_std_coarse`: the two clocks `breaker-std` ships.

use core::hint::black_box;
use std::time::{Duration, Instant};

use breaker_core::Clock;
use criterion::{criterion_main, Criterion};
use rustix::time::{clock_gettime, ClockId};

fn clocks(c: &mut Criterion) {
    let mut g = c.benchmark_group("clocks");
    g.bench_function("std_instant_now", |b| b.iter(|| black_box(Instant::now())));
    let start = Instant::now();
    g.bench_function("std_instant_elapsed_ms", |b| {
        b.iter(|| black_box(black_box(start).elapsed().as_millis() as u64))
    });
    g.bench_function("rustix_monotonic_coarse_ms", |b| {
        b.iter(|| {
            let t = clock_gettime(ClockId::MonotonicCoarse);
            black_box(t.tv_sec as u64 * 1_000 + t.tv_nsec as u64 / 1_000_000)
        })
    });
    let clock = quanta::Clock::new();
    g.bench_function("quanta_now", |b| b.iter(|| black_box(clock.now())));
    let upkeep = quanta::Upkeep::new(Duration::from_millis(1)).start().expect("quanta upkeep thread");
    g.bench_function("quanta_recent", |b| b.iter(|| black_box(clock.recent())));
    drop(upkeep);
    let monotonic = breaker_std::MonotonicClock::new();
    g.bench_function("breaker_std_monotonic", |b| b.iter(|| black_box(black_box(&monotonic).now())));
    let coarse = breaker_std::CoarseClock::new();
    g.bench_function("breaker_std_coarse", |b| b.iter(|| black_box(black_box(&coarse).now())));
    g.finish();
}

/// The generated group function is `pub`; this module keeps `missing_docs` quiet about it.
#[allow(missing_docs)]
mod groups {
    criterion::criterion_group! {
        name = benches;
        config = criterion::Criterion::default()
            .warm_up_time(core::time::Duration::from_millis(500))
            .measurement_time(core::time::Duration::from_secs(2));
        targets = super::clocks
    }
}

criterion_main!(groups::benches);
