//! Instructions per call, counted by callgrind through gungraun: exact and independent of how
//! busy the machine is, so `ci/instructions.sh` can fail a change that makes any of our paths
//! more than 2 % more expensive than its committed baseline (`benches/baselines/instructions.json`).
//!
//! Run with `bash ci/instructions.sh` (installs `gungraun-runner` at this crate's gungraun
//! version, runs this bench, prints the table, compares), or directly with
//! `cargo bench -p breaker-benches --bench instructions` once `gungraun-runner` is on `PATH`.
//!
//! Every benchmark makes [`CALLS`] calls of one path in a loop on a subject prepared by its setup
//! function (not counted): the figure per call is the benchmark's instruction count divided by
//! [`CALLS`], the loop's own instructions included (`baseline/direct_call` is that loop around
//! the bare closure: the floor). Calls go through the public API the way users write them
//! (`breaker.call(op)`), the breaker behind a `black_box`, the closures' values black-boxed.
//!
//! Groups (paths) and their subjects (bench ids):
//!
//! - `closed_success`, `closed_failure` (a breaker that never trips), `open_reject` (an OPEN
//!   breaker whose recovery timeout does not pass): `core` (`breaker_core::Breaker` on
//!   `ManualClock`), `std` (`breaker_std::Breaker` as built by default: `CoarseClock`, no
//!   listeners), and the peers `failsafe` (consecutive failures), `recloser` (its ring-buffer
//!   failure rate), `circuitbreaker_rs` (default policy).
//! - `half_open_probe`: the recovery timeout passes (`ManualClock::advance`, one atomic add),
//!   the next call is the probe, it fails and re-opens the breaker: `core`, and `std` on
//!   `ManualClock` (the adapter's own work on that path; its default clock cannot be moved on
//!   deterministically). The peers read `Instant::now` and need wall-clock time to pass, so they
//!   have no deterministic row here.
//! - `half_open_reject`: HALF_OPEN with its one probe admitted by the setup and still in
//!   flight, every call rejected (what the other requests meet while a slow probe runs): `core`
//!   and `std`, both on `ManualClock`.
//! - `permit_success`, `permit_timed_success`: a closed success through a permit
//!   (`try_acquire`, then `record`), what the tower layer and `call_async` do; `timed` with the
//!   abandoned-call rule on, so every admission reads the clock (`ManualClock` for the core, the
//!   default clock for `std`). `core` and `std`.
//! - `rate_success`, `rate_failure`: a count window over the last 2 000 calls (10 buckets of
//!   200), 60 % failures over at least 20 calls, filled with 2 000 successes by the setup; then
//!   1 000 successes, or 1 000 failures (the window ends at 50 %: never trips). `core`, `std`
//!   (default clock), and `recloser` (its ring buffer over 2 000 calls, the same rule).
//! - `tower_request`: `poll_ready` + `call` + polling the response future to completion, over a
//!   `service_fn` that answers at once, on a no-op waker and no runtime: `bare` (the service
//!   alone), `breaker_layer` (breaker-tokio's layer, breaker held as an `Arc`, closed success),
//!   `breaker_layer_static` (the same breaker as a `&'static`, as the registry hands it out),
//!   `tower_resilience`
//!   (tower-resilience-circuitbreaker, consecutive failures).
//!
//! Ours are the `core`, `std`, `breaker_layer` and `breaker_layer_static` rows; the gate
//! applies to them (and to the baseline row), the peers are reported beside them.

use core::convert::Infallible;
use core::future::{ready, Future};
use core::hint::black_box;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use std::sync::Arc;
use std::task::Wake;
use std::time::Duration;

use breaker_core::limits::MAX_FAILURE_THRESHOLD;
use breaker_core::{Config, ManualClock, RateConfig, State, Verdict, Window};
use gungraun::{
    library_benchmark, library_benchmark_group, main, Callgrind, EventKind, LibraryBenchmarkConfig,
};
use tower::{Layer, Service};

mod common;
use common::consume;

/// Calls per benchmark: every figure is divided by this.
const CALLS: u32 = 1_000;

/// A recovery timeout no benchmark reaches (the clocks do not get there).
const NEVER: Duration = Duration::from_secs(3_600);

/// The error every failing call returns (circuitbreaker-rs wants a `std::error::Error`).
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

