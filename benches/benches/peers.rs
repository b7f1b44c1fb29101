//! `breaker-std` against other circuit-breaker crates, side by side in one run.
//!
//! Run with `cargo bench -p breaker-benches --bench peers`.
//!
//! Group `peers`. Every subject runs the same closures (`ok_call` / `err_call`, returning
//! `Result<u64, BenchError>`; `BenchError` implements `std::error::Error` because
//! circuitbreaker-rs requires it) through its own `call`:
//!
//! - `baseline/direct_call`: `ok_call` without a breaker.
//! - `baseline/atomic_load`, `baseline/atomic_load_2t`: one `Acquire` load of a shared
//!   `AtomicU64`, alone and on two threads at once: the floor for any breaker that reads shared
//!   state on every call.
//! - `*/closed_success`: a CLOSED breaker, the call succeeds.
//! - `*/closed_failure`: a CLOSED breaker configured never to trip, the call fails.
//! - `*/open_reject`: an OPEN breaker whose recovery timeout (1 h) has not passed.
//! - `*/closed_success_2t`, `*/open_reject_2t`: two threads share one breaker; each makes
//!   `iters` calls after a barrier and times its own loop; the figure is the slower thread's
//!   time divided by `iters` (ns per call per thread while both run).
//!
//! Subjects: `breaker` (`breaker_std::Breaker` as built by default, on its `CoarseClock`),
//! `breaker_monotonic` (the same on `MonotonicClock`, `std::time::Instant`; rejection rows only,
//! the only rows that read the clock), `failsafe` (consecutive-failures policy,
//! constant backoff), `recloser` (ring-buffer failure rate), `circuitbreaker_rs` (default
//! policy). Configurations that "never trip" use each crate's own knobs: a threshold above any
//! reachable count or rate.

use core::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_main, BenchmarkGroup, Criterion};

mod common;
use common::{consume, two_threads};

/// The error every subject's failing call returns.
#[derive(Debug)]
struct BenchError;

impl core::fmt::Display for BenchError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("bench error")
    }
}

impl std::error::Error for BenchError {}

#[inline(always)]
fn ok_call() -> Result<u64, BenchError> {
    Ok(black_box(1))
}

#[inline(always)]
fn err_call() -> Result<u64, BenchError> {
    black_box(Err(BenchError))
}

/// A recovery timeout no benchmark reaches.
const NEVER: Duration = Duration::from_secs(3_600);

/// One breaker crate under test.
trait Subject: Sync + Sized {
    /// A CLOSED breaker that failures never trip.
    fn closed() -> Self;
    /// An OPEN breaker that stays open for the whole run.
    fn open() -> Self;
    fn call_ok(&self);
    fn call_err(&self);
    /// Called outside the timed loop every `RESET_EVERY` failures, for subjects whose
    /// failure count is bounded (ours: 65 535).
    fn keep_closed(&self) {}
    fn is_open(&self) -> bool;
}

/// `closed_failure` calls `keep_closed` after this many failures.
const RESET_EVERY: u64 = 60_000;

struct Ours<C: breaker_core::Clock>(breaker_std::Breaker<C>);

impl<C: breaker_core::Clock + Sync + Send + Default> Subject for Ours<C> {
    fn closed() -> Self {
        Ours(
            breaker_std::Breaker::builder("bench")
                .failure_threshold(breaker_core::limits::MAX_FAILURE_THRESHOLD)
                .clock(C::default())
                .build()
                .expect("valid config"),
        )
    }
    fn open() -> Self {
        let b = breaker_std::Breaker::builder("bench")
            .failure_threshold(1)
            .recovery_timeout(NEVER)
            .clock(C::default())
            .build()
            .expect("valid config");
        let _ = b.call(err_call);
        Ours(b)
    }
    #[inline(always)]
    fn call_ok(&self) {
        consume(self.0.call(ok_call));
    }
    #[inline(always)]
    fn call_err(&self) {
        consume(self.0.call(err_call));
    }
    fn keep_closed(&self) {
        self.0.reset();
    }
    fn is_open(&self) -> bool {
        self.0.state().rejects_calls()
    }
}

struct Failsafe(
    failsafe::StateMachine<failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>, ()>,
);

impl Failsafe {
    fn with(n: u32) -> Self {
        let policy = failsafe::failure_policy::consecutive_failures(n, failsafe::backoff::constant(NEVER));
        Failsafe(failsafe::Config::new().failure_policy(policy).build())
    }
}

impl Subject for Failsafe {
    fn closed() -> Self {
        Failsafe::with(u32::MAX)
    }
    fn open() -> Self {
        let f = Failsafe::with(1);
        f.call_err();
        f
    }
    #[inline(always)]
    fn call_ok(&self) {
        use failsafe::CircuitBreaker;
        consume(self.0.call(ok_call));
    }
    #[inline(always)]
    fn call_err(&self) {
        use failsafe::CircuitBreaker;
        consume(self.0.call(err_call));
    }
    fn is_open(&self) -> bool {
        !self.0.is_call_permitted()
    }
}

