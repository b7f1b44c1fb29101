//! The tower middleware on paused time: rejection in `call` (not `poll_ready`), classifiers,
//! cancellation of response futures, panics, the tower accessors, both breaker handles. HTTP
//! and axum specifics are in `http.rs` and `axum.rs`.

use std::convert::Infallible;
use std::future::{pending, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use breaker_core::{State, Verdict};
use breaker_tokio::layer::{CircuitBreaker, CircuitBreakerLayer, Error};
use tokio::time::{advance, sleep};
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};

const SECOND: Duration = Duration::from_secs(1);

fn breaker(threshold: u32, recovery: Duration) -> Arc<breaker_tokio::Breaker> {
    Arc::new(
        breaker_tokio::builder("upstream")
            .failure_threshold(threshold)
            .recovery_timeout(recovery)
            .build()
            .unwrap(),
    )
}

/// A service that counts its calls and fails when asked to.
#[derive(Clone, Default)]
struct Upstream {
    calls: Arc<AtomicU32>,
    readies: Arc<AtomicU32>,
}

impl Service<bool> for Upstream {
    type Response = &'static str;
    type Error = &'static str;
    type Future = Pin<Box<dyn Future<Output = Result<&'static str, &'static str>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.readies.fetch_add(1, Ordering::Relaxed);
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, fail: bool) -> Self::Future {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            if fail {
                Err("502")
            } else {
                Ok("ok")
            }
        })
    }
}

