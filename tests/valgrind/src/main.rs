//! A small program that uses the three crates the way a service does, for valgrind's memcheck
//! (`ci/valgrind.sh` runs it under `valgrind --error-exitcode=1 --leak-check=full`):
//!
//! - breaker-core on a `ManualClock`: a success, a trip, a rejection, a half-open probe that
//!   closes the breaker;
//! - breaker-std on its default clock (`CoarseClock`, which reads `CLOCK_MONOTONIC_COARSE`
//!   through rustix: the reason this program exists, it used to crash under valgrind at
//!   construction) with a transition listener: a success, a trip, a rejection;
//! - breaker-tokio on a current-thread runtime: `call_async` (success, failure, a real timer),
//!   and requests through the tower layer (a success, failures that trip it, a rejection).
//!
//! Every step asserts what it expects; the program prints one line per part and exits 0.

use core::convert::Infallible;
use core::time::Duration;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use breaker_core::{CallError, Config, ManualClock, State};
use breaker_tokio::BreakerExt;
use tower::{Layer, Service, ServiceExt};

fn ok() -> Result<u32, &'static str> {
    Ok(7)
}

fn down() -> Result<u32, &'static str> {
    Err("down")
}

fn core_part() {
    let config = Config::new().failure_threshold(2).recovery_timeout(Duration::from_secs(1));
    let b = breaker_core::Breaker::try_new("core", config, ManualClock::new()).expect("valid config");
    assert_eq!(b.call(ok), Ok(7));
    assert_eq!(b.call(down), Err(CallError::Inner("down")));
    assert_eq!(b.call(down), Err(CallError::Inner("down")));
    assert_eq!(b.state(), State::Open);
    assert!(matches!(b.call(ok), Err(CallError::Open(_))), "rejected while open");
    b.clock().advance(Duration::from_secs(1));
    assert_eq!(b.call(ok), Ok(7), "the probe runs");
    assert_eq!(b.state(), State::Closed, "the probe closed it");
    println!("valgrind probe: core ok");
}

fn std_part() {
    let transitions = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&transitions);
    let b = breaker_std::Breaker::builder("std")
        .failure_threshold(2)
        .recovery_timeout(Duration::from_secs(3_600))
        .on_transition(move |_, _| {
            seen.fetch_add(1, Ordering::Relaxed);
        })
        .build()
        .expect("valid config");
    assert_eq!(b.call(ok), Ok(7));
    assert_eq!(b.call(down), Err(CallError::Inner("down")));
    assert_eq!(b.call(down), Err(CallError::Inner("down")));
    assert_eq!(b.state(), State::Open);
    match b.call(ok) {
        Err(CallError::Open(open)) => assert!(open.retry_after().is_some_and(|d| d > Duration::ZERO)),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(transitions.load(Ordering::Relaxed), 1, "the listener saw the trip");
    println!("valgrind probe: std ok");
}

async fn tokio_part() {
    let b = Arc::new(
        breaker_tokio::builder("tokio")
            .failure_threshold(2)
            .recovery_timeout(Duration::from_secs(3_600))
            .build()
            .expect("valid config"),
    );
    let slept = b
        .call_async(async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok::<_, &'static str>(1)
        })
        .await;
    assert_eq!(slept, Ok(1));
    assert_eq!(b.call_async(async { Err::<u32, _>("down") }).await, Err(CallError::Inner("down")));
    assert_eq!(b.state(), State::Closed, "one failure of two");
    assert_eq!(b.call_async(async { Ok::<_, &'static str>(2) }).await, Ok(2));

    // The tower layer over a service that answers at once: even numbers succeed.
    let layer = breaker_tokio::layer::CircuitBreakerLayer::new(Arc::clone(&b));
    let mut svc = layer.layer(tower::service_fn(|n: u64| async move {
        if n % 2 == 0 {
            Ok::<u64, &'static str>(n / 2)
        } else {
            Err("odd")
        }
    }));
    let answer = svc.ready().await.expect("ready").call(4).await;
    assert_eq!(answer.ok(), Some(2));
    for _ in 0..2 {
        assert!(svc.ready().await.expect("ready").call(1).await.is_err());
    }
    assert_eq!(b.state(), State::Open, "two failures through the layer tripped it");
    assert!(svc.ready().await.expect("ready").call(4).await.is_err(), "rejected while open");

    // A service whose error type is `Infallible`, as most in-process services are.
    let echo = tower::service_fn(|n: u64| async move { Ok::<u64, Infallible>(n) });
    let fresh = Arc::new(breaker_tokio::builder("echo").build().expect("valid config"));
    let got = breaker_tokio::layer::CircuitBreakerLayer::new(fresh).layer(echo).oneshot(3).await;
    assert_eq!(got.ok(), Some(3));
    println!("valgrind probe: tokio ok");
}

fn main() {
    core_part();
    std_part();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    rt.block_on(tokio_part());
    drop(rt);
    println!("valgrind probe: all three parts ok");
}