/// One benchmark's work, prepared by a setup function: a subject and the loop of [`CALLS`]
/// calls over it (counted), and a check of the state it must leave (run by the teardown, not
/// counted). Boxed so that every subject, whatever its type, goes through the same benchmark
/// function; the one indirect call is per benchmark, not per call.
struct Job(Box<dyn Work>);

trait Work {
    fn run(&mut self);
    fn check(&mut self);
}

struct Subject<T, R, C> {
    subject: T,
    run: R,
    check: C,
}

impl<T, R: FnMut(&mut T), C: FnMut(&mut T)> Work for Subject<T, R, C> {
    #[inline(always)]
    fn run(&mut self) {
        (self.run)(&mut self.subject)
    }

    fn check(&mut self) {
        (self.check)(&mut self.subject)
    }
}

impl Job {
    fn new<T: 'static>(
        subject: T,
        run: impl FnMut(&mut T) + 'static,
        check: impl FnMut(&mut T) + 'static,
    ) -> Self {
        Job(Box::new(Subject { subject, run, check }))
    }

    #[inline(always)]
    fn run(mut self) -> Self {
        self.0.run();
        // Returned: the check and the drop happen outside the counted function.
        self
    }
}

/// The teardown of every benchmark: the subject is in the state its path must leave it in.
fn check(mut job: Job) {
    job.0.check();
}

/// `f` called [`CALLS`] times.
#[inline(always)]
fn repeat(mut f: impl FnMut()) {
    for _ in 0..CALLS {
        f();
    }
}

/// [`CALLS`] calls of `op` through `b.call`.
macro_rules! calls {
    ($op:expr) => {
        |b: &mut _| {
            let b = &*b;
            repeat(|| consume(black_box(b).call($op)))
        }
    };
}

// ---- subjects ----

type Core = breaker_core::Breaker<ManualClock>;

fn core_with(config: Config) -> Core {
    Core::try_new("bench", config, ManualClock::new()).expect("valid config")
}

fn core_closed() -> Core {
    core_with(Config::new().failure_threshold(MAX_FAILURE_THRESHOLD))
}

fn core_open() -> Core {
    let b = core_with(Config::new().failure_threshold(1).recovery_timeout(NEVER));
    assert!(b.call(err_call).is_err());
    assert!(b.state().rejects_calls(), "open");
    b
}

fn std_closed() -> breaker_std::Breaker {
    breaker_std::Breaker::builder("bench")
        .failure_threshold(MAX_FAILURE_THRESHOLD)
        .build()
        .expect("valid config")
}

fn std_open() -> breaker_std::Breaker {
    let b = breaker_std::Breaker::builder("bench")
        .failure_threshold(1)
        .recovery_timeout(NEVER)
        .build()
        .expect("valid config");
    assert!(b.call(err_call).is_err());
    assert!(b.state().rejects_calls(), "open");
    b
}

type Failsafe =
    failsafe::StateMachine<failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>, ()>;

fn failsafe_with(n: u32) -> Failsafe {
    let policy = failsafe::failure_policy::consecutive_failures(n, failsafe::backoff::constant(NEVER));
    failsafe::Config::new().failure_policy(policy).build()
}

fn failsafe_call<T>(f: &Failsafe, op: impl FnOnce() -> Result<T, BenchError>) {
    use failsafe::CircuitBreaker;
    consume(black_box(f).call(op));
}

fn recloser_open() -> recloser::Recloser {
    let r = recloser::Recloser::custom().closed_len(1).error_rate(0.5).open_wait(NEVER).build();
    // The ring buffer reports a rate once it is full and one more call arrives.
    let _ = r.call(err_call);
    let _ = r.call(err_call);
    assert!(matches!(r.call(ok_call), Err(recloser::Error::Rejected)), "open");
    r
}

type Cbrs = circuitbreaker_rs::CircuitBreaker<circuitbreaker_rs::DefaultPolicy, BenchError>;

fn cbrs_closed() -> Cbrs {
    Cbrs::builder()
        .failure_threshold(2.0)
        .min_throughput(u64::MAX)
        .consecutive_failures(u64::MAX)
        .cooldown(NEVER)
        .build()
}

fn cbrs_open() -> Cbrs {
    let c = Cbrs::builder().consecutive_failures(1).cooldown(NEVER).build();
    let _ = c.call(err_call);
    assert_eq!(c.current_state(), circuitbreaker_rs::State::Open, "open");
    c
}

