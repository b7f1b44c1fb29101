//! Hot-path benchmarks for `breaker-core`.
//!
//! Run with `cargo bench -p breaker-benches --bench hot_path`.
//!
//! Group `hot_path` (single thread):
//!
//! - Baselines: `direct_call` (the same closure the breaker benches run, called directly),
//!   `atomic_load` (an `Acquire` load of an `AtomicU64`), `atomic_cas` (a successful
//!   `compare_exchange`), `clock_now` (`ManualClock::now`), `std_instant_now`
//!   (`std::time::Instant::now`).
//! - `closed_success`: `Breaker::call` returning `Ok` on a CLOSED breaker with no failures.
//! - `closed_failure`: `Breaker::call` returning `Err` on a CLOSED breaker that never trips.
//! - `open_reject`: `Breaker::call` on an OPEN breaker whose recovery timeout has not passed.
//! - `half_open_probe`: one whole OPEN → HALF_OPEN → OPEN cycle per iteration (see below).
//! - `half_open_reject`: `Breaker::call` on a HALF_OPEN breaker whose one probe slot is taken.
//!
//! Group `contended_2t`: two threads hammer one shared value (`atomic_load`; `shared_cas`, a
//! CAS-increment loop on one word) or one shared breaker (`closed_success`, `open_reject`;
//! `closed_failure`, failures on a breaker that never trips, one success in 1 000; `mixed_1pct`,
//! one failure in 100 calls). Each thread makes `iters` calls after a barrier
//! and times its own loop; the figure reported is the **slower thread's** elapsed time divided
//! by `iters`, i.e. nanoseconds per call per thread while both threads run. `atomic_cas` there
//! is each thread's compare-and-swap on a word of its own cache line: the floor for a call that
//! records itself with one atomic read-modify-write (`rate_time_success`, whose stripes give
//! each thread its own buckets).

use core::hint::black_box;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::time::Instant;

use breaker_core::limits::MAX_FAILURE_THRESHOLD;
use breaker_core::{Breaker, Clock, Config, ManualClock, RateConfig, RateRule, Window};
use criterion::{criterion_main, Criterion};

mod common;
use common::{consume, two_threads, two_threads_indexed};

/// The closure every breaker bench runs on success, and `direct_call` runs bare.
#[inline(always)]
fn ok_call() -> Result<u64, u32> {
    Ok(black_box(1))
}

/// The failing closure.
#[inline(always)]
fn err_call() -> Result<u64, u32> {
    Err(black_box(1))
}

/// `closed_failure` resets its breaker (outside the timed region) after this many failures, so
/// the failure count stays below [`MAX_FAILURE_THRESHOLD`] and the breaker never trips.
const RESET_EVERY: u64 = 60_000;

/// A recovery timeout no benchmark ever reaches: the manual clock is never advanced.
const NEVER: Duration = Duration::from_secs(3_600);

fn closed_breaker() -> Breaker<ManualClock> {
    Breaker::try_new("bench", Config::new(), ManualClock::new()).expect("valid config")
}

/// A breaker tripped open at t = 0 that stays open (its clock never moves).
fn open_breaker() -> Breaker<ManualClock> {
    let config = Config::new().failure_threshold(1).recovery_timeout(NEVER);
    let breaker = Breaker::try_new("bench", config, ManualClock::new()).expect("valid config");
    assert!(breaker.call(err_call).is_err());
    assert!(breaker.try_acquire().is_err(), "breaker must be open");
    breaker
}