struct Recloser(recloser::Recloser);

impl Subject for Recloser {
    fn closed() -> Self {
        // A failure rate is at most 1.0, so a threshold of 2.0 never trips.
        Recloser(recloser::Recloser::custom().error_rate(2.0).build())
    }
    fn open() -> Self {
        let r = Recloser(recloser::Recloser::custom().closed_len(1).error_rate(0.5).open_wait(NEVER).build());
        // The ring buffer reports a rate only once it is full and one more call arrives.
        r.call_err();
        r.call_err();
        r
    }
    #[inline(always)]
    fn call_ok(&self) {
        consume(self.0.call(ok_call));
    }
    #[inline(always)]
    fn call_err(&self) {
        consume(self.0.call(err_call));
    }
    fn is_open(&self) -> bool {
        matches!(self.0.call(ok_call), Err(recloser::Error::Rejected))
    }
}

struct CircuitbreakerRs(circuitbreaker_rs::CircuitBreaker<circuitbreaker_rs::DefaultPolicy, BenchError>);

impl Subject for CircuitbreakerRs {
    fn closed() -> Self {
        CircuitbreakerRs(
            circuitbreaker_rs::CircuitBreaker::<circuitbreaker_rs::DefaultPolicy, BenchError>::builder()
                .failure_threshold(2.0)
                .min_throughput(u64::MAX)
                .consecutive_failures(u64::MAX)
                .cooldown(NEVER)
                .build(),
        )
    }
    fn open() -> Self {
        let c = CircuitbreakerRs(
            circuitbreaker_rs::CircuitBreaker::<circuitbreaker_rs::DefaultPolicy, BenchError>::builder()
                .consecutive_failures(1)
                .cooldown(NEVER)
                .build(),
        );
        c.call_err();
        c
    }
    #[inline(always)]
    fn call_ok(&self) {
        consume(self.0.call(ok_call));
    }
    #[inline(always)]
    fn call_err(&self) {
        consume(self.0.call(err_call));
    }
    fn is_open(&self) -> bool {
        self.0.current_state() == circuitbreaker_rs::State::Open
    }
}

fn bench_subject<S: Subject>(g: &mut BenchmarkGroup<'_, WallTime>, id: &str, closed_rows: bool) {
    if closed_rows {
        let s = S::closed();
        g.bench_function(format!("{id}/closed_success"), |b| b.iter(|| black_box(&s).call_ok()));
        let s = S::closed();
        g.bench_function(format!("{id}/closed_failure"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(RESET_EVERY);
                    s.keep_closed();
                    let start = Instant::now();
                    for _ in 0..n {
                        black_box(&s).call_err();
                    }
                    total += start.elapsed();
                    left -= n;
                }
                total
            })
        });
        assert!(!s.is_open(), "{id}: closed_failure tripped the breaker");
        let s = S::closed();
        g.bench_function(format!("{id}/closed_success_2t"), |b| {
            b.iter_custom(|iters| two_threads(iters, || black_box(&s).call_ok()))
        });
    }
    let s = S::open();
    assert!(s.is_open(), "{id}: not open");
    g.bench_function(format!("{id}/open_reject"), |b| b.iter(|| black_box(&s).call_ok()));
    g.bench_function(format!("{id}/open_reject_2t"), |b| {
        b.iter_custom(|iters| two_threads(iters, || black_box(&s).call_ok()))
    });
    assert!(s.is_open(), "{id}: closed during the run");
}

fn peers(c: &mut Criterion) {
    let mut g = c.benchmark_group("peers");
    g.bench_function("baseline/direct_call", |b| b.iter(|| consume(ok_call())));
    // The floor for any breaker that reads shared state: one load of a shared atomic, alone and
    // with two threads loading the same word.
    let word = AtomicU64::new(0);
    g.bench_function("baseline/atomic_load", |b| {
        b.iter(|| consume(black_box(&word).load(Ordering::Acquire)))
    });
    g.bench_function("baseline/atomic_load_2t", |b| {
        b.iter_custom(|iters| two_threads(iters, || consume(black_box(&word).load(Ordering::Acquire))))
    });
    bench_subject::<Ours<breaker_std::CoarseClock>>(&mut g, "breaker", true);
    bench_subject::<Ours<breaker_std::MonotonicClock>>(&mut g, "breaker_monotonic", false);
    bench_subject::<Failsafe>(&mut g, "failsafe", true);
    bench_subject::<Recloser>(&mut g, "recloser", true);
    bench_subject::<CircuitbreakerRs>(&mut g, "circuitbreaker_rs", true);
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
        targets = super::peers
    }
}

criterion_main!(groups::benches);