/// The check of a breaker of ours: its state is `state`.
fn is<C: breaker_core::Clock, O: breaker_core::Observer, P: breaker_core::Policy>(
    state: State,
) -> impl Fn(&mut breaker_core::Breaker<C, O, P>) {
    move |b| assert_eq!(b.state(), state)
}

/// The same through breaker-std.
fn std_is<C: breaker_core::Clock, P: breaker_core::Policy>(
    state: State,
) -> impl Fn(&mut breaker_std::Breaker<C, P>) {
    move |b| assert_eq!(b.state(), state)
}

fn failsafe_permits(yes: bool) -> impl Fn(&mut Failsafe) {
    move |f| assert_eq!(f.is_call_permitted(), yes)
}

fn recloser_permits(yes: bool) -> impl Fn(&mut recloser::Recloser) {
    move |r| assert_eq!(!matches!(r.call(ok_call), Err(recloser::Error::Rejected)), yes)
}

fn cbrs_is(state: circuitbreaker_rs::State) -> impl Fn(&mut Cbrs) {
    move |c| assert_eq!(c.current_state(), state)
}

// ---- closed_success ----

fn closed_success_core() -> Job {
    Job::new(core_closed(), calls!(ok_call), |b| {
        is(State::Closed)(b);
        assert_eq!(b.failure_count(), 0);
    })
}

fn closed_success_std() -> Job {
    Job::new(std_closed(), calls!(ok_call), std_is(State::Closed))
}

fn closed_success_failsafe() -> Job {
    Job::new(
        failsafe_with(u32::MAX),
        |f: &mut _| repeat(|| failsafe_call(f, ok_call)),
        failsafe_permits(true),
    )
}

fn closed_success_recloser() -> Job {
    // A failure rate is at most 1.0: a threshold of 2.0 never trips.
    Job::new(recloser::Recloser::custom().error_rate(2.0).build(), calls!(ok_call), recloser_permits(true))
}

fn closed_success_cbrs() -> Job {
    Job::new(cbrs_closed(), calls!(ok_call), cbrs_is(circuitbreaker_rs::State::Closed))
}

// ---- closed_failure ----

fn closed_failure_core() -> Job {
    Job::new(core_closed(), calls!(err_call), |b| {
        is(State::Closed)(b);
        assert_eq!(b.failure_count(), CALLS, "every failure counted, none tripped");
    })
}

fn closed_failure_std() -> Job {
    Job::new(std_closed(), calls!(err_call), |b| {
        std_is(State::Closed)(b);
        assert_eq!(b.failure_count(), CALLS, "every failure counted, none tripped");
    })
}

fn closed_failure_failsafe() -> Job {
    Job::new(
        failsafe_with(u32::MAX),
        |f: &mut _| repeat(|| failsafe_call(f, err_call)),
        failsafe_permits(true),
    )
}

fn closed_failure_recloser() -> Job {
    Job::new(recloser::Recloser::custom().error_rate(2.0).build(), calls!(err_call), recloser_permits(true))
}

fn closed_failure_cbrs() -> Job {
    Job::new(cbrs_closed(), calls!(err_call), cbrs_is(circuitbreaker_rs::State::Closed))
}

// ---- open_reject ----

fn open_reject_core() -> Job {
    Job::new(core_open(), calls!(ok_call), is(State::Open))
}

fn open_reject_std() -> Job {
    Job::new(std_open(), calls!(ok_call), std_is(State::Open))
}

fn open_reject_failsafe() -> Job {
    let f = failsafe_with(1);
    failsafe_call(&f, err_call);
    assert!(!f.is_call_permitted(), "open");
    Job::new(f, |f: &mut _| repeat(|| failsafe_call(f, ok_call)), failsafe_permits(false))
}

fn open_reject_recloser() -> Job {
    Job::new(recloser_open(), calls!(ok_call), recloser_permits(false))
}

fn open_reject_cbrs() -> Job {
    Job::new(cbrs_open(), calls!(ok_call), cbrs_is(circuitbreaker_rs::State::Open))
}

// ---- half_open_probe ----

/// The recovery timeout of the probe benches: each iteration moves the clock on by this much.
const STEP: Duration = Duration::from_millis(1);

/// The half-open rows' breaker-core subject: OPEN after one failure, recovery timeout [`STEP`].
fn core_tripped() -> Core {
    let b = core_with(Config::new().failure_threshold(1).recovery_timeout(STEP));
    assert!(b.call(err_call).is_err());
    b
}