fn hot_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("hot_path");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));

    // ---- baselines ----
    g.bench_function("direct_call", |b| {
        // The same closure `closed_success` runs, called directly (inlined, its `Ok` payload
        // black-boxed): the floor for any wrapper.
        b.iter(|| consume(ok_call()));
    });

    g.bench_function("atomic_load", |b| {
        let a = AtomicU64::new(0);
        b.iter(|| consume(black_box(&a).load(Ordering::Acquire)));
    });

    g.bench_function("atomic_cas", |b| {
        let a = AtomicU64::new(0);
        let mut expected = 0u64;
        b.iter(|| {
            // Always succeeds: `expected` tracks the value this thread last stored.
            let r =
                black_box(&a).compare_exchange(expected, expected + 1, Ordering::AcqRel, Ordering::Acquire);
            expected += 1;
            consume(r);
        });
        assert_eq!(a.load(Ordering::Relaxed), expected, "every CAS succeeded");
    });

    g.bench_function("clock_now", |b| {
        let clock = ManualClock::new();
        b.iter(|| consume(black_box(&clock).now()));
    });

    g.bench_function("std_instant_now", |b| {
        b.iter(|| consume(Instant::now()));
    });

    // ---- breaker ----
    g.bench_function("closed_success", |b| {
        let breaker = closed_breaker();
        b.iter(|| consume(black_box(&breaker).call(ok_call)));
        assert_eq!(breaker.failure_count(), 0);
    });

    // Every failure is one load (admission, whatever the failure count) and one CAS on the word
    // (failure count + 1), no clock read (`call_with`'s closed-state fast path, `record_closed`). The breaker's threshold is the largest accepted, and
    // it is reset every `RESET_EVERY` failures outside the timed region, so no measured call
    // trips it.
    g.bench_function("closed_failure", |b| {
        let config = Config::new().failure_threshold(MAX_FAILURE_THRESHOLD);
        let breaker = Breaker::try_new("bench", config, ManualClock::new()).expect("valid config");
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            let mut last = 0;
            while left > 0 {
                let n = left.min(RESET_EVERY);
                last = n;
                breaker.reset();
                let start = Instant::now();
                for _ in 0..n {
                    consume(black_box(&breaker).call(err_call));
                }
                total += start.elapsed();
                left -= n;
            }
            assert_eq!(u64::from(breaker.failure_count()), last, "never tripped");
            total
        });
    });

    // Rejection in OPEN before the recovery timeout: load, clock read, no store.
    g.bench_function("open_reject", |b| {
        let breaker = open_breaker();
        b.iter(|| consume(black_box(&breaker).call(ok_call)));
        assert!(breaker.try_acquire().is_err(), "still open");
    });

    // Rejection in HALF_OPEN with the one probe slot taken (the probe admitted before the
    // timed loop and never settled) and no probe timeout: what every request but the probe meets
    // while a slow probe runs. Load, config read, no clock, no store.
    g.bench_function("half_open_reject", |b| {
        let config = Config::new().failure_threshold(1).recovery_timeout(Duration::from_millis(1));
        let breaker = Breaker::try_new("bench", config, ManualClock::new()).expect("valid config");
        assert!(breaker.call(err_call).is_err());
        breaker.clock().advance(Duration::from_millis(1));
        let probe = breaker.try_acquire().expect("the probe is admitted");
        b.iter(|| consume(black_box(&breaker).call(ok_call)));
        assert_eq!(breaker.state(), breaker_core::State::HalfOpen, "still half-open");
        drop(probe);
    });

    // One full half-open cycle per iteration, on a breaker with a 1 ms recovery timeout and
    // the default config otherwise (no backoff, no jitter, one probe):
    //   1. `clock.advance(1 ms)`: one atomic RMW (fetch_add) on the manual clock, so the
    //      recovery timeout has just passed;
    //   2. `try_acquire()`: load, clock read, CAS OPEN → HALF_OPEN (the probe permit), plus
    //      whatever bookkeeping the core does on that transition (the phase-stamp store);
    //   3. `permit.failure()`: clock read (and phase-stamp read), CAS HALF_OPEN → OPEN,
    //      re-opened and stamped "now", so the next iteration's bump re-admits a probe.
    // So the figure is the cost of admitting and failing one probe, clock bump included, with
    // no call run in between. Single-threaded, so every CAS succeeds first time.
    g.bench_function("half_open_probe", |b| {
        let config = Config::new().failure_threshold(1).recovery_timeout(Duration::from_millis(1));
        let breaker = Breaker::try_new("bench", config, ManualClock::new()).expect("valid config");
        assert!(breaker.call(err_call).is_err());
        let step = Duration::from_millis(1);
        b.iter(|| {
            let breaker = black_box(&breaker);
            breaker.clock().advance(step);
            match breaker.try_acquire() {
                Ok(permit) => {
                    debug_assert!(permit.is_probe());
                    permit.failure();
                }
                Err(open) => panic!("probe not admitted: {open}"),
            }
        });
        assert!(breaker.try_acquire().is_err(), "re-opened by the last probe");
    });

    g.finish();
}

