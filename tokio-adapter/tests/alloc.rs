//! No allocation per request through the tower middleware on a closed success or a closed
//! failure, and one per open rejection (its `BoxError`), counted by a global counting allocator
//! (this file holds one test, so no other test allocates concurrently).

use std::alloc::System;
use std::future::{ready, Future, Ready};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use breaker_tokio::layer::{CircuitBreakerLayer, Pick};
use breaker_tokio::{Breaker, State};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tower::{Layer, Service};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Answers `Ok(n)` for even `n`, `Err(Odd)` for odd.
#[derive(Clone, Copy)]
struct Echo;

/// The error: a unit struct, so boxing it into the layer's `BoxError` allocates nothing.
#[derive(Debug)]
struct Odd;

impl std::fmt::Display for Odd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("odd")
    }
}

impl std::error::Error for Odd {}

impl Service<u64> for Echo {
    type Response = u64;
    type Error = Odd;
    type Future = Ready<Result<u64, Odd>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Odd>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, n: u64) -> Self::Future {
        ready(if n % 2 == 0 { Ok(n) } else { Err(Odd) })
    }
}

/// A waker that does nothing (`Waker::noop` is newer than the MSRV): `Echo` is always ready.
struct Noop;

impl std::task::Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

fn request<S: Service<u64>>(svc: &mut S, n: u64) -> bool {
    thread_local! {
        static WAKER: Waker = Waker::from(Arc::new(Noop));
    }
    WAKER.with(|waker| request_with(svc, waker, n))
}

fn request_with<S: Service<u64>>(svc: &mut S, waker: &Waker, n: u64) -> bool {
    let mut cx = Context::from_waker(waker);
    assert!(svc.poll_ready(&mut cx).is_ready());
    let fut = pin!(svc.call(n));
    match fut.poll(&mut cx) {
        Poll::Ready(r) => r.is_ok(),
        Poll::Pending => unreachable!("Echo is always ready"),
    }
}

#[test]
fn no_allocation_per_request() {
    // Every handle: an `Arc`, a `&'static` (what the registry hands out; leaked once, here,
    // before counting), and a keyed family's (one breaker per key, looked up per request).
    let arc = Arc::new(breaker_tokio::builder("echo").failure_threshold(3).build().unwrap());
    check(&arc, CircuitBreakerLayer::new(Arc::clone(&arc)).layer(Echo));
    let forever: &'static Breaker =
        Box::leak(Box::new(breaker_tokio::builder("echo").failure_threshold(3).build().unwrap()));
    check(forever, CircuitBreakerLayer::new(forever).layer(Echo));
    let registry = breaker_tokio::registry()
        .default_config(breaker_tokio::Config::new().failure_threshold(3))
        .build()
        .unwrap();
    let family = registry.keyed::<String>("echo").unwrap();
    let by_key = move |_: &u64| family.breaker("key").ok();
    let keyed = by_key.pick(&0).unwrap();
    check(&keyed, CircuitBreakerLayer::new(by_key).layer(Echo));
}

fn check<S: Service<u64, Response = u64>>(breaker: &Breaker, mut svc: S) {
    // Warm up: lazily created state (thread-locals, tokio's clock context) is not per request.
    for n in 0..1_000 {
        request(&mut svc, n * 2);
    }

    let region = Region::new(GLOBAL);
    for n in 0..100_000 {
        assert!(request(&mut svc, n * 2));
    }
    let success = region.change();
    assert_eq!((success.allocations, success.reallocations), (0, 0), "closed success: {success:?}");

    let region = Region::new(GLOBAL);
    // Failures below the threshold, cleared by a success.
    for n in 0..10_000 {
        assert!(!request(&mut svc, 1));
        assert!(request(&mut svc, n * 2));
    }
    let failures = region.change();
    assert_eq!((failures.allocations, failures.reallocations), (0, 0), "closed failure: {failures:?}");

    // Trip it: rejections while OPEN read the clock (tokio's) to compute retry-after.
    for _ in 0..3 {
        assert!(!request(&mut svc, 1));
    }
    assert_eq!(breaker.state(), State::Open);
    let region = Region::new(GLOBAL);
    for n in 0..100_000 {
        assert!(!request(&mut svc, n * 2));
    }
    let rejections = region.change();
    // One box per rejection: the `Open` in the service's `BoxError` (for a keyed breaker, the
    // key's copy in it too), as tower's boxed errors are; nothing else.
    let per_rejection = if breaker.key().is_some() { 2 } else { 1 };
    assert_eq!(
        (rejections.allocations, rejections.reallocations),
        (per_rejection * 100_000, 0),
        "rejection: {rejections:?}"
    );
}