/// The half-open rows' breaker-std subject, on `ManualClock`: as [`core_tripped`].
fn std_tripped() -> breaker_std::Breaker<ManualClock> {
    let b = breaker_std::Breaker::builder("bench")
        .failure_threshold(1)
        .recovery_timeout(STEP)
        .clock(ManualClock::new())
        .build()
        .expect("valid config");
    assert!(b.call(err_call).is_err());
    b
}

fn half_open_probe_core() -> Job {
    let b = core_tripped();
    Job::new(
        b,
        |b: &mut _| {
            let b = &*b;
            repeat(|| {
                let b = black_box(b);
                b.clock().advance(STEP);
                consume(b.call(err_call));
            })
        },
        is(State::Open),
    )
}

fn half_open_probe_std() -> Job {
    let b = std_tripped();
    Job::new(
        b,
        |b: &mut _| {
            let b = &*b;
            repeat(|| {
                let b = black_box(b);
                b.clock().advance(STEP);
                consume(b.call(err_call));
            })
        },
        std_is(State::Open),
    )
}

/// `half_open_reject`: HALF_OPEN with its one probe in flight (admitted by the setup and never
/// settled), so every call is rejected: what every request but the probe meets while a slow
/// probe runs.
fn half_open_reject_core() -> Job {
    let b = core_tripped();
    b.clock().advance(STEP);
    let probe = b.try_acquire().expect("the probe is admitted");
    assert!(probe.is_probe());
    core::mem::forget(probe);
    Job::new(b, calls!(ok_call), |b| {
        is(State::HalfOpen)(b);
        assert!(b.call(ok_call).is_err(), "still rejecting: the probe is in flight");
    })
}

fn half_open_reject_std() -> Job {
    let b = std_tripped();
    b.clock().advance(STEP);
    core::mem::forget(b.try_acquire().expect("the probe is admitted"));
    Job::new(b, calls!(ok_call), |b| {
        std_is(State::HalfOpen)(b);
        assert!(b.call(ok_call).is_err(), "still rejecting: the probe is in flight");
    })
}

// ---- permits ----

/// [`CALLS`] admissions through a permit, each settled a success: `try_acquire` then
/// `record`, what breaker-tokio's layer and `call_async` do.
macro_rules! permits {
    () => {
        |b: &mut _| {
            let b = &*b;
            repeat(|| {
                consume(match black_box(b).try_acquire() {
                    Ok(permit) => {
                        permit.record(Verdict::Success);
                        true
                    }
                    Err(_) => false,
                })
            })
        }
    };
}

/// The abandoned-call rule on: every admission is timed (a clock read).
const ABANDONED: Duration = Duration::from_secs(1);

/// The check of a permit row: still CLOSED (a closed breaker under this threshold never
/// rejects, so every call was admitted), no failure recorded (every `record(Success)` counted as
/// one), and the abandoned-call rule on exactly when the row is `timed`.
fn permits_checked(timed: bool) -> impl Fn(&mut Core) {
    move |b| {
        assert_eq!((b.state(), b.failure_count()), (State::Closed, 0));
        assert_eq!(b.config().abandoned_after(), timed.then_some(ABANDONED));
    }
}

/// [`permits_checked`] through breaker-std.
fn std_permits_checked(timed: bool) -> impl Fn(&mut breaker_std::Breaker) {
    move |b| {
        assert_eq!((b.state(), b.failure_count()), (State::Closed, 0));
        assert_eq!(b.config().abandoned_after(), timed.then_some(ABANDONED));
    }
}

fn permit_success_core() -> Job {
    Job::new(core_closed(), permits!(), permits_checked(false))
}

fn permit_success_std() -> Job {
    Job::new(std_closed(), permits!(), std_permits_checked(false))
}

fn permit_timed_success_core() -> Job {
    let b =
        core_with(Config::new().failure_threshold(MAX_FAILURE_THRESHOLD).count_abandoned_after(ABANDONED));
    Job::new(b, permits!(), permits_checked(true))
}

fn permit_timed_success_std() -> Job {
    let b = breaker_std::Breaker::builder("bench")
        .failure_threshold(MAX_FAILURE_THRESHOLD)
        .count_abandoned_after(ABANDONED)
        .build()
        .expect("valid config");
    Job::new(b, permits!(), std_permits_checked(true))
}

// ---- rate windows ----

/// Count window over the last 2 000 calls (10 buckets of 200): 60 % failures over at least 20
/// calls trips.
fn window() -> Window<10> {
    let rule = RateConfig::new(600, 20).validate().expect("valid rule");
    Window::count(200, rule).expect("valid window")
}