fn contended_2t(c: &mut Criterion) {
    let mut g = c.benchmark_group("contended_2t");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));

    g.bench_function("atomic_load", |b| {
        let a = AtomicU64::new(0);
        b.iter_custom(|iters| {
            two_threads(iters, || {
                consume(black_box(&a).load(Ordering::Acquire));
            })
        });
    });

    g.bench_function("closed_success", |b| {
        let breaker = closed_breaker();
        b.iter_custom(|iters| {
            two_threads(iters, || {
                consume(black_box(&breaker).call(ok_call));
            })
        });
        assert_eq!(breaker.failure_count(), 0);
    });

    g.bench_function("open_reject", |b| {
        let breaker = open_breaker();
        b.iter_custom(|iters| {
            two_threads(iters, || {
                consume(black_box(&breaker).call(ok_call));
            })
        });
        assert!(breaker.try_acquire().is_err(), "still open");
    });

    // The floor of `closed_failure` below: both threads increment one shared word with a
    // compare-and-swap loop (load, CAS, retry on a lost race).
    g.bench_function("shared_cas", |b| {
        let a = AtomicU64::new(0);
        b.iter_custom(|iters| {
            two_threads(iters, || {
                let a = black_box(&a);
                let mut cur = a.load(Ordering::Relaxed);
                while let Err(actual) =
                    a.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire)
                {
                    cur = actual;
                }
            })
        });
    });

    // Both threads fail on one breaker that never trips: the largest threshold, and one call in
    // `FAILURE_BATCH` succeeds (which clears the pending failures, at most about
    // 2 × `FAILURE_BATCH` of them). Each failure is a load and a CAS on the shared word.
    g.bench_function("closed_failure", |b| {
        let config = Config::new().failure_threshold(MAX_FAILURE_THRESHOLD);
        let breaker = Breaker::try_new("bench", config, ManualClock::new()).expect("valid config");
        b.iter_custom(|iters| {
            batched(iters, FAILURE_BATCH, |calls| {
                two_threads(calls, || {
                    let breaker = black_box(&breaker);
                    for _ in 1..FAILURE_BATCH {
                        consume(breaker.call(err_call));
                    }
                    consume(breaker.call(ok_call));
                })
            })
        });
        assert_eq!(breaker.state(), breaker_core::State::Closed, "never tripped");
    });

    // One call in a hundred fails: the failure and the success after it (which clears it) are
    // each a CAS on the shared word, the other 98 calls one load.
    g.bench_function("mixed_1pct", |b| {
        let config = Config::new().failure_threshold(MAX_FAILURE_THRESHOLD);
        let breaker = Breaker::try_new("bench", config, ManualClock::new()).expect("valid config");
        b.iter_custom(|iters| {
            batched(iters, 100, |calls| {
                two_threads(calls, || {
                    let breaker = black_box(&breaker);
                    consume(breaker.call(err_call));
                    for _ in 1..100 {
                        consume(breaker.call(ok_call));
                    }
                })
            })
        });
        assert_eq!(breaker.state(), breaker_core::State::Closed, "never tripped");
    });

    g.finish();
}

/// Calls per batch in `contended_2t/closed_failure`: all fail but the last.
const FAILURE_BATCH: u64 = 1_000;

/// Runs `iters` calls as whole batches of `batch` calls (`run(batches)` times them, one batch
/// per iteration of its loop) and scales the time to `iters` calls, so the figure stays per call.
fn batched(iters: u64, batch: u64, run: impl FnOnce(u64) -> Duration) -> Duration {
    let batches = iters.div_ceil(batch).max(1);
    let elapsed = run(batches);
    elapsed.mul_f64(iters as f64 / (batches * batch) as f64)
}

/// The rate rule of these benches: 60 % failures over at least 20 calls. Successes never trip
/// it, nor does the failure bench, which keeps the window at 50 %.
fn rule() -> RateRule {
    RateConfig::new(600, 20).validate().expect("valid rule")
}

/// Count window: the last 1 000 calls in 10 buckets of 100.
fn rate_count() -> Breaker<ManualClock, (), Window<10>> {
    let window = Window::count(100, rule()).expect("valid window");
    Breaker::with_policy("bench", Config::new().validate().expect("valid"), ManualClock::new(), (), window)
}