#[tokio::test(start_paused = true)]
async fn rejects_in_call_without_calling_the_inner_service() {
    let b = breaker(2, 30 * SECOND);
    let upstream = Upstream::default();
    let mut svc = CircuitBreakerLayer::new(Arc::clone(&b)).layer(upstream.clone());

    assert_eq!(svc.ready().await.unwrap().call(false).await.unwrap(), "ok");
    for _ in 0..2 {
        let r = svc.ready().await.unwrap().call(true).await;
        assert!(matches!(r, Err(Error::Inner("502"))));
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(upstream.calls.load(Ordering::Relaxed), 3);

    advance(10 * SECOND).await;
    let r = svc.ready().await.unwrap().call(false).await;
    match r {
        Err(Error::Rejected(rejected)) => {
            assert_eq!(rejected.name(), "upstream");
            assert_eq!(rejected.retry_after(), Some(20 * SECOND));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(upstream.calls.load(Ordering::Relaxed), 3, "rejected: not called");

    advance(20 * SECOND).await;
    assert_eq!(svc.ready().await.unwrap().call(false).await.unwrap(), "ok");
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn poll_ready_reserves_nothing() {
    let b = breaker(1, 5 * SECOND);
    let upstream = Upstream::default();
    let mut svc = CircuitBreaker::new(upstream.clone(), Arc::clone(&b));
    let _ = svc.ready().await.unwrap().call(true).await;
    advance(5 * SECOND).await;
    // Half-open is due (the breaker shows as ready to probe); readiness checks without calls
    // must not take the probe slot, which would move the generation.
    let ready = b.snapshot();
    assert_eq!((ready.state, ready.probes_in_flight), (State::HalfOpen, 0));
    for _ in 0..10 {
        svc.ready().await.unwrap();
    }
    assert_eq!(b.snapshot(), ready);
    assert_eq!(upstream.readies.load(Ordering::Relaxed), 11);
    assert_eq!(svc.ready().await.unwrap().call(false).await.unwrap(), "ok");
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_response_future_gives_the_probe_slot_back() {
    let b = breaker(1, 5 * SECOND);
    let hang = service_fn(|hang: bool| async move {
        if hang {
            pending::<()>().await;
        }
        Ok::<_, Infallible>(())
    });
    let mut svc = CircuitBreaker::new(hang, Arc::clone(&b));
    b.core().settle(b.core().try_acquire_ticket().unwrap(), Verdict::Failure);
    assert_eq!(b.state(), State::Open);
    advance(5 * SECOND).await;

    let probe = svc.ready().await.unwrap().call(true);
    assert_eq!(b.snapshot().probes_in_flight, 1);
    // The slot is taken: another request is rejected at once.
    let busy = svc.ready().await.unwrap().call(false).await;
    assert!(matches!(busy, Err(Error::Rejected(ref r)) if r.state() == State::HalfOpen));
    // A client timeout above the breaker gives up: the response future is dropped.
    assert!(tokio::time::timeout(SECOND, probe).await.is_err());
    assert_eq!(b.snapshot().probes_in_flight, 0);
    assert_eq!(b.state(), State::HalfOpen);
    svc.ready().await.unwrap().call(false).await.unwrap();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_below_the_breaker_is_a_failure() {
    let b = breaker(1, 5 * SECOND);
    let slow = service_fn(|_: ()| async {
        sleep(10 * SECOND).await;
        Ok::<_, Infallible>(())
    });
    let mut svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(Arc::clone(&b)))
        .timeout(2 * SECOND)
        .service(slow);
    let r = svc.ready().await.unwrap().call(()).await;
    assert!(matches!(r, Err(Error::Inner(_))));
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_response_future_is_a_failure() {
    let b = breaker(1, 5 * SECOND);
    let boom = service_fn(|_: ()| async {
        panic!("boom");
        #[allow(unreachable_code)]
        Ok::<(), Infallible>(())
    });
    let svc = CircuitBreaker::new(boom, Arc::clone(&b));
    let task = tokio::spawn(svc.oneshot(()));
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn poll_ready_errors_pass_through_uncounted() {
    struct NotReady;
    impl Service<()> for NotReady {
        type Response = ();
        type Error = &'static str;
        type Future = std::future::Ready<Result<(), &'static str>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), &'static str>> {
            Poll::Ready(Err("pool closed"))
        }
        fn call(&mut self, _: ()) -> Self::Future {
            std::future::ready(Ok(()))
        }
    }
    let b = breaker(1, 5 * SECOND);
    let mut svc = CircuitBreaker::new(NotReady, Arc::clone(&b));
    let r = svc.ready().await;
    assert!(matches!(r, Err(Error::Inner("pool closed"))));
    assert_eq!((b.state(), b.failure_count()), (State::Closed, 0));
}

#[tokio::test(start_paused = true)]
async fn a_custom_classifier() {
    let b = breaker(1, 5 * SECOND);
    let only_timeouts = |r: &Result<&'static str, &'static str>| match r {
        Err("timeout") => Verdict::Failure,
        Err(_) => Verdict::Ignore,
        Ok(_) => Verdict::Success,
    };
    let svc = service_fn(|e: &'static str| async move { Err::<&str, _>(e) });
    let mut svc = CircuitBreakerLayer::new(Arc::clone(&b)).classifier(only_timeouts).layer(svc);
    let _ = svc.ready().await.unwrap().call("bad request").await;
    assert_eq!(b.state(), State::Closed);
    let _ = svc.ready().await.unwrap().call("timeout").await;
    assert_eq!(b.state(), State::Open);
}

#[test]
fn accessors() {
    let b = breaker(1, SECOND);
    let mut svc = CircuitBreaker::new(String::from("inner"), Arc::clone(&b));
    assert_eq!(svc.get_ref(), "inner");
    svc.get_mut().push('!');
    assert!(Arc::ptr_eq(svc.breaker(), &b));
    assert_eq!(svc.clone().into_inner(), "inner!");
    assert!(format!("{svc:?}").contains("upstream"));
}

#[test]
fn the_service_and_its_future_are_send_and_static() {
    fn assert_send_static<T: Send + 'static>(_: &T) {}
    let b = breaker(1, SECOND);
    let mut svc = CircuitBreaker::new(service_fn(|_: ()| async { Ok::<_, Infallible>(()) }), b);
    assert_send_static(&svc);
    let fut = svc.call(());
    assert_send_static(&fut);
}

#[tokio::test(start_paused = true)]
async fn a_static_breaker_handle() {
    static DB: std::sync::LazyLock<breaker_tokio::Breaker> = std::sync::LazyLock::new(|| {
        breaker_tokio::builder("static-db").failure_threshold(1).build().unwrap()
    });
    let db: &'static breaker_tokio::Breaker = &DB;
    let upstream = Upstream::default();
    let mut svc = CircuitBreakerLayer::new(db).layer(upstream.clone());
    let _ = svc.ready().await.unwrap().call(true).await;
    assert_eq!(db.state(), State::Open);
    let r = svc.ready().await.unwrap().call(false).await;
    assert!(matches!(r, Err(Error::Rejected(_))));
    assert_eq!(upstream.calls.load(Ordering::Relaxed), 1);
}