/// Calls that fill the window with successes before the counted calls.
const FILL: u32 = 2_000;

fn rate_core() -> breaker_core::Breaker<ManualClock, (), Window<10>> {
    let config = Config::new().validate().expect("valid config");
    let b = breaker_core::Breaker::with_policy("bench", config, ManualClock::new(), (), window());
    for _ in 0..FILL {
        assert!(b.call(ok_call).is_ok());
    }
    b
}

fn rate_std() -> breaker_std::Breaker<breaker_std::CoarseClock, Window<10>> {
    let b = breaker_std::Breaker::builder("bench").policy(window()).build().expect("valid config");
    for _ in 0..FILL {
        assert!(b.call(ok_call).is_ok());
    }
    b
}

fn rate_recloser() -> recloser::Recloser {
    let r = recloser::Recloser::custom().closed_len(FILL as usize).error_rate(0.6).open_wait(NEVER).build();
    for _ in 0..FILL {
        assert!(r.call(ok_call).is_ok());
    }
    r
}

fn rate_success_core() -> Job {
    Job::new(rate_core(), calls!(ok_call), is(State::Closed))
}

fn rate_success_std() -> Job {
    Job::new(rate_std(), calls!(ok_call), std_is(State::Closed))
}

fn rate_success_recloser() -> Job {
    Job::new(rate_recloser(), calls!(ok_call), recloser_permits(true))
}

// The window ends at 1 000 failures in 2 000 calls: 50 %, under the 60 % that trips.

fn rate_failure_core() -> Job {
    Job::new(rate_core(), calls!(err_call), is(State::Closed))
}

fn rate_failure_std() -> Job {
    Job::new(rate_std(), calls!(err_call), std_is(State::Closed))
}

fn rate_failure_recloser() -> Job {
    Job::new(rate_recloser(), calls!(err_call), recloser_permits(true))
}

// ---- tower_request ----

/// A waker that does nothing: every future here is ready when first polled.
struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// One request, as a tower caller makes it: `poll_ready`, `call`, poll the response.
#[inline(always)]
fn request<S: Service<u64>>(svc: &mut S, waker: &Waker, n: u64) -> Option<Result<S::Response, S::Error>> {
    let mut cx = Context::from_waker(waker);
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        _ => return None,
    }
    let fut = pin!(svc.call(n));
    match fut.poll(&mut cx) {
        Poll::Ready(r) => Some(r),
        Poll::Pending => None,
    }
}

/// The inner service: answers its request at once.
fn echo(
) -> impl Service<u64, Response = u64, Error = Infallible, Future = impl Future + Send> + Clone + Send + 'static
{
    tower::service_fn(|n: u64| ready(Ok::<u64, Infallible>(n)))
}

/// [`CALLS`] requests through `svc`; the check: one more request succeeds.
fn tower_job<S: Service<u64> + 'static>(svc: S) -> Job {
    let waker = Waker::from(Arc::new(Noop));
    Job::new(
        (svc, waker, 0_u64),
        |(svc, waker, n): &mut (S, Waker, u64)| {
            repeat(|| {
                *n = n.wrapping_add(1);
                consume(request(black_box(&mut *svc), waker, black_box(*n)).is_some());
            })
        },
        |(svc, waker, _): &mut (S, Waker, u64)| {
            assert!(matches!(request(svc, waker, 1), Some(Ok(_))), "requests succeed");
        },
    )
}

fn tower_breaker() -> Arc<breaker_tokio::Breaker> {
    Arc::new(breaker_tokio::builder("bench").build().expect("valid config"))
}

fn tower_bare() -> Job {
    tower_job(echo())
}

fn tower_breaker_layer() -> Job {
    tower_job(breaker_tokio::layer::CircuitBreakerLayer::new(tower_breaker()).layer(echo()))
}

fn tower_breaker_layer_static() -> Job {
    // What the registry hands out: a breaker that lives as long as the process.
    let forever: &'static breaker_tokio::Breaker =
        Box::leak(Box::new(breaker_tokio::builder("bench").build().expect("valid config")));
    tower_job(breaker_tokio::layer::CircuitBreakerLayer::new(forever).layer(echo()))
}

fn tower_resilience() -> Job {
    let layer = tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
        .consecutive_failures(5)
        .build()
        .expect("valid config");
    tower_job(layer.layer(echo()))
}

// ---- baseline ----