/// A clock that moves on by 1 ms every 1 000 readings, counted per thread (no shared write):
/// a time window then rolls a bucket every 1 000 calls, as at 1 000 calls per bucket width in
/// production. On a clock that stands still every call would land in one bucket, which stops
/// counting at `BUCKET_CAPACITY`: the bench would measure a saturated bucket, not a record.
#[derive(Clone, Copy, Default)]
struct TickClock;

thread_local! {
    static TICKS: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
}

impl Clock for TickClock {
    #[inline]
    fn now(&self) -> breaker_core::Timestamp {
        let t = TICKS.with(|t| {
            let n = t.get() + 1;
            t.set(n);
            n
        });
        breaker_core::Timestamp::from_millis(t / 1_000)
    }
}

/// Time window: the last 10 ms in 10 buckets of 1 ms, 4 stripes for contending threads, on the
/// tick clock (about 1 000 calls per bucket).
fn rate_time() -> Breaker<TickClock, (), Window<10, 4>> {
    let window = Window::time(Duration::from_millis(1), rule()).expect("valid window");
    Breaker::with_policy("bench", Config::new().validate().expect("valid"), TickClock, (), window)
}

/// Rate policies: every outcome is recorded in the window (one CAS on the current bucket; the
/// head moves once per bucket); a success is evaluated only when it can change the decision
/// (the window moved, or has not yet held `min_calls` calls). The clock is the manual clock (one
/// atomic load), as in `hot_path/clock_now`.
fn policies(c: &mut Criterion) {
    let mut g = c.benchmark_group("policies");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));

    g.bench_function("rate_count_success", |b| {
        let breaker = rate_count();
        b.iter(|| consume(black_box(&breaker).call(ok_call)));
    });
    g.bench_function("rate_time_success", |b| {
        let breaker = rate_time();
        b.iter(|| consume(black_box(&breaker).call(ok_call)));
    });
    // A failure also sums the window (it might trip): 10 buckets here. One iteration is a
    // failure and a success, which keeps the window at 50 %, below the 60 % threshold.
    g.bench_function("rate_count_failure_and_success", |b| {
        let breaker = rate_count();
        b.iter(|| {
            consume(black_box(&breaker).call(err_call));
            consume(black_box(&breaker).call(ok_call));
        });
        assert_eq!(breaker.state(), breaker_core::State::Closed);
    });
    // Slow-call tracking: the permit reads the clock at admission and at the verdict.
    g.bench_function("slow_call_success", |b| {
        let rule = RateConfig::new(600, 20)
            .slow_calls(Duration::from_secs(1), 1000, false)
            .validate()
            .expect("valid rule");
        let window: Window<10> = Window::count(100, rule).expect("valid window");
        let breaker = Breaker::with_policy(
            "bench",
            Config::new().validate().expect("valid"),
            ManualClock::new(),
            (),
            window,
        );
        b.iter(|| consume(black_box(&breaker).call(ok_call)));
    });
    g.finish();
}

fn contended_policies(c: &mut Criterion) {
    let mut g = c.benchmark_group("contended_2t");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    // The floor of any design that records each call with one atomic read-modify-write: each
    // thread's successful compare-and-swap on a word of its own cache line, both at once.
    g.bench_function("atomic_cas", |b| {
        #[repr(align(128))]
        struct Line(AtomicU64);
        let lines = [Line(AtomicU64::new(0)), Line(AtomicU64::new(0))];
        b.iter_custom(|iters| {
            two_threads_indexed(iters, |i| {
                let a = &black_box(&lines)[i].0;
                let cur = a.load(Ordering::Relaxed);
                consume(a.compare_exchange(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire));
            })
        });
    });
    g.bench_function("rate_time_success", |b| {
        let breaker = rate_time();
        b.iter_custom(|iters| {
            two_threads(iters, || {
                consume(black_box(&breaker).call(ok_call));
            })
        });
    });
    g.finish();
}

/// The generated group function is `pub`; this module keeps `missing_docs` quiet about it.
#[allow(missing_docs)]
mod groups {
    criterion::criterion_group!(
        benches,
        super::hot_path,
        super::contended_2t,
        super::policies,
        super::contended_policies
    );
}

criterion_main!(groups::benches);
