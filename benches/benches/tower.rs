//! The tower middleware: the cost of a breaker in front of a service, per request, against
//! the bare service and against tower-resilience's circuit breaker, in one run.
//!
//! Run with `cargo bench -p breaker-benches --bench tower`.
//!
//! Group `tower`. Each request is what a tower caller does: `poll_ready`, `call`, then poll the
//! response future (ready at once: the inner service answers with `std::future::Ready`), on a
//! no-op waker and no runtime, so the figure is the middleware's own cost:
//!
//! - `bare_service`: the inner service alone.
//! - `breaker_layer`: behind `breaker_tokio::layer::CircuitBreakerLayer` (a CLOSED breaker-std
//!   breaker on tokio's clock, no listeners, no metrics recorder), closed success, with the
//!   breaker held as an `Arc` (what a registry hands out): each request clones and drops it.
//! - `arc_clone_drop`: cloning and dropping that `Arc` alone, which is what the `Arc` handle
//!   costs per request (two atomic read-modify-writes on the shared count).
//! - `breaker_layer_static`: the same with the breaker held as a `&'static`
//!   (`Box::leak`): no reference counting per request.
//! - `tower_resilience_layer`: behind `tower_resilience_circuitbreaker::CircuitBreakerLayer`
//!   with its consecutive-failures model (the seed's rule), closed success.
//!
//! That the breaker layer allocates nothing per request is shown by
//! `tokio-adapter/tests/alloc.rs` (a counting global allocator).

use core::convert::Infallible;
use core::future::{ready, Future, Ready};
use core::hint::black_box;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use std::sync::Arc;
use std::task::Wake;
use std::time::Duration;

use criterion::{criterion_main, Criterion};
use tower::{Layer, Service};

/// The inner service: answers its request at once.
#[derive(Clone, Copy)]
struct Echo;

impl Service<u64> for Echo {
    type Response = u64;
    type Error = Infallible;
    type Future = Ready<Result<u64, Infallible>>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, n: u64) -> Self::Future {
        ready(Ok(n))
    }
}

/// A waker that does nothing: every future here is ready when first polled.
struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// One request, as a tower caller makes it.
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

fn run<S: Service<u64>>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mut svc: S,
) {
    // Every subject must answer (closed success), or the comparison is meaningless.
    let waker = Waker::from(Arc::new(Noop));
    assert!(matches!(request(&mut svc, &waker, 1), Some(Ok(_))), "{name}: no success");
    let mut n = 0_u64;
    c.bench_function(name, |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            black_box(request(&mut svc, &waker, black_box(n)).is_some())
        })
    });
}

fn tower(c: &mut Criterion) {
    let mut g = c.benchmark_group("tower");
    g.measurement_time(Duration::from_secs(3));

    run(&mut g, "bare_service", Echo);

    let breaker = Arc::new(breaker_tokio::builder("bench").build().expect("valid config"));
    run(
        &mut g,
        "breaker_layer",
        breaker_tokio::layer::CircuitBreakerLayer::new(Arc::clone(&breaker)).layer(Echo),
    );
    // What the `Arc` handle costs by itself: the clone and drop every request makes.
    g.bench_function("arc_clone_drop", |b| b.iter(|| drop(black_box(Arc::clone(black_box(&breaker))))));
    let forever: &'static breaker_tokio::Breaker =
        Box::leak(Box::new(breaker_tokio::builder("bench").build().expect("valid config")));
    run(&mut g, "breaker_layer_static", breaker_tokio::layer::CircuitBreakerLayer::new(forever).layer(Echo));

    let resilience = tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
        .consecutive_failures(5)
        .build()
        .expect("valid config");
    run(&mut g, "tower_resilience_layer", resilience.layer(Echo));

    g.finish();
}

/// The generated group function is `pub`; this module keeps `missing_docs` quiet about it.
#[allow(missing_docs)]
mod groups {
    criterion::criterion_group!(benches, super::tower);
}

criterion_main!(groups::benches);