fn direct_call() -> Job {
    Job::new((), |_: &mut ()| repeat(|| consume(ok_call())), |_: &mut ()| {})
}

// ---- benchmarks: one function per path, one bench id per subject ----

/// The generated items are `pub`; this module keeps `missing_docs` quiet about them.
#[allow(missing_docs)]
mod benches {
    use super::*;

    #[library_benchmark(teardown = check)]
    #[bench::direct_call(setup = direct_call)]
    pub fn baseline(job: Job) -> Job {
        job.run()
    }

    #[library_benchmark(teardown = check)]
    #[bench::core(setup = closed_success_core)]
    #[bench::std(setup = closed_success_std)]
    #[bench::failsafe(setup = closed_success_failsafe)]
    #[bench::recloser(setup = closed_success_recloser)]
    #[bench::circuitbreaker_rs(setup = closed_success_cbrs)]
    pub fn closed_success(job: Job) -> Job {
        job.run()
    }

    #[library_benchmark(teardown = check)]
    #[bench::core(setup = closed_failure_core)]
    #[bench::std(setup = closed_failure_std)]
    #[bench::failsafe(setup = closed_failure_failsafe)]
    #[bench::recloser(setup = closed_failure_recloser)]
    #[bench::circuitbreaker_rs(setup = closed_failure_cbrs)]
    pub fn closed_failure(job: Job) -> Job {
        job.run()
    }

    #[library_benchmark(teardown = check)]
    #[bench::core(setup = open_reject_core)]
    #[bench::std(setup = open_reject_std)]
    #[bench::failsafe(setup = open_reject_failsafe)]
    #[bench::recloser(setup = open_reject_recloser)]
    #[bench::circuitbreaker_rs(setup = open_reject_cbrs)]
    pub fn open_reject(job: Job) -> Job {
        job.run()
    }

    #[library_benchmark(teardown = check)]
    #[bench::core(setup = half_open_probe_core)]
    #[bench::std(setup = half_open_probe_std)]
    pub fn half_open_probe(job: Job) -> Job {
        job.run()
    }

    #[library_benchmark(teardown = check)]
    #[bench::core(setup = half_open_reject_core)]
    #[bench::std(setup = half_open_reject_std)]
    pub fn half_open_reject(job: Job) -> Job {
        job.run()
    }

    #[library_benchmark(teardown = check)]
    #[bench::core(setup = permit_success_core)]
    #[bench::std(setup = permit_success_std)]
    pub fn permit_success(job: Job) -> Job {
        job.run()
    }

    #[library_benchmark(teardown = check)]
    #[bench::core(setup = permit_timed_success_core)]
    #[bench::std(setup = permit_timed_success_std)]
    pub fn permit_timed_success(job: Job) -> Job {
        job.run()
    }

    #[library_benchmark(teardown = check)]
    #[bench::core(setup = rate_success_core)]
    #[bench::std(setup = rate_success_std)]
    #[bench::recloser(setup = rate_success_recloser)]
    pub fn rate_success(job: Job) -> Job {
        job.run()
    }

    #[library_benchmark(teardown = check)]
    #[bench::core(setup = rate_failure_core)]
    #[bench::std(setup = rate_failure_std)]
    #[bench::recloser(setup = rate_failure_recloser)]
    pub fn rate_failure(job: Job) -> Job {
        job.run()
    }

    #[library_benchmark(teardown = check)]
    #[bench::bare(setup = tower_bare)]
    #[bench::breaker_layer(setup = tower_breaker_layer)]
    #[bench::breaker_layer_static(setup = tower_breaker_layer_static)]
    #[bench::tower_resilience(setup = tower_resilience)]
    pub fn tower_request(job: Job) -> Job {
        job.run()
    }

    library_benchmark_group!(
        name = paths;
        benchmarks = baseline, closed_success, closed_failure, open_reject, half_open_probe, half_open_reject,
            permit_success, permit_timed_success, rate_success, rate_failure, tower_request
    );
}

/// Callgrind counts instructions only: no cache simulation (not needed, and faster); the
/// instruction count (`Ir`) is the one metric shown and compared.
fn config() -> LibraryBenchmarkConfig {
    let mut callgrind = Callgrind::with_args(["--cache-sim=no"]);
    callgrind.format([EventKind::Ir]);
    let mut config = LibraryBenchmarkConfig::default();
    config.tool(callgrind);
    config
}

use benches::paths;

main!(config = config(); library_benchmark_groups = paths);
